"""GET /objects/{key+} against a moto table: names, versions, not found, rejected names."""

from __future__ import annotations

from typing import Any

import pytest

VERSION_FIELDS = {"version_id", "size", "etag", "content_type", "last_modified", "recorded_at"}

NAMES = [
    pytest.param("plain.txt", id="plain"),
    pytest.param("with space.txt", id="space"),
    pytest.param("a+b=c&d.txt", id="plus"),
    pytest.param("deep/nested/dir/file.tar.gz", id="nested"),
    pytest.param("ünïcødé/日本語 🚀.txt", id="unicode"),
    pytest.param("percent%20literal.txt", id="literal-percent"),
    pytest.param("trailing/", id="trailing-slash"),
]


@pytest.mark.parametrize("encode_path", [True, False], ids=["encoded-path", "decoded-path"])
@pytest.mark.parametrize("name", NAMES)
def test_get_object_by_name(call: Any, make_event: Any, seed: Any, alice: str, name: str, encode_path: bool) -> None:
    stored = seed(name, size=7)
    seed("other.txt")

    response = call(make_event(identity=alice, name=name, encode_path=encode_path))

    assert response.status == 200, response.body
    assert response.headers["content-type"] == "application/json"
    assert response.body["name"] == name
    assert response.body["key"] == f"uploads/{alice}/{name}"
    (version,) = response.body["versions"]
    assert set(version) == VERSION_FIELDS
    assert version["version_id"] == stored["version_id"]
    assert version["size"] == 7 and type(version["size"]) is int


def test_versions_newest_first_by_sequencer(call: Any, make_event: Any, seed: Any, alice: str) -> None:
    # Inserted out of order; "0A" > "09" numerically, and "0100" is longer but larger than "FF".
    seed("doc.txt", version_id="v-b", sequencer="0A")
    seed("doc.txt", version_id="v-d", sequencer="0100")
    seed("doc.txt", version_id="v-a", sequencer="09")
    seed("doc.txt", version_id="v-c", sequencer="FF")

    response = call(make_event(identity=alice, name="doc.txt"))

    assert response.status == 200
    assert [v["version_id"] for v in response.body["versions"]] == ["v-d", "v-c", "v-b", "v-a"]
    assert response.body["truncated"] is False


def test_not_found(call: Any, make_event: Any, table: Any, alice: str) -> None:
    response = call(make_event(identity=alice, name="missing.txt"))
    assert response.status == 404
    assert response.headers["content-type"] == "application/json"
    assert response.body["error"]["code"] == "not_found"
    assert "key" in response.body["error"]["message"]


def test_other_identitys_object_is_not_found(call: Any, make_event: Any, seed: Any, alice: str, bob: str) -> None:
    seed("shared-name.txt", identity=bob)
    response = call(make_event(identity=alice, name="shared-name.txt"))
    assert response.status == 404


def test_names_are_not_prefixes(call: Any, make_event: Any, seed: Any, alice: str) -> None:
    seed("dir/file.txt")
    assert call(make_event(identity=alice, name="dir")).status == 404
    assert call(make_event(identity=alice, name="dir/file")).status == 404


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        pytest.param("..", "'..' path segment", id="dotdot"),
        pytest.param(f"../{'x'}/file.txt", "'..' path segment", id="dotdot-prefix"),
        pytest.param("a/../../b", "'..' path segment", id="dotdot-middle"),
        pytest.param("/abs.txt", "must not start with '/'", id="leading-slash"),
        pytest.param("a\x00b", "control characters", id="nul"),
        pytest.param("a\r\nb", "control characters", id="crlf"),
        pytest.param("x" * 1025, "at most 1024 UTF-8 bytes", id="too-long"),
        pytest.param("€" * 342, "at most 1024 UTF-8 bytes", id="too-long-utf8"),
    ],
)
def test_bad_name_is_400_naming_key(
    call: Any, make_event: Any, seed: Any, alice: str, bob: str, name: str, rule: str
) -> None:
    seed("file.txt", identity=bob)
    response = call(make_event(identity=alice, name=name))
    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_key"
    assert response.body["error"]["message"].startswith("key ")
    assert rule in response.body["error"]["message"]


def test_dotdot_cannot_reach_another_identity(call: Any, make_event: Any, seed: Any, alice: str, bob: str) -> None:
    seed("secret.txt", identity=bob)
    response = call(make_event(identity=alice, name=f"../{bob}/secret.txt"))
    assert response.status == 400
    assert "secret" not in str(response.body)


@pytest.mark.parametrize("path_parameters", [None, {}, {"key": ""}, {"proxy": "a.txt"}])
def test_missing_key_parameter_is_400(call: Any, make_event: Any, table: Any, alice: str, path_parameters: Any) -> None:
    event = make_event(identity=alice, name="a.txt", path_parameters=path_parameters)
    event["pathParameters"] = path_parameters
    response = call(event)
    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_key"


def test_more_versions_than_one_query_reads_are_flagged(
    call: Any, make_event: Any, seed: Any, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from objects_api import domain

    monkeypatch.setattr(domain, "MAX_VERSIONS", 3)
    for i in range(5):
        seed("busy.txt", sequencer=f"{i:02X}")
    response = call(make_event(identity=alice, name="busy.txt"))
    assert response.status == 200
    assert len(response.body["versions"]) == 3
    assert response.body["truncated"] is True
