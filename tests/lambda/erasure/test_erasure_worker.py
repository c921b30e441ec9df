"""The erasure worker against moto: it erases everything of one sub (every identity, version, delete marker,
record, counter and mapping) and nothing of anyone else, ends with a kept report, continues past one invocation,
and a rerun or two at once change nothing more."""

from __future__ import annotations

import importlib
import json
import threading
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from stacks import records_schema as schema
from tests.support.erasure_world import (
    ALICE,
    ALICE_OLD,
    ALICE_SUB,
    AWKWARD_NAMES,
    BOB,
    BOB_SUB,
    TABLE,
    Context,
    World,
    sqs_event,
)


@pytest.fixture
def handler(world: World) -> Any:
    return importlib.import_module("erasure_worker.handler")


def seed_alice(world: World) -> None:
    """Alice: two identities (one from a replaced pool), awkward names, several versions, delete markers."""
    world.map_identity(ALICE, ALICE_SUB)
    world.map_identity(ALICE_OLD, ALICE_SUB)
    for name in AWKWARD_NAMES:
        world.put_object(ALICE, name)
    world.put_object(ALICE, "a b.txt", b"second version")
    world.delete_marker(ALICE, "plus+sign")
    world.put_object(ALICE_OLD, "old.txt")
    world.usage(ALICE_SUB)


def seed_bob(world: World) -> None:
    world.map_identity(BOB, BOB_SUB)
    world.put_object(BOB, "bob.txt")
    world.usage(BOB_SUB)


def run(handler: Any, world: World, job_id: str, remaining_ms: int = 300_000, message_id: str = "m-1") -> Any:
    return handler.sqs_handler(sqs_event(ALICE_SUB, job_id, message_id), Context(remaining_ms))


def test_erases_everything_of_the_sub_and_keeps_a_report(handler: Any, world: World) -> None:
    seed_alice(world)
    seed_bob(world)
    bob_before = world.keys_of(BOB_SUB, (BOB,))
    job_id = world.request(ALICE_SUB, (ALICE,))

    assert run(handler, world, job_id) == {"batchItemFailures": []}

    assert world.versions(ALICE) == [] and world.versions(ALICE_OLD) == []
    assert world.keys_of(ALICE_SUB, (ALICE, ALICE_OLD)) == []
    # Bob is untouched.
    assert world.keys_of(BOB_SUB, (BOB,)) == bob_before and len(world.versions(BOB)) == 1
    job = world.job(ALICE_SUB)
    assert job["status"]["S"] == "done" and "identity_ids" not in job and "lease_owner" not in job
    report = world.items()[(f"#erasure/{ALICE_SUB}", f"#report/{job_id}")]
    counts = {kind: int(value["N"]) for kind, value in report["counts"]["M"].items()}
    assert counts == {
        "identities": 2,
        "object_versions": 7,  # 5 names + a second version + old.txt
        "delete_markers": 1,
        "records": 7,
        "usage_items": 3,
        "mapping_items": 4,  # two #identity/ items, two #sub/ items
    }
    assert report["finished_at"]["S"] >= report["started_at"]["S"]
    assert "identity" not in json.dumps(report).replace("identities", "")  # no identity ids, no names


def test_rerun_and_a_new_job_change_nothing_more(handler: Any, world: World) -> None:
    seed_alice(world)
    seed_bob(world)
    job_id = world.request(ALICE_SUB, (ALICE,))
    run(handler, world, job_id)
    after_first = world.items()

    # The same message again (a duplicate delivery): the job is done, nothing changes.
    assert run(handler, world, job_id, message_id="m-2") == {"batchItemFailures": []}
    assert world.items() == after_first

    # A new job for the same user finds nothing: a report of zeros, nothing else changes.
    second = world.request(ALICE_SUB, (ALICE,))
    run(handler, world, second, message_id="m-3")
    report = world.items()[(f"#erasure/{ALICE_SUB}", f"#report/{second}")]
    assert {int(value["N"]) for value in report["counts"]["M"].values()} == {0}
    changed = {key for key in world.items() if world.items()[key] != after_first.get(key)}
    assert changed == {(f"#erasure/{ALICE_SUB}", "#job"), (f"#erasure/{ALICE_SUB}", f"#report/{second}")}


