"""GET /downloads/{key+}: a presigned GET of one exact version of the caller's own object, at most 5 minutes;
another identity's object answers exactly like a missing one. Against moto (table, versioned bucket)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import requests

from tests.support import aws_clients as cached_clients

BUCKET = "secsls-test-uploads"
REGION = "us-east-1"


def download_event(make_event: Any, name: str, *, identity: Any = "default", version_id: str | None = None) -> Any:
    """A REST proxy event for GET /downloads/{key+} (built like GET /objects/{key+})."""
    kwargs: dict[str, Any] = {"name": name}
    if identity != "default":
        kwargs["identity"] = identity
    if version_id is not None:
        kwargs["query"] = {"version_id": version_id}
    event = make_event(**kwargs)
    event["resource"] = event["requestContext"]["resourcePath"] = "/downloads/{key+}"
    event["path"] = "/downloads/" + quote(name, safe="/")
    return event


@pytest.fixture
def bucket(aws: Any) -> Any:
    s3 = cached_clients.client("s3", REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


@pytest.fixture
def upload(bucket: Any, seed: Any, alice: str) -> Any:
    """Put an object under the identity's prefix and record it as the processor would; returns the record."""

    def put(name: str, body: bytes, identity: str = alice, **extra: Any) -> dict[str, Any]:
        key = f"uploads/{identity}/{name}"
        version = bucket.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
        head = bucket.head_object(Bucket=BUCKET, Key=key, VersionId=version)
        modified = head["LastModified"].astimezone(UTC).isoformat().replace("+00:00", "Z")
        return seed(name, identity=identity, version_id=version, size=len(body), last_modified=modified, **extra)

    return put


def fetch(url: str) -> requests.Response:
    return requests.get(url, timeout=5)


@pytest.mark.parametrize("name", ["plain.txt", "with space & plus+.txt", "deep/dir/ünï 日本.bin", "trailing/"])
def test_own_object_downloads_exact_bytes(call: Any, make_event: Any, upload: Any, alice: str, name: str) -> None:
    record = upload(name, b"alice's bytes \x00\xff")

    before = datetime.now(UTC)
    response = call(download_event(make_event, name))

    assert response.status == 200, response.body
    body = response.body
    assert body["key"] == f"uploads/{alice}/{name}" and body["name"] == name
    assert body["version_id"] == record["version_id"] and body["method"] == "GET"
    assert body["expires_in"] == 300
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert 299 <= (expires - before).total_seconds() <= 301
    url = urlsplit(body["url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert unquote(url.path).endswith(f"/uploads/{alice}/{name}")
    assert query["versionId"] == record["version_id"]
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-Expires"] == "300"
    assert query["response-content-disposition"].startswith("attachment;")
    assert query["response-cache-control"] == "no-store"
    assert response.headers["cache-control"] == "no-store"
    got = fetch(body["url"])
    assert got.status_code == 200 and got.content == b"alice's bytes \x00\xff"


def test_newest_version_by_default_and_an_older_one_by_id(call: Any, make_event: Any, upload: Any, seed: Any) -> None:
    old = upload("doc.txt", b"first", sequencer="01")
    new = upload("doc.txt", b"second", sequencer="02")  # within one second, the sequencer orders them

    latest = call(download_event(make_event, "doc.txt"))
    older = call(download_event(make_event, "doc.txt", version_id=old["version_id"]))

    assert latest.status == 200 and latest.body["version_id"] == new["version_id"]
    assert fetch(latest.body["url"]).content == b"second"
    assert older.status == 200 and older.body["version_id"] == old["version_id"]
    assert fetch(older.body["url"]).content == b"first"


def not_found_shape(response: Any) -> tuple[int, Any]:
    return response.status, response.body


def test_another_identitys_object_is_indistinguishable_from_a_missing_one(
    call: Any, make_event: Any, upload: Any, alice: str, bob: str
) -> None:
    bobs = upload("secret.txt", b"bob's", identity=bob)

    theirs = call(download_event(make_event, "secret.txt", identity=alice))
    missing = call(download_event(make_event, "never-uploaded.txt", identity=alice))
    their_version = call(download_event(make_event, "secret.txt", identity=alice, version_id=bobs["version_id"]))
    by_their_key = call(download_event(make_event, f"uploads/{bob}/secret.txt", identity=alice))

    assert missing.status == 404
    for response in (theirs, their_version, by_their_key):
        assert not_found_shape(response) == not_found_shape(missing)
        assert set(response.headers) == set(missing.headers)
    assert "secret" not in str(theirs.body) and bob not in str(theirs.body)
    # Bob himself gets his object.
    assert call(download_event(make_event, "secret.txt", identity=bob)).status == 200


def test_unknown_version_of_own_object_is_the_same_404(call: Any, make_event: Any, upload: Any) -> None:
    upload("doc.txt", b"x")
    missing = call(download_event(make_event, "never-uploaded.txt"))
    response = call(download_event(make_event, "doc.txt", version_id="not-a-recorded-version"))
    assert not_found_shape(response) == not_found_shape(missing)


def test_dotdot_cannot_reach_another_identity(call: Any, make_event: Any, upload: Any, bob: str) -> None:
    upload("secret.txt", b"bob's", identity=bob)
    response = call(download_event(make_event, f"../{bob}/secret.txt"))
    assert response.status == 400 and response.body["error"]["code"] == "invalid_key"


@pytest.mark.parametrize("version_id", ["a/b", "a b", "", "x" * 1025, "v%2F"])
def test_bad_version_id_is_400_naming_it(call: Any, make_event: Any, upload: Any, version_id: str) -> None:
    upload("doc.txt", b"x")
    response = call(download_event(make_event, "doc.txt", version_id=version_id))
    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_version_id"
    assert response.body["error"]["message"].startswith("version_id ")


def test_version_id_given_twice_is_400(call: Any, make_event: Any, upload: Any) -> None:
    upload("doc.txt", b"x")
    event = download_event(make_event, "doc.txt")
    event["multiValueQueryStringParameters"] = {"version_id": ["a", "b"]}
    response = call(event)
    assert response.status == 400 and response.body["error"]["code"] == "invalid_version_id"


def test_without_identity_is_403(call: Any, make_event: Any, upload: Any) -> None:
    upload("doc.txt", b"x")
    response = call(download_event(make_event, "doc.txt", identity=None))
    assert response.status == 403


def test_too_many_versions_without_a_version_id_is_409(
    call: Any, make_event: Any, upload: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from objects_api import store

    upload("busy.txt", b"x", sequencer="01")
    record = upload("busy.txt", b"y", sequencer="02")
    query = store._query
    monkeypatch.setattr(store, "_query", lambda params: query({**params, "Limit": 1}))  # one version per page
    monkeypatch.setattr(store, "MAX_VERSION_PAGES", 1)  # so one page leaves the other version unread

    response = call(download_event(make_event, "busy.txt"))
    named = call(download_event(make_event, "busy.txt", version_id=record["version_id"]))

    assert response.status == 409 and response.body["error"]["code"] == "version_id_required"
    assert named.status == 200 and fetch(named.body["url"]).content == b"y"


def test_other_methods_on_downloads_are_405(call: Any, make_event: Any, table: Any) -> None:
    event = download_event(make_event, "doc.txt")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "DELETE"
    response = call(event)
    assert response.status == 405 and response.headers["allow"] == "GET"
