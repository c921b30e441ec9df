"""Every dependency's faults classified alike, through botocore's real HTTP path (faults at `before-send`).

Transient (throttling, 5xx, timeouts) -> deferred with a back-off; permanent (any other 4xx) -> failed, retried soon;
metadata that contradicts HeadObject -> failed and counted; long multi-byte keys, raw or URL-encoded -> recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from tests.support import faults

LONG_JAPANESE = "uploads/us-east-1:0f6b2c4e-1111-2222-3333-444455556666/" + "日本語" * 60 + ".txt"


def _every_client(service: str) -> list[Any]:
    """The processor's clients of `service` at every call budget (a call takes the one that fits its time)."""
    from shared_runtime import clients

    from processor import store

    return [clients.client(service, budget) for budget in store.DATA_BUDGETS]


def _inject(service: str, operation: str, fault: faults.Fault) -> Callable[[], int]:
    """Inject `fault` on every budget's client; returns how many calls it has answered so far."""
    counters = [faults.inject(client, operation, fault) for client in _every_client(service)]
    return lambda: sum(counter[0] for counter in counters)


def _delays(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Capture the ChangeMessageVisibility delays the handler asks for (message id -> seconds)."""
    from processor import store

    captured: dict[str, int] = {}
    real = store.delay_messages

    def spy(queue_url: str, entries: Any) -> list[str]:
        captured.update({message_id: seconds for message_id, _, seconds in entries})
        return real(queue_url, entries)

    monkeypatch.setattr(store, "delay_messages", spy)
    return captured


TRANSIENT = [
    ("s3", "HeadObject", 500, "InternalError", False),
    ("s3", "HeadObject", 503, "SlowDown", False),
    ("dynamodb", "TransactWriteItems", 500, "InternalServerError", True),
    ("dynamodb", "TransactWriteItems", 400, "ProvisionedThroughputExceededException", True),
    ("dynamodb", "TransactWriteItems", 400, "ThrottlingException", True),
]
PERMANENT = [
    ("s3", "HeadObject", 403, "403", False),
    ("s3", "HeadObject", 400, "400", False),  # e.g. an SSE-C object: HeadObject without its key
    ("dynamodb", "TransactWriteItems", 400, "ValidationException", True),
    ("dynamodb", "TransactWriteItems", 400, "AccessDeniedException", True),
]


@pytest.mark.parametrize(("service", "operation", "status", "code", "json_protocol"), TRANSIENT)
def test_a_transient_error_of_any_dependency_is_deferred_with_a_back_off(
    handler_module, events, emf, lambda_context, monkeypatch, service, operation, status, code, json_protocol
) -> None:
    from processor import backoff

    event, put = events.upload("uploads/id/a.txt")
    calls = _inject(service, operation, faults.error(status, code, json_protocol=json_protocol))
    delays = _delays(monkeypatch)
    emf.clear()

    response = handler_module.sqs_handler(events.batch(events.record(event, "m")), lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert calls() >= 2  # botocore's retry handler ran (2 attempts): this went through the real HTTP path
    totals = emf.totals()
    assert (totals["RecordsDeferred"], totals["RecordsFailed"]) == (1, 0)
    low, high = backoff.nominal_delay(1) // 2, backoff.nominal_delay(1)
    assert low <= delays["m"] <= high
    assert events.item("uploads/id/a.txt", put["VersionId"]) is None


@pytest.mark.parametrize(("service", "operation", "status", "code", "json_protocol"), PERMANENT)
def test_a_permanent_error_of_any_dependency_is_a_failure(
    handler_module, events, emf, lambda_context, monkeypatch, service, operation, status, code, json_protocol
) -> None:
    from processor import backoff

    event, _ = events.upload("uploads/id/a.txt")
    calls = _inject(service, operation, faults.error(status, code, json_protocol=json_protocol))
    delays = _delays(monkeypatch)
    emf.clear()

    response = handler_module.sqs_handler(events.batch(events.record(event, "m")), lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert calls() >= 1  # answered by the injected fault (botocore may retry a bare S3 400 once)
    totals = emf.totals()
    assert (totals["RecordsDeferred"], totals["RecordsFailed"]) == (0, 1)
    assert delays == {"m": backoff.FAILED_RETRY_SECONDS}


def test_a_read_timeout_is_deferred_like_a_throttle(handler_module, events, emf, lambda_context, monkeypatch) -> None:
    event, _ = events.upload("uploads/id/a.txt")
    _inject("dynamodb", "TransactWriteItems", faults.timeout())
    delays = _delays(monkeypatch)
    emf.clear()

    handler_module.sqs_handler(events.batch(events.record(event, "m")), lambda_context)

    assert emf.totals()["RecordsDeferred"] == 1
    assert delays["m"] >= 15


@pytest.mark.parametrize("deliver", [lambda k: k, lambda k: quote(k, safe="/")], ids=["raw", "encoded"])
def test_a_long_multibyte_key_is_recorded_raw_or_encoded(handler_module, events, emf, lambda_context, deliver) -> None:
    event, put = events.upload(LONG_JAPANESE)
    event["detail"]["object"]["key"] = deliver(LONG_JAPANESE)
    assert len(deliver(LONG_JAPANESE).encode()) > 1024 or deliver(LONG_JAPANESE) == LONG_JAPANESE
    emf.clear()

    response = handler_module.sqs_handler(events.batch(events.record(event, "m")), lambda_context)

    assert response == {"batchItemFailures": []}
    assert events.item(LONG_JAPANESE, put["VersionId"]) is not None
    assert emf.totals()["ObjectsRecorded"] == 1


@pytest.mark.parametrize(("field", "forged"), [("size", 999), ("etag", "0" * 32)])
def test_a_forged_event_pins_no_metadata_and_the_real_one_records(
    handler_module, events, emf, lambda_context, field, forged
) -> None:
    real, put = events.upload("uploads/id/doc.txt", body=b"hello")
    fake = {**real, "detail": {**real["detail"], "object": {**real["detail"]["object"], field: forged}}}
    emf.clear()

    first = handler_module.sqs_handler(events.batch(events.record(fake, "forged")), lambda_context)

    assert first == {"batchItemFailures": [{"itemIdentifier": "forged"}]}
    assert events.item("uploads/id/doc.txt", put["VersionId"]) is None
    totals = emf.totals()
    assert (totals["RecordsFailed"], totals["MetadataMismatches"]) == (1, 1)

    second = handler_module.sqs_handler(events.batch(events.record(real, "real")), lambda_context)

    assert second == {"batchItemFailures": []}
    item = events.item("uploads/id/doc.txt", put["VersionId"])
    assert item is not None
    assert (item["size"]["N"], item["etag"]["S"]) == ("5", put["ETag"].strip('"'))
