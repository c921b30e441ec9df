"""The deletion transaction against moto's DynamoDB (processor/deletion_store.py): the record replaced by its
tombstone and the uploader's `#held` given back together, once, never below zero."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from processor import deletion_store, store
from processor.deletions import DeletionOutcome, ObjectDeleted

TABLE = "secure-serverless-test-objects"
KEY = "uploads/us-east-1:0f6b2c4e-1111-2222-3333-444455556666/a b.txt"
SUB = "a11ce000-0000-4000-8000-000000000001"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def delete_event(version_id: str | None = "v1", sequencer: str = "00617F0829932A1F7B") -> ObjectDeleted:
    return ObjectDeleted(
        event_id="e",
        event_time="2026-12-03T12:00:00Z",
        bucket="b",
        key=KEY,
        deletion_type="Permanently Deleted",
        sequencer=sequencer,
        version_id=version_id,
    )


def forget(event: ObjectDeleted | None = None, candidates: tuple[str, ...] = (KEY,)) -> DeletionOutcome:
    return deletion_store.forget_version(
        TABLE, candidates, event or delete_event(), deleted_at=NOW, lifetime_seconds=86_400
    )


@pytest.fixture
def table(dynamodb: Any) -> Any:
    return dynamodb


def put_record(table: Any, *, size: int = 40, sub: str | None = SUB, version: str = "v1", key: str = KEY) -> None:
    item = {
        "object_key": {"S": key},
        "version_id": {"S": version},
        "size": {"N": str(size)},
        "owner": {"S": "us-east-1:0f6b2c4e-1111-2222-3333-444455556666"},
        "name": {"S": "a b.txt"},
        "sequencer": {"S": "00617F0829932A1F7A"},
    }
    if sub is not None:
        item["sub"] = {"S": sub}
    table.put_item(TableName=TABLE, Item=item)


def set_held(table: Any, held_bytes: int, objects: int) -> None:
    table.put_item(
        TableName=TABLE,
        Item={
            "object_key": {"S": f"#usage/{SUB}"},
            "version_id": {"S": "#held"},
            "bytes": {"N": str(held_bytes)},
            "objects": {"N": str(objects)},
        },
    )


def held(table: Any) -> tuple[int, int] | None:
    item = table.get_item(TableName=TABLE, Key={"object_key": {"S": f"#usage/{SUB}"}, "version_id": {"S": "#held"}})
    if "Item" not in item:
        return None
    return int(item["Item"]["bytes"]["N"]), int(item["Item"]["objects"]["N"])


def item_at(table: Any, key: str = KEY, version: str = "v1") -> dict[str, Any] | None:
    response = table.get_item(TableName=TABLE, Key={"object_key": {"S": key}, "version_id": {"S": version}})
    return response.get("Item")


def test_the_record_becomes_a_tombstone_and_its_size_leaves_the_usage(table: Any) -> None:
    put_record(table, size=40)
    set_held(table, 100, 3)

    assert forget() is DeletionOutcome.RECORD_DELETED

    tombstone = item_at(table)
    assert tombstone is not None
    assert set(tombstone) == {"object_key", "version_id", "sequencer", "deleted_at", "expires_at"}  # no owner/name/sub
    assert tombstone["sequencer"]["S"] == "0" * 46 + "00617F0829932A1F7B"
    assert int(tombstone["expires_at"]["N"]) == int(NOW.timestamp()) + 86_400
    assert held(table) == (60, 2)


def test_a_redelivered_delete_changes_nothing_and_decrements_once(table: Any) -> None:
    put_record(table, size=40)
    set_held(table, 100, 3)
    assert forget() is DeletionOutcome.RECORD_DELETED
    first = item_at(table)

    assert forget() is DeletionOutcome.DUPLICATE_DELETE
    assert forget() is DeletionOutcome.DUPLICATE_DELETE
    assert item_at(table) == first
    assert held(table) == (60, 2)


def test_the_usage_never_goes_below_zero(table: Any) -> None:
    put_record(table, size=40)
    set_held(table, 10, 0)  # counted less than the record holds (e.g. recorded before counting existed)

    assert forget() is DeletionOutcome.RECORD_DELETED
    assert held(table) == (0, 0)
    assert "deleted_at" in (item_at(table) or {})


def test_no_usage_item_is_created_where_none_was_counted(table: Any) -> None:
    put_record(table, size=40)
    assert forget() is DeletionOutcome.RECORD_DELETED
    assert held(table) is None


def test_a_record_without_a_sub_touches_no_usage(table: Any) -> None:
    put_record(table, size=40, sub=None)
    set_held(table, 100, 3)
    assert forget() is DeletionOutcome.RECORD_DELETED
    assert held(table) == (100, 3)


def test_a_delete_of_an_unknown_version_leaves_a_tombstone_under_each_candidate(table: Any) -> None:
    encoded = KEY.replace(":", "%3A").replace(" ", "+")
    candidates = (encoded, KEY)
    set_held(table, 100, 3)

    assert forget(candidates=candidates) is DeletionOutcome.TOMBSTONED
    assert all("deleted_at" in (item_at(table, key) or {}) for key in candidates)
    assert forget(candidates=candidates) is DeletionOutcome.DUPLICATE_DELETE
    assert held(table) == (100, 3)
    assert deletion_store.find_tombstone(TABLE, candidates, "v1")
    assert not deletion_store.find_tombstone(TABLE, candidates, "v2")


def test_the_record_under_the_true_candidate_is_the_one_removed(table: Any) -> None:
    encoded = KEY.replace(":", "%3A").replace(" ", "+")
    put_record(table, size=40)
    assert forget(candidates=(encoded, KEY)) is DeletionOutcome.RECORD_DELETED
    assert "deleted_at" in (item_at(table) or {})
    assert item_at(table, encoded) is None  # nothing written under the other form


def test_a_record_changed_between_read_and_write_is_read_again(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale read (another sequencer than the table's) makes the transaction's condition fail; the next attempt
    reads the record as it is and replaces it."""
    put_record(table, size=40)
    set_held(table, 100, 3)
    real = deletion_store.read_version
    calls = []

    def stale_first(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        calls.append(found)
        if len(calls) == 1:
            return [(key, {**item, "sequencer": "0001"}) for key, item in found]
        return found

    monkeypatch.setattr(deletion_store, "read_version", stale_first)
    assert forget() is DeletionOutcome.RECORD_DELETED
    assert len(calls) == 2
    assert held(table) == (60, 2)


def test_a_usage_that_moved_after_the_read_is_never_overwritten(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clamped SET is conditional on the values read: a concurrent increment between the read and the write
    cancels it, and the next attempt starts again from the table."""
    put_record(table, size=40)
    set_held(table, 10, 1)  # below the record's size: the ADD path is refused, the clamp path reads
    real = deletion_store._read_held
    reads = []

    def concurrent_upload(*args: Any) -> Any:
        value = real(*args)
        reads.append(value)
        if len(reads) == 1:
            set_held(table, 1_000, 5)  # another upload counted after our read
        return value

    monkeypatch.setattr(deletion_store, "_read_held", concurrent_upload)
    assert forget() is DeletionOutcome.RECORD_DELETED
    assert held(table) == (960, 4)  # the ADD path, once the counters cover the size


def test_contention_is_transient(table: Any) -> None:
    put_record(table, size=40)
    client = store.client("dynamodb")
    item = table.get_item(TableName=TABLE, Key={"object_key": {"S": KEY}, "version_id": {"S": "v1"}})
    with Stubber(client) as stubber:
        stubber.add_response("get_item", {"Item": item["Item"]})
        stubber.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            response_meta={"CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]},
        )
        with pytest.raises(store.Contention) as raised:
            forget()
    assert store.is_transient(raised.value)


def test_an_earlier_null_delete_leaves_a_later_null_record(table: Any) -> None:
    put_record(table, version="null")  # its sequencer: 00617F0829932A1F7A
    assert forget(delete_event(version_id=None, sequencer="00617F0829932A1F70")) is DeletionOutcome.DUPLICATE_DELETE
    assert "owner" in (item_at(table, version="null") or {})
    assert forget(delete_event(version_id=None, sequencer="00617F0829932A1F7B")) is DeletionOutcome.RECORD_DELETED


def test_a_refused_put_tells_a_tombstone_from_a_duplicate(table: Any) -> None:
    from processor.deletions import VersionDeleted

    record = {"object_key": KEY, "version_id": "v1", "size": 5}
    assert store.put_record_once(TABLE, record) is True
    assert store.put_record_once(TABLE, record) is False  # a duplicate
    assert forget() is DeletionOutcome.RECORD_DELETED
    with pytest.raises(VersionDeleted) as raised:
        store.put_record_once(TABLE, record)  # a late "Object Created": refused by the tombstone itself
    assert raised.value.sequencer == "0" * 46 + "00617F0829932A1F7B"
    assert "owner" not in (item_at(table) or {})
