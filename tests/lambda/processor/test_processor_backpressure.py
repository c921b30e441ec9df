"""Nothing lost, nothing stuck: a dependency that never answers, a deadline, and 30 minutes of throttling.

Hangs are real (a local server that accepts and never replies; the production timeouts apply).
Throttling runs on a simulated clock that drives moto's SQS, botocore's retry sleeps and the Lambda context.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from stacks.config import build_config
from tests.support import aws_clients as cached_clients
from tests.support.pipeline_sim import Pump, SimClock, count_messages

REGION = "us-east-1"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections and never answers: a dependency that hangs after connect."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))  # an ephemeral port: parallel test runs never collide
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/never-answers"
    stop.set()
    thread.join(timeout=2)
    for connection in held:
        connection.close()
    listener.close()


class RealClockContext:
    """A Lambda context with the deployed 30 s timeout on the real clock."""

    function_name = "secure-serverless-test-processor"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:secure-serverless-test-processor"
    aws_request_id = "22222222-2222-3333-4444-555555555555"

    def __init__(self, timeout_seconds: float) -> None:
        self.deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def _send_one_call_to(client: Any, operation: str, url: str, matches: str) -> None:
    """Every `operation` call whose request mentions `matches` goes to `url` instead of moto."""

    def redirect(request: Any, **_: Any) -> None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if matches in request.url or matches in body:
            request.url = url

    client.meta.events.register(f"before-sign.{client.meta.service_model.endpoint_prefix}.{operation}", redirect)


@pytest.mark.parametrize(("service", "operation"), [("s3", "HeadObject"), ("dynamodb", "PutItem")])
def test_a_call_that_never_answers_fails_only_its_record_in_time(
    handler_module, events, emf, silent_server, service, operation
) -> None:
    from processor import store

    uploads = [events.upload(f"uploads/id/file-{n}.txt") for n in range(5)]
    stuck_key = "uploads/id/file-2.txt"
    _send_one_call_to(store.client(service), operation, silent_server, "file-2.txt")
    records = [events.record(event, f"m-{n}") for n, (event, _) in enumerate(uploads)]
    emf.clear()
    timeout = build_config("dev").processor_timeout_seconds
    context = RealClockContext(timeout)

    started = time.monotonic()
    response = handler_module.sqs_handler(events.batch(*records), context)
    elapsed = time.monotonic() - started

    assert elapsed < timeout - 1, f"took {elapsed:.1f} s of a {timeout} s function"
    assert elapsed >= store.DATA_BUDGET.read_timeout  # the hang was real
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    for event, put in uploads:
        key = event["detail"]["object"]["key"]
        assert (events.item(key, put["VersionId"]) is None) == (key == stuck_key), key
    totals = emf.totals()
    assert (totals["ObjectsRecorded"], totals["RecordsDeferred"], totals["RecordsFailed"]) == (4, 1, 0)


def test_records_the_invocation_cannot_afford_are_returned_untried(handler_module, events, emf) -> None:
    from processor import store

    uploads = [events.upload(f"uploads/id/late-{n}.txt") for n in range(3)]
    records = [events.record(event, f"m-{n}") for n, (event, _) in enumerate(uploads)]
    # Less than one record's worst case plus the closing SQS call is left: nothing is started.
    context = RealClockContext(store.record_worst_case_seconds(1))
    emf.clear()

    response = handler_module.sqs_handler(events.batch(*records), context)

    assert response == {"batchItemFailures": [{"itemIdentifier": f"m-{n}"} for n in range(3)]}
    assert events.items() == []
    assert emf.totals()["RecordsDeferred"] == 3


def test_the_budget_fits_the_deployed_timeout_with_room_for_a_hang() -> None:
    from processor import handler, store

    budget = store.DATA_BUDGET
    reserve = store.QUEUE_BUDGET.worst_case_seconds + handler.SAFETY_MARGIN_SECONDS  # closing SQS call + margin
    # A call that connects and never answers: every attempt reads until its timeout, plus the backoff between.
    one_hang = budget.total_max_attempts * budget.read_timeout + (
        budget.worst_case_seconds - budget.total_max_attempts * (budget.connect_timeout + budget.read_timeout)
    )
    for preset in ("dev", "staging", "prod"):
        timeout = build_config(preset).processor_timeout_seconds
        # A fresh invocation affords any record at its worst (two key candidates: two HeadObjects and a PutItem).
        assert timeout >= store.MAX_RECORD_WORST_CASE_SECONDS + reserve, preset
        # After one hung call, a plain record can still start: one hung dependency costs one record, not the batch.
        assert timeout - one_hang >= store.record_worst_case_seconds(1) + reserve, preset
    assert store.DATA_BUDGET.worst_case_seconds == 2 * (1 + 2) + 1


# --- throttling on a simulated clock ----------------------------------------------------------------------------


def _throttle_puts(client: Any, clock: SimClock, until: float) -> list[int]:
    """Every PutItem answers ProvisionedThroughputExceededException until the simulated time `until`."""
    calls = [0]

    def throttled(request: Any, **_: Any) -> AWSResponse | None:
        if clock.elapsed >= until:
            return None
        calls[0] += 1
        body = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded.",
            }
        ).encode()
        return AWSResponse(request.url, 400, {"x-amzn-ErrorType": "ProvisionedThroughputExceededException"}, _Raw(body))

    client.meta.events.register_first("before-send.dynamodb.PutItem", throttled)
    return calls


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _pipeline_queues(sqs: Any, max_receive_count: int) -> tuple[str, str, str]:
    dlq = sqs.create_queue(QueueName="sim-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    buffer = sqs.create_queue(
        QueueName="sim-buffer",
        Attributes={
            "VisibilityTimeout": "180",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=buffer, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return buffer, arn, dlq


@pytest.mark.parametrize("preset", ["dev", "prod"])
def test_thirty_minutes_of_throttling_loses_no_valid_event(handler_module, events, monkeypatch, preset) -> None:
    from processor import backoff, store

    config = build_config(preset)
    clock = SimClock()
    clock.install(monkeypatch)
    sqs = cached_clients.client("sqs", REGION)
    buffer, buffer_arn, dlq = _pipeline_queues(sqs, config.processor_max_receive_count)
    uploads = [events.upload(f"uploads/id/burst-{n}.txt") for n in range(25)]
    for event, _ in uploads:
        sqs.send_message(QueueUrl=buffer, MessageBody=json.dumps(event))
    malformed = events.event("uploads/id/x.txt")
    del malformed["detail"]["object"]["size"]
    sqs.send_message(QueueUrl=buffer, MessageBody=json.dumps(malformed))
    throttled_calls = _throttle_puts(store.client("dynamodb"), clock, until=30 * 60)
    pump = Pump(
        sqs, buffer, buffer_arn, handler_module.sqs_handler, clock, timeout_seconds=config.processor_timeout_seconds
    )

    malformed_in_dlq_at = None
    while clock.elapsed < 4 * 3600 and count_messages(sqs, buffer):
        pump.step()
        if malformed_in_dlq_at is None and count_messages(sqs, dlq):
            malformed_in_dlq_at = clock.elapsed

    assert throttled_calls[0] > len(uploads)  # the throttling was real and long
    assert count_messages(sqs, buffer) == 0
    recorded = {item["object_key"]["S"] for item in events.items()}
    assert recorded == {event["detail"]["object"]["key"] for event, _ in uploads}
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [json.loads(m["Body"])["id"] for m in dead] == [malformed["id"]]
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= config.processor_max_receive_count
    assert malformed_in_dlq_at is not None and malformed_in_dlq_at <= 5 * 60, malformed_in_dlq_at
    assert config.processor_max_receive_count >= backoff.receives_to_survive()


def test_backoff_schedule_survives_thirty_minutes_and_grows() -> None:
    from processor import backoff

    assert [backoff.nominal_delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [30, 60, 120, 240, 480, 900, 900]
    needed = backoff.receives_to_survive(30 * 60)
    assert backoff.guaranteed_survival_seconds(needed) >= 30 * 60 > backoff.guaranteed_survival_seconds(needed - 1)
    low = backoff.retry_delay(3, uniform=lambda a, b: a)
    high = backoff.retry_delay(3, uniform=lambda a, b: b)
    assert (low, high) == (60, 120)
    for preset in ("dev", "staging", "prod"):
        count = build_config(preset).processor_max_receive_count
        assert backoff.guaranteed_survival_seconds(count) >= backoff.SURVIVE_SECONDS, preset
        assert backoff.invalid_reaches_dlq_seconds(count) <= 5 * 60, preset
