"""SecureFunction: a Python Lambda with its own role, its own encrypted log group, tracing and encrypted environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from . import defaults
from .alarms import AlarmSpec, AlarmThresholds
from .encryption_key import allow_cloudwatch_logs, own_key
from .log_groups import encrypted_log_group
from .nag import acknowledge, acknowledge_role_default_policy, compliance_rules
from .naming import log_group_arn, log_group_name, namespace, validate_name_prefix

TIMEOUT = Duration.seconds(30)  # default per-invocation timeout


class SecureFunction(Construct):
    """A Lambda that logs to its own KMS-encrypted log group, traces with X-Ray, and holds no managed policy."""

    function: lambda_.Function  # the function
    role: iam.Role  # its execution role (only what is granted to it)
    log_group: logs.LogGroup  # its log group
    encryption_key: kms.IKey  # encrypts the log group and the environment (created when not given)

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        handler: str,
        name_prefix: str | None = None,
        purpose: str | None = None,
        encryption_key: kms.IKey | None = None,
        description: str = "",
        environment: Mapping[str, str] | None = None,
        layers: Sequence[lambda_.ILayerVersion] = (),
        runtime: lambda_.Runtime = lambda_.Runtime.PYTHON_3_14,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        memory_size: int = 256,
        timeout: Duration = TIMEOUT,
        reserved_concurrent_executions: int | None = None,
        log_retention: logs.RetentionDays = defaults.LOG_RETENTION,
        log_removal_policy: RemovalPolicy = defaults.STATEFUL_REMOVAL_POLICY,
        dead_letter_queue: sqs.IQueue | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        if name_prefix is not None:
            validate_name_prefix("name_prefix", name_prefix)
        purpose = purpose or construct_id
        prefix = namespace(self, name_prefix)
        self._purpose, self._timeout = purpose, timeout
        log_name = log_group_name(prefix, purpose)
        if encryption_key is None:
            encryption_key = own_key(self, log_removal_policy)
            allow_cloudwatch_logs(encryption_key, log_group_arn(self, log_name), sid="AllowCloudWatchLogsForFunction")
        self.encryption_key = encryption_key
        self.log_group = encrypted_log_group(
            self,
            "Logs",
            name=log_name,
            key=encryption_key,
            retention=log_retention,
            removal_policy=log_removal_policy,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {prefix} {purpose}",
        )
        # Instead of AWSLambdaBasicExecutionRole (any log group): write to this function's log group only.
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            code=code,
            handler=handler,
            runtime=runtime,
            architecture=architecture,
            description=description or f"{prefix} {purpose}",
            environment=dict(environment or {}),
            environment_encryption=encryption_key,
            layers=list(layers),
            memory_size=memory_size,
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            dead_letter_queue=dead_letter_queue,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=list(security_groups) or None,
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions, so active tracing "
            "needs Resource '*'; these are the only actions on it.",
        )
        acknowledge_role_default_policy(self.role)
        if vpc is None:
            acknowledge(
                self.function,
                compliance_rules("LambdaInsideVPC"),
                "This environment runs without the private network mode (DESIGN §10, off outside prod to avoid "
                "interface-endpoint cost); the function reaches only AWS APIs over TLS with IAM auth.",
            )
        if reserved_concurrent_executions is None:
            acknowledge(
                self.function,
                ("NIST.800.53.R5-LambdaConcurrency", "HIPAA.Security-LambdaConcurrency"),
                "Concurrency is bounded by the event source (SQS maximum concurrency) or API stage throttling in "
                "this environment; reserving capacity per function is a prod-only choice.",
            )

    def metric_errors(self, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.Metric:
        """Sum of invocation errors."""
        return self.function.metric_errors(period=period, statistic="Sum")

    def metric_throttles(self, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.Metric:
        """Sum of throttled invocations."""
        return self.function.metric_throttles(period=period, statistic="Sum")

    def metric_duration(self, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.Metric:
        """Maximum duration in milliseconds."""
        return self.function.metric_duration(period=period, statistic="Maximum")

    def recommended_alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """Errors, throttles, and a maximum duration near the timeout."""
        period = thresholds.period
        near_timeout_ms = self._timeout.to_milliseconds() * thresholds.duration_fraction_of_timeout
        return [
            AlarmSpec(
                name=f"{self._purpose}-errors",
                metric=self.metric_errors(period),
                threshold=thresholds.errors,
                evaluation_periods=thresholds.evaluation_periods,
                description=f"The {self._purpose} function raised errors.",
            ),
            AlarmSpec(
                name=f"{self._purpose}-throttles",
                metric=self.metric_throttles(period),
                threshold=thresholds.throttles,
                evaluation_periods=thresholds.evaluation_periods,
                description=f"The {self._purpose} function was throttled (concurrency limit reached).",
            ),
            AlarmSpec(
                name=f"{self._purpose}-duration-near-timeout",
                metric=self.metric_duration(period),
                threshold=near_timeout_ms,
                evaluation_periods=thresholds.evaluation_periods,
                description=f"The {self._purpose} function ran close to its timeout.",
            ),
        ]
