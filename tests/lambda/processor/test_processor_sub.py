"""Identity continuity in the records: an upload's record carries its uploader's user pool `sub` when the API has
recorded the identity id <-> sub mapping; without one it is recorded without a sub, never held back."""

from __future__ import annotations

from typing import Any

import pytest

IDENTITY = "us-east-1:0f6b2c4e-1111-2222-3333-444455556666"
SUB = "5b0b0000-0000-4000-8000-00000000000a"


def put_mapping(events: Any, identity: str = IDENTITY, sub: str = SUB) -> None:
    """The mapping item as the API writes it (objects_api.store.record_identity)."""
    events._dynamodb.put_item(
        TableName=events.table,
        Item={
            "object_key": {"S": f"#identity/{identity}"},
            "version_id": {"S": "#sub"},
            "identity_id": {"S": identity},
            "sub": {"S": sub},
            "first_seen": {"S": "2026-12-03T00:00:00.000Z"},
        },
    )


def test_an_upload_of_a_mapped_identity_carries_its_sub(handler_module: Any, events: Any, lambda_context: Any) -> None:
    put_mapping(events)
    event, put = events.upload(f"uploads/{IDENTITY}/a.txt")
    assert handler_module.sqs_handler(events.batch(events.record(event)), lambda_context) == {"batchItemFailures": []}
    item = events.item(f"uploads/{IDENTITY}/a.txt", put["VersionId"])
    assert item["owner"] == {"S": IDENTITY} and item["sub"] == {"S": SUB}


def test_without_a_mapping_the_record_has_no_sub_and_is_not_held_back(
    handler_module: Any, events: Any, lambda_context: Any
) -> None:
    event, put = events.upload(f"uploads/{IDENTITY}/a.txt")
    assert handler_module.sqs_handler(events.batch(events.record(event)), lambda_context) == {"batchItemFailures": []}
    item = events.item(f"uploads/{IDENTITY}/a.txt", put["VersionId"])
    assert item is not None and "sub" not in item


def test_keys_outside_uploads_are_not_looked_up(
    handler_module: Any, events: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processor import store

    asked: list[str] = []
    monkeypatch.setattr(store, "find_sub", lambda table, identity, **_: asked.append(identity))
    event, put = events.upload("imports/data.csv")
    assert handler_module.sqs_handler(events.batch(events.record(event)), lambda_context) == {"batchItemFailures": []}
    # Skipped before any lookup: no sub asked for and no record (the processor records only uploads/).
    assert asked == [] and events.item("imports/data.csv", put["VersionId"]) is None


def test_a_found_sub_is_cached_an_absent_one_asked_again(events: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from processor import store

    calls: list[str] = []
    store.client("dynamodb")  # the session exists; count the lookups' GetItems on the shared event system
    from shared_runtime import clients

    lookup = clients.client("dynamodb", store.SUB_LOOKUP_BUDGET)
    lookup.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: calls.append("get"))
    assert store.find_sub(events.table, IDENTITY) is None
    assert store.find_sub(events.table, IDENTITY) is None
    put_mapping(events)
    assert store.find_sub(events.table, IDENTITY) == SUB
    assert store.find_sub(events.table, IDENTITY) == SUB
    assert calls == ["get", "get", "get"]


def test_no_time_for_the_lookup_defers_the_record(events: Any) -> None:
    from processor import store

    with pytest.raises(store.OutOfTime):
        store.find_sub(events.table, IDENTITY, time_left=lambda: store.SUB_LOOKUP_BUDGET.worst_case_seconds / 2)
    assert store.is_transient(store.OutOfTime("x"))  # deferred with a back-off, not failed


def test_the_mapping_key_is_the_apis_and_the_stacks() -> None:
    from objects_api import domain
    from processor import store
    from stacks import records_schema

    assert store.IDENTITY_MAPPING_PREFIX == domain.IDENTITY_MAPPING_PREFIX == records_schema.IDENTITY_MAPPING_PREFIX
    assert store.IDENTITY_MAPPING_SORT_KEY == domain.IDENTITY_MAPPING_SORT_KEY
