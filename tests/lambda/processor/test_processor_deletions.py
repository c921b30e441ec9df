"""Domain rules of "Object Deleted" events (processor/deletions.py): parsing, ordering by version id and sequencer,
tombstones and the usage decrement. Pure functions, no AWS."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from processor import deletions
from processor.deletions import (
    DELETE_MARKER_CREATED,
    PERMANENTLY_DELETED,
    ObjectDeleted,
    build_tombstone,
    creation_replaces_tombstone,
    decremented,
    delete_applies,
    is_later,
    is_tombstone,
    padded_sequencer,
    parse_deleted_event,
    parse_json_pipeline_event,
    parse_pipeline_event,
    parse_tombstone_seconds,
    tombstone_key,
)
from processor.domain import InvalidEvent, ObjectCreated
from stacks import records_schema

KEY = "uploads/us-east-1:0f6b2c4e-1111-2222-3333-444455556666/a b+c.txt"


def deleted(**object_fields: Any) -> dict[str, Any]:
    """An S3 "Object Deleted" event as EventBridge delivers it (AWS's documented sample shape)."""
    obj = {"key": KEY, "version-id": "v1", "sequencer": "00617F0829932A1F7B", **object_fields}
    return {
        "version": "0",
        "id": "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
        "detail-type": "Object Deleted",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2021-11-12T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::example-bucket"],
        "detail": {
            "version": "0",
            "bucket": {"name": "example-bucket"},
            "object": {key: value for key, value in obj.items() if value is not None},
            "request-id": "0BH729840619AG5K",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "DeleteObject",
            "deletion-type": PERMANENTLY_DELETED,
        },
    }


def event_of(**fields: Any) -> ObjectDeleted:
    values = {
        "event_id": "e",
        "event_time": "2021-11-12T00:00:00Z",
        "bucket": "example-bucket",
        "key": KEY,
        "deletion_type": PERMANENTLY_DELETED,
        "sequencer": "00617F0829932A1F7B",
        "version_id": "v1",
        **fields,
    }
    return ObjectDeleted(**values)


def test_a_permanent_delete_parses() -> None:
    parsed = parse_deleted_event(deleted())
    assert parsed == event_of(event_id="2ee9cc15-d022-99ea-1fb8-1b1bac4850f9", reason="DeleteObject")
    assert parsed.record_version_id == "v1"


def test_a_delete_marker_parses_with_the_markers_version() -> None:
    event = deleted(**{"version-id": "marker-v"})
    event["detail"]["deletion-type"] = DELETE_MARKER_CREATED
    parsed = parse_deleted_event(event)
    assert parsed.deletion_type == DELETE_MARKER_CREATED and parsed.record_version_id == "marker-v"


def test_an_unversioned_delete_names_the_null_version() -> None:
    assert parse_deleted_event(deleted(**{"version-id": None})).record_version_id == "null"


def test_the_pipeline_parser_tells_the_two_kinds_apart() -> None:
    created = json.loads(json.dumps(deleted()))
    created["detail-type"] = "Object Created"
    created["detail"]["object"]["size"] = 5
    assert isinstance(parse_pipeline_event(created), ObjectCreated)
    assert isinstance(parse_pipeline_event(deleted()), ObjectDeleted)
    assert parse_json_pipeline_event(json.dumps(deleted())) == parse_deleted_event(deleted())


def _without(path: str) -> dict[str, Any]:
    event = deleted()
    *parents, last = path.split(".")
    node: Any = event
    for part in parents:
        node = node[part]
    del node[last]
    return event


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (_without("detail.object.sequencer"), "detail.object.sequencer"),
        (deleted(sequencer="not-hex"), "detail.object.sequencer"),
        ({**deleted(), "detail": {**deleted()["detail"], "deletion-type": "Soft"}}, "detail.deletion-type"),
        (_without("detail.deletion-type"), "detail.deletion-type"),
        (_without("detail.object.key"), "detail.object.key"),
        (deleted(key=""), "detail.object.key"),
        (deleted(key="k" * 1025), "detail.object.key"),
        ({**deleted(), "source": "aws.s4"}, "source"),
        (_without("detail.bucket"), "detail.bucket"),
        ({**deleted(), "detail": {**deleted()["detail"], "bucket": {"name": "x"}}}, "detail.bucket.name"),
        (_without("time"), "time"),
        ({**deleted(), "detail": "no"}, "detail"),
    ],
)
def test_a_malformed_delete_is_refused_naming_the_field(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        parse_pipeline_event(event)
    assert raised.value.field == field


def test_a_body_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidEvent) as raised:
        parse_json_pipeline_event("{not json")
    assert raised.value.field == "body"


# --- ordering: by version id, and by sequencer for the "null" version -------------------------------------------


def test_sequencers_compare_as_numbers_of_any_width() -> None:
    assert padded_sequencer("0a") == "0" * 62 + "0A"
    assert is_later("0A", "9") and not is_later("9", "0a")
    assert is_later("00617F0829932A1F7B", "617F0829932A1F7A")
    assert not is_later("1F", "1f")  # equal: not later
    assert not is_later(None, "1") and is_later("1", None) and not is_later(None, None)


