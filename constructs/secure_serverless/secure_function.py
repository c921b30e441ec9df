"""SecureFunction: a Python Lambda with its own role, its own encrypted log group, tracing and encrypted environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jsii
from aws_cdk import Duration
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
from .encryption_key import key_for_logs
from .inputs import KeyLike, key_of
from .log_groups import encrypted_log_group
from .nag import acknowledge_role_default_policy, unscopable_actions_policy
from .naming import alarm_label, log_group_name, namespace, validate_name_prefix
from .overrides import equals, merge_props
from .queues import dead_letter_queue as encrypted_dead_letter_queue

TIMEOUT = Duration.seconds(30)  # default per-invocation timeout
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# Named arguments that are also lambda_.Function arguments: function_props may not set them (a silent override
# would, e.g., leave the near-timeout alarm at the named timeout).
_NAMED_FUNCTION_ARGUMENTS = (
    "code", "handler", "description", "environment", "layers", "runtime", "architecture", "memory_size", "timeout",
    "reserved_concurrent_executions", "dead_letter_queue", "vpc", "vpc_subnets", "security_groups",
)  # fmt: skip


@jsii.implements(iam.IGrantable)
class SecureFunction(Construct):
    """A Lambda that logs to its own KMS-encrypted log group, traces with X-Ray, and holds no managed policy.

    Minimal use: ``SecureFunction(self, "Worker", code=lambda_.Code.from_asset("lambda/worker"),
    handler="worker.handler")``.

    Args:
        scope: the parent construct.
        construct_id: the construct id.
        code: the function's code (required).
        handler: the ``module.function`` entry point (required).
        name_prefix: environment prefix; the log group is ``/<name_prefix>/<purpose>``. Default: None (the stack
            name is the log-group namespace).
        purpose: short name of what the function does, used in the log-group and alarm names. Default: the
            construct id in the log-group name; in alarm names, the construct id with a name_prefix, else a name
            unique in the app built from the construct path.
        encryption_key: key for the log group and the environment variables. Default: None (a rotating key is
            created, whose policy admits only this function's log group).
        description: function description. Default: ``"<prefix> <purpose>"``.
        environment: environment variables (encrypted with the key). Default: none.
        layers: layers, e.g. Powertools. Default: none.
        runtime: Lambda runtime. Default: ``Runtime.PYTHON_3_14``.
        architecture: instruction set. Default: ``Architecture.ARM_64`` (Graviton).
        memory_size: memory in MB. Default: 256.
        timeout: per-invocation timeout. Default: 30 seconds.
        reserved_concurrent_executions: concurrency cap. Default: None (unreserved).
        log_retention: log-group retention. Default: ``RetentionDays.ONE_YEAR``.
        dead_letter_queue: DLQ for asynchronous invocations (the role gets exactly sqs:SendMessage on it and, if it
            is encrypted, kms:GenerateDataKey and kms:Decrypt on its key). Default: None (an encrypted DLQ of the
            function's own, 14 days, unless async_dead_letter_queue is False).
        async_dead_letter_queue: create that DLQ when none is given. Set False only for a function nothing invokes
            asynchronously (e.g. behind API Gateway or an SQS event source), and acknowledge Serverless-LambdaDLQ
            on it yourself with that reason. Default: True.
        vpc: run inside this VPC. Default: None.
        vpc_subnets: subnets within ``vpc``. Default: None (CDK's choice).
        security_groups: security groups within ``vpc``. Default: none.
        existing_log_group: log to this group instead of creating one (it must be encrypted by its owner).
            Default: None.
        function_props: further ``lambda_.Function`` keyword arguments, merged over the defaults. Refused:
            ``tracing`` other than ACTIVE; ``role``, ``log_group``, ``environment_encryption``, the dead-letter
            settings and every argument named above (set them there). Default: None.

    Attributes:
        function: the ``lambda_.Function``.
        role: its own execution role, holding only what is granted to it.
        log_group: its log group.
        encryption_key: the key of the log group and the environment.
        timeout: the per-invocation timeout.
        dead_letter_queue: the DLQ of asynchronous invocations (None when async_dead_letter_queue is False and
            none was given).
    """

    function: lambda_.Function
    role: iam.Role
    log_group: logs.ILogGroup
    encryption_key: kms.IKey
    dead_letter_queue: sqs.IQueue | None
    timeout: Duration

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        handler: str,
        name_prefix: str | None = None,
        purpose: str | None = None,
        encryption_key: KeyLike | None = None,
        description: str = "",
        environment: Mapping[str, str] | None = None,
        layers: Sequence[lambda_.ILayerVersion] = (),
        runtime: lambda_.Runtime = lambda_.Runtime.PYTHON_3_14,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        memory_size: int = 256,
        timeout: Duration = TIMEOUT,
        reserved_concurrent_executions: int | None = None,
        log_retention: logs.RetentionDays = defaults.LOG_RETENTION,
        dead_letter_queue: sqs.IQueue | None = None,
        async_dead_letter_queue: bool = True,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] = (),
        existing_log_group: logs.ILogGroup | None = None,
        function_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        encryption_key = key_of(encryption_key)
        if name_prefix is not None:
            validate_name_prefix("name_prefix", name_prefix)
        self._alarm_label = alarm_label(self, purpose, name_prefix, construct_id)
        purpose = purpose or construct_id
        prefix = namespace(self, name_prefix)
        self._purpose, self.timeout = purpose, timeout
        log_name = log_group_name(prefix, purpose)
        self.encryption_key = encryption_key = key_for_logs(
            self,
            encryption_key,
            log_group_name=log_name,
            creates_log_group=existing_log_group is None,
            sid="AllowCloudWatchLogsForFunction",
        )
        self.log_group = existing_log_group or encrypted_log_group(
            self,
            "Logs",
            name=log_name,
            key=encryption_key,
            retention=log_retention,
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {prefix} {purpose}",
        )
        # Instead of AWSLambdaBasicExecutionRole (any log group): write to this function's log group only.
        self.log_group.grant_write(self.role)
        secure_defaults: dict[str, Any] = dict(
            runtime=runtime,
            architecture=architecture,
            description=description or f"{prefix} {purpose}",
            environment=dict(environment or {}),
            layers=list(layers),
            memory_size=memory_size,
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
            logging_format=lambda_.LoggingFormat.JSON,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=list(security_groups) or None,
        )
        merged = merge_props(
            "function_props",
            secure_defaults,
            function_props,
            guards={"tracing": equals(lambda_.Tracing.ACTIVE, "must stay Tracing.ACTIVE (every invocation is traced)")},
            owned={
                "role": "the function's own role (grant to `function` instead)",
                "log_group": "existing_log_group",
                "log_retention": "log_retention",
                "environment_encryption": "encryption_key",
                "dead_letter_queue_enabled": "dead_letter_queue/async_dead_letter_queue",
                "dead_letter_topic": "dead_letter_queue",
                **{name: name for name in _NAMED_FUNCTION_ARGUMENTS},
            },
            target=lambda_.Function,
        )
        merged.pop("tracing", None)  # ACTIVE is set below, with its permissions in a dedicated policy
        self.function = lambda_.Function(
            self,
            "Function",
            code=code,
            handler=handler,
            environment_encryption=encryption_key,
            role=self.role,
            log_group=self.log_group,
            **merged,
        )
        # The X-Ray actions' policy stays private: its Resource-'*' acknowledgment must never cover a statement a
        # consumer adds (they go to `role`, whose findings are always reported).
        self._tracing_policy = self._active_tracing()
        self.dead_letter_queue = dead_letter_queue
        if dead_letter_queue is None and async_dead_letter_queue:
            self.dead_letter_queue = encrypted_dead_letter_queue(
                self, "DeadLetterQueue", encryption_key, "the function's asynchronous invocations"
            )
        if self.dead_letter_queue is not None:
            self._send_failed_invocations_to(self.dead_letter_queue)
        acknowledge_role_default_policy(self.role)

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The function's role: a SecureFunction is a grantee wherever CDK or this library expects one."""
        return self.role

    def _send_failed_invocations_to(self, queue: sqs.IQueue) -> None:
        """The function's DeadLetterConfig, with exact grants (CDK's own grants kms:GenerateDataKey* and
        kms:ReEncrypt*, wildcards a consumer's nag run would report)."""
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(target_arn=queue.queue_arn)
        iam.Grant.add_to_principal(grantee=self.role, actions=["sqs:SendMessage"], resource_arns=[queue.queue_arn])
        if queue.encryption_master_key is not None:
            queue.encryption_master_key.grant(self.role, "kms:GenerateDataKey", "kms:Decrypt")

    def _active_tracing(self) -> iam.Policy:
        """Active X-Ray tracing with its Resource-'*' actions in a policy of their own, so that the acknowledgment
        covers exactly those two actions and never a statement someone later adds to the role."""
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode="Active")
        policy = unscopable_actions_policy(
            self,
            "TracingPolicy",
            self.role,
            XRAY_ACTIONS,
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions, so active tracing "
            "needs Resource '*'; this dedicated policy holds only those two actions.",
        )
        self.function.node.add_dependency(policy)
        return policy

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
        """Errors, throttles, a maximum duration near the timeout, and a failed asynchronous invocation in the
        dead-letter queue (when there is one)."""
        period = thresholds.period
        near_timeout_ms = self.timeout.to_milliseconds() * thresholds.duration_fraction_of_timeout
        dead_letters = (
            []
            if self.dead_letter_queue is None
            else [
                AlarmSpec(
                    name=f"{self._alarm_label}-dead-letters",
                    metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=period, statistic="Maximum"
                    ),
                    threshold=thresholds.dead_letters,
                    description=f"An asynchronous invocation of the {self._purpose} function failed every retry.",
                )
            ]
        )
        return dead_letters + [
            AlarmSpec(
                name=f"{self._alarm_label}-errors",
                metric=self.metric_errors(period),
                threshold=thresholds.errors,
                evaluation_periods=thresholds.evaluation_periods,
                description=f"The {self._purpose} function raised errors.",
            ),
            AlarmSpec(
                name=f"{self._alarm_label}-throttles",
                metric=self.metric_throttles(period),
                threshold=thresholds.throttles,
                evaluation_periods=thresholds.evaluation_periods,
                description=f"The {self._purpose} function was throttled (concurrency limit reached).",
            ),
            AlarmSpec(
                name=f"{self._alarm_label}-duration-near-timeout",
                metric=self.metric_duration(period),
                threshold=near_timeout_ms,
                evaluation_periods=thresholds.evaluation_periods,
                description=f"The {self._purpose} function ran close to its timeout.",
            ),
        ]
