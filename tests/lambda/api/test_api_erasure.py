"""POST /erasure and GET /erasure: the caller's job, by their user pool sub; two requests at once start one job;
the status and the kept report; no caller reaches another user's job; nothing of the caller is written back."""

from __future__ import annotations

import importlib
import json
import threading
from typing import Any

import pytest

ALICE_SUB = "a11ce000-0000-4000-8000-000000000001"
ALICE_SECOND = "us-east-1:33333333-3333-4333-8333-333333333333"  # another identity id of Alice (a new pool)


@pytest.fixture
def queue(aws: Any, table: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.support import aws_clients

    sqs = aws_clients.client("sqs", "us-east-1")
    url = sqs.create_queue(QueueName="erasure-jobs")["QueueUrl"]
    monkeypatch.setenv("ERASURE_QUEUE_URL", url)

    def messages() -> list[dict[str, Any]]:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in found]

    return messages


def erasure_event(make_event: Any, method: str, identity: str, sub: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = make_event("/erasure", method=method, identity=identity, sub=sub)
    event["resource"] = event["requestContext"]["resourcePath"] = "/erasure"
    return event


def test_post_starts_one_job_and_get_reads_it(call: Any, make_event: Any, queue: Any, table: Any, alice: str) -> None:
    response = call(erasure_event(make_event, "POST", alice))
    assert response.status == 202
    assert response.body["status"] == "pending" and len(response.body["job_id"]) == 32
    assert response.headers["cache-control"] == "no-store"
    assert queue() == [{"job_id": response.body["job_id"], "sub": ALICE_SUB}]
    job = table.get_item(Key={"object_key": f"#erasure/{ALICE_SUB}", "version_id": "#job"})["Item"]
    assert job["identity_ids"] == {alice}

    again = call(erasure_event(make_event, "POST", alice))
    assert again.status == 202 and again.body["job_id"] == response.body["job_id"]
    assert queue() == []  # the pending job is returned, not sent again

    status = call(erasure_event(make_event, "GET", alice))
    assert status.status == 200
    assert status.body == {
        "job_id": response.body["job_id"],
        "status": "pending",
        "requested_at": response.body["requested_at"],
    }


def test_another_identity_of_the_same_user_joins_the_job(
    call: Any, make_event: Any, queue: Any, table: Any, alice: str
) -> None:
    first = call(erasure_event(make_event, "POST", alice)).body
    second = call(erasure_event(make_event, "POST", ALICE_SECOND, sub=ALICE_SUB)).body
    assert second["job_id"] == first["job_id"]
    job = table.get_item(Key={"object_key": f"#erasure/{ALICE_SUB}", "version_id": "#job"})["Item"]
    assert job["identity_ids"] == {alice, ALICE_SECOND}


def test_two_posts_at_once_start_one_job(call: Any, make_event: Any, queue: Any, alice: str) -> None:
    bodies: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: bodies.append(call(erasure_event(make_event, "POST", alice)).body))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({body["job_id"] for body in bodies}) == 1
    assert len(queue()) == 1


def test_done_job_shows_its_report_and_a_new_post_starts_another(
    call: Any, make_event: Any, queue: Any, table: Any, alice: str
) -> None:
    job_id = call(erasure_event(make_event, "POST", alice)).body["job_id"]
    queue()
    counts = {"identities": 1, "object_versions": 1000, "delete_markers": 3, "records": 1000}
    table.update_item(
        Key={"object_key": f"#erasure/{ALICE_SUB}", "version_id": "#job"},
        UpdateExpression="SET #s = :done, started_at = :a, finished_at = :b",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":done": "done", ":a": "2026-12-03T16:00:01.000Z", ":b": "2026-12-03T16:00:09.000Z"},
    )
    table.put_item(
        Item={
            "object_key": f"#erasure/{ALICE_SUB}",
            "version_id": f"#report/{job_id}",
            "job_id": job_id,
            "counts": counts,
            "started_at": "2026-12-03T16:00:01.000Z",
            "finished_at": "2026-12-03T16:00:09.000Z",
        }
    )
    body = call(erasure_event(make_event, "GET", alice)).body
    assert body["status"] == "done" and body["finished_at"] == "2026-12-03T16:00:09.000Z"
    assert body["report"] == {
        "counts": {**counts, "usage_items": 0, "mapping_items": 0},
        "started_at": "2026-12-03T16:00:01.000Z",
        "finished_at": "2026-12-03T16:00:09.000Z",
    }
    new = call(erasure_event(make_event, "POST", alice)).body
    assert new["job_id"] != job_id and new["status"] == "pending"
    assert queue() == [{"job_id": new["job_id"], "sub": ALICE_SUB}]


def test_another_user_sees_only_their_own(call: Any, make_event: Any, queue: Any, alice: str, bob: str) -> None:
    call(erasure_event(make_event, "POST", alice))
    bob_status = call(erasure_event(make_event, "GET", bob))
    assert bob_status.status == 404
    assert bob_status.body == {
        "error": {"code": "not_found", "message": "erasure: no erasure was requested for the caller"}
    }
    bob_job = call(erasure_event(make_event, "POST", bob)).body
    alice_job = call(erasure_event(make_event, "GET", alice)).body
    assert bob_job["job_id"] != alice_job["job_id"]


def test_erasure_routes_write_no_identity_mapping(
    call: Any, make_event: Any, queue: Any, table: Any, alice: str
) -> None:
    call(erasure_event(make_event, "POST", alice))
    call(erasure_event(make_event, "GET", alice))
    keys = {item["object_key"] for item in table.scan()["Items"]}
    assert keys == {f"#erasure/{ALICE_SUB}"}


def test_a_stale_pending_job_is_sent_again_once(call: Any, make_event: Any, queue: Any, table: Any, alice: str) -> None:
    job_id = call(erasure_event(make_event, "POST", alice)).body["job_id"]
    queue()
    table.update_item(
        Key={"object_key": f"#erasure/{ALICE_SUB}", "version_id": "#job"},
        UpdateExpression="SET enqueued_at = :old",
        ExpressionAttributeValues={":old": "2020-01-01T00:00:00.000Z"},
    )
    call(erasure_event(make_event, "POST", alice))
    call(erasure_event(make_event, "POST", alice))
    assert queue() == [{"job_id": job_id, "sub": ALICE_SUB}]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_answer_405(call: Any, make_event: Any, table: Any, alice: str, method: str) -> None:
    response = call(erasure_event(make_event, method, alice))
    assert response.status == 405 and response.headers["allow"] == "GET, POST"


def test_an_unsigned_in_caller_is_refused(call: Any, make_event: Any, queue: Any) -> None:
    event = erasure_event(make_event, "POST", "us-east-1:44444444-4444-4444-8444-444444444444")
    event["requestContext"]["identity"]["cognitoAuthenticationProvider"] = None
    assert call(event).status == 403
    assert queue() == []


def test_job_view_shows_no_identity_or_lease() -> None:
    erasure = importlib.import_module("objects_api.erasure")
    view = erasure.job_view(
        {"job_id": "j", "status": "running", "identity_ids": {"x"}, "lease_owner": "m", "requested_at": "t"}, None
    )
    assert view == {"job_id": "j", "status": "running", "requested_at": "t"}
