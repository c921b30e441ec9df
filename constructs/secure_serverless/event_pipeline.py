"""EventPipeline: S3 events ("Object Created" by default) -> EventBridge rule -> (encrypted SQS buffer) -> Lambda, with
DLQs and retries.

Never a bucket notification straight to Lambda: that makes the function's resource policy and the bucket depend on
each other. The rule matches this bucket's events on the default event bus.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jsii
from aws_cdk import ArnFormat, Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces import aws_events as events_refs
from constructs import Construct

from . import defaults
from .alarms import AlarmSpec, AlarmThresholds
from .encryption_key import allow_service_publisher, own_key
from .inputs import BucketLike, FunctionLike, KeyLike, bucket_of, function_of, key_of, timeout_of
from .nag import acknowledge
from .naming import path_name, validate_name_prefix
from .overrides import UnsafeOverrideError, equals, merge_props
from .queues import dead_letter_queue, encrypted_queue

# Defaults of the keyword arguments (module constants: a default is evaluated once, and help() shows the name).
MAX_BATCHING_WINDOW = Duration.seconds(5)
MAX_EVENT_AGE = Duration.hours(6)
ASYNC_MAX_EVENT_AGE = Duration.hours(1)
DEAD_LETTER_RETENTION = Duration.days(14)
OBJECT_CREATED = "Object Created"
OBJECT_DELETED = "Object Deleted"
DETAIL_TYPES = (OBJECT_CREATED,)
# The detail-types S3 sends to EventBridge (Amazon S3 User Guide, "EventBridge event message structure").
S3_DETAIL_TYPES = (
    OBJECT_CREATED,
    OBJECT_DELETED,
    "Object Restore Initiated",
    "Object Restore Completed",
    "Object Restore Expired",
    "Object Tags Added",
    "Object Tags Deleted",
    "Object ACL Updated",
    "Object Storage Class Changed",
    "Object Access Tier Changed",
)
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS: queue visibility timeout >= 6x the function timeout for SQS event sources
# The queues hold transient events (a DLQ alarms at once): deleted with the stack unless RemovalPolicies says otherwise.
TRANSIENT_REMOVAL_POLICY = RemovalPolicy.DESTROY


class Delivery(enum.Enum):
    """How matched events reach the processor."""

    QUEUE = "queue"  # rule -> encrypted SQS buffer -> event source mapping (batch item failures)
    DIRECT = "direct"  # rule -> Lambda asynchronously (retries, max event age, DLQ, on-failure destination)


@jsii.implements(events.IRuleTarget)
class _EncryptedQueueTarget:
    """Rule target for a KMS-encrypted queue with exact grants (CDK's SqsQueue target grants kms:GenerateDataKey*)."""

    def __init__(self, queue: sqs.Queue, dead_letter_queue: sqs.IQueue, retry_attempts: int, max_age: Duration):
        self._queue, self._dlq, self._retry_attempts, self._max_age = queue, dead_letter_queue, retry_attempts, max_age

    def bind(self, rule: events_refs.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:  # noqa: A002 (jsii name)
        return events.RuleTargetConfig(
            arn=self._queue.queue_arn,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self._dlq.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=self._retry_attempts,
                maximum_event_age_in_seconds=self._max_age.to_seconds(),
            ),
            target_resource=self._queue,
        )


class EventPipeline(Construct):
    """Delivers a bucket's S3 events (Object Created by default) to a processor so that a failed event always ends in
    a DLQ.

    Minimal use: ``EventPipeline(self, "Pipeline", bucket=bucket, processor=function)`` (the bucket must have
    EventBridge notifications on, as SecureBucket's have).

    Args:
        scope: the parent construct.
        construct_id: the construct id.
        bucket: the bucket whose events are processed: an ``s3.IBucket`` or a SecureBucket (required).
        processor: the function that processes each event: a ``lambda_.IFunction`` or a SecureFunction (required;
            an imported function's timeout is unknown: then set ``buffer_props['visibility_timeout']``).
        encryption_key: a ``kms.IKey`` or an EnvironmentKey; encrypts the buffer and the DLQ; its policy admits
            EventBridge for this rule only. Default: None (a rotating key is created).
        rule_name: physical rule name (the key policy is scoped to it). Default: None (derived from the construct
            path, at most 64 characters).
        key_prefix: only keys starting with this. Default: ``""`` (all keys).
        key_suffix: only keys ending with this. Default: ``""``.
        detail_types: the S3 event detail-types the rule takes, among S3's own (``"Object Created"``,
            ``"Object Deleted"``, ...; each at most once). A processor given ``"Object Deleted"`` must tell the two
            apart (``detail-type``) and expect them in any order: EventBridge does not order events. Default:
            ``("Object Created",)``.
        delivery: ``Delivery.QUEUE`` (rule -> encrypted SQS buffer -> function) or ``Delivery.DIRECT`` (rule ->
            function asynchronously). Default: ``Delivery.QUEUE``.
        batch_size: records per invocation (QUEUE). Default: 10.
        max_batching_window: wait to fill a batch (QUEUE). Default: 5 seconds.
        max_concurrency: concurrent invocations the event source may use, 2 to 1000 (QUEUE). Default: 2.
        max_receive_count: receives before a message moves to the DLQ (QUEUE). Default: 3.
        retry_attempts: EventBridge delivery retries to the target. Default: 8.
        max_event_age: EventBridge gives up delivering after this. Default: 6 hours.
        async_retry_attempts: Lambda asynchronous retries, 0 to 2 (DIRECT). Default: 2.
        async_max_event_age: Lambda sends to the on-failure destination after this (DIRECT). Default: 1 hour.
        dead_letter_retention: how long failed events stay in the DLQ. Default: 14 days.
        purpose: short name of this instance in its alarm names, e.g. ``"pipeline"``. Default: None (a name
            unique in the app, built from the construct path, so two instances' alarms never collide in one
            Alerting).
        existing_dead_letter_queue: use this queue as the DLQ (it must be encrypted with a key EventBridge may use
            for this rule). Default: None.
        buffer_props: further ``sqs.Queue`` keyword arguments for the buffer, merged over the defaults. Refused:
            turning TLS-only or KMS encryption off; what an argument above controls. Default: None.

    Removal: the queues hold transient events and are deleted with the stack; ``RemovalPolicies.of(pipeline)``
    changes that.

    Attributes:
        rule: the EventBridge rule.
        buffer: the SQS buffer (None with DIRECT delivery).
        dead_letter_queue: where every failed event ends.
        event_source_mapping: the buffer -> function event source (None with DIRECT delivery).
        delivery: the delivery mode in use.
        key_prefix: the key prefix filter (``""`` for all keys).
        detail_types: the detail-types the rule takes.
        encryption_key: the key of the buffer and the DLQ.
        redelivery_window: the longest time an event may still reach the processor after S3 sent it: EventBridge's
            retries (``max_event_age``), then the buffer and its DLQ (a message keeps its enqueue time in the DLQ:
            the longer of the two retentions) or, with DIRECT delivery, Lambda's asynchronous retries and the DLQ's
            retention. An operator's redrive of a dead letter comes on top. A processor that keeps state to order
            events (tombstones) keeps it at least this long.
    """

    rule: events.Rule
    buffer: sqs.Queue | None
    dead_letter_queue: sqs.IQueue
    event_source_mapping: event_sources.SqsEventSource | None
    delivery: Delivery
    key_prefix: str
    detail_types: tuple[str, ...]
    encryption_key: kms.IKey
    redelivery_window: Duration

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: BucketLike,
        processor: FunctionLike,
        encryption_key: KeyLike | None = None,
        rule_name: str | None = None,
        key_prefix: str = "",
        key_suffix: str = "",
        detail_types: Sequence[str] = DETAIL_TYPES,
        delivery: Delivery = Delivery.QUEUE,
        batch_size: int = 10,
        max_batching_window: Duration = MAX_BATCHING_WINDOW,
        max_concurrency: int = 2,
        max_receive_count: int = 3,
        retry_attempts: int = 8,
        max_event_age: Duration = MAX_EVENT_AGE,
        async_retry_attempts: int = 2,
        async_max_event_age: Duration = ASYNC_MAX_EVENT_AGE,
        dead_letter_retention: Duration = DEAD_LETTER_RETENTION,
        existing_dead_letter_queue: sqs.IQueue | None = None,
        purpose: str | None = None,
        buffer_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        bucket, processor_timeout = bucket_of(bucket), timeout_of(processor)
        processor, encryption_key = function_of(processor), key_of(encryption_key)
        # The key policy is scoped to the rule's ARN, built from its name (an attribute would make a cycle).
        rule_name = rule_name or Names.unique_resource_name(self, max_length=64, separator="-")
        _validate(
            rule_name=rule_name,
            key_prefix=key_prefix,
            key_suffix=key_suffix,
            batch_size=batch_size,
            max_concurrency=max_concurrency,
            max_receive_count=max_receive_count,
            retry_attempts=retry_attempts,
            async_retry_attempts=async_retry_attempts,
            detail_types=detail_types,
        )
        self.detail_types = tuple(detail_types)
        self._alarm_label = purpose if purpose is not None else path_name(self)
        self.delivery = delivery
        self.key_prefix = key_prefix
        self.encryption_key = encryption_key = encryption_key or own_key(self)
        rule_arn_pattern = Stack.of(self).format_arn(service="events", resource="rule", resource_name=rule_name)

        # The buffer is named, so the DLQ's RedriveAllowPolicy can name it without a reference (which would make
        # a cycle: the buffer's RedrivePolicy already references the DLQ).
        buffer_name = re.sub(r"[^A-Za-z0-9_-]", "-", rule_name) + "-buffer"  # queue names allow no dots
        self._dead_letter_retention = dead_letter_retention
        if existing_dead_letter_queue is not None:
            _use_existing_dead_letter_queue(existing_dead_letter_queue, encryption_key, rule_arn_pattern, rule_name)
        self.dead_letter_queue = existing_dead_letter_queue or dead_letter_queue(
            self,
            "DeadLetterQueue",
            encryption_key,
            "the pipeline (buffer redrive, rule target DLQ and Lambda on-failure destination)",
            redrive_source_arns=(
                [Stack.of(self).format_arn(service="sqs", resource=buffer_name, arn_format=ArnFormat.NO_RESOURCE_NAME)]
                if delivery is Delivery.QUEUE
                else []
            ),
            retention_period=dead_letter_retention,
            removal_policy=TRANSIENT_REMOVAL_POLICY,
        )
        self.rule = events.Rule(
            self,
            "ObjectCreated",
            rule_name=rule_name,
            description=f"{', '.join(self.detail_types)} in the bucket{' under ' + key_prefix if key_prefix else ''}",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=list(self.detail_types),
                detail={"bucket": {"name": [bucket.bucket_name]}, **_key_filter(key_prefix, key_suffix)},
            ),
        )
        # EventBridge encrypts into the buffer/DLQ with the key: only for this rule, in this account.
        allow_service_publisher(
            encryption_key, "events.amazonaws.com", [rule_arn_pattern], f"AllowEventBridgeRule{_sid(rule_name)}"
        )
        self._allow_rule_to_send(self.dead_letter_queue)

        if delivery is Delivery.QUEUE:
            merged_buffer_props = _buffer_props(
                processor_timeout,
                buffer_props,
                dead_letter_retention,
                max_receive_count,
                own_dead_letter_queue=existing_dead_letter_queue is None,
            )
            retention = merged_buffer_props["retention_period"].to_seconds()
            self.redelivery_window = Duration.seconds(
                max_event_age.to_seconds() + max(retention, dead_letter_retention.to_seconds())
            )
            self.buffer = encrypted_queue(
                self,
                "Buffer",
                encryption_key,
                queue_name=buffer_name,
                dead_letter_queue=sqs.DeadLetterQueue(
                    queue=self.dead_letter_queue, max_receive_count=max_receive_count
                ),
                removal_policy=TRANSIENT_REMOVAL_POLICY,
                **merged_buffer_props,
            )
            self._allow_rule_to_send(self.buffer)
            self.rule.add_target(
                _EncryptedQueueTarget(self.buffer, self.dead_letter_queue, retry_attempts, max_event_age)
            )
            self.event_source_mapping = event_sources.SqsEventSource(
                self.buffer,
                batch_size=batch_size,
                max_batching_window=max_batching_window,
                max_concurrency=max_concurrency,
                report_batch_item_failures=True,
            )
            processor.add_event_source(self.event_source_mapping)
            (mapping,) = [
                child
                for child in processor.node.children
                if isinstance(child, lambda_.EventSourceMapping)
                and child.event_source_mapping_id == self.event_source_mapping.event_source_mapping_id
            ]
            acknowledge(
                mapping,  # the mapping this construct created, not the caller's function
                "Serverless-LambdaEventSourceMappingDestination",
                "Lambda supports on-failure destinations only for stream and Kafka event sources; for this SQS source "
                "the buffer's redrive policy moves a record that failed max_receive_count times to the DLQ.",
            )
        else:
            self.buffer = None
            self.event_source_mapping = None
            self.redelivery_window = Duration.seconds(
                max_event_age.to_seconds() + async_max_event_age.to_seconds() + dead_letter_retention.to_seconds()
            )
            # CDK's LambdaFunction target: invoke permission for events.amazonaws.com scoped to this rule's ARN.
            self.rule.add_target(
                targets.LambdaFunction(
                    processor,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=retry_attempts,
                    max_event_age=max_event_age,
                )
            )
            self._on_failure_to_dead_letter_queue(processor, encryption_key, async_retry_attempts, async_max_event_age)

    def _allow_rule_to_send(self, queue: sqs.IQueue) -> None:
        """Queue policy: events.amazonaws.com may SendMessage, only from this rule."""
        queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowObjectCreatedRule",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": self.rule.rule_arn}},
            )
        )

    def _on_failure_to_dead_letter_queue(
        self,
        processor: lambda_.IFunction,
        encryption_key: kms.IKey,
        async_retry_attempts: int,
        async_max_event_age: Duration,
    ) -> None:
        """Asynchronous invocation: bounded retries and age, then the event goes to the DLQ (exact grants)."""
        lambda_.CfnEventInvokeConfig(
            self,
            "AsyncInvokeConfig",
            function_name=processor.function_name,
            qualifier="$LATEST",
            maximum_retry_attempts=async_retry_attempts,
            maximum_event_age_in_seconds=int(async_max_event_age.to_seconds()),
            destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(destination=self.dead_letter_queue.queue_arn)
            ),
        )
        iam.Grant.add_to_principal(
            grantee=processor, actions=["sqs:SendMessage"], resource_arns=[self.dead_letter_queue.queue_arn]
        )
        encryption_key.grant(processor, "kms:GenerateDataKey", "kms:Decrypt")

    # ---------------------------------------------------------------- metrics
    def metric_dead_letters(self, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.Metric:
        """Maximum number of visible messages in the dead-letter queue."""
        return self.dead_letter_queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum")

    def metric_dead_letter_age(self, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.Metric:
        """Maximum age in seconds of the oldest message in the dead-letter queue."""
        return self.dead_letter_queue.metric_approximate_age_of_oldest_message(period=period, statistic="Maximum")

    def metric_new_dead_letters(self, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.MathExpression:
        """How much the DLQ's visible messages rose since the previous period (metric math DIFF; <= 0 otherwise).

        Counts messages SQS's redrive policy moves in, which the DLQ's NumberOfMessagesSent does not."""
        return cloudwatch.MathExpression(
            expression="DIFF(visible)",
            using_metrics={"visible": self.metric_dead_letters(period)},
            label="DLQ visible messages, rise since the previous period",
            period=period,
        )

    def metric_oldest_buffered_age(self, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.Metric | None:
        """Maximum age in seconds of the oldest message in the buffer (None with DIRECT delivery)."""
        if self.buffer is None:
            return None
        return self.buffer.metric_approximate_age_of_oldest_message(period=period, statistic="Maximum")

    def metric_failed_invocations(self, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.Metric:
        """Sum of the rule's failed deliveries to its target."""
        return cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name="FailedInvocations",
            dimensions_map={"RuleName": self.rule.rule_name},
            statistic="Sum",
            period=period,
        )

    def recommended_alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """A dead letter (and each new one while the DLQ is not empty), a dead letter nearing the DLQ's retention,
        an event waiting too long in the buffer, a failed EventBridge delivery."""
        period = thresholds.period
        age_limit = self._dead_letter_retention.to_seconds() * thresholds.dead_letter_age_fraction_of_retention
        specs = [
            AlarmSpec(
                name=f"{self._alarm_label}-dead-letters",
                metric=self.metric_dead_letters(period),
                threshold=thresholds.dead_letters,
                evaluation_periods=1,
                description="An Object Created event could not be processed and is in the dead-letter queue.",
            ),
            AlarmSpec(
                name=f"{self._alarm_label}-new-dead-letters",
                metric=self.metric_new_dead_letters(period),
                threshold=thresholds.new_dead_letters,
                evaluation_periods=1,
                description="More Object Created events reached the dead-letter queue than were there a period ago "
                "(notifies again while the dead-letters alarm stays in ALARM).",
            ),
            AlarmSpec(
                name=f"{self._alarm_label}-dead-letter-age",
                metric=self.metric_dead_letter_age(period),
                threshold=age_limit,
                evaluation_periods=1,
                description=f"A dead letter is {age_limit / 86400:g} days old; SQS deletes it after "
                f"{self._dead_letter_retention.to_seconds() / 86400:g} days: redrive or save it now.",
            ),
            AlarmSpec(
                name=f"{self._alarm_label}-failed-deliveries",
                metric=self.metric_failed_invocations(period),
                threshold=thresholds.failed_invocations,
                evaluation_periods=thresholds.evaluation_periods,
                description="EventBridge failed to deliver Object Created events to the pipeline target.",
            ),
        ]
        oldest = self.metric_oldest_buffered_age(period)
        if oldest is not None:
            specs.append(
                AlarmSpec(
                    name=f"{self._alarm_label}-oldest-event-age",
                    metric=oldest,
                    threshold=thresholds.oldest_buffered_age_seconds,
                    evaluation_periods=thresholds.evaluation_periods,
                    description="Object Created events are waiting too long in the buffer: the processor is behind.",
                )
            )
        return specs


def _validate(
    *,
    rule_name: str,
    key_prefix: str,
    key_suffix: str,
    batch_size: int,
    max_concurrency: int,
    max_receive_count: int,
    retry_attempts: int,
    async_retry_attempts: int,
    detail_types: Sequence[str],
) -> None:
    validate_name_prefix("rule_name", rule_name)
    if isinstance(detail_types, str) or not detail_types:
        raise ValueError(f"invalid detail_types {detail_types!r}: must be a non-empty sequence of S3 detail-types")
    unknown = [value for value in detail_types if value not in S3_DETAIL_TYPES]
    if unknown or len(set(detail_types)) != len(detail_types):
        raise ValueError(
            f"invalid detail_types {list(detail_types)!r}: each must be one of {list(S3_DETAIL_TYPES)}, at most once"
        )
    checks = [
        ("batch_size", batch_size, 1 <= batch_size <= 10_000, "an integer from 1 to 10000"),
        ("max_concurrency", max_concurrency, 2 <= max_concurrency <= 1000, "an integer from 2 to 1000"),
        ("max_receive_count", max_receive_count, 1 <= max_receive_count <= 1000, "from 1 to 1000"),
        ("retry_attempts", retry_attempts, 0 <= retry_attempts <= 185, "an integer from 0 to 185"),
        ("async_retry_attempts", async_retry_attempts, 0 <= async_retry_attempts <= 2, "0, 1 or 2"),
    ]
    for name, value, ok, rule in checks:
        if not ok:
            raise ValueError(f"invalid {name} {value!r}: must be {rule}")
    for field, pattern in (("key_prefix", key_prefix), ("key_suffix", key_suffix)):
        if "*" in pattern:
            raise ValueError(f"invalid {field} {pattern!r}: must not contain '*' (it is matched literally)")


def _use_existing_dead_letter_queue(
    queue: sqs.IQueue, encryption_key: kms.IKey, rule_arn_pattern: str, rule_name: str
) -> None:
    """An existing DLQ must be KMS-encrypted with a key whose policy can admit EventBridge for this rule."""
    queue_key = queue.encryption_master_key
    if queue_key is None:
        raise UnsafeOverrideError(
            "invalid existing_dead_letter_queue: must be KMS-encrypted and say so (an sqs.Queue with "
            "encryption_master_key, or Queue.from_queue_attributes(key_arn=...)); failed events hold object keys"
        )
    if queue_key is not encryption_key and not allow_service_publisher(
        queue_key, "events.amazonaws.com", [rule_arn_pattern], f"AllowEventBridgeRule{_sid(rule_name)}"
    ):
        raise UnsafeOverrideError(
            "invalid existing_dead_letter_queue: its key's policy cannot be extended (imported key) and must let "
            f"events.amazonaws.com use it (kms:GenerateDataKey, kms:Decrypt) for the rule {rule_name}; pass the "
            "queue's key as encryption_key, or a key of this app"
        )


def _key_filter(key_prefix: str, key_suffix: str) -> dict[str, object]:
    """EventBridge filter on detail.object.key for the optional prefix and/or suffix."""
    if key_prefix and key_suffix:
        return {"object": {"key": [{"wildcard": f"{key_prefix}*{key_suffix}"}]}}
    if key_prefix:
        return {"object": {"key": [{"prefix": key_prefix}]}}
    if key_suffix:
        return {"object": {"key": [{"suffix": key_suffix}]}}
    return {}


def _buffer_props(
    processor_timeout: Duration | None,
    overrides: Mapping[str, Any] | None,
    dead_letter_retention: Duration,
    max_receive_count: int,
    own_dead_letter_queue: bool,
) -> dict[str, Any]:
    """The buffer's queue arguments: a visibility timeout of 6x the function's (AWS's guidance for SQS event
    sources), the DLQ's retention (a standard queue's message keeps its original enqueue time in the DLQ: the buffer
    must keep it as long as the DLQ does, not SQS's 4-day default), and the caller's overrides, checked so that a
    message is neither redelivered mid-batch nor expires before its last receive or in the DLQ."""
    visibility = (
        Duration.seconds(int(processor_timeout.to_seconds()) * VISIBILITY_TIMEOUT_FACTOR)
        if processor_timeout is not None
        else None
    )
    merged = merge_props(
        "buffer_props",
        {"visibility_timeout": visibility, "retention_period": dead_letter_retention},
        overrides,
        guards={"enforce_ssl": equals(True, "must stay True (non-TLS requests are denied)")},
        owned={
            "encryption": "encryption_key",
            "encryption_master_key": "encryption_key",
            "dead_letter_queue": "existing_dead_letter_queue/max_receive_count",
            "removal_policy": "RemovalPolicies.of(construct)",
            "queue_name": "rule_name (the DLQ's RedriveAllowPolicy names the buffer by it)",
            "data_key_reuse": "encryption_key (the buffer reuses data keys for an hour)",
        },
        target=sqs.Queue,
    )
    merged.pop("enforce_ssl", None)  # always on (encrypted_queue)
    visibility, retention = merged["visibility_timeout"], merged["retention_period"]
    if visibility is None:
        raise ValueError(
            "invalid buffer_props['visibility_timeout'] None: the processor's timeout is unknown (an imported "
            f"function); set it to at least {VISIBILITY_TIMEOUT_FACTOR}x that timeout"
        )
    if (
        processor_timeout is not None
        and visibility.to_seconds() < VISIBILITY_TIMEOUT_FACTOR * processor_timeout.to_seconds()
    ):
        raise UnsafeOverrideError(
            f"invalid buffer_props['visibility_timeout'] = {visibility.to_seconds():g} s: must be at least "
            f"{VISIBILITY_TIMEOUT_FACTOR}x the processor's timeout ({processor_timeout.to_seconds():g} s), AWS's "
            "guidance, or a message is redelivered while its batch is still running"
        )
    if retention.to_seconds() < max_receive_count * visibility.to_seconds():
        raise UnsafeOverrideError(
            f"invalid buffer_props['retention_period'] = {retention.to_seconds():g} s: must be at least "
            f"max_receive_count x visibility_timeout ({max_receive_count} x {visibility.to_seconds():g} s), or a "
            "message expires before its last receive and never reaches the DLQ"
        )
    if own_dead_letter_queue and retention.to_seconds() > dead_letter_retention.to_seconds():
        raise UnsafeOverrideError(
            f"invalid buffer_props['retention_period'] = {retention.to_seconds():g} s: must not exceed "
            f"dead_letter_retention ({dead_letter_retention.to_seconds():g} s): a redriven message keeps its "
            "enqueue time and would expire in the DLQ at once"
        )
    return merged


def _sid(rule_name: str) -> str:
    """A statement id unique per rule name (Sids allow only alphanumerics)."""
    return "".join(ch for ch in rule_name.title() if ch.isalnum())
