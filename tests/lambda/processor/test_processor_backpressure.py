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
from urllib.parse import quote

import pytest

from stacks.config import build_config
from tests.support import aws_clients as cached_clients
from tests.support import faults
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


@pytest.mark.parametrize(("service", "operation"), [("s3", "HeadObject"), ("dynamodb", "TransactWriteItems")])
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


def _reserve(records: int = 10) -> float:
    from processor import handler, store

    return -(-records // store.VISIBILITY_BATCH_MAX) * store.QUEUE_BUDGET.worst_case_seconds + (
        handler.SAFETY_MARGIN_SECONDS
    )


def _capture_delays(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    from processor import store

    captured: dict[str, int] = {}
    real = store.delay_messages

    def spy(queue_url: str, entries: Any) -> list[str]:
        captured.update({message_id: seconds for message_id, _, seconds in entries})
        return real(queue_url, entries)

    monkeypatch.setattr(store, "delay_messages", spy)
    return captured


@pytest.fixture
def fresh_cost(handler_module, monkeypatch) -> Any:
    """A new execution environment: nothing measured yet."""
    from shared_runtime.budget import RecentCost

    cost = RecentCost(floor=handler_module.RECORD_COST.floor, factor=handler_module.RECORD_COST.factor)
    monkeypatch.setattr(handler_module, "RECORD_COST", cost)
    return cost


def test_records_without_time_are_deferred_with_the_back_off_never_at_once(
    handler_module, events, emf, monkeypatch, fresh_cost
) -> None:
    from processor import backoff

    uploads = [events.upload(f"uploads/id/late-{n}.txt") for n in range(3)]
    records = [events.record(event, f"m-{n}") for n, (event, _) in enumerate(uploads)]
    # Less than one short call is left after the closing SQS call and the margin: nothing is started.
    context = RealClockContext(_reserve(3) + fresh_cost.floor / 2)
    delays = _capture_delays(monkeypatch)
    emf.clear()

    response = handler_module.sqs_handler(events.batch(*records), context)

    assert response == {"batchItemFailures": [{"itemIdentifier": f"m-{n}"} for n in range(3)]}
    assert events.items() == []
    assert emf.totals()["RecordsDeferred"] == 3
    first = backoff.nominal_delay(1)
    assert all(first // 2 <= delays[f"m-{n}"] <= first for n in range(3)), delays  # was 0: a receive burnt at once


def test_records_start_on_their_measured_cost_so_encoded_keys_do_not_halve_the_batch(
    handler_module, events, emf, fresh_cost
) -> None:
    from processor import store

    # Keys that may be URL-encoded (two candidates): their worst case is 3 calls x 7 s = 21 s each.
    uploads = [events.upload(f"uploads/us-east-1:{n:04d}/file {n}.txt") for n in range(10)]
    for event, _ in uploads:
        event["detail"]["object"]["key"] = quote(event["detail"]["object"]["key"], safe="/")
    records = [events.record(event, f"m-{n}") for n, (event, _) in enumerate(uploads)]
    left = 10.0  # less than one such record's worst case: the worst-case rule started none of them
    assert left < store.MAX_RECORD_WORST_CASE_SECONDS
    emf.clear()

    response = handler_module.sqs_handler(events.batch(*records), RealClockContext(_reserve() + left))

    assert response == {"batchItemFailures": []}
    assert emf.totals()["ObjectsRecorded"] == 10


def test_no_call_outlives_the_invocation(handler_module, events, emf, silent_server, monkeypatch, fresh_cost) -> None:
    from processor import store

    uploads = [events.upload(f"uploads/id/tight-{n}.txt") for n in range(3)]
    for budget in store.DATA_BUDGETS:
        _send_one_call_to(store.clients.client("dynamodb", budget), "TransactWriteItems", silent_server, "tight-0.txt")
    records = [events.record(event, f"m-{n}") for n, (event, _) in enumerate(uploads)]
    # 4.5 s for records: a full-budget record write that hangs would take 7 s and run into the function's timeout.
    timeout = _reserve() + 4.5
    assert store.DATA_BUDGET.worst_case_seconds > 4.5
    context = RealClockContext(timeout)
    delays = _capture_delays(monkeypatch)
    emf.clear()

    started = time.monotonic()
    response = handler_module.sqs_handler(events.batch(*records), context)
    elapsed = time.monotonic() - started

    assert elapsed < timeout - store.QUEUE_BUDGET.worst_case_seconds, f"{elapsed:.1f} s of a {timeout:.1f} s function"
    assert elapsed >= store.DATA_BUDGETS[-1].read_timeout  # the hang was real
    failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert "m-0" in failed
    assert emf.totals()["RecordsFailed"] == 0
    assert all(delays[message_id] > 0 for message_id in failed)


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
        # A fresh invocation affords any record at its worst (two key candidates: two HeadObjects and the record write).
        assert timeout >= store.MAX_RECORD_WORST_CASE_SECONDS + reserve, preset
        # After one hung call, a plain record can still start: one hung dependency costs one record, not the batch.
        assert timeout - one_hang >= store.record_worst_case_seconds(1) + reserve, preset
    assert store.DATA_BUDGET.worst_case_seconds == 2 * (1 + 2) + 1


# --- throttling on a simulated clock ----------------------------------------------------------------------------


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


OUTAGE = 45 * 60


def _throttle_every_put(clock: SimClock, until: float) -> Any:
    """Every record write (TransactWriteItems, any call budget's client) answers
    ProvisionedThroughputExceededException until `until`."""
    from processor import store

    counters = [
        faults.inject(
            store.clients.client("dynamodb", budget),
            "TransactWriteItems",
            faults.error(400, "ProvisionedThroughputExceededException", json_protocol=True),
            when=lambda _: clock.elapsed < until,
        )
        for budget in store.DATA_BUDGETS
    ]
    return lambda: sum(counter[0] for counter in counters)


@pytest.mark.parametrize(("preset", "visibility_changes_fail"), [("dev", False), ("prod", False), ("dev", True)])
def test_a_45_minute_outage_loses_no_valid_event(
    handler_module, events, monkeypatch, preset, visibility_changes_fail
) -> None:
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
    throttled_calls = _throttle_every_put(clock, until=OUTAGE)
    if visibility_changes_fail:  # the records then come back after the queue's visibility timeout (180 s)
        faults.inject(
            store.client("sqs"),
            "ChangeMessageVisibilityBatch",
            faults.error(500, "InternalError", json_protocol=True),
        )
    pump = Pump(
        sqs, buffer, buffer_arn, handler_module.sqs_handler, clock, timeout_seconds=config.processor_timeout_seconds
    )

    malformed_in_dlq_at = None
    while clock.elapsed < 6 * 3600 and count_messages(sqs, buffer):
        pump.step()
        if malformed_in_dlq_at is None and count_messages(sqs, dlq):
            malformed_in_dlq_at = clock.elapsed

    assert throttled_calls() > len(uploads)  # the throttling was real and long
    assert count_messages(sqs, buffer) == 0
    recorded = {item["object_key"]["S"] for item in events.items()}
    assert recorded == {event["detail"]["object"]["key"] for event, _ in uploads}
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [json.loads(m["Body"])["id"] for m in dead] == [malformed["id"]]
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= config.processor_max_receive_count
    limit = 5 * 60 if not visibility_changes_fail else config.processor_max_receive_count * 190
    assert malformed_in_dlq_at is not None and malformed_in_dlq_at <= limit, malformed_in_dlq_at
    visibility = backoff.visibility_timeout_for(config.processor_timeout_seconds)
    assert config.processor_max_receive_count >= backoff.receives_to_survive(visibility_timeout=visibility)


def test_the_back_off_schedule_survives_a_45_minute_outage_with_margin_even_without_visibility_changes() -> None:
    from processor import backoff

    assert [backoff.nominal_delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [30, 60, 120, 240, 480, 900, 900]
    low = backoff.retry_delay(3, uniform=lambda a, b: a)
    high = backoff.retry_delay(3, uniform=lambda a, b: b)
    assert (low, high) == (60, 120)
    assert backoff.retry_delay(1, uniform=lambda a, b: a) > 0  # no receive without a delay
    target = backoff.OUTAGE_SECONDS * backoff.OUTAGE_MARGIN
    for preset in ("dev", "staging", "prod"):
        config = build_config(preset)
        count = config.processor_max_receive_count
        visibility = backoff.visibility_timeout_for(config.processor_timeout_seconds)
        assert visibility == 180, preset
        needed = backoff.receives_to_survive(target, visibility_timeout=visibility)
        assert count >= needed, preset
        assert backoff.guaranteed_survival_seconds(needed, visibility) >= target
        assert backoff.guaranteed_survival_seconds(needed - 1, visibility) < target
        # Worst case (every visibility change failing) and the usual one (back-off applied), both with margin.
        assert backoff.guaranteed_survival_seconds(count, visibility) >= backoff.OUTAGE_SECONDS * 1.4, preset
        assert backoff.guaranteed_survival_seconds(count) >= backoff.OUTAGE_SECONDS * 3, preset
        assert backoff.failed_reaches_dlq_seconds(count) <= 5 * 60, preset


def test_the_event_pipeline_sets_the_visibility_timeout_the_arithmetic_assumes() -> None:
    from processor import backoff
    from secure_serverless import event_pipeline

    assert event_pipeline.VISIBILITY_TIMEOUT_FACTOR == backoff.VISIBILITY_TIMEOUT_FACTOR
