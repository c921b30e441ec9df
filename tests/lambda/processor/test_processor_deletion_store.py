"""The deletion transaction against moto's DynamoDB (processor/deletion_store.py): the record deleted, its tombstone
(at a hash of the key: nothing that names the user) written and the uploader's `#held` given back together, once,
never below zero; and the tombstone checked by every recording of the version."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from processor import deletion_store, store, usage
from processor.deletions import DeletionOutcome, ObjectDeleted, VersionDeleted

TABLE = "secure-serverless-test-objects"
OWNER = "us-east-1:0f6b2c4e-1111-2222-3333-444455556666"
KEY = f"uploads/{OWNER}/a b.txt"
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


def hashed(key: str = KEY) -> str:
    return "#deleted/" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def tombstone_at(table: Any, key: str = KEY, version: str = "v1") -> dict[str, Any] | None:
    """The tombstone of `key`'s `version`: at the hash of the key, never at the key itself."""
    return item_at(table, hashed(key), version)


def test_the_record_goes_its_tombstone_comes_and_its_size_leaves_the_usage(table: Any) -> None:
    put_record(table, size=40)
    set_held(table, 100, 3)

    assert forget() is DeletionOutcome.RECORD_DELETED

    assert item_at(table) is None  # the record is deleted, not overwritten
    tombstone = tombstone_at(table)
    assert tombstone is not None
    assert set(tombstone) == {"object_key", "version_id", "sequencer", "deleted_at", "expires_at"}  # no owner/name/sub
    assert tombstone["sequencer"]["S"] == "0" * 46 + "00617F0829932A1F7B"
    assert int(tombstone["expires_at"]["N"]) == int(NOW.timestamp()) + 86_400
    assert held(table) == (60, 2)


def test_a_redelivered_delete_changes_nothing_and_decrements_once(table: Any) -> None:
    put_record(table, size=40)
    set_held(table, 100, 3)
    assert forget() is DeletionOutcome.RECORD_DELETED
    first = tombstone_at(table)

    assert forget() is DeletionOutcome.DUPLICATE_DELETE
    assert forget() is DeletionOutcome.DUPLICATE_DELETE
    assert tombstone_at(table) == first
    assert item_at(table) is None
    assert held(table) == (60, 2)


def test_the_usage_never_goes_below_zero(table: Any) -> None:
    put_record(table, size=40)
    set_held(table, 10, 0)  # counted less than the record holds (e.g. recorded before counting existed)

    assert forget() is DeletionOutcome.RECORD_DELETED
    assert held(table) == (0, 0)
    assert "deleted_at" in (tombstone_at(table) or {})


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
    assert all("deleted_at" in (tombstone_at(table, key) or {}) for key in candidates)
    assert all(item_at(table, key) is None for key in candidates)
    assert forget(candidates=candidates) is DeletionOutcome.DUPLICATE_DELETE
    assert held(table) == (100, 3)
    assert deletion_store.find_tombstone(TABLE, candidates, "v1")
    assert not deletion_store.find_tombstone(TABLE, candidates, "v2")


def test_the_record_under_the_true_candidate_is_the_one_removed(table: Any) -> None:
    encoded = KEY.replace(":", "%3A").replace(" ", "+")
    put_record(table, size=40)
    assert forget(candidates=(encoded, KEY)) is DeletionOutcome.RECORD_DELETED
    assert "deleted_at" in (tombstone_at(table) or {})
    assert item_at(table) is None
    assert item_at(table, encoded) is None and tombstone_at(table, encoded) is None  # nothing under the other form


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
    record = {"object_key": KEY, "version_id": "v1", "size": 5}
    assert store.put_record_once(TABLE, record) is True
    assert store.put_record_once(TABLE, record) is False  # a duplicate
    assert forget() is DeletionOutcome.RECORD_DELETED
    with pytest.raises(VersionDeleted) as raised:
        store.put_record_once(TABLE, record)  # a late "Object Created": refused by the tombstone check
    assert raised.value.sequencer == "0" * 46 + "00617F0829932A1F7B"
    assert item_at(table) is None


# --- tombstones name nobody; the record's transactions check them ---------------------------------------------------


def test_after_a_delete_no_item_names_the_user_or_the_object(table: Any) -> None:
    """What an erasure's own deletes leave: no item holds the key, the identity id, the object's name or the sub
    (the `#usage/<sub>` counters are the user's, erased apart: left out here)."""
    encoded = KEY.replace(":", "%3A").replace(" ", "+")
    put_record(table, size=40)
    set_held(table, 100, 3)
    assert forget(candidates=(encoded, KEY)) is DeletionOutcome.RECORD_DELETED
    assert forget(delete_event(version_id="v2"), candidates=(encoded, KEY)) is DeletionOutcome.TOMBSTONED

    items = [item for item in table.scan(TableName=TABLE)["Items"] if item["object_key"]["S"] != f"#usage/{SUB}"]
    assert len(items) == 3  # v1's tombstone, and v2's under both forms of the key
    for item in items:
        assert item["object_key"]["S"].startswith("#deleted/")
        values = [str(value) for attribute in item.values() for value in attribute.values()]
        for trace in (KEY, encoded, OWNER, "a b.txt", "a+b.txt", SUB):
            assert not any(trace in value for value in values), (trace, item)


