"""Lambda entry points of the processor (thin: Powertools + parsing + result shaping).

- `sqs_handler`: EventBridge rule -> SQS -> event source mapping with ReportBatchItemFailures. Each
  record's body is the EventBridge event; failed records are returned in `batchItemFailures`.
- `event_handler`: `direct` mode, the EventBridge event is the payload of an async invoke. Any failure
  raises, so Lambda retries it and then sends it to the on-failure destination / DLQ.

Cold start: only what the cold path needs is built at import. The Tracer patches no module (see
`tracing`); Lambda's active tracing still records the invocation, the capture decorators add the
`## <handler>` / `## ...record_object` subsegments, and the two AWS calls get explicit subsegments.
The botocore clients are created on first use (see `store`). Responses are not copied into traces
(they hold object keys, which name identities); errors are.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from processor import store
from processor.domain import (
    InvalidEvent,
    ObjectCreated,
    Outcome,
    UnresolvedKey,
    build_item,
    key_candidates,
    parse_event,
    parse_json_event,
    parse_retention_days,
    require_bucket,
)
from processor.tracing import make_tracer

SERVICE = os.getenv("POWERTOOLS_SERVICE_NAME") or "processor"
METRICS_NAMESPACE = os.getenv("POWERTOOLS_METRICS_NAMESPACE") or "SecureServerless"

OBJECTS_RECORDED = "ObjectsRecorded"
DUPLICATES_IGNORED = "DuplicatesIgnored"
OBJECTS_SKIPPED_MISSING = "ObjectsSkippedMissing"
RECORDS_FAILED = "RecordsFailed"
METRIC_NAMES = (OBJECTS_RECORDED, DUPLICATES_IGNORED, OBJECTS_SKIPPED_MISSING, RECORDS_FAILED)
METRIC_FOR_OUTCOME = {
    Outcome.RECORDED: OBJECTS_RECORDED,
    Outcome.DUPLICATE: DUPLICATES_IGNORED,
    Outcome.SKIPPED_MISSING: OBJECTS_SKIPPED_MISSING,
}

logger = Logger(service=SERVICE)
tracer = make_tracer(SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
# Every record failing is still a partial response (all ids listed), not an exception: same redelivery,
# and the handler's contract stays "never raises for a bad record".
batch_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class ConfigurationError(RuntimeError):
    """A required environment variable is missing: the whole invocation fails (and is retried)."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    expected_bucket_name: str
    expected_bucket_owner: str
    retention_days: int | None


def load_settings() -> Settings:
    """Read the environment on each invocation (cheap; keeps tests and redeploys simple)."""
    missing = [
        name for name in ("TABLE_NAME", "EXPECTED_BUCKET_NAME", "EXPECTED_BUCKET_OWNER") if not os.environ.get(name)
    ]
    if missing:
        raise ConfigurationError(f"environment variable(s) not set: {', '.join(missing)}")
    raw_retention = os.environ.get("RECORD_RETENTION_DAYS")
    retention_days = parse_retention_days(raw_retention)
    if retention_days is None and raw_retention and raw_retention.strip():
        logger.warning(
            "RECORD_RETENTION_DAYS is not a positive integer; records get no expires_at",
            extra={"record_retention_days": raw_retention},
        )
    return Settings(
        table_name=os.environ["TABLE_NAME"],
        expected_bucket_name=os.environ["EXPECTED_BUCKET_NAME"],
        expected_bucket_owner=os.environ["EXPECTED_BUCKET_OWNER"],
        retention_days=retention_days,
    )


@tracer.capture_method(capture_response=False)
def record_object(event: ObjectCreated, settings: Settings) -> Outcome:
    """HeadObject, then record the object version once. Raises on anything that should be retried."""
    require_bucket(event, settings.expected_bucket_name)
    where = {"bucket": event.bucket, "object_key": event.key, "version_id": event.record_version_id}
    candidates = key_candidates(event.key)
    with tracer.provider.in_subsegment(name="## s3.HeadObject"):
        found = store.find_object(
            event.bucket, candidates, event.version_id, expected_bucket_owner=settings.expected_bucket_owner
        )
    if found is None:
        if len(candidates) > 1:
            raise UnresolvedKey(event.bucket, candidates, event.version_id)
        logger.warning("object (version) no longer exists; skipped", extra={**where, "event_id": event.event_id})
        return Outcome.SKIPPED_MISSING
    true_key, metadata = found
    if true_key != event.key:
        event = dataclasses.replace(event, key=true_key)
        where["object_key"] = true_key
    item = build_item(
        event,
        metadata,
        recorded_at=datetime.now(UTC),
        retention_days=settings.retention_days,
    )
    with tracer.provider.in_subsegment(name="## dynamodb.PutItem"):
        written = store.put_record_once(settings.table_name, item)
    if written:
        logger.debug("object recorded", extra=where)
        return Outcome.RECORDED
    logger.info("duplicate delivery ignored", extra={**where, "event_id": event.event_id})
    return Outcome.DUPLICATE


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

    def record_handler(record: Mapping[str, Any]) -> str:
        message_id = record.get("messageId")
        try:
            outcome = record_object(parse_json_event(record.get("body")), settings)
        except Exception as error:
            counts[RECORDS_FAILED] += 1
            _log_failure(error, message_id=message_id)
            raise
        counts[METRIC_FOR_OUTCOME[outcome]] += 1
        return outcome.value

    try:
        return process_partial_response(
            event=event,
            record_handler=record_handler,
            processor=batch_processor,
            context=context,
        )
    finally:
        _add_metrics(counts)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def event_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One EventBridge event (async invoke). Returns a summary; raises on any failure."""
    counts = dict.fromkeys(METRIC_NAMES, 0)
    try:
        settings = load_settings()
        parsed = parse_event(event)
        outcome = record_object(parsed, settings)
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
    if isinstance(error, InvalidEvent):
        logger.error(
            "invalid event",
            extra={**where, "field": error.field, "rule": error.rule, "error": str(error)},
        )
    else:
        logger.exception("record failed", extra={**where, "error": f"{type(error).__name__}: {error}"})
