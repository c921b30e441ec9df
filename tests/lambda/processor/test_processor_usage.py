"""Per-user usage counted at record time (processor/usage.py): the record and the sub's counters in one transaction,
so a redelivery never counts twice; over a limit the exact version is deleted, nothing is recorded, the refusal is
counted (`UploadsRefused`, by limit) and logged with the sub. Against moto's DynamoDB transactions and S3 versions."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

IDENTITY = "us-east-1:0f6b2c4e-1111-2222-3333-444455556666"
SUB = "5b0b0000-0000-4000-8000-00000000000a"
TODAY = datetime.now(UTC).date().isoformat()


# ------------------------------------------------------------------------------------------ domain (no AWS)


def test_limits_come_from_both_variables_or_neither() -> None:
    from processor import usage

    assert usage.parse_limits(None, None) is None
    assert usage.parse_limits(" ", "") is None
    assert usage.parse_limits("1000", "20") == usage.Limits(max_bytes_held=1000, uploads_per_day=20)
    for held, per_day, named in (
        ("1000", None, "UPLOADS_PER_DAY"),
        ("0", "5", "UPLOAD_MAX_BYTES_HELD"),
        ("1e3", "5", "UPLOAD_MAX_BYTES_HELD"),
        ("10", "-1", "UPLOADS_PER_DAY"),
    ):
        with pytest.raises(ValueError, match=named):
            usage.parse_limits(held, per_day)


def test_the_day_is_the_utc_day_of_the_upload() -> None:
    from datetime import timedelta, timezone

    from processor import usage

    assert usage.day_of(datetime(2026, 12, 3, 23, 30, tzinfo=UTC)) == "2026-12-03"
    assert usage.day_of(datetime(2026, 12, 4, 0, 30, tzinfo=timezone(timedelta(hours=2)))) == "2026-12-03"
    assert usage.day_of(datetime(2026, 12, 3, 23, 59)) == "2026-12-03"  # naive: UTC


def test_the_transaction_puts_the_record_once_and_counts_under_conditions() -> None:
    from processor import usage

    limits = usage.Limits(max_bytes_held=100, uploads_per_day=3)
    record = {"object_key": f"uploads/{IDENTITY}/a", "version_id": "v1", "size": 40}
    put, check, held, day = usage.transaction("t", record, sub=SUB, size=40, day="2026-12-03", limits=limits)
    assert put["Put"]["ConditionExpression"] == "attribute_not_exists(object_key)"
    # The version's tombstone (a hash of the key, never the key itself) must not exist: a deleted version.
    digest = hashlib.sha256(f"uploads/{IDENTITY}/a".encode()).hexdigest()
    assert check["ConditionCheck"]["Key"] == {"object_key": {"S": f"#deleted/{digest}"}, "version_id": {"S": "v1"}}
    assert check["ConditionCheck"]["ConditionExpression"] == "attribute_not_exists(#k)"
    assert check["ConditionCheck"]["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert held["Update"]["Key"] == {"object_key": {"S": f"#usage/{SUB}"}, "version_id": {"S": "#held"}}
    assert held["Update"]["ExpressionAttributeValues"][":room"] == {"N": "60"}
    assert held["Update"]["ConditionExpression"] == "attribute_not_exists(#bytes) OR #bytes <= :room"
    assert day["Update"]["Key"]["version_id"] == {"S": "#recorded-day/2026-12-03"}
    assert day["Update"]["ExpressionAttributeValues"][":limit"] == {"N": "3"}
    # The day's counter expires two days after the day ends (2026-12-06T00:00Z).
    assert day["Update"]["ExpressionAttributeValues"][":expires"] == {
        "N": str(int(datetime(2026, 12, 6, tzinfo=UTC).timestamp()))
    }
    # A version larger than the whole allowance can never pass, not even as the sub's first.
    _, _, too_big, _ = usage.transaction("t", record, sub=SUB, size=101, day="2026-12-03", limits=limits)
    assert too_big["Update"]["ConditionExpression"] == "#bytes <= :room"


@pytest.mark.parametrize(
    ("codes", "decided"),
    [
        # [record put, tombstone check, bytes held, day's count]
        (["ConditionalCheckFailed", "None", "None", "None"], "duplicate"),
        (["ConditionalCheckFailed", "None", "ConditionalCheckFailed", "ConditionalCheckFailed"], "duplicate"),
        (["None", "ConditionalCheckFailed", "None", "None"], "deleted"),
        (["ConditionalCheckFailed", "ConditionalCheckFailed", "None", "None"], "deleted"),  # deleted is final
        (["None", "ConditionalCheckFailed", "ConditionalCheckFailed", "None"], "deleted"),
        (["None", "None", "ConditionalCheckFailed", "None"], "upload_max_bytes_held"),
        (["None", "None", "ConditionalCheckFailed", "ConditionalCheckFailed"], "upload_max_bytes_held"),
        (["None", "None", "None", "ConditionalCheckFailed"], "uploads_per_day"),
        (["None", "None", "TransactionConflict", "None"], None),
        ([], None),
    ],
)
def test_cancellation_reasons_decide_duplicate_refusal_or_contention(codes: list[str], decided: str | None) -> None:
    from processor import usage

    got = usage.refusal([{"Code": code} for code in codes])
    assert (None if got is None else got.value) == decided


def test_usage_keys_are_the_stacks() -> None:
    from processor import handler, usage
    from stacks import records_schema
    from stacks import secure_serverless_stack as stack

    assert usage.USAGE_PREFIX == records_schema.USAGE_PREFIX
    assert usage.USAGE_HELD_SORT_KEY == records_schema.USAGE_HELD_SORT_KEY
    assert usage.RECORDED_DAY_SORT_PREFIX == records_schema.USAGE_RECORDED_DAY_SORT_PREFIX
    assert usage.TTL_ATTRIBUTE == records_schema.TTL_ATTRIBUTE
    # The top-uploaders Contributor Insights rule matches the processor's log lines.
    assert handler.UPLOAD_LOG_SUB_FIELD == stack.UPLOAD_LOG_SUB_FIELD
    assert (handler.UPLOAD_COUNTED, handler.UPLOAD_REFUSED) == stack.UPLOAD_LOG_MESSAGES
    assert handler.UPLOADS_REFUSED == "UploadsRefused"


# ------------------------------------------------------------------------------------------ against moto


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    values = {"UPLOAD_MAX_BYTES_HELD": 100, "UPLOADS_PER_DAY": 3}
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    return values


def put_mapping(events: Any, identity: str = IDENTITY, sub: str = SUB) -> None:
    """The identity id <-> sub mapping as the API records it at grant issuance."""
    events._dynamodb.put_item(
        TableName=events.table,
        Item={"object_key": {"S": f"#identity/{identity}"}, "version_id": {"S": "#sub"}, "sub": {"S": sub}},
    )


def usage_items(events: Any, sub: str = SUB) -> dict[str, dict[str, int]]:
    response = events._dynamodb.query(
        TableName=events.table,
        KeyConditionExpression="object_key = :k",
        ExpressionAttributeValues={":k": {"S": f"#usage/{sub}"}},
        ConsistentRead=True,
    )
    return {
        item["version_id"]["S"]: {name: int(value["N"]) for name, value in item.items() if "N" in value}
        for item in response["Items"]
    }


def run(handler_module: Any, events: Any, lambda_context: Any, *bodies: dict[str, Any]) -> dict[str, Any]:
    records = [events.record(body) for body in bodies]
    return handler_module.sqs_handler(events.batch(*records), lambda_context)


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON documents the handler printed: Powertools log lines and EMF blobs."""
    documents = []
    for line in capsys.readouterr().out.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict):
            documents.append(document)
    return documents