def test_a_late_creation_of_a_deleted_version_is_refused_by_the_tombstone_check(table: Any) -> None:
    """The delete came first (no record: a tombstone only); the creation's transaction checks the hashed key."""
    assert forget() is DeletionOutcome.TOMBSTONED
    record = {"object_key": KEY, "version_id": "v1", "size": 5, "sub": SUB}
    with pytest.raises(VersionDeleted) as raised:
        store.put_record_once(TABLE, record)
    assert raised.value.sequencer == "0" * 46 + "00617F0829932A1F7B"
    set_held(table, 100, 3)
    limits = usage.Limits(max_bytes_held=1_000, uploads_per_day=10)
    with pytest.raises(VersionDeleted):
        usage.record_and_count(TABLE, record, sub=SUB, size=5, day="2026-12-03", limits=limits)
    assert item_at(table) is None
    assert held(table) == (100, 3)  # nothing counted
    assert store.put_record_once(TABLE, {**record, "version_id": "v2"}) is True  # other versions are recorded


def test_a_creation_committed_between_the_read_and_the_tombstone_is_removed(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete reads no record; before its tombstone is written, the creation's transaction commits (its check
    found no tombstone yet). The delete's second read finds that record and removes it, its size given back once."""
    set_held(table, 100, 3)
    real = deletion_store.put_tombstone
    writes = []

    def creation_commits_first(*args: Any, **kwargs: Any) -> Any:
        if not writes:
            record = {"object_key": KEY, "version_id": "v1", "size": 40, "sub": SUB, "sequencer": "00617F0829932A1F7A"}
            limits = usage.Limits(max_bytes_held=1_000, uploads_per_day=10)
            assert usage.record_and_count(TABLE, record, sub=SUB, size=40, day="2026-12-03", limits=limits) is (
                usage.Counted.RECORDED
            )
        writes.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(deletion_store, "put_tombstone", creation_commits_first)
    assert forget() is DeletionOutcome.RECORD_DELETED
    assert item_at(table) is None
    assert "deleted_at" in (tombstone_at(table) or {})
    assert held(table) == (100, 3)  # counted by the creation, given back by the delete: once each
    monkeypatch.setattr(deletion_store, "put_tombstone", real)
    assert forget() is DeletionOutcome.DUPLICATE_DELETE
    assert held(table) == (100, 3)


def test_concurrent_deletes_give_the_size_back_once(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two deliveries of one delete both read the record; the first removes it, the second's transaction is refused
    (the record went) and finds its tombstone already written: nothing more."""
    put_record(table, size=40)
    set_held(table, 100, 3)
    stale = deletion_store.read_version(TABLE, (KEY,), "v1")
    assert forget() is DeletionOutcome.RECORD_DELETED
    real = deletion_store.read_version
    reads = []

    def stale_first(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return stale if len(reads) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(deletion_store, "read_version", stale_first)
    assert forget() is DeletionOutcome.DUPLICATE_DELETE
    assert len(reads) >= 2
    assert held(table) == (60, 2)


def test_a_later_null_object_replaces_the_tombstone_in_one_transaction(table: Any) -> None:
    delete = delete_event(version_id=None, sequencer="00617F0829932A1F7B")
    assert forget(delete) is DeletionOutcome.TOMBSTONED
    record = {"object_key": KEY, "version_id": "null", "size": 5, "sequencer": "00617F0829932A1F7C"}
    with pytest.raises(VersionDeleted) as raised:
        store.put_record_once(TABLE, record)
    assert raised.value.sequencer is not None
    assert not deletion_store.replace_tombstone(TABLE, record, "00617F0829932A1F70")  # not the tombstone read
    assert tombstone_at(table, version="null") is not None and item_at(table, version="null") is None

    assert deletion_store.replace_tombstone(TABLE, record, raised.value.sequencer)

    assert tombstone_at(table, version="null") is None
    assert (item_at(table, version="null") or {})["size"] == {"N": "5"}
    assert not deletion_store.replace_tombstone(TABLE, record, raised.value.sequencer)  # done once


def test_a_null_record_under_a_later_deletes_tombstone_is_still_removed(table: Any) -> None:
    """A later delete's tombstone is there (written when it found no record) and the record of an earlier "null"
    object still is: the earlier delete removes the record and leaves the later tombstone as it is."""
    put_record(table, version="null")  # sequencer ...7A
    set_held(table, 100, 3)
    later = {
        "object_key": {"S": hashed()},
        "version_id": {"S": "null"},
        "sequencer": {"S": "0" * 46 + "00617F0829932A1F7C"},
        "deleted_at": {"N": "1"},
    }
    table.put_item(TableName=TABLE, Item=later)

    assert forget(delete_event(version_id=None, sequencer="00617F0829932A1F7B")) is DeletionOutcome.RECORD_DELETED

    assert item_at(table, version="null") is None
    assert tombstone_at(table, version="null") == later
    assert held(table) == (60, 2)
