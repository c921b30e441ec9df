"""A user's erasure inside the deployed stack: 1,000 objects (some with older versions, some behind a delete
marker, awkward names) under one identity's prefix with their records, counters and mappings; POST /erasure through
the API function as API Gateway invokes it; the worker (SQS -> Lambda) erases everything and keeps a report; again,
and twice at once, nothing more changes; another user neither erases nor reads the first one's job.

The steps are small functions (seed_user, request_erasure, erasure_status, wait_done, leftovers) for the full chain.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from stacks import records_schema as schema
from tests.e2e.check_chain import Environment, eventually, identity, rest_event, sub_of
from tests.e2e.conftest import PR_SUFFIX, Aws, Deployment, report

OBJECTS = 1000
SECOND_VERSIONS = 50  # of the 1,000 keys, this many get a second version
DELETE_MARKERS = 50  # ... and this many a delete marker on top
AWKWARD = ("a b", "plus+sign", "100%25 literal %", "time 12:00:01", "naïve 日本語", "emoji 🙂")
ERASURE_WAIT_SECONDS = 300


@dataclass
class ErasureEnvironment:
    env: Environment
    queue_url: str
    dead_letter_url: str

    @property
    def aws(self) -> Aws:
        return self.env.aws


@pytest.fixture(scope="module")
def erasure_env(aws: Aws, deployment: Deployment) -> ErasureEnvironment:
    outputs = deployment.outputs[f"SecureServerless-{PR_SUFFIX}"]
    return ErasureEnvironment(
        env=Environment.read(aws, deployment, PR_SUFFIX),
        queue_url=outputs["ErasureQueueUrl"],
        dead_letter_url=outputs["ErasureDeadLetterQueueUrl"],
    )


# --- steps -------------------------------------------------------------------------------------------------------


def user_keys(owner: str, count: int = OBJECTS) -> list[str]:
    """`count` keys under uploads/<owner>/, the awkward names first."""
    names = [f"{name} {i}.txt" for i, name in enumerate(AWKWARD)]
    names += [f"files/{i:04d} {AWKWARD[i % len(AWKWARD)]}.bin" for i in range(count - len(names))]
    return [f"{schema.UPLOADS_PREFIX}{owner}/{name}" for name in names[:count]]


def seed_user(e: ErasureEnvironment, owner: str, sub: str, count: int = OBJECTS) -> dict[str, int]:
    """Objects (with admin credentials, as fixtures), their records, counters and mappings, as the other functions
    write them. Returns what was put, per kind (the report must say the same)."""
    keys = user_keys(owner, count)
    versions: list[tuple[str, str]] = []
    lock = threading.Lock()

    def put(key: str) -> None:
        version = e.env.upload(key, body=key.encode())["VersionId"]
        with lock:
            versions.append((key, version))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, keys))
        list(pool.map(put, keys[:SECOND_VERSIONS]))
        marked = keys[-min(DELETE_MARKERS, len(keys)) :]
        list(pool.map(lambda key: e.aws.s3.delete_object(Bucket=e.env.bucket, Key=key), marked))
    items: list[dict[str, Any]] = [
        {"object_key": key, "version_id": version, "owner": owner, "name": key.split("/", 2)[2], "sub": sub}
        for key, version in versions
    ]
    items += [
        {
            "object_key": f"{schema.IDENTITY_MAPPING_PREFIX}{owner}",
            "version_id": "#sub",
            "identity_id": owner,
            "sub": sub,
        },
        {"object_key": f"{schema.SUB_IDENTITIES_PREFIX}{sub}", "version_id": owner},
        {"object_key": f"{schema.USAGE_PREFIX}{sub}", "version_id": schema.USAGE_HELD_SORT_KEY, "objects": len(keys)},
        {"object_key": f"{schema.USAGE_PREFIX}{sub}", "version_id": "#day/2026-12-03", "count": len(keys)},
    ]
    for start in range(0, len(items), 25):
        requests = [
            {"PutRequest": {"Item": {k: _typed(v) for k, v in item.items()}}} for item in items[start : start + 25]
        ]
        pending: dict[str, Any] = {e.env.table: requests}
        while pending:
            pending = e.aws.dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return {
        "identities": 1,
        "object_versions": len(versions),
        "delete_markers": len(marked),
        "records": len(versions),
        "usage_items": 2,
        "mapping_items": 2,
    }


def _typed(value: Any) -> dict[str, str]:
    return {"N": str(value)} if isinstance(value, int) else {"S": str(value)}


def call_api(e: ErasureEnvironment, method: str, owner: str) -> tuple[int, dict[str, Any]]:
    """POST or GET /erasure as API Gateway invokes the function for `owner` signed in as sub_of(owner)."""
    event = rest_event(
        e.env.suffix, owner, e.env.identity_pool(), resource="/erasure", provider=e.env.user_pool_provider()
    )
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    response = e.aws.lambda_.invoke(FunctionName=e.env.api_function, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload["statusCode"], json.loads(payload["body"])


def request_erasure(e: ErasureEnvironment, owner: str) -> dict[str, Any]:
    status, body = call_api(e, "POST", owner)
    assert status == 202, body
    return body


def erasure_status(e: ErasureEnvironment, owner: str) -> tuple[int, dict[str, Any]]:
    return call_api(e, "GET", owner)


def wait_done(e: ErasureEnvironment, owner: str, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        status, body = erasure_status(e, owner)
        assert status == 200 and body["job_id"] == job_id, body
        return body if body["status"] == "done" else None

    result: dict[str, Any] = eventually(done, f"erasure job {job_id} to finish", timeout=ERASURE_WAIT_SECONDS)
    return result


def leftovers(e: ErasureEnvironment, owner: str, sub: str) -> dict[str, list[Any]]:
    """What is left of the user: versions and delete markers under the prefix, and every table item that names them
    (the erasure's own job and reports, `#erasure/<sub>`, excepted: kept after the data is gone, by design). An item
    names the user when any of its values (its key included) contains their identity id (as is or URL-encoded) or
    their sub: a full scan of the table, so nothing escapes by where it is kept. The tombstones the pipeline writes
    for the erased versions (their "Object Deleted" events) hold only a hash of the key and the version id: they name
    nobody, so they are not left of the user (and are not exempted either: one that named the user would count)."""
    s3 = all_versions(e, f"{schema.UPLOADS_PREFIX}{owner}/")
    traces = {owner, quote(owner, safe=""), quote_plus(owner), sub}
    kept = f"{schema.ERASURE_PREFIX}{sub}"
    table = []
    for page in e.aws.dynamodb.get_paginator("scan").paginate(TableName=e.env.table, ConsistentRead=True):
        for item in page["Items"]:
            key = item["object_key"]["S"]
            if key == kept:
                continue
            if any(trace in text for text in strings_of(item) for trace in traces):
                table.append((key, item["version_id"]["S"]))
    return {"s3": s3, "table": table}


def strings_of(value: Any) -> Iterator[str]:
    """Every string in a DynamoDB item or attribute value (names of map keys and values, sets and lists included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, dict):
        for name, inner in value.items():
            yield name
            yield from strings_of(inner)
    elif isinstance(value, list | tuple | set):
        for inner in value:
            yield from strings_of(inner)


def all_versions(e: ErasureEnvironment, prefix: str) -> list[tuple[str, str]]:
    """Every version and delete marker under `prefix`, page by page (markers from the page when the emulator leaves
    out NextKeyMarker/NextVersionIdMarker)."""
    found: list[tuple[str, str]] = []
    markers: dict[str, str] = {}
    for _ in range(100):
        page = e.aws.s3.list_object_versions(Bucket=e.env.bucket, Prefix=prefix, **markers)
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        found += [(entry["Key"], entry["VersionId"]) for entry in entries]
        if not page.get("IsTruncated") or not entries:
            return found
        markers = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    pytest.fail(f"more than 100 pages of versions under {prefix!r}")


def erasure_items(e: ErasureEnvironment, sub: str) -> dict[str, dict[str, Any]]:
    items = e.aws.dynamodb.query(
        TableName=e.env.table,
        KeyConditionExpression="object_key = :k",
        ExpressionAttributeValues={":k": {"S": f"{schema.ERASURE_PREFIX}{sub}"}},
        ConsistentRead=True,
    )["Items"]
    return {item["version_id"]["S"]: item for item in items}


def dead_letters(e: ErasureEnvironment) -> int:
    return e.env.depth(e.dead_letter_url)


@contextmanager
def pipeline_paused(e: ErasureEnvironment) -> Iterator[None]:
    """The upload pipeline's mapping off while a block seeds (records written directly, as fixtures) and erases;
    the Object Created events that waited in the buffer are then purged before the mapping is on again.

    Why purged: the processor fails an event whose object is gone under every form its key may take (UnresolvedKey:
    every key under uploads/<region>:<uuid>/ arrives URL-encoded in the emulator, so it has two forms), so each one
    is retried and dead-lettered in the pipeline DLQ, minutes of back-off for 1,100 events, instead of being skipped
    as a missing object. That is the processor's handling of deleted objects (the user-delete work), reported with
    this check; it records nothing for a missing key either way."""
    e.env.set_mapping(False)
    try:
        yield
    finally:
        e.aws.sqs.purge_queue(QueueUrl=e.env.buffer_url)
        e.env.set_mapping(True)


# --- checks ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def erased(erasure_env: ErasureEnvironment) -> dict[str, Any]:
    """One user with 1,000 objects, erased once (the pipeline paused meanwhile: `pipeline_paused`)."""
    e = erasure_env
    owner = identity()
    sub = sub_of(owner)
    with pipeline_paused(e):
        expected = seed_user(e, owner, sub)
        listed = len(leftovers(e, owner, sub)["s3"])
        report(f"erasure: {listed} versions and delete markers listed under the prefix before the erasure")
        assert listed >= min(1000, expected["object_versions"] + expected["delete_markers"])
        started = time.monotonic()
        job = request_erasure(e, owner)
        done = wait_done(e, owner, job["job_id"])
        seconds = time.monotonic() - started
    report(f"erasure of {OBJECTS} objects ({expected['object_versions']} versions, {DELETE_MARKERS} delete markers, "
           f"{expected['records']} records): {seconds:.1f} s from POST /erasure to status done")  # fmt: skip
    return {"owner": owner, "sub": sub, "expected": expected, "job": job, "done": done}


def test_erasure_of_1000_objects_leaves_nothing_and_reports_counts(
    erasure_env: ErasureEnvironment, erased: dict[str, Any]
) -> None:
    e, owner, sub = erasure_env, erased["owner"], erased["sub"]
    assert leftovers(e, owner, sub) == {"s3": [], "table": []}
    done = erased["done"]
    assert done["report"]["counts"] == erased["expected"]
    assert done["report"]["finished_at"] >= done["report"]["started_at"] >= erased["job"]["requested_at"]
    assert dead_letters(e) == 0


def test_erasing_again_and_twice_at_once_changes_nothing_more(
    erasure_env: ErasureEnvironment, erased: dict[str, Any]
) -> None:
    e, owner, sub = erasure_env, erased["owner"], erased["sub"]
    before = erasure_items(e, sub)
    # Again: a new job that finds nothing.
    again = request_erasure(e, owner)
    assert again["job_id"] != erased["job"]["job_id"]
    assert set(wait_done(e, owner, again["job_id"])["report"]["counts"].values()) == {0}
    # Twice at once: two requests start one job; a duplicate job message runs a second worker beside the first.
    with ThreadPoolExecutor(2) as pool:
        bodies = list(pool.map(lambda _: request_erasure(e, owner), range(2)))
    assert bodies[0]["job_id"] == bodies[1]["job_id"]
    job_id = bodies[0]["job_id"]
    e.aws.sqs.send_message(QueueUrl=e.queue_url, MessageBody=json.dumps({"sub": sub, "job_id": job_id}))
    assert set(wait_done(e, owner, job_id)["report"]["counts"].values()) == {0}
    eventually(lambda: e.env.depth(e.queue_url) == 0, "the erasure queue to drain")
    assert leftovers(e, owner, sub) == {"s3": [], "table": []}
    after = erasure_items(e, sub)
    assert before["#job"]["job_id"] != after["#job"]["job_id"]
    assert {k: v for k, v in after.items() if k in before and k != "#job"} == {
        k: v for k, v in before.items() if k != "#job"
    }
    assert len(after) == len(before) + 2  # two more reports, nothing else
    assert dead_letters(e) == 0


def test_another_user_can_neither_erase_nor_read_the_first_ones(erasure_env: ErasureEnvironment) -> None:
    e = erasure_env
    alice, bob = identity(), identity()
    with pipeline_paused(e):
        kept = seed_user(e, alice, sub_of(alice), count=5)
        # Bob sees no job of his, exactly as a user who never asked; his own erasure erases nothing of Alice's.
        status, body = erasure_status(e, bob)
        assert (status, body["error"]["code"]) == (404, "not_found")
        own = request_erasure(e, bob)
        assert set(wait_done(e, bob, own["job_id"])["report"]["counts"].values()) == {0}
        assert len(leftovers(e, alice, sub_of(alice))["s3"]) == kept["object_versions"] + kept["delete_markers"]
        job = request_erasure(e, alice)
        assert own["job_id"] != job["job_id"]
        assert wait_done(e, alice, job["job_id"])["report"]["counts"] == kept
        assert erasure_status(e, bob)[1]["job_id"] == own["job_id"]
    assert leftovers(e, alice, sub_of(alice)) == {"s3": [], "table": []}