def _value(value: Any) -> int:
    return int(sum(value)) if isinstance(value, list) else int(value)


def refusals_by_limit(documents: list[dict[str, Any]]) -> dict[str, int]:
    """UploadsRefused data points carrying the `limit` dimension, summed by limit."""
    counted: dict[str, int] = {}
    for document in documents:
        directives = document.get("_aws", {}).get("CloudWatchMetrics", [])
        if "UploadsRefused" in document and any("limit" in d["Dimensions"][0] for d in directives):
            counted[document["limit"]] = counted.get(document["limit"], 0) + _value(document["UploadsRefused"])
    return counted


def aggregate(documents: list[dict[str, Any]], name: str) -> int:
    """A metric's sum over the per-invocation blobs (the ones without the `limit` dimension)."""
    return sum(_value(d[name]) for d in documents if name in d and "_aws" in d and "limit" not in d)


def logged(handler_module: Any, caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, Any]]:
    """The handler's log lines with `message`, as the Lambda log group receives them (Powertools' JSON)."""
    formatter = handler_module.logger.registered_formatter
    return [json.loads(formatter.format(r)) for r in caplog.records if r.getMessage() == message]


def exists(events: Any, key: str, version_id: str) -> bool:
    try:
        events._s3.head_object(Bucket=events.bucket, Key=key, VersionId=version_id)
    except ClientError:
        return False
    return True


