"""The processor's entry points with S3 "Object Deleted" events, against moto (real S3 deletes and DynamoDB calls):
records follow deletions, in any order of delivery, and bad delete events fail their own record only."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

import pytest

OWNER = "us-east-1:0f6b2c4e-1111-2222-3333-444455556666"
KEY = f"uploads/{OWNER}/to delete+1 é:x.txt"
SUB = "a11ce000-0000-4000-8000-000000000001"


def deleted_event(events: Any, key: str, version_id: str | None, **detail: Any) -> dict[str, Any]:
    """The "Object Deleted" event S3 sends for `key`/`version_id`, built from the created one's envelope."""
    event = events.event(key, version_id=version_id, sequencer="00617F0829932A1F7F")
    event["detail-type"] = "Object Deleted"
    obj = event["detail"]["object"]
    del obj["size"], obj["etag"]
    event["detail"].update({"reason": "DeleteObject", "deletion-type": "Permanently Deleted", **detail})
    return event


def tombstone_key(key: str) -> str:
    return "#deleted/" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def handle(handler_module: Any, events: Any, lambda_context: Any, *bodies: Any) -> list[str]:
    """One SQS batch of these events; returns the failed message ids."""
    records = [events.record(body, f"m-{n}") for n, body in enumerate(bodies)]
    response = handler_module.sqs_handler(events.batch(*records), lambda_context)
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def usage(events: Any) -> tuple[int, int] | None:
    item = events.item(f"#usage/{SUB}", "#held")
    return None if item is None else (int(item["bytes"]["N"]), int(item["objects"]["N"]))


@pytest.fixture
def counted(events: Any) -> None:
    """The uploader's identity mapping (so records carry their sub) and their usage counters."""
    events._dynamodb.put_item(
        TableName=events.table,
        Item={"object_key": {"S": f"#identity/{OWNER}"}, "version_id": {"S": "#sub"}, "sub": {"S": SUB}},
    )
    events._dynamodb.put_item(
        TableName=events.table,
        Item={
            "object_key": {"S": f"#usage/{SUB}"},
            "version_id": {"S": "#held"},
            "bytes": {"N": "100"},
            "objects": {"N": "3"},
        },
    )


def test_created_then_deleted_the_record_goes_and_its_size_leaves_the_usage(
    handler_module: Any, events: Any, emf: Any, lambda_context: Any, counted: None
) -> None:
    created, put = events.upload(KEY, body=b"x" * 40)
    assert handle(handler_module, events, lambda_context, created) == []
    assert events.item(KEY, put["VersionId"])["sub"]["S"] == SUB
    events._s3.delete_object(Bucket=events.bucket, Key=KEY, VersionId=put["VersionId"])
    emf.clear()

    assert handle(handler_module, events, lambda_context, deleted_event(events, KEY, put["VersionId"])) == []

    assert events.item(KEY, put["VersionId"]) is None  # the record is gone
    tombstone = events.item(tombstone_key(KEY), put["VersionId"])
    assert tombstone is not None and "deleted_at" in tombstone and "owner" not in tombstone  # out of the owner index
    assert usage(events) == (60, 2)
    assert emf.totals()["RecordsDeleted"] == 1
    listed = events._dynamodb.query(
        TableName=events.table,
        IndexName="by-owner",
        KeyConditionExpression="#o = :o",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":o": {"S": OWNER}},
    )
    assert listed["Items"] == []


@pytest.mark.parametrize("delivered", ["raw", "encoded"])
def test_deleted_then_late_created_records_nothing_and_nothing_reaches_the_dlq(
    handler_module: Any, events: Any, emf: Any, lambda_context: Any, counted: None, delivered: str
) -> None:
    """The delete is processed first (no record yet: tombstones); the late "Object Created" finds no object (404 for
    both key forms) and the tombstone: skipped and counted, a success, not an UnresolvedKey for the DLQ."""
    created, put = events.upload(KEY, body=b"x" * 40)
    events._s3.delete_object(Bucket=events.bucket, Key=KEY, VersionId=put["VersionId"])
    form = KEY if delivered == "raw" else quote(KEY)
    created["detail"]["object"]["key"] = form
    emf.clear()

    assert handle(handler_module, events, lambda_context, deleted_event(events, form, put["VersionId"])) == []
    assert handle(handler_module, events, lambda_context, created) == []

    totals = emf.totals()
    assert (totals["DeletesWithoutRecord"], totals["ObjectsSkippedDeleted"], totals["RecordsFailed"]) == (1, 1, 0)
    assert all("owner" not in item for item in events.items())
    assert usage(events) == (100, 3)  # nothing was counted, nothing given back


