"""Pure rules of the objects API: no AWS, no Powertools."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objects_api import domain
from objects_api.domain import Forbidden, InvalidParameter, NotFound

ALICE = "us-east-1:11111111-1111-4111-8111-111111111111"
BOB = "us-east-1:22222222-2222-4222-8222-222222222222"


def key_of(identity: str, name: str, version: str = "v1") -> dict[str, str]:
    return {"owner": identity, "object_key": f"uploads/{identity}/{name}", "version_id": version}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- cursors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.txt", "dir/sub/file name+1.pdf", "ünï/çødé 🚀.txt", "x" * 1000])
def test_cursor_round_trip(name: str) -> None:
    key = key_of(ALICE, name, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
    cursor = domain.encode_cursor(key)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert domain.decode_cursor(cursor, ALICE) == key


@given(name=st.text(min_size=1, max_size=200), version=st.text(min_size=1, max_size=60))
def test_cursor_round_trip_any_text(name: str, version: str) -> None:
    key = {"owner": ALICE, "object_key": f"uploads/{ALICE}/{name}", "version_id": version}
    try:
        cursor = domain.encode_cursor(key)
    except UnicodeEncodeError:  # lone surrogates never come out of DynamoDB
        return
    assert domain.decode_cursor(cursor, ALICE) == key


def test_cursor_is_base64url_json_of_the_index_key() -> None:
    key = key_of(ALICE, "a.txt")
    document = json.loads(base64.urlsafe_b64decode(domain.encode_cursor(key) + "=="))
    assert document == key


def test_cursor_accepts_padding() -> None:
    key = key_of(ALICE, "ab")
    cursor = domain.encode_cursor(key)
    padded = cursor + "=" * (-len(cursor) % 4)
    assert domain.decode_cursor(padded, ALICE) == key


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("not a cursor!", id="garbage"),
        pytest.param("abc$def", id="non-base64-character"),
        pytest.param("a", id="impossible-length"),
        pytest.param("=abc", id="leading-padding"),
        pytest.param("YWJj===", id="too-much-padding"),
        pytest.param(b64(b"not json"), id="base64-not-json"),
        pytest.param(b64(b"\xff\xfe\xfd"), id="base64-not-utf8"),
        pytest.param(b64(b"[" * 5000), id="deeply-nested-json"),
        pytest.param(b64(b'"a string"'), id="json-not-object"),
        pytest.param(b64(b"[]"), id="json-list"),
        pytest.param(b64(json.dumps({"owner": ALICE}).encode()), id="missing-fields"),
        pytest.param(b64(json.dumps({**key_of(ALICE, "a"), "extra": "x"}).encode()), id="extra-field"),
        pytest.param(b64(json.dumps({**key_of(ALICE, "a"), "version_id": 3}).encode()), id="non-string-field"),
        pytest.param(b64(json.dumps({**key_of(ALICE, "a"), "version_id": ""}).encode()), id="empty-field"),
        pytest.param(
            b64(json.dumps({k: {"S": v} for k, v in key_of(ALICE, "a").items()}).encode()),
            id="attribute-value-form",
        ),
        pytest.param(domain.encode_cursor(key_of(BOB, "a.txt")), id="other-identity"),
        pytest.param(
            domain.encode_cursor({"owner": BOB, "object_key": f"uploads/{ALICE}/a.txt", "version_id": "v"}),
            id="other-owner-own-prefix",
        ),
        pytest.param(
            domain.encode_cursor({"owner": ALICE, "object_key": f"uploads/{BOB}/a.txt", "version_id": "v"}),
            id="own-owner-other-prefix",
        ),
        pytest.param(
            domain.encode_cursor({"owner": ALICE, "object_key": f"uploads/{ALICE}/", "version_id": "v"}),
            id="bare-prefix",
        ),
        pytest.param("A" * (domain.MAX_CURSOR_CHARS + 4), id="too-long"),
    ],
)
def test_bad_cursor_is_rejected_naming_cursor(cursor: str) -> None:
    with pytest.raises(InvalidParameter) as error:
        domain.decode_cursor(cursor, ALICE)
    assert error.value.status == 400
    assert error.value.code == "invalid_cursor"
    assert "cursor" in error.value.message


# --- limit ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [(None, 25), ("1", 1), ("2", 2), ("100", 100), ("007", 7)])
def test_limit_accepted(raw: str | None, expected: int) -> None:
    assert domain.parse_limit(raw) == expected


@pytest.mark.parametrize("raw", ["0", "101", "abc", "", " 5", "5 ", "-1", "+5", "1_0", "٣", "1e2", "2.0", "9" * 5000])
def test_limit_rejected_naming_limit(raw: str) -> None:
    with pytest.raises(InvalidParameter) as error:
        domain.parse_limit(raw)
    assert error.value.code == "invalid_limit"
    assert error.value.message == "limit must be an integer from 1 to 100"


# --- names ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a.txt", "with space.txt", "a+b.txt", "dir/sub/file", "ünïcødé/日本語.txt", "..hidden", "a..b", "./a", "é" * 512],
)
def test_valid_names(name: str) -> None:
    assert domain.validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        (None, "must not be empty"),
        ("", "must not be empty"),
        (42, "must not be empty"),
        ("..", "'..' path segment"),
        ("../other/x", "'..' path segment"),
        ("a/../b", "'..' path segment"),
        ("a/..", "'..' path segment"),
        ("/abs", "must not start with '/'"),
        ("a\x00b", "control characters"),
        ("a\nb", "control characters"),
        ("a\x7fb", "control characters"),
        ("a\x85b", "control characters"),
        ("x" * 1025, "at most 1024 UTF-8 bytes"),
        ("é" * 513, "at most 1024 UTF-8 bytes"),
        ("a\ud800b", "valid UTF-8"),
    ],
)
def test_invalid_names_rejected_naming_key(name: object, rule: str) -> None:
    with pytest.raises(InvalidParameter) as error:
        domain.validate_name(name)
    assert error.value.code == "invalid_key"
    assert error.value.message.startswith("key ")
    assert rule in error.value.message


# --- identity -------------------------------------------------------------------------------------------


POOL = "us-east-1:99999999-9999-4999-8999-999999999999"


def event_with(identity: object, pool: object = POOL, kind: object = "authenticated") -> dict[str, object]:
    block = {"cognitoIdentityId": identity, "cognitoIdentityPoolId": pool, "cognitoAuthenticationType": kind}
    return {"requestContext": {"identity": block}}


def test_identity_from_request_context() -> None:
    assert domain.caller_identity(event_with(ALICE), POOL) == ALICE


@pytest.mark.parametrize(
    ("event", "pool", "field"),
    [
        (event_with(ALICE, pool="us-east-1:88888888-8888-4888-8888-888888888888"), POOL, "cognitoIdentityPoolId"),
        (event_with(ALICE, pool=None), POOL, "cognitoIdentityPoolId"),
        (event_with(ALICE), "", "cognitoIdentityPoolId"),  # the function was deployed without its pool id
        (event_with(ALICE, kind="unauthenticated"), POOL, "cognitoAuthenticationType"),
        (event_with(ALICE, kind=None), POOL, "cognitoAuthenticationType"),
    ],
    ids=["other-pool", "no-pool", "unconfigured", "guest", "no-type"],
)
def test_identity_of_another_pool_or_a_guest_is_forbidden(event: dict[str, object], pool: str, field: str) -> None:
    with pytest.raises(Forbidden) as error:
        domain.caller_identity(event, pool)
    assert field in error.value.message


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"requestContext": None},
        {"requestContext": {}},
        {"requestContext": {"identity": None}},
        {"requestContext": {"identity": {}}},
        event_with(None),
        event_with(""),
        event_with(123),
        event_with("us-east-1:../22222222"),
        event_with(f"{ALICE}/x"),
        event_with("us-east-1:" + "a" * 60),
    ],
)
def test_missing_or_malformed_identity_is_forbidden(event: dict[str, object]) -> None:
    with pytest.raises(Forbidden) as error:
        domain.caller_identity(event, POOL)
    assert error.value.status == 403
    assert error.value.body()["error"]["code"] == "forbidden"


# --- shaping --------------------------------------------------------------------------------------------


def record(name: str, version: str, sequencer: str, **extra: object) -> dict[str, object]:
    return {
        "object_key": f"uploads/{ALICE}/{name}",
        "owner": ALICE,
        "name": name,
        "version_id": version,
        "sequencer": sequencer,
        "size": Decimal(10),
        "etag": "e",
        "content_type": "text/plain",
        "last_modified": "2025-01-01T00:00:00Z",
        "recorded_at": "2025-01-01T00:00:01Z",
        **extra,
    }


def test_list_item_shape_and_decimal_to_int() -> None:
    item = domain.list_item(record("a.txt", "v1", "01", bucket="internal", event_time="t"), ALICE)
    assert item == {
        "name": "a.txt",
        "key": f"uploads/{ALICE}/a.txt",
        "version_id": "v1",
        "size": 10,
        "etag": "e",
        "content_type": "text/plain",
        "last_modified": "2025-01-01T00:00:00Z",
        "recorded_at": "2025-01-01T00:00:01Z",
    }
    assert type(item["size"]) is int
    json.dumps(item)


def test_list_item_derives_name_from_key_when_missing() -> None:
    rec = record("dir/a.txt", "v1", "01")
    del rec["name"]
    assert domain.list_item(rec, ALICE)["name"] == "dir/a.txt"


def test_versions_sorted_newest_first_by_sequencer_as_number() -> None:
    # Hex sequencers of different lengths compare after left-padding: "FF" < "0100" < "00FF1";
    # as plain strings "FF" would sort highest.
    records = [record("a", "oldest", "FF"), record("a", "newest", "00FF1"), record("a", "middle", "0100")]
    view = domain.object_view(ALICE, "a", records, truncated=False)
    assert [v["version_id"] for v in view["versions"]] == ["newest", "middle", "oldest"]
    assert view["name"] == "a" and view["key"] == f"uploads/{ALICE}/a" and view["truncated"] is False


def test_versions_without_valid_sequencer_sort_last() -> None:
    records = [record("a", "broken", "not-hex"), record("a", "good", "01")]
    view = domain.object_view(ALICE, "a", records, truncated=True)
    assert [v["version_id"] for v in view["versions"]] == ["good", "broken"]
    assert view["truncated"] is True


def test_object_view_not_found() -> None:
    with pytest.raises(NotFound) as error:
        domain.object_view(ALICE, "a", [], truncated=False)
    assert error.value.status == 404


def test_paginate_extra_record_means_next_page_after_last_shown() -> None:
    records = [record(f"n{i}", "v", "01") for i in range(3)]
    page, next_key = domain.paginate(records, 2, last_evaluated_key=None)
    assert [r["name"] for r in page] == ["n0", "n1"]
    assert next_key == {"owner": ALICE, "object_key": f"uploads/{ALICE}/n1", "version_id": "v"}


def test_paginate_last_page_has_no_cursor_even_if_dynamodb_returned_a_key() -> None:
    records = [record("n0", "v", "01"), record("n1", "v", "01")]
    assert domain.paginate(records, 2, None)[1] is None


def test_paginate_short_page_cut_by_dynamodb_continues() -> None:
    records = [record("n0", "v", "01")]
    lek = {"owner": ALICE, "object_key": f"uploads/{ALICE}/n0", "version_id": "v"}
    assert domain.paginate(records, 5, lek)[1] == lek


def test_list_view_next_cursor_null_at_end() -> None:
    assert domain.list_view(ALICE, [], None) == {"items": [], "next_cursor": None}


def test_a_repaired_version_without_sequencer_lists_by_s3s_last_modified() -> None:
    # tools/reconcile.py --repair re-emits events without a sequencer (S3 puts one only in its own events): the
    # repaired newest version must not list as the oldest. LastModified (from HeadObject) orders versions of
    # different seconds; the sequencer orders versions within one second.
    older = record("a", "older", "0055AED6DCD90281E5", last_modified="2026-11-26T12:00:00.000Z")
    repaired = record("a", "repaired-newest", "", last_modified="2026-11-26T12:00:07.000Z")
    del repaired["sequencer"]
    same_second = record("a", "same-second-later", "0055AED6DCD90281F0", last_modified="2026-11-26T12:00:00.000Z")
    view = domain.object_view(ALICE, "a", [older, repaired, same_second], truncated=False)
    assert [v["version_id"] for v in view["versions"]] == ["repaired-newest", "same-second-later", "older"]


# --- downloads ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fallback", "exact"),
    [
        ("report.pdf", "report.pdf", "report.pdf"),
        ("dir/sub/q3 summary.txt", "q3 summary.txt", "q3%20summary.txt"),
        ('evil"; filename=x.html', "evil__ filename_x.html", "evil%22%3B%20filename%3Dx.html"),
        ("日本語.txt", "___.txt", "%E6%97%A5%E6%9C%AC%E8%AA%9E.txt"),
        ("folder/", "folder", "folder"),
        ("line\\break", "line_break", "line%5Cbreak"),
    ],
)
def test_content_disposition_is_an_attachment_with_a_safe_name(name: str, fallback: str, exact: str) -> None:
    assert domain.content_disposition(name) == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


@pytest.mark.parametrize("raw", ["null", "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY", "a.b_c-d"])
def test_version_id_accepted(raw: str) -> None:
    assert domain.parse_version_id(raw) == raw


@pytest.mark.parametrize("raw", ["", "a/b", "a b", "é", "x" * 1025, "a\nb"])
def test_version_id_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(domain.InvalidParameter) as error:
        domain.parse_version_id(raw)
    assert error.value.code == "invalid_version_id" and error.value.message.startswith("version_id ")


def test_download_version_newest_named_or_not_found() -> None:
    records = [
        {"version_id": "a", "last_modified": "2025-01-01T00:00:00Z"},
        {"version_id": "b", "last_modified": "2025-01-02T00:00:00Z"},
    ]
    assert domain.download_version(records, None)["version_id"] == "b"
    assert domain.download_version(records, "a")["version_id"] == "a"
    for version in ("c", None):
        with pytest.raises(domain.NotFound) as error:
            domain.download_version(records if version else [], version)
        assert error.value.message == domain.NOT_FOUND_MESSAGE
    with pytest.raises(domain.TooManyVersions):
        domain.download_version(records, None, complete=False)
    assert domain.download_version(records, "a", complete=False)["version_id"] == "a"