def test_a_recorded_upload_is_counted_once_however_often_it_is_delivered(
    handler_module: Any,
    events: Any,
    lambda_context: Any,
    limits: dict[str, int],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    put_mapping(events)
    key = f"uploads/{IDENTITY}/a b+c.txt"
    event, put = events.upload(key, body=b"x" * 30)
    capsys.readouterr()
    assert run(handler_module, events, lambda_context, event) == {"batchItemFailures": []}
    # Redelivered twice (SQS at-least-once, a replayed DLQ): duplicates, nothing counted again.
    assert run(handler_module, events, lambda_context, event, event) == {"batchItemFailures": []}
    assert events.item(key, put["VersionId"])["sub"] == {"S": SUB}
    assert usage_items(events) == {
        "#held": {"bytes": 30, "objects": 1},
        f"#recorded-day/{TODAY}": usage_items(events)[f"#recorded-day/{TODAY}"],
    }
    assert usage_items(events)[f"#recorded-day/{TODAY}"]["uploads"] == 1
    documents = printed(capsys)
    assert aggregate(documents, "ObjectsRecorded") == 1 and aggregate(documents, "DuplicatesIgnored") == 2
    counted = logged(handler_module, caplog, "upload counted")
    assert [(d["upload_sub"], d["bytes"]) for d in counted] == [(SUB, 30)]  # top-level fields: Contributor Insights


def test_an_upload_over_the_bytes_held_is_deleted_and_not_recorded(
    handler_module: Any,
    events: Any,
    lambda_context: Any,
    limits: dict[str, int],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    put_mapping(events)
    first, first_put = events.upload(f"uploads/{IDENTITY}/one.bin", body=b"1" * 70)
    assert run(handler_module, events, lambda_context, first) == {"batchItemFailures": []}
    key = f"uploads/{IDENTITY}/two.bin"
    second, second_put = events.upload(key, body=b"2" * 31)  # 70 + 31 > 100
    capsys.readouterr()
    assert run(handler_module, events, lambda_context, second) == {"batchItemFailures": []}
    assert events.item(key, second_put["VersionId"]) is None
    assert not exists(events, key, second_put["VersionId"])  # that exact version is gone, no delete marker left
    assert events._s3.list_object_versions(Bucket=events.bucket, Prefix=key).get("DeleteMarkers") is None
    assert exists(events, f"uploads/{IDENTITY}/one.bin", first_put["VersionId"])
    assert usage_items(events)["#held"] == {"bytes": 70, "objects": 1}
    documents = printed(capsys)
    assert refusals_by_limit(documents) == {"upload_max_bytes_held": 1}
    assert aggregate(documents, "UploadsRefused") == 1 and aggregate(documents, "ObjectsRecorded") == 0
    (log,) = logged(handler_module, caplog, "upload refused")
    assert log["upload_sub"] == SUB and log["limit"] == "upload_max_bytes_held" and log["bytes"] == 31
    # Redelivered after the refusal: the version no longer exists (skipped), nothing counted or deleted again.
    assert run(handler_module, events, lambda_context, second) == {"batchItemFailures": []}
    assert usage_items(events)["#held"] == {"bytes": 70, "objects": 1}


def test_a_replayed_grant_is_refused_past_the_days_uploads(
    handler_module: Any, events: Any, lambda_context: Any, limits: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each replay of one grant is a new version of the same key: the fourth of the day is refused."""
    put_mapping(events)
    key = f"uploads/{IDENTITY}/replayed.txt"
    uploads = [events.upload(key, body=b"r") for _ in range(4)]
    capsys.readouterr()
    assert run(handler_module, events, lambda_context, *(event for event, _ in uploads)) == {"batchItemFailures": []}
    recorded = [put["VersionId"] for _, put in uploads if events.item(key, put["VersionId"]) is not None]
    assert recorded == [put["VersionId"] for _, put in uploads[:3]]
    assert not exists(events, key, uploads[3][1]["VersionId"])
    assert usage_items(events)[f"#recorded-day/{TODAY}"]["uploads"] == 3
    assert usage_items(events)["#held"] == {"bytes": 3, "objects": 3}
    assert refusals_by_limit(printed(capsys)) == {"uploads_per_day": 1}


def test_a_recorded_version_is_never_refused_later(
    handler_module: Any, events: Any, lambda_context: Any, limits: dict[str, int]
) -> None:
    """Limits exhausted after a version was recorded: its redelivery is a duplicate, never deleted."""
    put_mapping(events)
    key = f"uploads/{IDENTITY}/kept.bin"
    event, put = events.upload(key, body=b"k" * 60)
    assert run(handler_module, events, lambda_context, event) == {"batchItemFailures": []}
    other, _ = events.upload(f"uploads/{IDENTITY}/fills.bin", body=b"f" * 40)
    assert run(handler_module, events, lambda_context, other) == {"batchItemFailures": []}
    assert usage_items(events)["#held"]["bytes"] == 100
    assert run(handler_module, events, lambda_context, event) == {"batchItemFailures": []}
    assert exists(events, key, put["VersionId"]) and events.item(key, put["VersionId"]) is not None
    assert usage_items(events)["#held"] == {"bytes": 100, "objects": 2}


def test_a_failed_delete_is_retried_and_refuses_exactly_once(
    handler_module: Any,
    events: Any,
    lambda_context: Any,
    limits: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from processor import usage

    put_mapping(events)
    key = f"uploads/{IDENTITY}/too big.bin"
    event, put = events.upload(key, body=b"b" * 101)  # larger than the whole allowance, even as the first
    real_delete = usage.delete_version
    failures = [
        ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "DeleteObject")
    ]

    def flaky(*args: Any, **kwargs: Any) -> bool:
        if failures:
            raise failures.pop()
        return real_delete(*args, **kwargs)

    monkeypatch.setattr(usage, "delete_version", flaky)
    record = events.record(event)
    capsys.readouterr()
    first = handler_module.sqs_handler(events.batch(record), lambda_context)
    assert first == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}  # deferred, not dropped
    assert exists(events, key, put["VersionId"]) and events.item(key, put["VersionId"]) is None
    assert handler_module.sqs_handler(events.batch(record), lambda_context) == {"batchItemFailures": []}
    assert not exists(events, key, put["VersionId"]) and events.item(key, put["VersionId"]) is None
    assert "#held" not in usage_items(events)  # nothing was ever counted
    documents = printed(capsys)
    assert aggregate(documents, "RecordsDeferred") == 1
    assert refusals_by_limit(documents) == {"upload_max_bytes_held": 1}


def test_a_cancelled_transaction_is_deferred_not_failed(
    handler_module: Any, events: Any, lambda_context: Any, limits: dict[str, int]
) -> None:
    """Another transaction on the same counter (TransactionConflict): nothing written, retried with a back-off."""
    from processor import store

    put_mapping(events)
    key = f"uploads/{IDENTITY}/contended.txt"
    event, put = events.upload(key)
    conflict = ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}, {"Code": "None"}],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "TransactWriteItems",
    )
    dynamodb = store.client("dynamodb")
    record = events.record(event)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(dynamodb), "transact_write_items", lambda self, **_: (_ for _ in ()).throw(conflict))
        assert handler_module.sqs_handler(events.batch(record), lambda_context) == {
            "batchItemFailures": [{"itemIdentifier": record["messageId"]}]
        }
    assert events.item(key, put["VersionId"]) is None and usage_items(events) == {}
    assert store.is_transient(store.Contention("x"))
    assert handler_module.sqs_handler(events.batch(record), lambda_context) == {"batchItemFailures": []}
    assert events.item(key, put["VersionId"]) is not None and exists(events, key, put["VersionId"])


def test_two_versions_for_the_last_slot_one_passes(
    handler_module: Any, events: Any, lambda_context: Any, limits: dict[str, int]
) -> None:
    """The limit is a condition on the counter item, decided by DynamoDB: of two versions that each fit alone but not
    together, exactly one is recorded, whichever comes first."""
    put_mapping(events)
    a, a_put = events.upload(f"uploads/{IDENTITY}/a.bin", body=b"a" * 60)
    b, b_put = events.upload(f"uploads/{IDENTITY}/b.bin", body=b"b" * 60)
    assert run(handler_module, events, lambda_context, a, b) == {"batchItemFailures": []}
    kept = [
        put["VersionId"]
        for key, put in ((f"uploads/{IDENTITY}/a.bin", a_put), (f"uploads/{IDENTITY}/b.bin", b_put))
        if events.item(key, put["VersionId"]) is not None and exists(events, key, put["VersionId"])
    ]
    assert len(kept) == 1
    assert usage_items(events)["#held"] == {"bytes": 60, "objects": 1}


def test_an_upload_without_a_known_sub_is_recorded_uncounted(
    handler_module: Any, events: Any, lambda_context: Any, limits: dict[str, int]
) -> None:
    """Not uploaded through a grant (no mapping: an administrator's or a tool's upload): recorded as before."""
    key = f"uploads/{IDENTITY}/by an operator.bin"
    event, put = events.upload(key, body=b"o" * 500)
    assert run(handler_module, events, lambda_context, event) == {"batchItemFailures": []}
    assert events.item(key, put["VersionId"]) is not None and usage_items(events) == {}


def test_without_limits_nothing_is_counted(handler_module: Any, events: Any, lambda_context: Any) -> None:
    put_mapping(events)
    key = f"uploads/{IDENTITY}/a.txt"
    event, put = events.upload(key, body=b"x" * 500)
    assert run(handler_module, events, lambda_context, event) == {"batchItemFailures": []}
    assert events.item(key, put["VersionId"]) is not None and usage_items(events) == {}


def test_bad_limits_fail_the_batch_as_a_configuration_error(
    handler_module: Any, events: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPLOAD_MAX_BYTES_HELD", "lots")
    monkeypatch.setenv("UPLOADS_PER_DAY", "3")
    event, _ = events.upload(f"uploads/{IDENTITY}/a.txt")
    with pytest.raises(handler_module.ConfigurationError, match="UPLOAD_MAX_BYTES_HELD"):
        run(handler_module, events, lambda_context, event)