def test_a_delete_processed_between_head_object_and_the_put_leaves_no_record(
    handler_module: Any, events: Any, emf: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: HeadObject saw the version, then its delete was processed, then the put came. The tombstone at the
    record's key refuses the put: skipped, not recorded."""
    from processor import store

    created, put = events.upload(KEY)
    real_head = store.head_object

    def head_then_delete(*args: Any, **kwargs: Any) -> Any:
        metadata = real_head(*args, **kwargs)
        events._s3.delete_object(Bucket=events.bucket, Key=KEY, VersionId=put["VersionId"])
        monkeypatch.setattr(store, "head_object", real_head)
        assert handle(handler_module, events, lambda_context, deleted_event(events, KEY, put["VersionId"])) == []
        return metadata

    monkeypatch.setattr(store, "head_object", head_then_delete)
    emf.clear()
    assert handle(handler_module, events, lambda_context, created) == []
    assert emf.totals()["ObjectsSkippedDeleted"] == 1
    assert events.item(KEY, put["VersionId"]) is None


def test_the_race_is_decided_by_the_tombstone_when_the_upload_is_counted_too(
    handler_module: Any,
    events: Any,
    emf: Any,
    lambda_context: Any,
    counted: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same race with per-user limits on: the record's put is then one transaction with the usage counters, and the
    tombstone cancelling it is still told from a duplicate (skipped as deleted, nothing counted)."""
    from processor import store

    monkeypatch.setenv("UPLOAD_MAX_BYTES_HELD", "1000000")
    monkeypatch.setenv("UPLOADS_PER_DAY", "100")
    created, put = events.upload(KEY)
    real_head = store.head_object

    def head_then_delete(*args: Any, **kwargs: Any) -> Any:
        metadata = real_head(*args, **kwargs)
        events._s3.delete_object(Bucket=events.bucket, Key=KEY, VersionId=put["VersionId"])
        monkeypatch.setattr(store, "head_object", real_head)
        assert handle(handler_module, events, lambda_context, deleted_event(events, KEY, put["VersionId"])) == []
        return metadata

    monkeypatch.setattr(store, "head_object", head_then_delete)
    emf.clear()
    assert handle(handler_module, events, lambda_context, created) == []
    assert emf.totals()["ObjectsSkippedDeleted"] == 1
    assert emf.totals().get("DuplicatesIgnored", 0) == 0
    assert events.item(KEY, put["VersionId"]) is None
    assert usage(events) == (100, 3)  # the cancelled transaction counted nothing


def test_a_duplicate_delete_changes_nothing(
    handler_module: Any, events: Any, emf: Any, lambda_context: Any, counted: None
) -> None:
    created, put = events.upload(KEY, body=b"x" * 40)
    handle(handler_module, events, lambda_context, created)
    delete = deleted_event(events, KEY, put["VersionId"])
    assert handle(handler_module, events, lambda_context, delete) == []
    tombstone = events.item(tombstone_key(KEY), put["VersionId"])
    assert tombstone is not None
    emf.clear()

    assert handle(handler_module, events, lambda_context, delete, delete) == []

    assert emf.totals()["DuplicateDeletesIgnored"] == 2
    assert events.item(tombstone_key(KEY), put["VersionId"]) == tombstone
    assert usage(events) == (60, 2)


def test_a_delete_of_an_unknown_version_touches_no_record(
    handler_module: Any, events: Any, emf: Any, lambda_context: Any, counted: None
) -> None:
    created, put = events.upload(KEY)
    handle(handler_module, events, lambda_context, created)
    emf.clear()

    assert handle(handler_module, events, lambda_context, deleted_event(events, KEY, "no-such-version")) == []

    assert emf.totals()["DeletesWithoutRecord"] == 1
    assert events.item(KEY, put["VersionId"])["owner"]["S"] == OWNER  # the other version's record stays
    assert usage(events) == (100, 3)


def test_a_delete_marker_changes_nothing(handler_module: Any, events: Any, emf: Any, lambda_context: Any) -> None:
    created, put = events.upload(KEY)
    handle(handler_module, events, lambda_context, created)
    marker = events._s3.delete_object(Bucket=events.bucket, Key=KEY)["VersionId"]
    emf.clear()

    event = deleted_event(events, KEY, marker, **{"deletion-type": "Delete Marker Created"})
    assert handle(handler_module, events, lambda_context, event) == []

    assert emf.totals()["DeleteMarkersIgnored"] == 1
    assert events.item(KEY, put["VersionId"])["owner"]["S"] == OWNER  # the hidden version still exists
    assert events.item(KEY, marker) is None


def test_a_delete_outside_uploads_is_skipped_without_table_access(
    handler_module: Any, events: Any, emf: Any, lambda_context: Any
) -> None:
    emf.clear()
    assert handle(handler_module, events, lambda_context, deleted_event(events, "reports/x.csv", "v1")) == []
    assert emf.totals()["ObjectsSkippedOutsideUploads"] == 1
    assert events.items() == []


def test_bad_delete_events_fail_their_own_records_only(
    handler_module: Any, events: Any, emf: Any, lambda_context: Any, caplog: Any
) -> None:
    created, put = events.upload(KEY)
    good = deleted_event(events, KEY, put["VersionId"])
    no_sequencer = json.loads(json.dumps(good))
    del no_sequencer["detail"]["object"]["sequencer"]
    bad_type = json.loads(json.dumps(good))
    bad_type["detail"]["deletion-type"] = "Soft Deleted"
    other_bucket = json.loads(json.dumps(good))
    other_bucket["detail"]["bucket"]["name"] = "someone-elses-bucket"
    no_key = json.loads(json.dumps(good))
    del no_key["detail"]["object"]["key"]
    emf.clear()

    failed = handle(handler_module, events, lambda_context, created, no_sequencer, bad_type, other_bucket, no_key, good)

    assert failed == ["m-1", "m-2", "m-3", "m-4"]
    totals = emf.totals()
    assert (totals["RecordsFailed"], totals["ObjectsRecorded"], totals["RecordsDeleted"]) == (4, 1, 1)
    fields = sorted(r.field for r in caplog.records if r.getMessage() == "invalid event")
    assert fields == ["detail.bucket.name", "detail.deletion-type", "detail.object.key", "detail.object.sequencer"]


def test_a_contended_delete_is_deferred_not_failed(
    handler_module: Any, events: Any, emf: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processor import deletion_store, store

    def contended(*args: Any, **kwargs: Any) -> Any:
        raise store.Contention("TransactionConflict")

    monkeypatch.setattr(deletion_store, "forget_version", contended)
    emf.clear()
    assert handle(handler_module, events, lambda_context, deleted_event(events, KEY, "v1")) == ["m-0"]
    totals = emf.totals()
    assert (totals["RecordsDeferred"], totals["RecordsFailed"]) == (1, 0)


def test_a_later_null_object_replaces_the_tombstone_of_an_earlier_one(
    handler_module: Any, events: Any, emf: Any, lambda_context: Any
) -> None:
    """Unversioned keys reuse the version id "null": the sequencer orders a new object after an earlier delete."""
    events._s3.put_bucket_versioning(Bucket=events.bucket, VersioningConfiguration={"Status": "Suspended"})
    put = events._s3.put_object(Bucket=events.bucket, Key=KEY, Body=b"hello")
    created = events.event(KEY, size=5, etag=put["ETag"].strip('"'))  # no version-id: the "null" version
    delete = deleted_event(events, KEY, None)
    assert handle(handler_module, events, lambda_context, delete) == []  # tombstone for "null" at ...7F
    created["detail"]["object"]["sequencer"] = "00617F0829932A1F80"  # a later object of the key
    emf.clear()

    assert handle(handler_module, events, lambda_context, created) == []

    assert emf.totals()["ObjectsRecorded"] == 1
    assert events.item(KEY, "null")["owner"]["S"] == OWNER
    assert events.item(tombstone_key(KEY), "null") is None  # replaced: the tombstone went with the record's put


def test_direct_mode_applies_a_delete(handler_module: Any, events: Any, lambda_context: Any) -> None:
    created, put = events.upload(KEY)
    handler_module.event_handler(created, lambda_context)
    summary = handler_module.event_handler(deleted_event(events, KEY, put["VersionId"]), lambda_context)
    assert summary["outcome"] == "record_deleted" and summary["version_id"] == put["VersionId"]


def test_a_null_tombstone_not_returned_by_the_check_is_read_to_order_the_creation(
    handler_module: Any, events: Any, emf: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the refused check does not return the tombstone (no sequencer), the "null" object's creation reads it
    (at its hashed key) before deciding: a later object still replaces it."""
    from processor import deletions, store

    events._s3.put_bucket_versioning(Bucket=events.bucket, VersioningConfiguration={"Status": "Suspended"})
    put = events._s3.put_object(Bucket=events.bucket, Key=KEY, Body=b"hello")
    created = events.event(KEY, size=5, etag=put["ETag"].strip('"'))
    assert handle(handler_module, events, lambda_context, deleted_event(events, KEY, None)) == []
    created["detail"]["object"]["sequencer"] = "00617F0829932A1F80"
    real = store.put_record_once

    def without_sequencer(table_name: str, item: Any, **kwargs: Any) -> Any:
        try:
            return real(table_name, item, **kwargs)
        except deletions.VersionDeleted as deleted:
            raise deletions.VersionDeleted(deleted.object_key, deleted.version_id, None) from None

    monkeypatch.setattr(store, "put_record_once", without_sequencer)
    emf.clear()

    assert handle(handler_module, events, lambda_context, created) == []

    assert emf.totals()["ObjectsRecorded"] == 1
    assert events.item(tombstone_key(KEY), "null") is None
