"""Who the caller is, what else answers (404/405/500/503) and the shape every response shares."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber


@pytest.mark.parametrize("identity", [None, ""], ids=["absent", "empty"])
@pytest.mark.parametrize("route", ["list", "get"])
def test_missing_identity_is_403(call: Any, make_event: Any, seed: Any, identity: str | None, route: str) -> None:
    seed("a.txt")
    event = make_event(identity=identity, name="a.txt" if route == "get" else None)
    response = call(event)
    assert response.status == 403
    assert response.headers["content-type"] == "application/json"
    assert response.body["error"]["code"] == "forbidden"
    assert "cognitoIdentityId" in response.body["error"]["message"]


def test_identity_block_missing_entirely_is_403(call: Any, make_event: Any, table: Any) -> None:
    event = make_event()
    del event["requestContext"]["identity"]
    assert call(event).status == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cognitoIdentityPoolId", "eu-west-1:88888888-8888-4888-8888-888888888888"),
        ("cognitoAuthenticationType", "unauthenticated"),
    ],
)
def test_identity_from_another_pool_or_unauthenticated_is_403(
    call: Any, make_event: Any, seed: Any, field: str, value: str
) -> None:
    seed("a.txt")  # the caller's own object: only the identity's origin is wrong
    event = make_event(name="a.txt")
    event["requestContext"]["identity"][field] = value
    response = call(event)
    assert response.status == 403
    assert field in response.body["error"]["message"]


def test_identity_checked_before_input(call: Any, make_event: Any, table: Any) -> None:
    response = call(make_event(identity=None, query={"limit": "0"}))
    assert response.status == 403


SPOOFS = {
    "cognitoIdentityId": "{bob}",
    "X-Cognito-Identity-Id": "{bob}",
    "X-Amz-Cognito-Identity-Id": "{bob}",
    "identity": "{bob}",
    "owner": "{bob}",
}


def test_identity_cannot_come_from_headers_or_query(
    call: Any, make_event: Any, seed: Any, alice: str, bob: str
) -> None:
    seed("mine.txt", identity=alice)
    seed("bobs.txt", identity=bob)
    spoof = {name: value.format(bob=bob) for name, value in SPOOFS.items()}

    listed = call(make_event(identity=alice, headers=spoof, query=spoof))
    assert listed.status == 200
    assert [item["name"] for item in listed.body["items"]] == ["mine.txt"]

    fetched = call(make_event(identity=alice, name="bobs.txt", headers=spoof, query=spoof))
    assert fetched.status == 404


def test_spoofing_without_request_context_identity_is_403(call: Any, make_event: Any, seed: Any, bob: str) -> None:
    seed("bobs.txt", identity=bob)
    spoof = {name: value.format(bob=bob) for name, value in SPOOFS.items()}
    assert call(make_event(identity=None, headers=spoof, query=spoof)).status == 403


@pytest.mark.parametrize("path", ["/", "/nothing", "/objectsx", "/v1/objects"])
def test_unknown_route_is_404_json(call: Any, make_event: Any, table: Any, path: str) -> None:
    event = make_event(path)
    event["resource"] = "/{proxy+}"
    response = call(event)
    assert response.status == 404
    assert response.headers["content-type"] == "application/json"
    assert response.body["error"]["code"] == "not_found"
    assert set(response.body) == {"error"} and set(response.body["error"]) == {"code", "message"}


@pytest.mark.parametrize(
    ("method", "name", "allow"),
    [
        ("POST", None, "GET"),
        ("DELETE", None, "GET"),  # the list is not deleted: only one object at a time
        ("POST", "a.txt", "GET, DELETE"),
        ("PUT", "a/b.txt", "GET, DELETE"),
        ("PATCH", "a.txt", "GET, DELETE"),
    ],
)
def test_wrong_method_is_405(call: Any, make_event: Any, table: Any, method: str, name: str | None, allow: str) -> None:
    response = call(make_event(method=method, name=name))
    assert response.status == 405
    assert response.headers["allow"] == allow
    assert response.body["error"]["code"] == "method_not_allowed"
    assert method in response.body["error"]["message"]


def test_success_and_error_responses_share_headers(call: Any, make_event: Any, seed: Any, alice: str) -> None:
    seed("a.txt")
    responses = [
        call(make_event(identity=alice)),
        call(make_event(identity=alice, name="a.txt")),
        call(make_event(identity=alice, name="missing")),
        call(make_event(identity=alice, query={"limit": "x"})),
        call(make_event(identity=None)),
        call(make_event("/nope")),
    ]
    assert [r.status for r in responses] == [200, 200, 404, 400, 403, 404]
    for response in responses:
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "no-store"
        if response.status >= 400:
            assert set(response.body) == {"error"}
            assert isinstance(response.body["error"]["code"], str)
            assert isinstance(response.body["error"]["message"], str)


def test_throttled_table_is_503(call: Any, make_event: Any, table: Any, alice: str) -> None:
    from objects_api import store

    with Stubber(store._client()) as stubber:
        stubber.add_response("transact_write_items", {})  # the caller's identity mapping (both items)
        stubber.add_client_error("query", "ProvisionedThroughputExceededException", http_status_code=400)
        response = call(make_event(identity=alice))
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    assert response.body["error"]["code"] == "service_unavailable"


def test_table_that_does_not_answer_in_time_is_503_with_retry_after(
    call: Any, make_event: Any, table: Any, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ReadTimeoutError

    from objects_api import store
    from tests.support.pipeline_sim import SimClock

    clock = SimClock()
    clock.install(monkeypatch)  # botocore's retry backoff advances the simulated clock instead of sleeping
    attempts = []

    def never_answers(request: Any, **_: Any) -> None:
        attempts.append(request.url)
        raise ReadTimeoutError(endpoint_url=request.url)

    store._client().meta.events.register_first("before-send.dynamodb.Query", never_answers)
    response = call(make_event(identity=alice))

    assert response.status == 503
    assert response.headers["retry-after"] == str(store.TIMED_OUT_RETRY_AFTER_SECONDS)
    assert response.body["error"]["code"] == "service_unavailable"
    assert len(attempts) == store.QUERY_BUDGET.total_max_attempts
    assert clock.elapsed <= store.QUERY_BUDGET.worst_case_seconds


def test_start_key_refused_by_dynamodb_is_400_cursor(call: Any, make_event: Any, table: Any, alice: str) -> None:
    from objects_api import domain, store

    cursor = domain.encode_cursor({"owner": alice, "object_key": f"uploads/{alice}/a.txt", "version_id": "v"})
    with Stubber(store._client()) as stubber:
        stubber.add_response("transact_write_items", {})  # the caller's identity mapping (both items)
        stubber.add_client_error("query", "ValidationException", "The provided starting key is invalid")
        response = call(make_event(identity=alice, query={"cursor": cursor}))
    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_cursor"


def test_unexpected_failure_is_opaque_500(
    call: Any, make_event: Any, table: Any, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TABLE_NAME")
    response = call(make_event(identity=alice))
    assert response.status == 500
    assert response.body == {"error": {"code": "internal_error", "message": "internal error"}}
    assert "TABLE_NAME" not in response.raw["body"]


def test_metrics_are_emitted_as_emf(
    call: Any, make_event: Any, seed: Any, alice: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed("a.txt")
    capsys.readouterr()
    call(make_event(identity=alice))
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    namespaces = {d["Namespace"] for blob in blobs for d in blob["_aws"]["CloudWatchMetrics"]}
    assert namespaces == {"SecureServerless"}
    assert any(blob.get("ObjectsListed") == [1.0] or blob.get("ObjectsListed") == 1.0 for blob in blobs)
    assert all(alice not in json.dumps(blob) for blob in blobs)


@pytest.mark.parametrize("variable", ["TABLE_NAME", "OWNER_INDEX_NAME"])
def test_missing_configuration_is_an_opaque_500_not_a_guess(
    call: Any, make_event: Any, seed: Any, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    seed("a.txt")
    monkeypatch.delenv(variable)
    response = call(make_event())
    assert response.status == 500
    assert variable not in json.dumps(response.body)  # no internals leak to the caller


def test_logs_correlate_on_the_request_id_api_gateway_generated(
    api: Any, call: Any, make_event: Any, table: Any
) -> None:
    # requestContext.requestId can be set by the client (x-amzn-requestid); extendedRequestId cannot.
    event = make_event()
    event["requestContext"]["requestId"] = 'chosen", "level": "ERROR'
    event["requestContext"]["extendedRequestId"] = "Gen3rated="
    assert call(event).status == 200
    assert api.logger.get_correlation_id() == "Gen3rated="