def test_created_then_deleted_the_delete_removes_the_record() -> None:
    record = {"object_key": KEY, "version_id": "v1", "sequencer": "00617F0829932A1F7A", "size": 5}
    assert delete_applies(record, event_of(sequencer="00617F0829932A1F7B"))


def test_a_real_version_id_is_never_reused_so_any_delete_of_it_applies() -> None:
    # Even with a sequencer that reads earlier (the emulator sends one constant sequencer for every event).
    record = {"sequencer": "FFFF"}
    assert delete_applies(record, event_of(sequencer="0001"))


def test_an_earlier_null_delete_never_removes_a_later_null_object() -> None:
    later_record = {"version_id": "null", "sequencer": "0000000000000000A0"}
    assert not delete_applies(later_record, event_of(version_id=None, sequencer="90"))
    assert delete_applies(later_record, event_of(version_id=None, sequencer="B0"))
    assert delete_applies({"version_id": "null"}, event_of(version_id=None))  # a record without sequencer: applies


def test_deleted_then_late_created_the_creation_does_not_replace_the_tombstone() -> None:
    tombstone_sequencer = padded_sequencer("00617F0829932A1F7B")
    assert not creation_replaces_tombstone("v1", "00617F0829932A1F7A", tombstone_sequencer)
    assert not creation_replaces_tombstone("v1", "FFFFFFFFFFFFFFFFFF", tombstone_sequencer)  # real ids: final
    assert not creation_replaces_tombstone("null", "00617F0829932A1F7A", tombstone_sequencer)  # earlier null
    assert not creation_replaces_tombstone("null", None, tombstone_sequencer)  # a repair event: no sequencer
    assert creation_replaces_tombstone("null", "00617F0829932A1F7C", tombstone_sequencer)  # a later null object


def test_a_tombstone_keeps_only_a_hash_of_its_key_its_version_sequencer_and_lifetime() -> None:
    deleted_at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    tombstone = build_tombstone(KEY, event_of(sequencer="7B"), deleted_at=deleted_at, lifetime_seconds=3600)
    assert tombstone == {
        "object_key": "#deleted/" + hashlib.sha256(KEY.encode("utf-8")).hexdigest(),
        "version_id": "v1",
        "sequencer": "0" * 62 + "7B",
        "deleted_at": int(deleted_at.timestamp()),
        "expires_at": int(deleted_at.timestamp()) + 3600,
    }
    assert is_tombstone(tombstone) and not is_tombstone({"object_key": KEY, "owner": "x"})
    # Nothing in it names the user or the object: not the key, not the identity id, not the object's name.
    owner, name = KEY.split("/")[1], KEY.rsplit("/", 1)[1]
    assert not any(part in str(value) for value in tombstone.values() for part in (KEY, owner, name))


def test_the_tombstone_key_is_a_hash_of_the_utf8_key() -> None:
    key = "uploads/us-east-1:0f6b2c4e/報告 書+é.txt"
    assert tombstone_key(key) == "#deleted/" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    assert tombstone_key(key) != tombstone_key(key + " ")  # each key its own
    assert not tombstone_key(key).startswith(records_schema.UPLOADS_PREFIX)  # never taken for a record


# --- usage --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "size", "expected"),
    [((100, 3), 40, (60, 2)), ((40, 1), 40, (0, 0)), ((10, 1), 40, (0, 0)), ((0, 0), 5, (0, 0)), ((7, 2), 0, (7, 1))],
)
def test_the_usage_decrement_never_goes_below_zero(held: tuple[int, int], size: int, expected: tuple[int, int]) -> None:
    assert decremented(*held, size) == expected


def test_record_size_and_sub_read_only_what_a_recording_counted() -> None:
    assert deletions.record_size({"size": 12}) == 12
    assert deletions.record_size({"size": True}) == 0 and deletions.record_size({}) == 0
    assert deletions.record_sub({"sub": "s"}) == "s" and deletions.record_sub({"sub": ""}) is None


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, deletions.DEFAULT_TOMBSTONE_SECONDS), (" ", None), ("3600", 3600)]
)
def test_tombstone_seconds(raw: str | None, expected: int | None) -> None:
    assert parse_tombstone_seconds(raw) == (expected or deletions.DEFAULT_TOMBSTONE_SECONDS)


@pytest.mark.parametrize("raw", ["59", "1h", "-3600", "٣٦٠٠"])
def test_invalid_tombstone_seconds_name_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match="TOMBSTONE_SECONDS"):
        parse_tombstone_seconds(raw)


def test_the_keys_match_the_tables_schema() -> None:
    from stacks import records_schema

    assert deletions.USAGE_PREFIX == records_schema.USAGE_PREFIX
    assert deletions.USAGE_HELD_SORT_KEY == records_schema.USAGE_HELD_SORT_KEY
    assert deletions.TOMBSTONE_ATTRIBUTE == records_schema.TOMBSTONE_ATTRIBUTE
    assert deletions.TOMBSTONE_PREFIX == records_schema.TOMBSTONE_PREFIX