def test_two_workers_at_once_both_succeed_and_erase_once(handler: Any, world: World) -> None:
    seed_alice(world)
    job_id = world.request(ALICE_SUB, (ALICE,))
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda m=m: results.append(run(handler, world, job_id, message_id=m)))
        for m in ("m-a", "m-b")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [{"batchItemFailures": []}] * 2
    assert world.versions(ALICE) == [] and world.keys_of(ALICE_SUB, (ALICE, ALICE_OLD)) == []
    report = world.items()[(f"#erasure/{ALICE_SUB}", f"#report/{job_id}")]
    assert int(report["counts"]["M"]["object_versions"]["N"]) == 7  # counted once, not twice


def test_a_worker_finding_the_lease_held_changes_nothing(handler: Any, world: World) -> None:
    seed_alice(world)
    job_id = world.request(ALICE_SUB, (ALICE,))
    store = importlib.import_module("erasure_worker.store")
    assert store.acquire_lease(ALICE_SUB, job_id, "other-worker", 1e10, 600, "2026-12-03T16:00:00.000Z")
    before = world.items()
    assert run(handler, world, job_id) == {"batchItemFailures": []}
    assert world.items() == before and len(world.versions(ALICE)) == 7


def test_the_same_message_redelivered_takes_its_own_lease_back(handler: Any, world: World) -> None:
    """A worker that crashed holding the lease: its message (same id) comes back and finishes the job."""
    seed_alice(world)
    job_id = world.request(ALICE_SUB, (ALICE,))
    store = importlib.import_module("erasure_worker.store")
    assert store.acquire_lease(ALICE_SUB, job_id, "m-1", 1e10, 600, "2026-12-03T16:00:00.000Z")
    run(handler, world, job_id, message_id="m-1")
    assert world.job(ALICE_SUB)["status"]["S"] == "done"


def test_work_larger_than_one_invocation_continues(handler: Any, world: World, monkeypatch: Any) -> None:
    seed_alice(world)
    job_id = world.request(ALICE_SUB, (ALICE,))
    store = importlib.import_module("erasure_worker.store")
    monkeypatch.setattr(store, "VERSIONS_PER_PAGE", 2)
    eraser = importlib.import_module("erasure_worker.eraser")
    # Time for one page of work per invocation: the deadline runs out once a step has made progress.
    progressed = {"steps": 0}
    real_progress = eraser._Job.progress

    def progress(self: Any, **counts: int) -> None:
        progressed["steps"] += 1
        real_progress(self, **counts)

    monkeypatch.setattr(eraser._Job, "progress", progress)
    monkeypatch.setattr(eraser._Job, "has_time", lambda self: progressed["steps"] == 0)
    invocations = 0
    event = sqs_event(ALICE_SUB, job_id, "m-0")
    while True:
        progressed["steps"] = 0
        invocations += 1
        assert handler.sqs_handler(event, Context()) == {"batchItemFailures": []}
        messages = world.messages()
        if not messages:
            break
        assert len(messages) == 1 and json.loads(messages[0]["body"]) == {"sub": ALICE_SUB, "job_id": job_id}
        event = {"Records": messages}
        assert invocations < 50
    assert invocations > 5  # 7 versions and a marker, 2 a page, then records, usage, mappings
    assert world.job(ALICE_SUB)["status"]["S"] == "done"
    assert world.versions(ALICE) == [] and world.keys_of(ALICE_SUB, (ALICE, ALICE_OLD)) == []
    report = world.items()[(f"#erasure/{ALICE_SUB}", f"#report/{job_id}")]
    assert int(report["counts"]["M"]["object_versions"]["N"]) == 7


def test_an_identity_mapped_to_another_sub_is_never_erased(handler: Any, world: World) -> None:
    seed_bob(world)
    # A forged #sub/ item claiming Bob's identity for Alice, and Bob's identity named in Alice's request.
    world.dynamodb.put_item(
        TableName=TABLE,
        Item={"object_key": {"S": f"#sub/{ALICE_SUB}"}, "version_id": {"S": BOB}},
    )
    job_id = world.request(ALICE_SUB, (BOB,))
    run(handler, world, job_id)
    assert len(world.versions(BOB)) == 1
    assert (f"#identity/{BOB}", "#sub") in world.items()
    assert any(key[0].startswith(f"uploads/{BOB}/") for key in world.items())


