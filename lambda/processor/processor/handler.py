"""Lambda entry points of the processor (thin: Powertools + parsing + result shaping).

- `sqs_handler`: EventBridge rule -> SQS -> event source mapping with ReportBatchItemFailures. Each
  record's body is the EventBridge event; failed records are returned in `batchItemFailures`.
- `event_handler`: `direct` mode, the EventBridge event is the payload of an async invoke. Any failure
  raises, so Lambda retries it and then sends it to the on-failure destination / DLQ.

Deadline: the batch loop starts a record while the invocation's remaining time, less the closing
ChangeMessageVisibilityBatch call's worst case and a margin, covers what a record has really cost lately in this
execution environment (`RECORD_COST`: 3 x the largest of the last 32, at least one short call), not every call's worst
case; each AWS call then gets the most generous timeout/retry budget that fits the time left (`store.client`), so no
call outlives the invocation and a Lambda timeout (which would return the whole batch with no delay) does not happen.

Only uploads are recorded: an event for a key outside `uploads/` (in every form the key may take, see
`domain.upload_candidates`) is skipped without any S3 call, logged and counted (`ObjectsSkippedOutsideUploads`), and
the record succeeds: the processor may read only `uploads/` objects, so trying would fail it into the DLQ for nothing.

Every record that does not finish goes back with a delay (see `backoff`), never with none: deferred (a dependency
throttled, failed with a 5xx or timed out, or the record was not tried: no time left, or a dependency throttled earlier
in this batch, after which no further record is started) by receive count; failed (malformed, a permanent 4xx,
metadata contradicting S3) after a few seconds. If the visibility change itself fails, the queue's visibility timeout
(6 x the function timeout) is the delay; maxReceiveCount is sized to survive that too (docs/operations.md).

Cold start: only what the cold path needs is built at import. The Tracer patches no module (see
`shared_runtime.tracing`); Lambda's active tracing still records the invocation, the capture decorators add the
`## <handler>` / `## ...record_object` subsegments, and the two AWS calls get explicit subsegments.
The botocore clients are created on first use (see `store`). Responses are not copied into traces
(they hold object keys, which name identities); errors are.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from shared_runtime import settings as env_settings
from shared_runtime.budget import Deadline, RecentCost
from shared_runtime.tracing import make_tracer

from processor import backoff, deletion_store, deletions, store, usage
from processor.domain import (
    UNVERSIONED_VERSION_ID,
    InvalidEvent,
    Lifecycle,
    MetadataMismatch,
    ObjectCreated,
    ObjectMetadata,
    Outcome,
    UnresolvedKey,
    build_item,
    check_metadata,
    parse_lifecycle,
    require_bucket,
    upload_candidates,
)

SERVICE = os.getenv("POWERTOOLS_SERVICE_NAME") or "processor"
METRICS_NAMESPACE = os.getenv("POWERTOOLS_METRICS_NAMESPACE") or "SecureServerless"

OBJECTS_RECORDED = "ObjectsRecorded"
DUPLICATES_IGNORED = "DuplicatesIgnored"
OBJECTS_SKIPPED_MISSING = "ObjectsSkippedMissing"
# Object Created events for keys outside uploads/ (the rule takes every key of the bucket): not read, not recorded,
# counted and logged; the record succeeds (deleted from the buffer), so it is neither retried nor dead-lettered.
OBJECTS_SKIPPED_OUTSIDE_UPLOADS = "ObjectsSkippedOutsideUploads"
RECORDS_FAILED = "RecordsFailed"  # malformed events, permanent (4xx) errors, metadata mismatches, unexpected errors
RECORDS_DEFERRED = "RecordsDeferred"  # throttled, 5xx, timed out or untried: back in the buffer with a back-off
METADATA_MISMATCHES = "MetadataMismatches"  # the event's size/etag contradicts HeadObject (also a RecordsFailed)
# Object Deleted events (processor/deletions.py), and Object Created events of versions deleted since (tombstoned).
RECORDS_DELETED = "RecordsDeleted"
DELETES_WITHOUT_RECORD = "DeletesWithoutRecord"  # no record of the version (yet): tombstone only
DUPLICATE_DELETES_IGNORED = "DuplicateDeletesIgnored"
DELETE_MARKERS_IGNORED = "DeleteMarkersIgnored"
OBJECTS_SKIPPED_DELETED = "ObjectsSkippedDeleted"
# Uploads over a per-user limit at record time (usage.py): deleted, not recorded. Also one data point per refusal
# with the dimension `limit` (upload_max_bytes_held / uploads_per_day).
UPLOADS_REFUSED = "UploadsRefused"
METRIC_NAMES = (
    OBJECTS_RECORDED,
    DUPLICATES_IGNORED,
    OBJECTS_SKIPPED_MISSING,
    OBJECTS_SKIPPED_OUTSIDE_UPLOADS,
    RECORDS_FAILED,
    RECORDS_DEFERRED,
    METADATA_MISMATCHES,
    RECORDS_DELETED,
    DELETES_WITHOUT_RECORD,
    DUPLICATE_DELETES_IGNORED,
    DELETE_MARKERS_IGNORED,
    OBJECTS_SKIPPED_DELETED,
    UPLOADS_REFUSED,
)
# Kept free at the end of the invocation besides the closing SQS call: logging, metrics, the response.
SAFETY_MARGIN_SECONDS = 1.0
# What one record really costs here (per execution environment): only records that finished without a transient error
# are measured, so a slow spell does not stop the next invocations from starting records.
RECORD_COST = RecentCost(floor=store.MIN_CALL_SECONDS, factor=3.0, window=32)
# Used only when the context has no get_remaining_time_in_millis (the deployed timeout is 30 s by default).
DEFAULT_TIMEOUT_SECONDS = 30.0
METRIC_FOR_OUTCOME = {
    Outcome.RECORDED: OBJECTS_RECORDED,
    Outcome.DUPLICATE: DUPLICATES_IGNORED,
    Outcome.SKIPPED_MISSING: OBJECTS_SKIPPED_MISSING,
    Outcome.SKIPPED_OUTSIDE_UPLOADS: OBJECTS_SKIPPED_OUTSIDE_UPLOADS,
    Outcome.SKIPPED_DELETED: OBJECTS_SKIPPED_DELETED,
    deletions.DeletionOutcome.RECORD_DELETED: RECORDS_DELETED,
    deletions.DeletionOutcome.TOMBSTONED: DELETES_WITHOUT_RECORD,
    deletions.DeletionOutcome.DUPLICATE_DELETE: DUPLICATE_DELETES_IGNORED,
    deletions.DeletionOutcome.DELETE_MARKER_IGNORED: DELETE_MARKERS_IGNORED,
    deletions.DeletionOutcome.SKIPPED_OUTSIDE_UPLOADS: OBJECTS_SKIPPED_OUTSIDE_UPLOADS,
    Outcome.REFUSED: UPLOADS_REFUSED,
}
# The structured log lines of counted and refused uploads, by the uploader's sub: the stack's top-uploaders
# Contributor Insights rule matches these very strings (stacks/secure_serverless_stack.py; a test keeps them equal).
UPLOAD_LOG_SUB_FIELD = "upload_sub"
UPLOAD_COUNTED = "upload counted"
UPLOAD_REFUSED = "upload refused"

logger = Logger(service=SERVICE)
tracer = make_tracer(SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
# Every record failing is still a partial response (all ids listed), not an exception: same redelivery,
# and the handler's contract stays "never raises for a bad record".
batch_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


ConfigurationError = env_settings.ConfigurationError


class Untried(Exception):
    """Not started (no time left for it, or a dependency throttled earlier in the batch): deferred with back-off."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    expected_bucket_name: str
    expected_bucket_owner: str
    lifecycle: Lifecycle | None  # the bucket's object expiry (records get a TTL), None when objects never expire
    tombstone_seconds: int = deletions.DEFAULT_TOMBSTONE_SECONDS  # how long a deleted version's tombstone lives
    limits: usage.Limits | None = None  # per-user limits counted at record time (usage.py); None: nothing counted


