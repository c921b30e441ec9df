"""DELETE /objects/{key+} through the deployed stack: the API function (invoked as API Gateway invokes it for a
signed-in identity) deletes every version from S3, S3's "Object Deleted" events flow through the rule, buffer and
processor, and the records go (GET /objects stops listing them, GET /downloads answers 404). A second identity's
DELETE of the first one's object answers the 404 of a missing key and deletes nothing. Awkward names throughout.

The steps are small functions (`upload_recorded`, `api_call`, `delete_object`, `wait_until_unlisted`,
`versions_left`, ...) so a longer chain can compose them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.check_chain import Environment, eventually, identity, rest_event
from tests.e2e.conftest import PR_SUFFIX, Aws, Deployment, report


@pytest.fixture(scope="module")
def env(aws: Aws, deployment: Deployment) -> Environment:
    return Environment.read(aws, deployment, PR_SUFFIX)


@pytest.fixture(scope="module", params=["on", "off"], ids=["keys-url-encoded", "keys-raw"])
def key_encoding(request: pytest.FixtureRequest) -> Iterator[str]:
    """The emulated S3's EventBridge key encoding (LocalStack's quote(), or raw keys): deletions must follow either."""
    switch = Path(os.environ["E2E_KEY_ENCODING_FILE"])
    switch.write_text(request.param)
    yield request.param
    switch.write_text("on")


def awkward_names() -> list[str]:
    """Names with a space, '+', a literal '%', ':', non-ASCII text and a folder."""
    tag = uuid.uuid4().hex[:6]
    return [f"a b+c {tag}.txt", f"100% sure:{tag}.txt", f"dir/ünï 日本 {tag}.bin", f"x%2By+{tag}:é.txt"]


# --- steps --------------------------------------------------------------------------------------------------------


def api_call(
    env: Environment, caller: str, method: str, resource: str, name: str | None = None, **query: str
) -> tuple[int, dict[str, Any]]:
    """Invoke the API function as API Gateway does for `caller` (signed in): (status, JSON body)."""
    event = rest_event(
        env.suffix, caller, env.identity_pool(), resource=resource, name=name, query=query or None,
        provider=env.user_pool_provider(),
    )  # fmt: skip
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    response = env.aws.lambda_.invoke(FunctionName=env.api_function, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return int(payload["statusCode"]), json.loads(payload["body"])


def upload_recorded(env: Environment, owner: str, name: str, bodies: tuple[bytes, ...] = (b"one",)) -> list[str]:
    """Upload `bodies` as successive versions of the owner's `name`; wait for each version's record; version ids."""
    key = f"uploads/{owner}/{name}"
    versions = [str(env.upload(key, body=body)["VersionId"]) for body in bodies]
    for version in versions:
        eventually(lambda v=version: env.record(key, v), f"the record of {key!r} version {version}")
    return versions


def delete_object(env: Environment, caller: str, name: str, **query: str) -> tuple[int, dict[str, Any]]:
    """DELETE /objects/{key+} as `caller`."""
    return api_call(env, caller, "DELETE", "/objects/{key+}", name, **query)


def listed_names(env: Environment, caller: str) -> set[str]:
    """The names GET /objects lists for `caller`."""
    return {item["name"] for item in env.list_objects(caller)}


def wait_until_unlisted(env: Environment, caller: str, names: set[str]) -> None:
    eventually(lambda: not (listed_names(env, caller) & names), f"GET /objects to stop listing {sorted(names)}")


def versions_left(env: Environment, key: str) -> list[str]:
    """Every version and delete marker S3 still holds for exactly `key`."""
    listing = env.aws.s3.list_object_versions(Bucket=env.bucket, Prefix=key)
    entries = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
    return [entry["VersionId"] for entry in entries if entry["Key"] == key]


def live_records(env: Environment, key: str) -> list[dict[str, Any]]:
    """The records the table holds under `key` and its URL-encoded form (tombstones live under a hash of the key, never
    here; the filter only leaves out one an earlier processor wrote at the record's key)."""
    items = env.items_under(key) + (env.items_under(quote(key)) if quote(key) != key else [])
    return [item for item in items if "deleted_at" not in item]


# --- checks -------------------------------------------------------------------------------------------------------


def test_a_deleted_object_leaves_no_version_and_no_record(env: Environment, key_encoding: str) -> None:
    owner, other = identity(), identity()
    assert env.list_objects(owner) == []  # the first call records the identity <-> sub mapping: records carry it
    names = awkward_names()
    recorded = {name: upload_recorded(env, owner, name, (b"first", b"second")) for name in names}
    assert listed_names(env, owner) == set(names)
    dead_letters = env.depth(env.dead_letter_url)

    # Another identity's DELETE of these objects answers exactly like a missing object, and deletes nothing.
    missing = delete_object(env, other, f"never-{uuid.uuid4().hex}.txt")
    assert missing[0] == 404, missing
    for name in names:
        assert delete_object(env, other, name) == missing, name
        assert delete_object(env, other, f"uploads/{owner}/{name}") == missing, name
    assert listed_names(env, owner) == set(names)
    assert all(sorted(versions_left(env, f"uploads/{owner}/{n}")) == sorted(v) for n, v in recorded.items())

    for name, versions in recorded.items():
        status, body = delete_object(env, owner, name)
        assert status == 202, body
        assert sorted(body["deleted_version_ids"]) == sorted(versions) and body["complete"] is True, body
    wait_until_unlisted(env, owner, set(names))
    eventually(env.drained, "the buffer queue to drain")

    for name in names:
        key = f"uploads/{owner}/{name}"
        assert versions_left(env, key) == [], key
        assert live_records(env, key) == [], key
        status, body = api_call(env, owner, "GET", "/downloads/{key+}", name)
        assert (status, body["error"]["code"]) == (404, "not_found"), (name, body)
        assert api_call(env, owner, "GET", "/objects/{key+}", name)[0] == 404
        assert delete_object(env, owner, name)[0] == 404  # a second delete: nothing left to delete
    assert env.depth(env.dead_letter_url) == dead_letters, "no delete event dead-lettered"
    report(
        f"user delete [{key_encoding}]: {len(names)} awkward names x 2 versions deleted through the API (202), every "
        "version gone from S3, records gone (GET /objects, /objects/{key}, /downloads: 404); another identity's "
        "DELETE answered the 404 of a missing key and deleted nothing"
    )


def test_version_id_deletes_that_version_and_its_record_only(env: Environment, key_encoding: str) -> None:
    owner = identity()
    name = f"versions+{uuid.uuid4().hex[:6]}:é.txt"
    first, second = upload_recorded(env, owner, name, (b"1", b"2"))
    key = f"uploads/{owner}/{name}"

    status, body = delete_object(env, owner, name, version_id=first)

    assert (status, body["deleted_version_ids"]) == (202, [first]), body
    eventually(lambda: env.record(key, first) is None, "the first version's record to go")
    assert versions_left(env, key) == [second]
    status, body = api_call(env, owner, "GET", "/objects/{key+}", name)
    assert status == 200 and [v["version_id"] for v in body["versions"]] == [second], body
    assert api_call(env, owner, "GET", "/downloads/{key+}", name, version_id=first)[0] == 404
    report(f"user delete [{key_encoding}]: ?version_id= deleted one version and its record; the other stays listed")
