"""Lambda entry point of the erasure worker (thin: Powertools + parsing + result shaping).

`sqs_handler`: the erasure queue -> event source mapping (batch size 1, ReportBatchItemFailures). Each message is
{"sub", "job_id"} (the API's POST /erasure or tools/erase_user.py sent it, or a continuation of this function). A
malformed message or a failed step is reported as failed: retried after the queue's visibility timeout, then moved
to the erasure dead-letter queue (alarmed), never dropped. The steps themselves are in `eraser`.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from shared_runtime.budget import Deadline
from shared_runtime.tracing import make_tracer

from erasure_worker import domain, eraser

logger = Logger()
metrics = Metrics()
tracer = make_tracer("erasure")
processor = BatchProcessor(event_type=EventType.SQS)
DEFAULT_SECONDS = 60  # a context without a remaining-time reader (tests, local runs)
_OUTCOME_METRICS = {
    eraser.FINISHED: "ErasuresFinished",
    eraser.CONTINUED: "ErasuresContinued",
    eraser.SKIPPED: "ErasuresSkipped",
}
_context: list[Any] = [None]


def _record(record: SQSRecord) -> None:
    message = domain.parse_message(record.body)
    deadline = Deadline.of(_context[0], default_seconds=DEFAULT_SECONDS)
    outcome = eraser.erase(message, record.message_id, deadline, time.time)
    metrics.add_metric(name=_OUTCOME_METRICS[outcome.status], unit=MetricUnit.Count, value=1)
    for kind, amount in outcome.counts.items():
        metrics.add_metric(name=f"Erased_{kind}", unit=MetricUnit.Count, value=amount)
    # Counts only: no sub, no names (the job id leads to the report).
    logger.info("erasure step", extra={"job_id": message.job_id, "outcome": outcome.status, **outcome.counts})


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def sqs_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _context[0] = context
    response = process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
    return dict(response)