def load_settings() -> Settings:
    """Read the environment on each invocation (cheap; keeps tests and redeploys simple)."""
    values = env_settings.required("TABLE_NAME", "EXPECTED_BUCKET_NAME", "EXPECTED_BUCKET_OWNER")
    try:
        lifecycle = parse_lifecycle(
            os.environ.get("OBJECT_EXPIRATION_DAYS"), os.environ.get("NONCURRENT_VERSION_EXPIRATION_DAYS")
        )
        tombstone_seconds = deletions.parse_tombstone_seconds(os.environ.get("TOMBSTONE_SECONDS"))
        limits = usage.parse_limits(os.environ.get("UPLOAD_MAX_BYTES_HELD"), os.environ.get("UPLOADS_PER_DAY"))
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    return Settings(
        table_name=values["TABLE_NAME"],
        expected_bucket_name=values["EXPECTED_BUCKET_NAME"],
        expected_bucket_owner=values["EXPECTED_BUCKET_OWNER"],
        lifecycle=lifecycle,
        tombstone_seconds=tombstone_seconds,
        limits=limits,
    )


@tracer.capture_method(capture_response=False)
def record_object(event: ObjectCreated, settings: Settings, time_left: store.TimeLeft | None = None) -> Outcome:
    """HeadObject, then record the object version once, with S3's metadata (keys outside uploads/ are skipped
    before any call). Raises on anything that should be
    retried. `time_left`: seconds the remaining calls may take (None: each call gets its full budget)."""
    require_bucket(event, settings.expected_bucket_name)
    where = {"bucket": event.bucket, "object_key": event.key, "version_id": event.record_version_id}
    candidates = upload_candidates(event.key)
    if not candidates:
        # Not an upload: no S3 call (the processor may read only uploads/), nothing recorded; a success, counted.
        logger.info("object outside uploads/; skipped", extra={**where, "event_id": event.event_id})
        return Outcome.SKIPPED_OUTSIDE_UPLOADS
    with tracer.provider.in_subsegment(name="## s3.HeadObject"):
        found = store.find_object(
            event.bucket,
            candidates,
            event.version_id,
            expected_bucket_owner=settings.expected_bucket_owner,
            time_left=time_left,
        )
    if found is None:
        with tracer.provider.in_subsegment(name="## dynamodb.GetItem"):
            deleted = deletion_store.find_tombstone(
                settings.table_name, candidates, event.record_version_id, time_left=time_left
            )
        if deleted:  # a late "Object Created" of a version deleted since: nothing to record, nothing to retry
            logger.info("object version deleted (tombstone); skipped", extra={**where, "event_id": event.event_id})
            return Outcome.SKIPPED_DELETED
        if len(candidates) > 1:
            raise UnresolvedKey(event.bucket, candidates, event.version_id)
        logger.warning("object (version) no longer exists; skipped", extra={**where, "event_id": event.event_id})
        return Outcome.SKIPPED_MISSING
    true_key, metadata = found
    check_metadata(event, metadata)
    if true_key != event.key:
        event = dataclasses.replace(event, key=true_key)
        where["object_key"] = true_key
    ownership = event.ownership
    sub = None
    if ownership is not None:  # an upload: who uploaded it, as the API recorded (identity continuity)
        with tracer.provider.in_subsegment(name="## dynamodb.GetItem"):
            sub = store.find_sub(settings.table_name, ownership.owner, time_left=time_left)
    item = build_item(
        event,
        metadata,
        recorded_at=datetime.now(UTC),
        lifecycle=settings.lifecycle,
        sub=sub,
    )
    try:
        if sub is not None and settings.limits is not None:
            return _record_and_count(event, item, metadata, sub, settings, time_left, where)
        with tracer.provider.in_subsegment(name="## dynamodb.TransactWriteItems"):
            written = store.put_record_once(settings.table_name, item, time_left=time_left)
    except deletions.VersionDeleted as deleted:
        tombstone_sequencer = deleted.sequencer
        if tombstone_sequencer is None and event.record_version_id == UNVERSIONED_VERSION_ID:
            # The check did not return the tombstone: read it (a "null" object is ordered by its sequencer).
            with tracer.provider.in_subsegment(name="## dynamodb.GetItem"):
                tombstone = deletion_store.read_tombstone(
                    settings.table_name, event.key, event.record_version_id, time_left=time_left
                )
            tombstone_sequencer = None if tombstone is None else tombstone.get("sequencer")
            if tombstone is None:
                raise store.Contention("the tombstone that refused the record went meanwhile") from None
        if not deletions.creation_replaces_tombstone(event.record_version_id, event.sequencer, tombstone_sequencer):
            logger.info("object version deleted (tombstone); skipped", extra={**where, "event_id": event.event_id})
            return Outcome.SKIPPED_DELETED
        assert tombstone_sequencer is not None  # creation_replaces_tombstone: only a later creation than a sequencer
        with tracer.provider.in_subsegment(name="## dynamodb.TransactWriteItems"):
            written = deletion_store.replace_tombstone(
                settings.table_name, item, tombstone_sequencer, time_left=time_left
            )
    if written:
        logger.debug("object recorded", extra=where)
        return Outcome.RECORDED
    logger.info("duplicate delivery ignored", extra={**where, "event_id": event.event_id})
    return Outcome.DUPLICATE


