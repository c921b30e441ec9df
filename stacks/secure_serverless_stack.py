"""The per-environment stack: wires the secure_serverless constructs with values from EnvironmentConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import (
    ArnFormat,
    AssetHashType,
    Aws,
    CfnOutput,
    CfnParameter,
    CfnRule,
    CfnRuleAssertion,
    Duration,
    Fn,
    RemovalPolicies,
    RemovalPolicy,
    Stack,
    Tags,
)
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from secure_serverless import (
    AlarmSpec,
    AlarmThresholds,
    Alerting,
    CapacityRange,
    EnvironmentKey,
    EventPipeline,
    IdentityPool,
    IndexSpec,
    LoggedApi,
    PrivateNetwork,
    Route,
    ScaledTable,
    SecureBucket,
    SecureFunction,
)
from secure_serverless.defaults import retention_days
from secure_serverless.event_pipeline import OBJECT_CREATED, OBJECT_DELETED
from secure_serverless.nag import (
    LAMBDA_DLQ_RULES,
    acknowledge,
    acknowledge_grant_wildcards,
    acknowledge_guard,
    compliance_rules,
)
from secure_serverless.queues import dead_letter_queue, encrypted_queue
from stacks import records_schema as schema
from stacks.config import (
    EMAIL_PATTERN,
    EMAIL_RULE,
    PLACEHOLDER_ALERT_EMAIL,
    PLACEHOLDER_EMAIL_MESSAGE,
    EnvironmentConfig,
)
from stacks.layer import layer_asset_hash, layer_zip

LAMBDA_DIR = Path(__file__).resolve().parent.parent / "lambda"
# What this app's API accepts, for its web ACL's size rules (the library defaults to the WAF common rule set's 1,024
# and 2,048 bytes): a path of the stage, /objects/ and a 1,024-byte object name with every byte percent-encoded; a
# query string of the largest limit and the longest cursor (lambda/api/objects_api/domain.py; tests/stacks/
# test_hardening.py checks both against the handler's limits).
API_MAX_URI_PATH_BYTES = 4096
API_MAX_QUERY_STRING_BYTES = 12288
# This app's VPC address range in private-network environments (the library defaults to CDK's 10.0.0.0/16).
VPC_CIDR = "10.64.0.0/16"
# The processor's Powertools metric for records it fails in a partial batch response (lambda/processor handler).
PROCESSOR_RECORDS_FAILED_METRIC = "RecordsFailed"
# The processor's structured log line for each upload it counts or refuses (lambda/processor usage.py: the same
# strings, a test keeps them equal): the top-uploaders Contributor Insights rule counts them by the `upload_sub` field.
TOP_UPLOADERS_RULE = "top-uploaders"
UPLOAD_LOG_SUB_FIELD = "upload_sub"
UPLOAD_LOG_MESSAGES = ("upload counted", "upload refused")
# The account's Lambda concurrency in use (AWS/Usage: "Service Quotas integration and usage metrics" in the Lambda
# developer guide); SERVICE_QUOTA() of it is the applied quota.
LAMBDA_CONCURRENCY_USAGE = cloudwatch.Metric(
    namespace="AWS/Usage",
    metric_name="ResourceCount",
    dimensions_map={"Service": "Lambda", "Type": "Resource", "Resource": "ConcurrentExecutions", "Class": "None"},
    statistic="Maximum",
)
CODE_EXCLUDES = ["**/__pycache__", "**/*.pyc", "requirements.txt"]
# The erasure worker: one job message at a time; a step's worst case fits many times in this timeout, and a job
# larger than one invocation continues in the next (lambda/erasure).
ERASURE_TIMEOUT = Duration.minutes(5)
ERASURE_MAX_RECEIVE_COUNT = 5  # a job message failing this often goes to the erasure DLQ (alarmed)
ERASURE_MAX_CONCURRENCY = 2  # jobs erased at once (SQS event sources allow no fewer): bounds the table's load
# The user's per-user items the worker reads, erases or writes (stacks/records_schema.py).
_ERASED_KEYS = (
    f"{schema.UPLOADS_PREFIX}*",
    f"{schema.SUB_IDENTITIES_PREFIX}*",
    f"{schema.USAGE_PREFIX}*",
    f"{schema.IDENTITY_MAPPING_PREFIX}*",
)
_ERASURE_KEYS = (f"{schema.ERASURE_PREFIX}*",)
# What the constructs retain by default (data, keys, logs, identities); the Powertools layer stays retained everywhere.
STATEFUL_TYPES = (
    "AWS::KMS::Key",
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::Logs::LogGroup",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::IdentityPool",
)


def upload_limits_environment(config: EnvironmentConfig) -> dict[str, str]:
    """The per-user upload limits as the API function reads them (objects_api.upload_rules.LIMIT_SETTINGS)."""
    return {
        name.upper(): str(getattr(config, name))
        for name in (
            "upload_max_object_bytes",
            "uploads_per_minute",
            "uploads_per_day",
            "upload_max_bytes_held",
            "upload_grant_seconds",
        )
    }


def upload_route_throttle(config: EnvironmentConfig) -> dict[str, int]:
    """Method throttling of POST /uploads: half the stage's rate and burst (at least 1), so a flood of grant requests
    from all users together leaves the other half to reads and downloads (docs/api.md)."""
    return {
        "throttle_rate_limit": max(1, config.api_throttle_rate_limit // 2),
        "throttle_burst_limit": max(1, config.api_throttle_burst_limit // 2),
    }


class SecureServerlessStack(Stack):
    """One environment: key, bucket, records table, upload pipeline and processor, API and identities, alarms,
    and (where configured) the private network. Wiring: resources come from the constructs, apart from the
    Powertools layer (built from this repository's pins) and the alert e-mail parameter."""

    def __init__(self, scope: Construct, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            config.stack_name,
            stack_name=config.stack_name,
            description=f"secure-serverless environment {config.suffix} ({config.preset} preset)",
            termination_protection=config.termination_protection,
            **kwargs,
        )
        self.config = config
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)
        if config.destroyable:
            # The constructs retain their stateful resources; a destroyable environment deletes them with the stack.
            RemovalPolicies.of(self).destroy(apply_to_resource_types=list(STATEFUL_TYPES))
        log_retention = self._log_retention = retention_days(config.log_retention_days)

        self.key = EnvironmentKey(
            self,
            "Key",
            name_prefix=config.resource_prefix,
        )
        self.data = SecureBucket(
            self,
            "Data",
            name_prefix=config.bucket_prefix,
            encryption_key=self.key.key,
            object_expiration=(
                Duration.days(config.object_expiration_days) if config.object_expiration_days is not None else None
            ),
            noncurrent_version_expiration=Duration.days(config.noncurrent_version_expiration_days),
            access_log_expiration=Duration.days(config.access_log_retention_days),
        )
        string = dynamodb.AttributeType.STRING
        self.records = ScaledTable(
            self,
            "Records",
            purpose="table",
            partition_key=dynamodb.Attribute(name=schema.PARTITION_KEY, type=string),
            sort_key=dynamodb.Attribute(name=schema.SORT_KEY, type=string),
            indexes=[
                IndexSpec(
                    name=schema.OWNER_INDEX,
                    partition_key=dynamodb.Attribute(name=schema.OWNER_KEY, type=string),
                    sort_key=dynamodb.Attribute(name=schema.PARTITION_KEY, type=string),
                )
            ],
            encryption_key=self.key.key,
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            on_demand=config.table_on_demand,
            read_capacity=CapacityRange(*config.table_read_capacity),
            write_capacity=CapacityRange(*config.table_write_capacity),
            target_utilization_percent=config.table_target_utilization_percent,
            deletion_protection=not config.destroyable,
        )
        self.network = (
            PrivateNetwork(
                self,
                "Network",
                name_prefix=config.resource_prefix,
                encryption_key=self.key.key,
                cidr=VPC_CIDR,
                flow_log_retention=log_retention,
                # SQS: the processor delays its failed records (ChangeMessageVisibility) from inside the VPC.
                interface_endpoints=(ec2.InterfaceVpcEndpointAwsService.XRAY, ec2.InterfaceVpcEndpointAwsService.SQS),
            )
            if config.private_network
            else None
        )
        self.powertools = lambda_.LayerVersion(
            self,
            "PowertoolsLayer",
            code=lambda_.Code.from_asset(
                str(layer_zip()),  # one file to stage, not the built folder's ~500 (stacks/layer.py)
                asset_hash=layer_asset_hash(),
                asset_hash_type=AssetHashType.CUSTOM,
            ),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_14],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            layer_version_name=f"{config.resource_prefix}-powertools",
            description="Powertools for AWS Lambda (Python) and the X-Ray SDK, pinned in lambda/layer-requirements.txt",
            # prod keeps old versions usable by in-flight deployments; destroyable environments leave nothing.
            removal_policy=RemovalPolicy.DESTROY if config.destroyable else RemovalPolicy.RETAIN,
        )
        # One source for both functions' runtime idiom (lambda/shared/python/shared_runtime), shipped once.
        self.runtime_layer = lambda_.LayerVersion(
            self,
            "SharedRuntimeLayer",
            code=lambda_.Code.from_asset(str(LAMBDA_DIR / "shared"), exclude=CODE_EXCLUDES),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_14],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            layer_version_name=f"{config.resource_prefix}-shared-runtime",
            description="shared_runtime: call budgets, client cache, settings and Tracer set-up of every function",
            removal_policy=RemovalPolicy.DESTROY if config.destroyable else RemovalPolicy.RETAIN,
        )
        self.processor = self._function(
            "Processor",
            folder="processor",
            handler="processor.handler.sqs_handler",
            description=f"Records each object version uploaded to the {config.suffix} bucket",
            environment={
                "TABLE_NAME": self.records.table.table_name,
                "EXPECTED_BUCKET_NAME": self.data.bucket.bucket_name,
                "EXPECTED_BUCKET_OWNER": Aws.ACCOUNT_ID,
                **self._record_lifecycle_environment(),
                **self._upload_limits_environment(config),
            },
            memory_size=config.processor_memory_mb,
            timeout=Duration.seconds(config.processor_timeout_seconds),
            reserved_concurrent_executions=config.processor_reserved_concurrency,
        )
        self.pipeline = EventPipeline(
            self,
            "Pipeline",
            purpose="pipeline",
            bucket=self.data.bucket,
            processor=self.processor.function,
            encryption_key=self.key.key,
            # The name stays (the buffer's name derives from it): it takes Object Deleted too (_deletions).
            rule_name=f"{config.resource_prefix}-object-created",
            detail_types=(OBJECT_CREATED, OBJECT_DELETED),
            batch_size=config.processor_batch_size,
            max_concurrency=config.processor_max_concurrency,
            max_receive_count=config.processor_max_receive_count,
        )
        acknowledge(
            self.processor.function,
            LAMBDA_DLQ_RULES,
            "The processor is invoked synchronously by the pipeline's SQS event source mapping; failed records return "
            "to the buffer and move to its redrive dead-letter queue; an async-invocation DLQ would stay unused.",
        )
        # The processor reads the metadata of uploads only and writes one item per version: exact actions, nothing
        # else. The rule still delivers every key (S3's EventBridge key encoding is disputed, so a prefix filter in
        # the rule could drop real uploads); the processor skips and counts keys outside uploads/ without reading.
        acknowledge_grant_wildcards(
            self.processor.function,
            self.data.grant_read_objects(self.processor.function, prefix=schema.UPLOADS_PREFIX),
            "Object-level S3 permissions need an object ARN pattern; this one is limited to s3:GetObject and "
            "s3:GetObjectVersion on the objects under uploads/ in this one bucket.",
        )
        # Without ListBucket, S3 answers 403 for a deleted object and the processor could not tell it from a real
        # permission error: it would retry it into the DLQ instead of skipping and counting it.
        self.data.grant_list_objects(self.processor.function)
        # Records (uploads/*) and the tombstones of deleted versions (#deleted/*, a hash of the key); a record's put
        # is one transaction with the check that its version has no tombstone (ConditionCheckItem on those only).
        self.records.grant_put_item(
            self.processor.function, leading_keys=[f"{schema.UPLOADS_PREFIX}*", f"{schema.TOMBSTONE_PREFIX}*"]
        )
        self.records.grant_condition_check_item(self.processor.function, leading_keys=[f"{schema.TOMBSTONE_PREFIX}*"])
        # The uploader's user pool sub: the identity mapping item the API records (only those items).
        self.records.grant_get_item(self.processor.function, leading_keys=[f"{schema.IDENTITY_MAPPING_PREFIX}*"])
        self._count_uploads_at_record_time()

        self._api_and_identity(config, log_retention)
        self._deletions()
        if self.network is not None:
            self._restrict_to_the_network(config)
        self._erasure(config)
        if config.uploads_enabled:
            self._upload_grants(config)
        self._operations(config)

        CfnOutput(self, "BucketName", value=self.data.bucket.bucket_name, description="Data bucket")
        CfnOutput(self, "KeyArn", value=self.key.key.key_arn, description="Environment KMS key")
        CfnOutput(self, "TableName", value=self.records.table.table_name, description="Records table")
        if self.pipeline.buffer is not None:  # read by tools/redrive.py and tools/reconcile.py
            CfnOutput(self, "PipelineBufferUrl", value=self.pipeline.buffer.queue_url, description="Upload events")
        CfnOutput(self, "PipelineDeadLetterQueueUrl", value=self.pipeline.dead_letter_queue.queue_url)
        self._acknowledge_environment_trade_offs(config)

    def _deletions(self) -> None:
        """A user's DELETE /objects/{key+} (the API deletes the versions) and the records following through the
        pipeline's Object Deleted events (the processor deletes a record, writes its tombstone under a hash of the key
        and gives its size back to the uploader's #usage item): exact actions, on exact key ranges."""
        api, processor = self.api_handler.function, self.processor.function
        api.add_environment("EXPECTED_BUCKET_OWNER", Aws.ACCOUNT_ID)  # its S3 calls name the bucket's owner
        acknowledge_grant_wildcards(
            api,
            self.data.grant_delete_versions(api, prefix=schema.UPLOADS_PREFIX),
            "Object-level S3 permissions need an object ARN pattern; this one is limited to s3:DeleteObjectVersion "
            "on objects under uploads/ in this one bucket: the API deletes versions of the caller's own objects "
            "only (the handler builds the key from the caller's verified identity id).",
        )
        self.data.grant_list_versions(api, prefix=schema.UPLOADS_PREFIX)  # s3:prefix-scoped: the caller's own key
        # A record is read, then deleted as its tombstone is written (PutItem on #deleted/*: granted with the
        # records); tombstones are read, and deleted when a later "null" object replaces one; the uploader's usage
        # counters are read, and given back. Nothing else.
        # (UpdateItem on the usage items: granted with the counting, _count_uploads_at_record_time.)
        self.records.grant_get_item(
            processor,
            leading_keys=[f"{schema.UPLOADS_PREFIX}*", f"{schema.USAGE_PREFIX}*", f"{schema.TOMBSTONE_PREFIX}*"],
        )
        self.records.grant_delete_item(
            processor, leading_keys=[f"{schema.UPLOADS_PREFIX}*", f"{schema.TOMBSTONE_PREFIX}*"]
        )
        # A tombstone outlives every redelivery of the version's events (plus a day): see processor/deletions.py.
        tombstone = self.pipeline.redelivery_window.to_seconds() + Duration.days(1).to_seconds()
        processor.add_environment("TOMBSTONE_SECONDS", str(int(tombstone)))
        if self.network is None:
            return
        self.network.allow_through_endpoint(
            "s3",
            self.api_handler.role,
            ["s3:DeleteObjectVersion"],
            [self.data.arn_for_prefix(schema.UPLOADS_PREFIX)],
            sid="ApiDeletesOwnVersions",
        )
        self.network.allow_through_endpoint(
            "s3",
            self.api_handler.role,
            ["s3:ListBucketVersions"],
            [self.data.bucket.bucket_arn],
            sid="ApiListsOwnVersions",
        )
        # (The processor's UpdateItem on usage items through the endpoint: ProcessorCountsUsage.)

    @staticmethod
    def _upload_limits_environment(config: EnvironmentConfig) -> dict[str, str]:
        """The per-user limits the processor enforces when it records an upload (lambda/processor usage.py)."""
        return {
            "UPLOAD_MAX_BYTES_HELD": str(config.upload_max_bytes_held),
            "UPLOADS_PER_DAY": str(config.uploads_per_day),
        }

    def _count_uploads_at_record_time(self) -> None:
        """The processor counts each recorded upload into its uploader's `#usage/<sub>` items in the same transaction
        as the record (UpdateItem on those items only), and refuses one over a limit by deleting that exact version
        (s3:DeleteObjectVersion under uploads/ only: never a delete marker, never another prefix)."""
        self.records.grant_update_item(self.processor.function, leading_keys=[f"{schema.USAGE_PREFIX}*"])
        acknowledge_grant_wildcards(
            self.processor.function,
            self.data.grant_delete_versions(self.processor.function, prefix=schema.UPLOADS_PREFIX),
            "Object-level S3 permissions need an object ARN pattern; this one is limited to s3:DeleteObjectVersion "
            "on objects under uploads/ in this one bucket: the processor deletes the exact version of an upload it "
            "refuses (over the uploader's bytes-held or per-day limit).",
        )

    def _erasure(self, config: EnvironmentConfig) -> None:
        """A user's erasure: the job queue (and its DLQ), the worker, its exact rights, the API's right to start
        a job, and the alarms (docs/operations.md, "Erasure")."""
        queue_name = f"{config.resource_prefix}-erasure-jobs"
        self.erasure_dead_letters = dead_letter_queue(
            self,
            "ErasureDeadLetterQueue",
            self.key.key,
            "the erasure job queue",
            redrive_source_arns=[
                self.format_arn(service="sqs", resource=queue_name, arn_format=ArnFormat.NO_RESOURCE_NAME)
            ],
        )
        self.erasure_queue = encrypted_queue(
            self,
            "ErasureJobs",
            self.key.key,
            queue_name=queue_name,
            visibility_timeout=Duration.seconds(6 * ERASURE_TIMEOUT.to_seconds()),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.erasure_dead_letters, max_receive_count=ERASURE_MAX_RECEIVE_COUNT
            ),
        )
        self.erasure = self._function(
            "Erasure",
            folder="erasure",
            handler="erasure_worker.handler.sqs_handler",
            description=f"Erases everything of one {config.suffix} user pool user and keeps a report",
            environment={
                "TABLE_NAME": self.records.table.table_name,
                "OWNER_INDEX_NAME": schema.OWNER_INDEX,
                "BUCKET_NAME": self.data.bucket.bucket_name,
                "EXPECTED_BUCKET_OWNER": Aws.ACCOUNT_ID,
                "QUEUE_URL": self.erasure_queue.queue_url,
            },
            timeout=ERASURE_TIMEOUT,
        )
        worker, api, queue = self.erasure.function, self.api_handler.function, self.erasure_queue
        source = event_sources.SqsEventSource(
            queue, batch_size=1, max_concurrency=ERASURE_MAX_CONCURRENCY, report_batch_item_failures=True
        )
        worker.add_event_source(source)
        for child in worker.node.children:
            if isinstance(child, lambda_.EventSourceMapping):
                acknowledge(
                    child,
                    "Serverless-LambdaEventSourceMappingDestination",
                    "Lambda supports on-failure destinations only for stream and Kafka sources; for this SQS source "
                    "the erasure queue's redrive policy moves a job that failed 5 times to its DLQ (alarmed).",
                )
        acknowledge(
            worker,
            LAMBDA_DLQ_RULES,
            "The erasure worker is invoked synchronously by its SQS event source mapping; a failed job returns to "
            "the erasure queue and moves to its redrive dead-letter queue; an async-invocation DLQ would stay unused.",
        )
        # Exact rights: list versions under uploads/ only, delete exact versions (never s3:DeleteObject), and the
        # user's items by leading key; the owner index is queried by identity id (its own partition key).
        self.data.grant_list_versions(worker, prefix=schema.UPLOADS_PREFIX)
        acknowledge_grant_wildcards(
            worker,
            self.data.grant_delete_versions(worker, prefix=schema.UPLOADS_PREFIX),
            "Object-level S3 permissions need an object ARN pattern; this one is limited to s3:DeleteObjectVersion "
            "on objects under uploads/ in this one bucket (the worker deletes only the erased user's prefixes).",
        )
        records = self.records
        records.grant_query(
            worker, schema.OWNER_INDEX, leading_keys=[f"{schema.SUB_IDENTITIES_PREFIX}*", f"{schema.USAGE_PREFIX}*"]
        )
        records.grant_batch_write_item(worker, leading_keys=_ERASED_KEYS)
        records.grant_get_item(worker, leading_keys=[*_ERASURE_KEYS, f"{schema.IDENTITY_MAPPING_PREFIX}*"])
        records.grant_put_item(worker, leading_keys=_ERASURE_KEYS)
        records.grant_update_item(worker, leading_keys=_ERASURE_KEYS)
        # The worker continues a long job on its own queue; the API starts jobs there: SendMessage only.
        for sender in (worker, api):
            iam.Grant.add_to_principal(grantee=sender, actions=["sqs:SendMessage"], resource_arns=[queue.queue_arn])
            self.key.key.grant(sender, "kms:GenerateDataKey", "kms:Decrypt")
        # The API reads and writes only the caller's job and report (#erasure/<sub>).
        records.grant_get_item(api, leading_keys=_ERASURE_KEYS)
        records.grant_put_item(api, leading_keys=_ERASURE_KEYS)
        records.grant_update_item(api, leading_keys=_ERASURE_KEYS)
        api.add_environment("ERASURE_QUEUE_URL", queue.queue_url)
        if self.network is not None:
            self._erasure_through_the_network()
        else:
            acknowledge_guard(
                worker,
                "lambda_inside_vpc_check",
                "CT.LAMBDA.PR.3",
                f"{config.preset} preset: private network mode is off (interface endpoints cost money every "
                "hour); staging and prod run this function in isolated subnets behind VPC endpoints.",
            )
        CfnOutput(self, "ErasureQueueUrl", value=queue.queue_url, description="Erasure jobs (tools/erase_user.py)")
        CfnOutput(self, "ErasureDeadLetterQueueUrl", value=self.erasure_dead_letters.queue_url)
        CfnOutput(self, "ErasureFunctionName", value=worker.function_name)

    def _erasure_alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """The worker's own alarms, and a job in the erasure DLQ (alarmed like every other DLQ)."""
        return [
            *self.erasure.recommended_alarms(thresholds),
            AlarmSpec(
                name="erasure-dead-letters",
                metric=self.erasure_dead_letters.metric_approximate_number_of_messages_visible(
                    period=thresholds.period, statistic="Maximum"
                ),
                threshold=thresholds.dead_letters,
                evaluation_periods=1,
                description="An erasure job failed 5 times and is in the erasure dead-letter queue: a user's "
                "erasure is not finishing (runbook: docs/operations.md, Erasure).",
            ),
        ]

    def _erasure_through_the_network(self) -> None:
        """Private mode: the worker in the VPC, and the endpoints carrying exactly what it (and the API's job
        start) do through them."""
        assert self.network is not None
        network, role, table_arn = self.network, self.erasure.role, self.records.table.table_arn
        network.grant_vpc_access(role)
        network.allow_through_endpoint(
            "s3", role, ["s3:ListBucketVersions"], [self.data.bucket.bucket_arn], sid="ErasureListsVersions"
        )
        network.allow_through_endpoint(
            "s3",
            role,
            ["s3:DeleteObjectVersion"],
            [self.data.arn_for_prefix(schema.UPLOADS_PREFIX)],
            sid="ErasureDeletesVersions",
        )
        network.allow_through_endpoint(
            "dynamodb",
            role,
            [
                "dynamodb:Query",
                "dynamodb:BatchWriteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
            [table_arn, f"{table_arn}/index/{schema.OWNER_INDEX}"],  # the role's policy limits the leading keys
            sid="ErasureErasesItems",
        )
        network.allow_through_endpoint(
            "dynamodb",
            self.api_handler.role,
            ["dynamodb:GetItem", "dynamodb:UpdateItem"],  # erasure jobs only: the role's policy limits the keys
            [table_arn],
            sid="ApiReadsErasureJobs",
        )
        for sid, grantee in (("ErasureContinuesJobs", role), ("ApiStartsErasureJobs", self.api_handler.role)):
            network.allow_through_endpoint("sqs", grantee, ["sqs:SendMessage"], [self.erasure_queue.queue_arn], sid=sid)

    def _record_lifecycle_environment(self) -> dict[str, str]:
        """The bucket's own lifecycle values (one source: what SecureBucket put in its rules) for the processor, which
        gives each record the TTL of its object version's lifecycle end; nothing when objects never expire."""
        if self.data.object_expiration is None:
            return {}
        return {
            "OBJECT_EXPIRATION_DAYS": str(int(self.data.object_expiration.to_days())),
            "NONCURRENT_VERSION_EXPIRATION_DAYS": str(int(self.data.noncurrent_version_expiration.to_days())),
        }

    @property
    def availability_zones(self) -> list[str]:
        """The region's first two AZs via Fn::GetAZs, as in an environment-agnostic stack: no context lookup, so a
        stack bound to an account (`accounts` context) synthesizes without AWS credentials, like every other."""
        return [Fn.select(0, Fn.get_azs()), Fn.select(1, Fn.get_azs())]

    def _api_and_identity(self, config: EnvironmentConfig, log_retention: Any) -> None:
        """The read API over the records and the identities allowed to call it (and to upload their own objects)."""
        self.api_handler = self._function(
            "ApiHandler",
            folder="api",
            handler="objects_api.handler.lambda_handler",
            description=f"Serves the {config.suffix} records of the caller's own uploads",
            environment={
                "TABLE_NAME": self.records.table.table_name,
                "OWNER_INDEX_NAME": schema.OWNER_INDEX,
                "BUCKET_NAME": self.data.bucket.bucket_name,
            },
            reserved_concurrent_executions=config.api_reserved_concurrency,
            timeout=Duration.seconds(config.api_timeout_seconds),
        )
        self.records.grant_query(self.api_handler.function, schema.OWNER_INDEX)
        # GET /downloads/{key+} presigns S3 GETs with this role: the URL's request is the role reading one exact
        # version (s3:GetObjectVersion, never s3:GetObject), under uploads/ only; the handler picks the key from the
        # caller's verified identity (uploads/<identity id>/...), so no caller can have another's object signed.
        acknowledge_grant_wildcards(
            self.api_handler.function,
            self.data.grant_read_versions(self.api_handler.function, prefix=schema.UPLOADS_PREFIX),
            "Object-level S3 permissions need an object ARN pattern; this one is limited to s3:GetObjectVersion on "
            "objects under uploads/ in this one bucket: the presigned downloads the API signs for each caller's own "
            "prefix (the handler builds the key from the caller's verified identity id).",
        )
        acknowledge(
            self.api_handler.function,
            LAMBDA_DLQ_RULES,
            "The API handler is invoked synchronously by API Gateway; a failure is returned to the caller as a "
            "JSON error, so there is no asynchronous event to dead-letter.",
        )
        self.api = LoggedApi(
            self,
            "Api",
            name_prefix=config.resource_prefix,
            stage_name=config.suffix,
            handler=self.api_handler.function,
            routes=[
                Route("/objects", query_parameters=("limit", "cursor")),
                Route("/objects/{key+}"),
                Route("/downloads/{key+}", query_parameters=("version_id",)),
                *(
                    [Route("/uploads", method="POST", **upload_route_throttle(config))]
                    if config.uploads_enabled
                    else []
                ),
                Route("/objects/{key+}", query_parameters=("version_id",), method="DELETE"),
                Route("/erasure", method="POST"),
                Route("/erasure", method="GET"),
            ],
            encryption_key=self.key.key,
            execution_log_level=apigw.MethodLoggingLevel[config.api_execution_log_level],
            throttle_rate_limit=config.api_throttle_rate_limit,
            throttle_burst_limit=config.api_throttle_burst_limit,
            log_retention=log_retention,
            waf=config.waf_enabled,
            waf_managed_rules=config.waf_managed_rules,
            waf_identity_rate_limit=config.api_identity_rate_limit,
            waf_rate_limit=config.api_ip_rate_limit,
            waf_max_uri_path_bytes=API_MAX_URI_PATH_BYTES,
            waf_max_query_string_bytes=API_MAX_QUERY_STRING_BYTES,
            api_props={"description": f"{config.resource_prefix} objects API"},
        )
        self.identities = IdentityPool(
            self,
            "Identity",
            name_prefix=config.resource_prefix,
            self_sign_up=config.self_sign_up,
            mfa={"off": cognito.Mfa.OFF, "optional": cognito.Mfa.OPTIONAL, "required": cognito.Mfa.REQUIRED}[
                config.mfa
            ],
            threat_protection=config.threat_protection,
            deletion_protection=not config.destroyable,
        )
        self._acknowledge_environment_choices(config)
        acknowledge_grant_wildcards(
            self.identities.authenticated_role,
            self.api.grant_invoke(self.identities.authenticated_role),
            "execute-api:Invoke on the routes of this API's stage, each with its own method; a greedy path "
            "parameter ({key+}) can only be expressed as a trailing wildcard.",
        )
        # The handler refuses identities of any other pool (another environment's, another account's) and guests.
        self.api_handler.function.add_environment("IDENTITY_POOL_ID", self.identities.identity_pool.identity_pool_id)
        # ... and callers not signed in as a user of this user pool (the `sub` in cognitoAuthenticationProvider);
        # it records each identity id <-> sub mapping, writing only mapping items (leading keys #identity/...).
        self.api_handler.function.add_environment(
            "USER_POOL_PROVIDER",
            Fn.join("", ["cognito-idp.", Aws.REGION, ".", Aws.URL_SUFFIX, "/", self.identities.user_pool.user_pool_id]),
        )
        self.records.grant_put_item(
            self.api_handler.function,
            leading_keys=[f"{schema.IDENTITY_MAPPING_PREFIX}*", f"{schema.SUB_IDENTITIES_PREFIX}*"],
        )
        # Users upload only through grants the API signs (POST /uploads): the authenticated role holds nothing but
        # execute-api:Invoke above, and the API function's role holds s3:PutObject under uploads/ to sign them
        # (_upload_grants).
        CfnOutput(self, "ApiUrl", value=self.api.api.url, description="Objects API base URL (SigV4)")
        CfnOutput(self, "UserPoolId", value=self.identities.user_pool.user_pool_id, description="User pool")
        CfnOutput(self, "UserPoolClientId", value=self.identities.user_pool_client.user_pool_client_id)
        CfnOutput(self, "IdentityPoolId", value=self.identities.identity_pool.identity_pool_id)

    def _upload_grants(self, config: EnvironmentConfig) -> None:
        """POST /uploads (its Route is in _api_and_identity): the API function signs presigned POSTs for
        uploads/<caller>/<name> and counts them per user pool sub. Its role gets exactly what signing needs
        (s3:PutObject under uploads/, the key only to encrypt through S3 for this bucket) and the counters (UpdateItem
        and BatchGetItem only on `#usage/*` items); the limits come from this environment's config."""
        function = self.api_handler.function
        for name, value in upload_limits_environment(config).items():
            function.add_environment(name, value)
        function.add_environment("UPLOAD_KMS_KEY_ARN", self.key.key.key_arn)
        acknowledge_grant_wildcards(
            function,
            self.data.grant_signed_uploads(function, prefix=schema.UPLOADS_PREFIX),
            "Object-level S3 permissions need an object ARN pattern; this one is limited to s3:PutObject on objects "
            "under uploads/ in this one bucket: the presigned POSTs the API signs, each bound by its policy to one "
            "exact key under the caller's own prefix, a size range, the content type and the bucket's encryption.",
        )
        usage = [f"{schema.USAGE_PREFIX}*"]
        self.records.grant_update_item(function, leading_keys=usage)
        self.records.grant_batch_get_item(function, leading_keys=usage)
        if self.network is not None:
            self.network.allow_through_endpoint(
                "dynamodb",
                self.api_handler.role,
                ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"],  # usage items only: the role's policy limits keys
                [self.records.table.table_arn],
                sid="ApiCountsUploadGrants",
            )

    def _function(
        self, construct_id: str, *, folder: str, handler: str, environment: dict[str, str], **props: Any
    ) -> SecureFunction:
        """A SecureFunction from lambda/<folder> with what every function here shares: the key, the Powertools
        layer and settings, log retention and (in private mode) the network placement; and this
        environment's acknowledgments of what it leaves off."""
        function = SecureFunction(
            self,
            construct_id,
            code=lambda_.Code.from_asset(str(LAMBDA_DIR / folder), exclude=CODE_EXCLUDES),
            handler=handler,
            name_prefix=self.config.resource_prefix,
            purpose=folder,
            encryption_key=self.key.key,
            async_dead_letter_queue=False,  # both are invoked synchronously: acknowledged where they are wired
            environment=self._powertools_environment(folder) | environment,
            layers=[self.powertools, self.runtime_layer],
            log_retention=self._log_retention,
            **self._network_placement(),
            **props,
        )
        if self.network is None:
            acknowledge(
                function.function,
                compliance_rules("LambdaInsideVPC"),
                "This environment runs without the private network mode (DESIGN §10, off outside prod to avoid "
                "interface-endpoint cost); the function reaches only AWS APIs over TLS with IAM auth.",
            )
        if props.get("reserved_concurrent_executions") is None:
            acknowledge(
                function.function,
                ("NIST.800.53.R5-LambdaConcurrency", "HIPAA.Security-LambdaConcurrency"),
                "Concurrency is bounded by the event source (SQS maximum concurrency) or API stage throttling in "
                "this environment; reserving capacity per function is a prod-only choice.",
            )
        return function

    def _acknowledge_environment_choices(self, config: EnvironmentConfig) -> None:
        """What this environment's configuration turns off, acknowledged here (the library never does it for us)."""
        acknowledge(
            self.data.bucket,
            compliance_rules("S3BucketReplicationEnabled"),
            "Cross-region replication is a disaster-recovery choice with its own cost; versioning plus "
            "point-in-time data in DynamoDB covers this system's recovery objectives.",
        )
        acknowledge(
            self.records.table,
            compliance_rules("DynamoDBInBackupPlan"),
            "Point-in-time recovery (35 days of continuous backups) is on; an AWS Backup plan is an "
            "organisation-level choice outside this stack.",
        )
        if not config.threat_protection:
            acknowledge(
                self.identities.user_pool,
                "AwsSolutions-COG8",
                "Threat protection needs the Cognito Plus feature plan, billed per active user; this environment's "
                "configuration leaves it off (prod turns it on).",
            )
        if config.mfa != "required":
            acknowledge(
                self.identities.user_pool,
                "AwsSolutions-COG2",
                "MFA is optional in this non-production environment by configuration so test users can sign in "
                "from automation; prod requires TOTP MFA.",
            )

    def _network_placement(self) -> dict[str, Any]:
        """SecureFunctionProps fields that put a function in the private network (none without it)."""
        if self.network is None:
            return {}
        return {
            "vpc": self.network.vpc,
            "vpc_subnets": self.network.function_subnets,
            "security_groups": [self.network.function_security_group],
        }

    def _restrict_to_the_network(self, config: EnvironmentConfig) -> None:
        """Functions get VPC access; object data access must come through the S3 endpoint, except for
        administrators and the requests of the grants the API signs for users' devices (exact actions)."""
        assert self.network is not None
        for function in (self.processor, self.api_handler):
            self.network.grant_vpc_access(function.role)
        # The endpoints carry exactly what the functions do through them, on this environment's resources only.
        network, processor, table_arn = self.network, self.processor.role, self.records.table.table_arn
        network.allow_through_endpoint(
            "s3",
            processor,
            ["s3:GetObject", "s3:GetObjectVersion"],  # HeadObject is authorized as s3:GetObject
            [self.data.arn_for_prefix(schema.UPLOADS_PREFIX)],
            sid="ProcessorReadsObjectMetadata",
        )
        network.allow_through_endpoint(
            "s3", processor, ["s3:ListBucket"], [self.data.bucket.bucket_arn], sid="ProcessorTellsDeletedObjects"
        )
        network.allow_through_endpoint(
            "dynamodb",
            processor,
            # records and tombstones only: the role's policy limits the leading keys
            ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
            [table_arn],
            sid="ProcessorWritesRecords",
        )
        network.allow_through_endpoint(
            "s3",
            processor,
            ["s3:DeleteObjectVersion"],  # the exact version of an upload it refuses (over a per-user limit)
            [self.data.arn_for_prefix(schema.UPLOADS_PREFIX)],
            sid="ProcessorRefusesUploads",
        )
        network.allow_through_endpoint(
            "dynamodb",
            processor,
            ["dynamodb:UpdateItem"],  # usage counters only (#usage/...): the role's policy limits the leading keys
            [table_arn],
            sid="ProcessorCountsUsage",
        )
        network.allow_through_endpoint(
            "dynamodb",
            processor,
            ["dynamodb:GetItem"],  # mappings, records, usage: the role's policy limits the leading keys
            [table_arn],
            sid="ProcessorReadsIdentityMappings",
        )
        network.allow_through_endpoint(
            "dynamodb",
            self.api_handler.role,
            ["dynamodb:Query"],
            [f"{table_arn}/index/{schema.OWNER_INDEX}"],  # the API reads only through the owner index
            sid="ApiQueriesOwnRecords",
        )
        network.allow_through_endpoint(
            "dynamodb",
            self.api_handler.role,
            ["dynamodb:PutItem"],  # identity id <-> sub mappings only: the role's policy limits the leading keys
            [table_arn],
            sid="ApiRecordsIdentityMappings",
        )
        if self.pipeline.buffer is not None:
            network.allow_through_endpoint(
                "sqs",
                processor,
                ["sqs:ChangeMessageVisibility"],  # delays its failed records; the poller is Lambda's, outside the VPC
                [self.pipeline.buffer.queue_arn],
                sid="ProcessorDelaysFailedRecords",
            )
        admins = [Fn.sub(pattern) for pattern in config.admin_principal_arn_patterns]
        # Users' devices use the presigned URLs the API function signs, from outside the VPC, as that role: downloads
        # (s3:GetObjectVersion) and upload grants (s3:PutObject), under uploads/ only (SecureBucket.
        # require_vpc_endpoint's version_readers and uploaders). The authenticated role has no S3 right at all.
        signer = [self.api_handler.role.role_arn]
        self.data.require_vpc_endpoint(
            [self.network.s3_endpoint.vpc_endpoint_id],
            exempt_arns=admins,
            version_readers=signer,
            version_readers_prefix=schema.UPLOADS_PREFIX,
            uploaders=signer if config.uploads_enabled else (),
            uploaders_prefix=schema.UPLOADS_PREFIX,
        )

    def _operations(self, config: EnvironmentConfig) -> None:
        """Alarms on every signal of every construct, to an e-mail an operator can change without a new synth."""
        email = CfnParameter(
            self,
            "AlertEmail",
            type="String",
            default=config.alert_email,
            allowed_pattern=EMAIL_PATTERN,
            constraint_description=f"must be {EMAIL_RULE}",
            description="Address that receives this environment's alarms",
        )
        if config.require_real_alert_email:
            # Checked by CloudFormation before any resource changes (template Rules); `cdk synth` needs no address.
            CfnRule(
                self,
                "AlertEmailIsNotThePlaceholder",
                assertions=[
                    CfnRuleAssertion(
                        assert_=Fn.condition_not(Fn.condition_equals(email.value_as_string, PLACEHOLDER_ALERT_EMAIL)),
                        assert_description=PLACEHOLDER_EMAIL_MESSAGE,
                    )
                ],
            )
        self.alerting = Alerting(
            self,
            "Alerting",
            name_prefix=config.resource_prefix,
            encryption_key=self.key.key,
            email=email.value_as_string,
        )
        thresholds = AlarmThresholds(
            period=Duration.minutes(config.alarm_period_minutes),
            api_p99_latency_ms=config.api_p99_latency_threshold_ms,
            oldest_buffered_age_seconds=config.buffer_oldest_message_threshold_seconds,
        )
        for source in (self.processor, self.api_handler, self.pipeline, self.records, self.api, self.alerting):
            self.alerting.add_alarms(source.recommended_alarms(thresholds))
        self.alerting.add_alarms(self._quota_alarms(config, thresholds))
        self.alerting.add_alarms([self._records_failed_alarm(config, thresholds)])
        self.alerting.add_alarms([self._top_uploader_alarm(config, thresholds)])
        self.alerting.add_alarms(self._erasure_alarms(thresholds))
        self.alerting.add_status_widget()
        CfnOutput(self, "AlertTopicArn", value=self.alerting.topic.topic_arn, description="Alarm notifications")

    def _records_failed_alarm(self, config: EnvironmentConfig, thresholds: AlarmThresholds) -> AlarmSpec:
        """Records the processor reported as failed in a partial batch response: the invocation succeeds, so
        Lambda's Errors metric never sees them (they are retried, then dead-lettered)."""
        return AlarmSpec(
            name="processor-records-failed",
            metric=cloudwatch.Metric(
                namespace=self._powertools_environment("processor")["POWERTOOLS_METRICS_NAMESPACE"],
                metric_name=PROCESSOR_RECORDS_FAILED_METRIC,
                dimensions_map={"service": "processor"},  # Powertools' default dimension: POWERTOOLS_SERVICE_NAME
                statistic="Sum",
                period=thresholds.period,
            ),
            threshold=1,
            evaluation_periods=thresholds.evaluation_periods,
            description="The processor reported records as failed (partial batch response): they are retried and "
            "then dead-lettered; Lambda's Errors alarm does not see them.",
        )

    def _top_uploader_alarm(self, config: EnvironmentConfig, thresholds: AlarmThresholds) -> AlarmSpec:
        """The user who recorded (or was refused) the most uploads in one alarm period, by user pool sub: a
        Contributor Insights rule over the processor's structured log lines (processor/usage.py logs one per upload
        it counts or refuses) names the top contributors; the alarm watches the largest one's count."""
        rule_name = f"{config.resource_prefix}-{TOP_UPLOADERS_RULE}"
        self.top_uploaders = cloudwatch.CfnInsightRule(
            Construct(self, "TopUploaders"),  # a component of its own (the architecture picture names it)
            "Rule",
            rule_name=rule_name,
            rule_state="ENABLED",
            rule_body=self.to_json_string(
                {
                    "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
                    "LogGroupNames": [self.processor.log_group.log_group_name],
                    "LogFormat": "JSON",
                    "Contribution": {
                        "Keys": [f"$.{UPLOAD_LOG_SUB_FIELD}"],
                        "Filters": [{"Match": "$.message", "In": list(UPLOAD_LOG_MESSAGES)}],
                    },
                    "AggregateOn": "Count",
                }
            ),
        )
        # Grants are limited per minute at issuance, but a grant can be replayed until it expires and each replay is
        # recorded (or refused) here: more than a full per-minute allowance over the whole period is replaying or a
        # script at the ceiling.
        threshold = config.uploads_per_minute * config.alarm_period_minutes
        metric = cloudwatch.MathExpression(
            expression=f"INSIGHT_RULE_METRIC('{rule_name}', 'MaxContributorValue')",
            using_metrics={},
            label="Uploads recorded or refused for the top uploader (by user pool sub)",
            period=thresholds.period,
        )
        return AlarmSpec(
            name="top-uploader",
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            description=f"One user (by user pool sub) had {threshold} or more uploads recorded or refused in "
            f"{config.alarm_period_minutes} minute(s) (uploads_per_minute x the alarm period): see the "
            f"Contributor Insights rule {rule_name} for who (docs/operations.md, 'Top uploaders').",
        )

    def _quota_alarms(self, config: EnvironmentConfig, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """The account's concurrent executions near its quota; the processor at its concurrency ceiling for long."""
        period = thresholds.period
        ceilings = [config.processor_max_concurrency]
        if config.processor_reserved_concurrency is not None:
            ceilings.append(config.processor_reserved_concurrency)
        sustained = max(1, -(-config.concurrency_limit_sustained_minutes // config.alarm_period_minutes))
        return [
            AlarmSpec(
                name="account-concurrency-near-quota",
                # The account's real quota, read by CloudWatch when it evaluates the alarm (no number to keep in
                # step): Lambda publishes its concurrency usage in AWS/Usage, and SERVICE_QUOTA() returns the
                # applied Service Quotas value (L-B99A9384) for that usage metric.
                metric=cloudwatch.MathExpression(
                    expression="100 * usage / SERVICE_QUOTA(usage)",
                    using_metrics={"usage": LAMBDA_CONCURRENCY_USAGE.with_(period=period)},
                    label="Lambda concurrent executions, % of the account quota",
                    period=period,
                ),
                threshold=config.account_concurrency_alarm_percent,
                evaluation_periods=thresholds.evaluation_periods,
                description=f"The account's Lambda concurrent executions reached "
                f"{config.account_concurrency_alarm_percent}% of its applied quota (Service Quotas L-B99A9384).",
            ),
            AlarmSpec(
                name="processor-concurrency-at-limit",
                metric=self.processor.function.metric("ConcurrentExecutions", statistic="Maximum", period=period),
                threshold=min(ceilings),
                evaluation_periods=sustained,
                description="The processor ran at its concurrency ceiling (event-source maximum or reserved "
                f"concurrency, {min(ceilings)}) for {config.concurrency_limit_sustained_minutes} minutes: "
                "uploads are queuing faster than they drain.",
            ),
        ]

    def _acknowledge_environment_trade_offs(self, config: EnvironmentConfig) -> None:
        """Control Tower rules this environment's configuration fails on purpose, each on its own resource."""
        for node in self.node.find_all():
            if isinstance(node, logs.CfnLogGroup) and (node.retention_in_days or 0) < 365:
                acknowledge_guard(
                    node,
                    "cloudwatch_log_group_retention_period_check",
                    "CT.CLOUDWATCH.PR.2",
                    f"{config.preset} preset: this log group keeps {node.retention_in_days} days "
                    "(log_retention_days / access_log_retention_days) to bound cost in a destroyable environment; "
                    "prod keeps every log group for 365 days.",
                )
        if self.network is None:
            for function in (self.processor, self.api_handler):
                acknowledge_guard(
                    function.function,
                    "lambda_inside_vpc_check",
                    "CT.LAMBDA.PR.3",
                    f"{config.preset} preset: private network mode is off (interface endpoints cost money every "
                    "hour); staging and prod run this function in isolated subnets behind VPC endpoints.",
                )
        acknowledge_guard(
            self.data.bucket,
            "s3_bucket_object_lock_enabled_check",
            "CT.S3.PR.9",
            "Users overwrite and delete their own uploads and destroyable environments must be deletable; "
            "versioning with noncurrent-version expiry and RETAIN in prod keep recoverable history instead of WORM.",
        )

    def _powertools_environment(self, service: str) -> dict[str, str]:
        """Powertools settings shared by every function; the metrics namespace carries the suffix."""
        return {
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": f"SecureServerless/{self.config.suffix}",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
