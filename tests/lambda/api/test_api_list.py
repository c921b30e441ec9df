"""GET /objects against a moto table: only the caller's records, pages, cursors and limits."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

ITEM_FIELDS = {"name", "key", "version_id", "size", "etag", "content_type", "last_modified", "recorded_at"}


@pytest.fixture
def dynamodb_calls(table: Any) -> list[tuple[str, dict[str, Any]]]:
    """(operation, API parameters) of every DynamoDB call the function makes, hooked on its own cached client."""
    from objects_api import store

    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    store._client().meta.events.register("provide-client-params.dynamodb.*", record)
    return calls


def list_all(call: Any, make_event: Any, identity: str, limit: int) -> tuple[list[dict[str, Any]], list[int]]:
    """Follow next_cursor to the end; returns every item and the size of each page."""
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(100):
        query = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        response = call(make_event(identity=identity, query=query))
        assert response.status == 200, response.body
        items += response.body["items"]
        sizes.append(len(response.body["items"]))
        cursor = response.body["next_cursor"]
        if cursor is None:
            return items, sizes
    raise AssertionError("pagination did not end")


def test_lists_only_the_callers_records(call: Any, make_event: Any, seed: Any, alice: str, bob: str) -> None:
    mine = {seed("a.txt")["object_key"], seed("dir/b.txt")["object_key"], seed("ü c+d.txt")["object_key"]}
    seed("bob-secret.txt", identity=bob)
    seed("other/bob.txt", identity=bob)
    seed("public/no-owner.txt", identity=None)

    response = call(make_event(identity=alice))

    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert {item["key"] for item in response.body["items"]} == mine
    assert response.body["next_cursor"] is None
    assert not any(bob in json.dumps(item) for item in response.body["items"])

    other = call(make_event(identity=bob))
    assert {item["name"] for item in other.body["items"]} == {"bob-secret.txt", "other/bob.txt"}


def test_item_shape(call: Any, make_event: Any, seed: Any, alice: str) -> None:
    stored = seed("dir/report 1+2.pdf", size=123456789012, content_type="application/pdf")

    (item,) = call(make_event(identity=alice)).body["items"]

    assert set(item) == ITEM_FIELDS
    assert item == {
        "name": "dir/report 1+2.pdf",
        "key": f"uploads/{alice}/dir/report 1+2.pdf",
        "version_id": stored["version_id"],
        "size": 123456789012,
        "etag": stored["etag"],
        "content_type": "application/pdf",
        "last_modified": stored["last_modified"],
        "recorded_at": stored["recorded_at"],
    }


def test_empty_list(call: Any, make_event: Any, table: Any, alice: str) -> None:
    response = call(make_event(identity=alice))
    assert response.status == 200
    assert response.body == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("count", [7, 6, 1])
def test_pagination_collects_every_record_exactly_once(
    call: Any, make_event: Any, seed: Any, alice: str, bob: str, count: int
) -> None:
    # Several versions of one key are separate records; they must page like any other.
    expected = set()
    for i in range(count):
        name = "multi.txt" if i < 3 else f"file-{i}.txt"
        expected.add((f"uploads/{alice}/{name}", seed(name, sequencer=f"{i:04X}")["version_id"]))
    for i in range(5):
        seed(f"bob-{i}.txt", identity=bob)

    items, sizes = list_all(call, make_event, alice, limit=2)

    seen = [(item["key"], item["version_id"]) for item in items]
    assert len(seen) == len(set(seen)) == count
    assert set(seen) == expected
    assert all(size <= 2 for size in sizes)
    # Exactly ceil(count / 2) pages: the last full page already says there is no next one.
    assert len(sizes) == -(-count // 2)
    assert 0 not in sizes


def test_default_limit_is_25(call: Any, make_event: Any, seed: Any, alice: str) -> None:
    for i in range(27):
        seed(f"f{i:02}")
    first = call(make_event(identity=alice))
    assert len(first.body["items"]) == 25
    assert first.body["next_cursor"]
    rest = call(make_event(identity=alice, query={"cursor": first.body["next_cursor"]}))
    assert len(rest.body["items"]) == 2
    assert rest.body["next_cursor"] is None


def test_limit_bounds_accepted(call: Any, make_event: Any, seed: Any, alice: str) -> None:
    for i in range(3):
        seed(f"f{i}")
    assert len(call(make_event(identity=alice, query={"limit": "1"})).body["items"]) == 1
    assert len(call(make_event(identity=alice, query={"limit": "100"})).body["items"]) == 3


@pytest.mark.parametrize("limit", ["0", "101", "abc", "", "-1", "2.5", "1e1", " 3"])
def test_bad_limit_is_400_naming_limit(call: Any, make_event: Any, table: Any, alice: str, limit: str) -> None:
    response = call(make_event(identity=alice, query={"limit": limit}))
    assert response.status == 400
    assert response.headers["content-type"] == "application/json"
    assert response.body == {"error": {"code": "invalid_limit", "message": "limit must be an integer from 1 to 100"}}


def test_repeated_limit_is_400(call: Any, make_event: Any, table: Any, alice: str) -> None:
    event = make_event(identity=alice, query={"limit": "100"}, multi_query={"limit": ["1", "100"]})
    response = call(event)
    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_limit"
    assert "limit" in response.body["error"]["message"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("garbage!!", id="garbage"),
        pytest.param("%%%", id="bad-base64"),
        pytest.param("a", id="bad-base64-length"),
        pytest.param(_b64(b"hello, not json"), id="base64-not-json"),
        pytest.param(_b64(b'{"owner": "x"}'), id="json-wrong-fields"),
        pytest.param(_b64(b"null"), id="json-null"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_cursor_is_400_naming_cursor(call: Any, make_event: Any, seed: Any, alice: str, cursor: str) -> None:
    seed("a.txt")
    response = call(make_event(identity=alice, query={"cursor": cursor}))
    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_cursor"
    assert "cursor" in response.body["error"]["message"]


def test_another_identitys_cursor_is_rejected(call: Any, make_event: Any, seed: Any, alice: str, bob: str) -> None:
    for i in range(4):
        seed(f"bob-{i}.txt", identity=bob)
        seed(f"alice-{i}.txt", identity=alice)
    bobs_cursor = call(make_event(identity=bob, query={"limit": "1"})).body["next_cursor"]
    assert bobs_cursor

    response = call(make_event(identity=alice, query={"limit": "1", "cursor": bobs_cursor}))

    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_cursor"
    assert "bob" not in json.dumps(response.body)


def test_forged_cursor_with_own_owner_but_other_prefix_is_rejected(
    call: Any, make_event: Any, seed: Any, alice: str, bob: str
) -> None:
    seed("x.txt", identity=bob)
    forged = _b64(json.dumps({"owner": alice, "object_key": f"uploads/{bob}/x.txt", "version_id": "v"}).encode())
    response = call(make_event(identity=alice, query={"cursor": forged}))
    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_cursor"


def test_only_query_is_used(call: Any, make_event: Any, seed: Any, alice: str, dynamodb_calls: list[Any]) -> None:
    """Reads are Queries; the one write is the caller's identity mapping (both directions, one transaction), once per
    identity and environment."""
    seed("a.txt")
    call(make_event(identity=alice, query={"limit": "1"}))
    call(make_event(identity=alice, name="a.txt"))
    call(make_event(identity=alice, name="missing.txt"))
    assert [operation for operation, _ in dynamodb_calls] == ["TransactWriteItems", "Query", "Query", "Query"]
    puts = [entry["Put"]["Item"]["object_key"] for entry in dynamodb_calls[0][1]["TransactItems"]]
    assert puts == [{"S": f"#identity/{alice}"}, {"S": "#sub/a11ce000-0000-4000-8000-000000000001"}]


def test_list_queries_the_owner_index_for_the_caller_one_record_beyond_the_page(
    call: Any, make_event: Any, seed: Any, alice: str, dynamodb_calls: list[Any]
) -> None:
    # Real DynamoDB returns a LastEvaluatedKey whenever Limit is reached, even with nothing after it (moto
    # doesn't): asking for one more record than the page is what keeps the last page's cursor null.
    seed("a.txt")
    call(make_event(identity=alice, query={"limit": "7"}))
    ((operation, params),) = [c for c in dynamodb_calls if c[0] != "TransactWriteItems"]
    assert operation == "Query"
    assert params["IndexName"] == "by-owner-test"
    assert params["Limit"] == 8
    assert params["ExpressionAttributeValues"] == {":owner": {"S": alice}}
    owner_alias = params["KeyConditionExpression"].split(" = ")[0]
    assert params["ExpressionAttributeNames"][owner_alias] == "owner"


def test_get_queries_the_callers_key_bounded(
    call: Any, make_event: Any, seed: Any, alice: str, dynamodb_calls: list[Any]
) -> None:
    seed("dir/a b.txt")
    call(make_event(identity=alice, name="dir/a b.txt"))
    ((operation, params),) = [c for c in dynamodb_calls if c[0] != "TransactWriteItems"]
    assert operation == "Query"
    assert "IndexName" not in params
    assert params["Limit"] == 100
    assert params["ExpressionAttributeValues"] == {":key": {"S": f"uploads/{alice}/dir/a b.txt"}}