def _record_and_count(
    event: ObjectCreated,
    item: Mapping[str, str | int],
    metadata: ObjectMetadata,
    sub: str,
    settings: Settings,
    time_left: store.TimeLeft | None,
    where: Mapping[str, Any],
) -> Outcome:
    """An upload of a known sub: the record and its usage in one transaction (usage.py); over a limit, the version
    is deleted and nothing is recorded (refused: counted and logged by sub)."""
    assert settings.limits is not None
    size = int(item["size"])
    day = usage.day_of(metadata.last_modified or datetime.now(UTC))
    try:
        with tracer.provider.in_subsegment(name="## dynamodb.TransactWriteItems"):
            counted = usage.record_and_count(
                settings.table_name, item, sub=sub, size=size, day=day, limits=settings.limits, time_left=time_left
            )
    except usage.Refused as refused:
        with tracer.provider.in_subsegment(name="## s3.DeleteObjectVersion"):
            usage.delete_version(
                event.bucket,
                event.key,
                event.record_version_id,
                expected_bucket_owner=settings.expected_bucket_owner,
                time_left=time_left,
            )
        logger.warning(
            UPLOAD_REFUSED,
            extra={**where, UPLOAD_LOG_SUB_FIELD: sub, "limit": refused.limit.value, "bytes": size, "day": day},
        )
        with single_metric(
            name=UPLOADS_REFUSED,
            unit=MetricUnit.Count,
            value=1,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": SERVICE},
        ) as metric:
            metric.add_dimension(name="limit", value=refused.limit.value)
        return Outcome.REFUSED
    if counted is usage.Counted.DUPLICATE:
        logger.info("duplicate delivery ignored", extra={**where, "event_id": event.event_id})
        return Outcome.DUPLICATE
    logger.info(UPLOAD_COUNTED, extra={UPLOAD_LOG_SUB_FIELD: sub, "version_id": event.record_version_id, "bytes": size})
    return Outcome.RECORDED


