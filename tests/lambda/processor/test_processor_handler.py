"""The processor's entry points against moto (real boto3/botocore calls): SQS batches and direct mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

UPLOAD_KEY = "uploads/us-east-1:0f6b2c4e-1111-2222-3333-444455556666/my file+1 é.txt"
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _s(item: dict[str, Any], name: str) -> str:
    return item[name]["S"]


def test_upload_is_recorded_once_with_all_attributes(handler_module, events, emf, lambda_context) -> None:
    event, put = events.upload(UPLOAD_KEY, body=b"hello", content_type="text/plain")
    emf.clear()

    response = handler_module.sqs_handler(events.batch(events.record(event)), lambda_context)

    assert response == {"batchItemFailures": []}
    items = events.items()
    assert len(items) == 1
    item = items[0]
    assert _s(item, "object_key") == UPLOAD_KEY
    assert _s(item, "version_id") == put["VersionId"]
    assert _s(item, "bucket") == events.bucket
    assert item["size"] == {"N": "5"}
    assert _s(item, "etag") == put["ETag"].strip('"')
    assert _s(item, "content_type") == "text/plain"
    assert ISO_MS_Z.match(_s(item, "last_modified"))
    assert _s(item, "sequencer") == event["detail"]["object"]["sequencer"]
    assert _s(item, "event_time") == "2021-11-12T00:00:00Z"
    recorded_at = datetime.fromisoformat(_s(item, "recorded_at").replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - recorded_at).total_seconds()) < 60
    assert _s(item, "owner") == "us-east-1:0f6b2c4e-1111-2222-3333-444455556666"
    assert _s(item, "name") == "my file+1 é.txt"
    assert "expires_at" not in item
    totals = emf.totals()
    assert {name: totals[name] for name in handler_module.METRIC_NAMES} == {
        "ObjectsRecorded": 1,
        "DuplicatesIgnored": 0,
        "ObjectsSkippedMissing": 0,
        "ObjectsSkippedOutsideUploads": 0,
        "RecordsFailed": 0,
        "RecordsDeferred": 0,
        "MetadataMismatches": 0,
        "RecordsDeleted": 0,
        "DeletesWithoutRecord": 0,
        "DuplicateDeletesIgnored": 0,
        "DeleteMarkersIgnored": 0,
        "ObjectsSkippedDeleted": 0,
        "UploadsRefused": 0,
    }


@pytest.mark.parametrize("encoding", ["raw", "quote", "quote_plus"])
@pytest.mark.parametrize("key", ["reports/2024/summary.csv", "uploadsX/id/name", "a+b uploads/x.txt", "uploads"])
def test_object_outside_uploads_is_skipped_and_counted_without_reading_it(
    handler_module, events, dynamodb, emf, lambda_context, monkeypatch, caplog, key, encoding
) -> None:
    from processor import store

    upload_event, _ = events.upload("uploads/owner-1/a.txt")
    other_event, _ = events.upload(key)
    other_event["detail"]["object"]["key"] = ENCODINGS[encoding](key)
    heads: list[str] = []
    real_head = store.head_object

    def head_object(bucket: str, object_key: str, *args: Any, **kwargs: Any) -> Any:
        heads.append(object_key)
        return real_head(bucket, object_key, *args, **kwargs)

    monkeypatch.setattr(store, "head_object", head_object)
    emf.clear()

    response = handler_module.sqs_handler(
        events.batch(events.record(upload_event), events.record(other_event, "outside")), lambda_context
    )

    # A success (the message leaves the buffer: neither retried nor dead-lettered), counted and logged; S3 is not
    # asked about the key in any form (the processor may read only uploads/), and nothing is recorded for it.
    assert response == {"batchItemFailures": []}
    assert heads == ["uploads/owner-1/a.txt"]
    assert [_s(item, "object_key") for item in events.items()] == ["uploads/owner-1/a.txt"]
    totals = emf.totals()
    assert (totals["ObjectsSkippedOutsideUploads"], totals["ObjectsRecorded"], totals["RecordsFailed"]) == (1, 1, 0)
    assert any("outside uploads/" in r.getMessage() for r in caplog.records)


def test_a_fully_encoded_upload_key_is_an_upload(handler_module, events, emf, lambda_context) -> None:
    key = "uploads/us-east-1:0f6b2c4e-1111-2222-3333-444455556666/x.txt"
    event, put = events.upload(key)
    event["detail"]["object"]["key"] = quote(key, safe="")  # uploads%2Fus-east-1%3A...: decided on the decoded key
    emf.clear()

    assert handler_module.sqs_handler(events.batch(events.record(event)), lambda_context) == {"batchItemFailures": []}
    assert events.item(key, put["VersionId"]) is not None
    assert emf.totals()["ObjectsSkippedOutsideUploads"] == 0


def test_only_uploads_carry_an_owner_in_the_gsi(handler_module, events, dynamodb, lambda_context) -> None:
    upload_event, _ = events.upload("uploads/owner-1/a.txt")
    other_event, other_put = events.upload("uploads/no-name-after-the-id")

    response = handler_module.sqs_handler(
        events.batch(events.record(upload_event), events.record(other_event)), lambda_context
    )

    assert response == {"batchItemFailures": []}
    other = events.item("uploads/no-name-after-the-id", other_put["VersionId"])
    assert other is not None
    assert "owner" not in other and "name" not in other
    by_owner = dynamodb.scan(TableName=events.table, IndexName="by-owner")["Items"]
    assert [_s(item, "object_key") for item in by_owner] == ["uploads/owner-1/a.txt"]
    owned = dynamodb.query(
        TableName=events.table,
        IndexName="by-owner",
        KeyConditionExpression="#o = :o",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":o": {"S": "owner-1"}},
    )["Items"]
    assert [_s(item, "name") for item in owned] == ["a.txt"]


@pytest.mark.parametrize("key", ["uploads//x", "uploads/id/", "uploads/name-without-identity"])
def test_edge_keys_are_recorded_without_owner(handler_module, events, lambda_context, key) -> None:
    event, put = events.upload(key)

    assert handler_module.sqs_handler(events.batch(events.record(event)), lambda_context) == {"batchItemFailures": []}

    item = events.item(key, put["VersionId"])
    assert item is not None
    assert "owner" not in item


def test_duplicate_delivery_in_two_invocations_is_a_no_op(handler_module, events, emf, lambda_context) -> None:
    event, put = events.upload(UPLOAD_KEY)
    handler_module.sqs_handler(events.batch(events.record(event)), lambda_context)
    first = events.item(UPLOAD_KEY, put["VersionId"])
    emf.clear()

    response = handler_module.sqs_handler(events.batch(events.record(event)), lambda_context)

    assert response == {"batchItemFailures": []}
    assert len(events.items()) == 1
    assert events.item(UPLOAD_KEY, put["VersionId"]) == first  # not overwritten (recorded_at kept)
    totals = emf.totals()
    assert totals["DuplicatesIgnored"] == 1
    assert totals["ObjectsRecorded"] == 0


def test_duplicate_delivery_in_the_same_batch(handler_module, events, emf, lambda_context) -> None:
    event, _ = events.upload(UPLOAD_KEY)
    emf.clear()

    response = handler_module.sqs_handler(
        events.batch(events.record(event, "m-1"), events.record(event, "m-2")), lambda_context
    )

    assert response == {"batchItemFailures": []}
    assert len(events.items()) == 1
    totals = emf.totals()
    assert (totals["ObjectsRecorded"], totals["DuplicatesIgnored"]) == (1, 1)


def test_two_versions_of_a_key_are_two_items(handler_module, events, lambda_context) -> None:
    first_event, first = events.upload(UPLOAD_KEY, body=b"one")
    second_event, second = events.upload(UPLOAD_KEY, body=b"second")
    assert first["VersionId"] != second["VersionId"]

    response = handler_module.sqs_handler(
        events.batch(events.record(first_event), events.record(second_event)), lambda_context
    )

    assert response == {"batchItemFailures": []}
    assert sorted(_s(item, "version_id") for item in events.items()) == sorted(
        [first["VersionId"], second["VersionId"]]
    )
    assert events.item(UPLOAD_KEY, first["VersionId"])["size"] == {"N": "3"}
    assert events.item(UPLOAD_KEY, second["VersionId"])["size"] == {"N": "6"}


def test_deleted_object_is_skipped_reported_as_success_and_counted(
    handler_module, events, s3, emf, lambda_context
) -> None:
    event, put = events.upload(UPLOAD_KEY)
    s3.delete_object(Bucket=events.bucket, Key=UPLOAD_KEY, VersionId=put["VersionId"])
    emf.clear()

    response = handler_module.sqs_handler(events.batch(events.record(event, "gone")), lambda_context)

    assert response == {"batchItemFailures": []}
    assert events.items() == []
    totals = emf.totals()
    assert totals["ObjectsSkippedMissing"] == 1
    assert totals["ObjectsRecorded"] == 0
    assert totals["RecordsFailed"] == 0


def test_event_for_another_bucket_fails_instead_of_being_skipped_as_deleted(
    handler_module, events, s3, emf, lambda_context
) -> None:
    # S3 answers HEAD on a missing bucket with the same bare 404 as a missing object: without the bucket check
    # this record would be "skipped" (success) and silently leave the queue.
    good, _ = events.upload(UPLOAD_KEY)
    foreign = events.event(UPLOAD_KEY, version_id="v1", bucket="someone-elses-bucket")
    emf.clear()

    response = handler_module.sqs_handler(
        events.batch(events.record(good, "good"), events.record(foreign, "foreign")), lambda_context
    )

    assert response == {"batchItemFailures": [{"itemIdentifier": "foreign"}]}
    assert [item["bucket"]["S"] for item in events.items()] == [events.bucket]
    totals = emf.totals()
    assert totals["RecordsFailed"] == 1 and totals["ObjectsSkippedMissing"] == 0


def test_unversioned_event_for_a_deleted_key_is_skipped(handler_module, events, s3, lambda_context) -> None:
    event, _ = events.upload("uploads/id/gone.csv")
    del event["detail"]["object"]["version-id"]
    s3.delete_object(Bucket=events.bucket, Key="uploads/id/gone.csv")  # current version is a delete marker

    assert handler_module.sqs_handler(events.batch(events.record(event)), lambda_context) == {"batchItemFailures": []}
    assert events.items() == []


def test_unversioned_object_is_recorded_under_the_null_version(handler_module, events, lambda_context) -> None:
    event, _ = events.upload("uploads/id/plain.csv")
    del event["detail"]["object"]["version-id"]

    assert handler_module.sqs_handler(events.batch(events.record(event)), lambda_context) == {"batchItemFailures": []}
    assert events.item("uploads/id/plain.csv", "null") is not None


def _malformed_bodies(events) -> dict[str, Any]:
    valid = events.event(UPLOAD_KEY, version_id="v1")
    wrong_type = json.loads(json.dumps(valid))
    wrong_type["detail-type"] = "Object Restore Completed"  # neither of the two types the processor takes
    missing_key = json.loads(json.dumps(valid))
    del missing_key["detail"]["object"]["key"]
    empty_key = json.loads(json.dumps(valid))
    empty_key["detail"]["object"]["key"] = ""
    detail_not_dict = json.loads(json.dumps(valid))
    detail_not_dict["detail"] = ["not", "a", "dict"]
    return {
        "bad-json": "{not json",
        "wrong-detail-type": json.dumps(wrong_type),
        "missing-key": json.dumps(missing_key),
        "empty-key": json.dumps(empty_key),
        "detail-not-dict": json.dumps(detail_not_dict),
        "json-array": "[1, 2, 3]",
        "empty-body": "",
    }


def test_malformed_records_fail_individually_and_the_rest_is_processed(
    handler_module, events, emf, lambda_context, caplog
) -> None:
    good_event, good_put = events.upload(UPLOAD_KEY)
    other_event, other_put = events.upload("uploads/id/ok.csv")
    bad = _malformed_bodies(events)
    records = [events.record(good_event, "good-1")]
    records += [events.record(body, message_id) for message_id, body in bad.items()]
    records.append(events.record(other_event, "good-2"))
    emf.clear()

    response = handler_module.sqs_handler(events.batch(*records), lambda_context)

    totals = emf.totals()
    failed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    assert sorted(failed) == sorted(bad)
    assert events.item(UPLOAD_KEY, good_put["VersionId"]) is not None
    assert events.item("uploads/id/ok.csv", other_put["VersionId"]) is not None
    assert len(events.items()) == 2
    assert (totals["RecordsFailed"], totals["ObjectsRecorded"]) == (len(bad), 2)
    # The failure logs name the message, the field and the rule.
    invalid = {record.message_id: record for record in caplog.records if record.getMessage() == "invalid event"}
    assert set(invalid) == set(bad)
    assert invalid["missing-key"].field == "detail.object.key"
    assert invalid["empty-key"].field == "detail.object.key"
    assert invalid["wrong-detail-type"].field == "detail-type"
    assert invalid["detail-not-dict"].field == "detail"
    assert invalid["json-array"].field == "event"
    assert invalid["bad-json"].field == "body"
    assert "non-empty string" in invalid["empty-key"].rule
    assert "must be" in invalid["empty-key"].error


def test_a_batch_where_every_record_fails_is_still_a_partial_response(handler_module, events, lambda_context) -> None:
    response = handler_module.sqs_handler(
        events.batch(events.record("nope", "a"), events.record("{}", "b")), lambda_context
    )

    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["a", "b"]


@pytest.mark.parametrize(
    "key",
    [
        "uploads/id/a b+c ü 日本.txt",
        "uploads/id/100%25 literal percent %2B.txt",
        "uploads/id/plain+plus and space.txt",
        "uploads/emoji/🚀 launch.txt",
        "uploads/id/nested/dir/x?y=1&z#frag.txt",
    ],
)
def test_keys_are_stored_exactly_as_delivered_and_found_by_head_object(
    handler_module, events, s3, lambda_context, key
) -> None:
    event, put = events.upload(key)
    assert s3.head_object(Bucket=events.bucket, Key=key)["VersionId"] == put["VersionId"]

    response = handler_module.sqs_handler(events.batch(events.record(event)), lambda_context)

    assert response == {"batchItemFailures": []}
    items = events.items()
    assert [_s(item, "object_key") for item in items] == [key]
    assert _s(items[0], "content_type") == "text/plain"  # came from HeadObject on that exact key


ENCODINGS = {"raw": lambda key: key, "quote": quote, "quote_plus": lambda key: quote_plus(key, safe="/")}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize(
    "key",
    [
        "uploads/us-east-1:0f6b2c4e-1111-2222-3333-444455556666/report.csv",
        "uploads/us-east-1:0f6b2c4e-1111-2222-3333-444455556666/a b+c%d:é 日本.txt",
        "uploads/id/literal%2Bescape+plus.txt",
    ],
)
def test_the_true_key_is_recorded_whether_or_not_the_event_url_encodes_it(
    handler_module, events, emf, lambda_context, key, encoding
) -> None:
    event, put = events.upload(key)
    event["detail"]["object"]["key"] = ENCODINGS[encoding](key)
    emf.clear()

    response = handler_module.sqs_handler(events.batch(events.record(event)), lambda_context)

    assert response == {"batchItemFailures": []}
    assert [(_s(item, "object_key"), _s(item, "version_id")) for item in events.items()] == [(key, put["VersionId"])]
    assert emf.totals()["ObjectsRecorded"] == 1


def test_the_version_id_decides_between_a_literal_and_a_decoded_key(handler_module, events, lambda_context) -> None:
    # Both `a+b.txt` and `a b.txt` exist; an event saying `a+b.txt` with the version of `a b.txt` can only be the
    # quote_plus encoding of `a b.txt`.
    _, plus = events.upload("uploads/id/a+b.txt")
    event, space = events.upload("uploads/id/a b.txt")
    event["detail"]["object"]["key"] = "uploads/id/a+b.txt"

    assert handler_module.sqs_handler(events.batch(events.record(event)), lambda_context) == {"batchItemFailures": []}

    assert [_s(item, "object_key") for item in events.items()] == ["uploads/id/a b.txt"]
    assert events.item("uploads/id/a+b.txt", plus["VersionId"]) is None


def test_an_encoded_key_found_neither_way_fails_into_the_dlq_path(
    handler_module, events, s3, emf, lambda_context
) -> None:
    key = "uploads/us-east-1:0f6b2c4e-1111-2222-3333-444455556666/gone+soon.txt"
    event, put = events.upload(key)
    s3.delete_object(Bucket=events.bucket, Key=key, VersionId=put["VersionId"])
    event["detail"]["object"]["key"] = quote(key)
    emf.clear()

    response = handler_module.sqs_handler(events.batch(events.record(event, "ambiguous")), lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "ambiguous"}]}
    assert events.items() == []
    totals = emf.totals()
    assert totals["RecordsFailed"] == 1 and totals["ObjectsSkippedMissing"] == 0


def test_dynamodb_table_missing_fails_the_records_not_the_invocation(
    handler_module, events, dynamodb, lambda_context, monkeypatch
) -> None:
    event, _ = events.upload(UPLOAD_KEY)
    monkeypatch.setenv("TABLE_NAME", "no-such-table")

    response = handler_module.sqs_handler(events.batch(events.record(event, "m-1")), lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_a_throttled_put_defers_its_record_and_every_record_after_it(
    handler_module, events, emf, lambda_context, monkeypatch
) -> None:
    from processor import store

    ok_event, ok_put = events.upload("uploads/id/ok.txt")
    throttled_event, _ = events.upload("uploads/id/throttled.txt")
    later_event, later_put = events.upload("uploads/id/later.txt")
    real_put = store.put_record_once
    calls: list[str] = []

    def flaky_put(table_name, item, **kwargs):
        calls.append(str(item["object_key"]))
        if item["object_key"] == "uploads/id/throttled.txt":
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                "TransactWriteItems",
            )
        return real_put(table_name, item, **kwargs)

    monkeypatch.setattr(store, "put_record_once", flaky_put)
    emf.clear()

    response = handler_module.sqs_handler(
        events.batch(
            events.record(ok_event, "ok"),
            events.record(throttled_event, "throttled"),
            events.record(later_event, "later"),
        ),
        lambda_context,
    )

    # After the table throttles, no further record is started (more calls would only add load): it is deferred.
    assert response == {"batchItemFailures": [{"itemIdentifier": "throttled"}, {"itemIdentifier": "later"}]}
    assert calls == ["uploads/id/ok.txt", "uploads/id/throttled.txt"]
    assert events.item("uploads/id/ok.txt", ok_put["VersionId"]) is not None
    assert events.item("uploads/id/later.txt", later_put["VersionId"]) is None
    totals = emf.totals()
    assert (totals["RecordsDeferred"], totals["RecordsFailed"], totals["ObjectsRecorded"]) == (2, 0, 1)


def test_head_object_forbidden_is_a_failure_not_a_skip(handler_module, events, emf, lambda_context) -> None:
    from processor import store

    event, put = events.upload(UPLOAD_KEY)
    client = store.client("s3")
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "head_object",
            service_error_code="403",
            service_message="Forbidden",
            http_status_code=403,
            expected_params={
                "Bucket": events.bucket,
                "Key": UPLOAD_KEY,
                "VersionId": put["VersionId"],
                "ExpectedBucketOwner": "123456789012",
            },
        )
        emf.clear()
        response = handler_module.sqs_handler(events.batch(events.record(event, "denied")), lambda_context)
        stubber.assert_no_pending_responses()

    assert response == {"batchItemFailures": [{"itemIdentifier": "denied"}]}
    assert events.items() == []
    totals = emf.totals()
    assert (totals["RecordsFailed"], totals["ObjectsSkippedMissing"]) == (1, 0)


def test_expected_bucket_owner_is_sent_with_head_object(handler_module, events, lambda_context, monkeypatch) -> None:
    from processor import store

    event, _ = events.upload(UPLOAD_KEY)
    monkeypatch.setenv("EXPECTED_BUCKET_OWNER", "210987654321")
    sent: list[tuple[str, str | None]] = []

    def spy(request, operation_name, **kwargs):
        sent.append((operation_name, request.headers.get("x-amz-expected-bucket-owner")))

    store.client("s3").meta.events.register("request-created.s3.HeadObject", spy)

    handler_module.sqs_handler(events.batch(events.record(event)), lambda_context)

    # moto does not enforce the owner check; the header on the wire is what S3 would enforce.
    assert sent == [("HeadObject", "210987654321")]


def test_missing_configuration_fails_the_whole_invocation(
    handler_module, events, emf, lambda_context, monkeypatch
) -> None:
    event, _ = events.upload(UPLOAD_KEY)
    monkeypatch.delenv("TABLE_NAME")
    emf.clear()

    with pytest.raises(handler_module.ConfigurationError, match="TABLE_NAME"):
        handler_module.sqs_handler(events.batch(events.record(event), events.record(event)), lambda_context)
    assert events.items() == []
    assert emf.totals()["RecordsFailed"] == 2


def test_the_buckets_lifecycle_sets_expires_at_from_s3s_last_modified(
    handler_module, events, s3, lambda_context, monkeypatch
) -> None:
    from processor.domain import Lifecycle, lifecycle_end

    event, put = events.upload(UPLOAD_KEY)
    monkeypatch.setenv("OBJECT_EXPIRATION_DAYS", "30")
    monkeypatch.setenv("NONCURRENT_VERSION_EXPIRATION_DAYS", "7")

    assert handler_module.sqs_handler(events.batch(events.record(event)), lambda_context) == {"batchItemFailures": []}

    created = s3.head_object(Bucket=events.bucket, Key=UPLOAD_KEY, VersionId=put["VersionId"])["LastModified"]
    expires_at = int(events.item(UPLOAD_KEY, put["VersionId"])["expires_at"]["N"])
    assert expires_at == int(lifecycle_end(created, Lifecycle(30, 7)).timestamp())
    # 30 + 7 days, plus one to two days of S3's rounding to midnight UTC
    assert 38 * 86_400 < expires_at - created.timestamp() <= 39 * 86_400


@pytest.mark.parametrize(
    ("current", "noncurrent"), [("0", "7"), ("-1", "7"), ("thirty", "7"), ("30", ""), ("", "7"), ("1.5", "7")]
)
def test_a_wrong_lifecycle_setting_fails_the_invocation(
    handler_module, events, emf, lambda_context, monkeypatch, current, noncurrent
) -> None:
    # Never a record silently without the TTL it should have (it would outlive its object for ever).
    event, _ = events.upload(UPLOAD_KEY)
    monkeypatch.setenv("OBJECT_EXPIRATION_DAYS", current)
    monkeypatch.setenv("NONCURRENT_VERSION_EXPIRATION_DAYS", noncurrent)
    emf.clear()

    with pytest.raises(handler_module.ConfigurationError, match="EXPIRATION_DAYS"):
        handler_module.sqs_handler(events.batch(events.record(event)), lambda_context)
    assert events.items() == []
    assert emf.totals()["RecordsFailed"] == 1


def test_without_object_expiry_records_have_no_ttl(handler_module, events, lambda_context, monkeypatch) -> None:
    event, put = events.upload(UPLOAD_KEY)
    monkeypatch.setenv("OBJECT_EXPIRATION_DAYS", "")
    monkeypatch.setenv("NONCURRENT_VERSION_EXPIRATION_DAYS", " ")

    handler_module.sqs_handler(events.batch(events.record(event)), lambda_context)

    item = events.item(UPLOAD_KEY, put["VersionId"])
    assert item is not None and "expires_at" not in item


# --- direct mode -------------------------------------------------------------------------------------


def test_direct_mode_records_and_summarizes(handler_module, events, emf, lambda_context) -> None:
    event, put = events.upload(UPLOAD_KEY)
    emf.clear()

    summary = handler_module.event_handler(event, lambda_context)

    assert summary == {
        "outcome": "recorded",
        "bucket": events.bucket,
        "object_key": UPLOAD_KEY,
        "version_id": put["VersionId"],
    }
    assert events.item(UPLOAD_KEY, put["VersionId"]) is not None
    assert emf.totals()["ObjectsRecorded"] == 1


def test_direct_mode_duplicate_is_a_success(handler_module, events, lambda_context) -> None:
    event, _ = events.upload(UPLOAD_KEY)
    handler_module.event_handler(event, lambda_context)

    assert handler_module.event_handler(event, lambda_context)["outcome"] == "duplicate"
    assert len(events.items()) == 1


def test_direct_mode_malformed_event_raises(handler_module, events, emf, lambda_context) -> None:
    from processor.domain import InvalidEvent

    event = events.event(UPLOAD_KEY, version_id="v1")
    event["detail"]["object"]["key"] = ""
    emf.clear()

    with pytest.raises(InvalidEvent, match="detail.object.key"):
        handler_module.event_handler(event, lambda_context)
    assert emf.totals()["RecordsFailed"] == 1
    assert events.items() == []


def test_direct_mode_missing_object_returns_a_skipped_summary(handler_module, events, s3, emf, lambda_context) -> None:
    event, put = events.upload(UPLOAD_KEY)
    s3.delete_object(Bucket=events.bucket, Key=UPLOAD_KEY, VersionId=put["VersionId"])
    emf.clear()

    summary = handler_module.event_handler(event, lambda_context)

    assert summary["outcome"] == "skipped_missing"
    assert summary["version_id"] == put["VersionId"]
    assert events.items() == []
    assert emf.totals()["ObjectsSkippedMissing"] == 1


def test_direct_mode_dynamodb_error_raises(handler_module, events, lambda_context, monkeypatch) -> None:
    event, _ = events.upload(UPLOAD_KEY)
    monkeypatch.setenv("TABLE_NAME", "no-such-table")

    with pytest.raises(ClientError) as caught:
        handler_module.event_handler(event, lambda_context)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


# --- configuration read at import --------------------------------------------------------------------


def test_metrics_namespace_and_service_come_from_the_environment(handler_module) -> None:
    assert handler_module.METRICS_NAMESPACE == "SecureServerlessTest"
    assert handler_module.SERVICE == "processor"


def test_metrics_namespace_defaults_to_secure_serverless() -> None:
    function_dir = Path(__file__).resolve().parents[3] / "lambda" / "processor"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("POWERTOOLS_", "LAMBDA_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(function_dir), str(function_dir.parent / "shared" / "python")])
    result = subprocess.run(
        [sys.executable, "-c", "import processor.handler as h; print(h.METRICS_NAMESPACE, h.SERVICE)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["SecureServerless", "processor"]