def test_a_malformed_message_is_reported_failed(handler: Any, world: World) -> None:
    event = sqs_event(ALICE_SUB, "not-a-job-id", "m-bad")
    # Batch size 1: the whole batch failed, so Powertools raises (Lambda's Errors alarm; retried, then the DLQ).
    with pytest.raises(BatchProcessingError, match="All records failed"):
        handler.sqs_handler(event, Context())


def test_a_real_delete_failure_fails_the_message(handler: Any, world: World, monkeypatch: Any) -> None:
    seed_alice(world)
    job_id = world.request(ALICE_SUB, (ALICE,))
    store = importlib.import_module("erasure_worker.store")
    real = store._s3

    class Refusing:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def delete_objects(self, **kwargs: Any) -> dict[str, Any]:
            return {"Errors": [{"Key": "k", "VersionId": "v", "Code": "AccessDenied", "Message": "no"}]}

    monkeypatch.setattr(store, "_s3", lambda: Refusing(real()))
    with pytest.raises(BatchProcessingError):
        run(handler, world, job_id)
    assert world.job(ALICE_SUB)["status"]["S"] == "running"  # retried later, not reported done


def test_deleting_what_is_already_gone_is_no_error(world: World) -> None:
    store = importlib.import_module("erasure_worker.store")
    version = world.put_object(ALICE, "gone.txt")
    entry = {"Key": f"uploads/{ALICE}/gone.txt", "VersionId": version}
    assert store.delete_versions([entry]) == 1
    store.delete_versions([entry])  # again: no error
    keys = [{"object_key": entry["Key"], "version_id": version}]
    assert store.delete_items(keys) == 1
    store.delete_items(keys)
    assert world.versions(ALICE) == []


def test_unprocessed_items_are_retried(world: World, monkeypatch: Any) -> None:
    store = importlib.import_module("erasure_worker.store")
    for index in range(30):
        world.put_object(ALICE, f"f{index}")
    keys = [{"object_key": k, "version_id": v} for (k, v) in world.items()]
    real = store._dynamodb
    calls = {"n": 0}

    class Flaky:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def batch_write_item(self, RequestItems: Any) -> dict[str, Any]:  # noqa: N803 - boto3's name
            calls["n"] += 1
            ((table, requests),) = RequestItems.items()
            if calls["n"] == 1:  # first call: half unprocessed
                self.inner.batch_write_item(RequestItems={table: requests[:10]})
                return {"UnprocessedItems": {table: requests[10:]}}
            result: dict[str, Any] = self.inner.batch_write_item(RequestItems=RequestItems)
            return result

    monkeypatch.setattr(store, "_dynamodb", lambda: Flaky(real()))
    assert store.delete_items(keys, sleep=lambda _: None) == 30
    assert world.items() == {} and calls["n"] == 3  # 25 (10 + retry of 15), then 5


def test_keys_match_the_schema() -> None:
    domain = importlib.import_module("erasure_worker.domain")
    assert domain.UPLOADS_PREFIX == schema.UPLOADS_PREFIX
    assert domain.IDENTITY_MAPPING_PREFIX == schema.IDENTITY_MAPPING_PREFIX
    assert domain.SUB_IDENTITIES_PREFIX == schema.SUB_IDENTITIES_PREFIX
    assert domain.USAGE_PREFIX == schema.USAGE_PREFIX
    assert domain.ERASURE_PREFIX == schema.ERASURE_PREFIX
    assert domain.ERASURE_JOB_SORT_KEY == schema.ERASURE_JOB_SORT_KEY
    assert domain.ERASURE_REPORT_SORT_PREFIX == schema.ERASURE_REPORT_SORT_PREFIX


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("nope", "JSON"),
        ("[]", "object"),
        (json.dumps({"sub": "x", "job_id": "a" * 32}), "sub"),
        (json.dumps({"sub": ALICE_SUB, "job_id": "A" * 32}), "job_id"),
    ],
)
def test_parse_message_names_the_field(body: str, field: str) -> None:
    domain = importlib.import_module("erasure_worker.domain")
    with pytest.raises(domain.InvalidMessage, match=field):
        domain.parse_message(body)


def test_uploads_prefix_refuses_what_is_not_an_identity_id() -> None:
    domain = importlib.import_module("erasure_worker.domain")
    assert domain.uploads_prefix(ALICE) == f"uploads/{ALICE}/"
    for bad in ("", "us-east-1:", "../x", f"{ALICE}/..", "*"):
        with pytest.raises(ValueError, match="identity id"):
            domain.uploads_prefix(bad)