@tracer.capture_method(capture_response=False)
def forget_object(
    event: deletions.ObjectDeleted, settings: Settings, time_left: store.TimeLeft | None = None
) -> deletions.DeletionOutcome:
    """An "Object Deleted" event (rules in processor/deletions.py): a permanently deleted version loses its record
    (with its usage, tombstoned); a delete marker changes nothing. Raises on anything that should be retried."""
    deletions.require_bucket(event, settings.expected_bucket_name)
    where = {"bucket": event.bucket, "object_key": event.key, "version_id": event.record_version_id}
    candidates = deletions.deleted_candidates(event)
    if not candidates:
        logger.info("deleted object outside uploads/; skipped", extra={**where, "event_id": event.event_id})
        return deletions.DeletionOutcome.SKIPPED_OUTSIDE_UPLOADS
    if event.deletion_type == deletions.DELETE_MARKER_CREATED:
        logger.info("delete marker: every version and record stays", extra={**where, "event_id": event.event_id})
        return deletions.DeletionOutcome.DELETE_MARKER_IGNORED
    with tracer.provider.in_subsegment(name="## dynamodb.DeleteVersion"):
        outcome = deletion_store.forget_version(
            settings.table_name,
            candidates,
            event,
            deleted_at=datetime.now(UTC),
            lifetime_seconds=settings.tombstone_seconds,
            time_left=time_left,
        )
    logger.info("object version deleted", extra={**where, "event_id": event.event_id, "outcome": outcome.value})
    return outcome


def process_event(
    event: deletions.PipelineEvent, settings: Settings, time_left: store.TimeLeft | None = None
) -> Outcome | deletions.DeletionOutcome:
    """Record an "Object Created" event, or apply an "Object Deleted" one."""
    if isinstance(event, deletions.ObjectDeleted):
        return forget_object(event, settings, time_left)
    return record_object(event, settings, time_left)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def sqs_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch of EventBridge events -> {"batchItemFailures": [{"itemIdentifier": messageId}, ...]}."""
    counts = dict.fromkeys(METRIC_NAMES, 0)
    try:
        settings = load_settings()
    except ConfigurationError:
        # Raise: the whole batch returns to the queue (and reaches its DLQ if this is not fixed).
        records = event.get("Records") if isinstance(event, dict) else None
        counts[RECORDS_FAILED] = len(records) if isinstance(records, list) else 0
        _add_metrics(counts)
        logger.exception("configuration error: the whole batch fails")
        raise

    records = event.get("Records") if isinstance(event, dict) else None
    count = len(records) if isinstance(records, list) else 0
    deadline = Deadline.of(context, default_seconds=DEFAULT_TIMEOUT_SECONDS)
    closing = math.ceil(count / store.VISIBILITY_BATCH_MAX) * store.QUEUE_BUDGET.worst_case_seconds
    reserve = closing + SAFETY_MARGIN_SECONDS
    delays: dict[str, int] = {}  # messageId -> seconds until the failed record is visible again
    throttled_by: list[str] = []  # the first throttling error of this batch: no record starts after it

    def time_left() -> float:
        return deadline.remaining_seconds - reserve

    def record_handler(record: Mapping[str, Any]) -> str:
        message_id = str(record.get("messageId"))
        try:
            parsed = deletions.parse_json_pipeline_event(record.get("body"))  # no AWS call: always affordable
            if throttled_by:
                raise Untried(f"a dependency throttled earlier in this batch ({throttled_by[0]})")
            needed = RECORD_COST.estimate()
            if time_left() < needed:
                raise Untried(f"{time_left():.1f} s left after the reserve, a record needs about {needed:.1f} s")
            before = time_left()
            outcome = process_event(parsed, settings, time_left)
        except Exception as error:
            kind, delays[message_id] = _retry_delay(error, record)
            counts[kind] += 1
            if isinstance(error, MetadataMismatch):
                counts[METADATA_MISMATCHES] += 1
            if store.is_throttling(error) and not throttled_by:
                throttled_by.append(f"{type(error).__name__}: {error}")
            _log_failure(error, message_id=message_id, retry_in_seconds=delays[message_id])
            raise
        RECORD_COST.observe(before - time_left())
        counts[METRIC_FOR_OUTCOME[outcome]] += 1
        return outcome.value

    try:
        response = process_partial_response(
            event=event,
            record_handler=record_handler,
            processor=batch_processor,
            context=context,
        )
    finally:
        _add_metrics(counts)
    _delay_failed_records(records if isinstance(records, list) else [], delays)
    return dict(response)


def _retry_delay(error: Exception, record: Mapping[str, Any]) -> tuple[str, int]:
    """(metric, seconds): transient errors and untried records back off by receive count; failures retry soon."""
    if not (isinstance(error, Untried) or store.is_transient(error)):
        return RECORDS_FAILED, backoff.FAILED_RETRY_SECONDS
    attributes = record.get("attributes")
    raw_count = attributes.get("ApproximateReceiveCount") if isinstance(attributes, Mapping) else None
    receive_count = int(raw_count) if isinstance(raw_count, str) and raw_count.isdigit() else 1
    return RECORDS_DEFERRED, backoff.retry_delay(receive_count)


def _delay_failed_records(records: list[Any], delays: Mapping[str, int]) -> None:
    """One ChangeMessageVisibilityBatch per queue (per 10 records) for the failed records; best effort."""
    by_queue: dict[str, list[tuple[str, str, int]]] = {}
    for record in records:
        if not isinstance(record, Mapping) or str(record.get("messageId")) not in delays:
            continue
        handle, arn = record.get("receiptHandle"), record.get("eventSourceARN")
        if not isinstance(handle, str) or not isinstance(arn, str):
            continue
        try:
            url = store.queue_url_from_arn(arn)
        except ValueError:
            continue
        message_id = str(record.get("messageId"))
        by_queue.setdefault(url, []).append((message_id, handle, delays[message_id]))
    for url, entries in by_queue.items():
        not_delayed = store.delay_messages(url, entries)
        if not_delayed:
            logger.warning(
                "could not delay failed records; they return after the queue's visibility timeout",
                extra={"message_ids": not_delayed},
            )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def event_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One EventBridge event (async invoke). Returns a summary; raises on any failure."""
    counts = dict.fromkeys(METRIC_NAMES, 0)
    try:
        settings = load_settings()
        parsed = deletions.parse_pipeline_event(event)
        outcome = process_event(parsed, settings)
    except Exception as error:
        counts[RECORDS_FAILED] += 1
        _add_metrics(counts)
        _log_failure(error, event_id=event.get("id") if isinstance(event, dict) else None)
        raise
    counts[METRIC_FOR_OUTCOME[outcome]] += 1
    _add_metrics(counts)
    return {
        "outcome": outcome.value,
        "bucket": parsed.bucket,
        "object_key": parsed.key,
        "version_id": parsed.record_version_id,
    }


def _add_metrics(counts: Mapping[str, int]) -> None:
    """One data point per metric per invocation (zeros included: alarms see no missing data)."""
    for name in METRIC_NAMES:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=counts[name])


def _log_failure(error: Exception, **where: Any) -> None:
    if isinstance(error, Untried):
        logger.info("record deferred untried", extra={**where, "reason": str(error)})
    elif store.is_transient(error):
        logger.warning(
            "record deferred: dependency busy, failing or slow",
            extra={**where, "error": f"{type(error).__name__}: {error}"},
        )
    elif isinstance(error, InvalidEvent):
        logger.error(
            "invalid event",
            extra={**where, "field": error.field, "rule": error.rule, "error": str(error)},
        )
    else:
        logger.exception("record failed", extra={**where, "error": f"{type(error).__name__}: {error}"})
