"""Identity continuity: every signed-in call carries the caller's user pool `sub`
(requestContext.identity.cognitoAuthenticationProvider); the identity id <-> sub mapping is recorded once, never
overwritten, and never lists as a record."""

from __future__ import annotations

from typing import Any

import pytest

ALICE_SUB = "a11ce000-0000-4000-8000-000000000001"
PROVIDER = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"


def mapping(table: Any, identity: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = table.get_item(
        Key={"object_key": f"#identity/{identity}", "version_id": "#sub"}, ConsistentRead=True
    ).get("Item")
    return item


def test_first_call_records_the_identity_and_its_sub(call: Any, make_event: Any, table: Any, alice: str) -> None:
    assert call(make_event(identity=alice)).status == 200
    item = mapping(table, alice)
    assert item is not None
    assert item["identity_id"] == alice and item["sub"] == ALICE_SUB
    assert "owner" not in item  # never in the owner index: not a record
    assert call(make_event(identity=alice)).body["items"] == []


def test_a_new_identity_of_the_same_user_maps_to_the_same_sub(
    call: Any, make_event: Any, table: Any, alice: str, bob: str
) -> None:
    """A replaced identity pool mints a new identity id for the same user: both ids map to one sub."""
    replacement = "us-east-1:33333333-3333-4333-8333-333333333333"
    assert call(make_event(identity=alice)).status == 200
    assert call(make_event(identity=replacement, sub=ALICE_SUB)).status == 200
    assert mapping(table, replacement)["sub"] == mapping(table, alice)["sub"] == ALICE_SUB  # type: ignore[index]  # both recorded above


def test_an_identity_recorded_for_another_sub_is_refused_and_not_overwritten(
    call: Any, make_event: Any, table: Any, alice: str
) -> None:
    from objects_api import store

    assert call(make_event(identity=alice)).status == 200
    store._KNOWN_IDENTITIES.clear()  # another execution environment: it knows nothing yet
    other = "0ddba110-0000-4000-8000-000000000009"
    response = call(make_event(identity=alice, sub=other))
    assert response.status == 403
    assert response.body["error"]["code"] == "forbidden"
    assert "another user" in response.body["error"]["message"]
    assert mapping(table, alice)["sub"] == ALICE_SUB  # type: ignore[index]  # recorded by the first call


def test_the_mapping_is_written_once_per_identity_and_environment(
    call: Any, make_event: Any, table: Any, alice: str
) -> None:
    from objects_api import store

    writes: list[Any] = []
    client = store._client()
    client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems", lambda params, **_: writes.append(params)
    )
    for _ in range(3):
        assert call(make_event(identity=alice)).status == 200
    assert len(writes) == 1


def test_a_mapping_erased_meanwhile_is_recorded_again_after_the_cache_lifetime(
    call: Any, make_event: Any, table: Any, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An erasure deletes the mapping items; a warm environment writes them again once its memory of them is older
    than KNOWN_IDENTITY_SECONDS, so the user's next uploads are recorded with their sub again."""
    from objects_api import store

    now = [1_000.0]
    monkeypatch.setattr(store.time, "monotonic", lambda: now[0])
    assert call(make_event(identity=alice)).status == 200
    table.delete_item(Key={"object_key": f"#identity/{alice}", "version_id": "#sub"})  # the erasure worker's delete
    now[0] += store.KNOWN_IDENTITY_SECONDS - 1
    assert call(make_event(identity=alice)).status == 200
    assert mapping(table, alice) is None  # still within the lifetime: not written again
    now[0] += 2
    assert call(make_event(identity=alice)).status == 200
    assert mapping(table, alice)["sub"] == ALICE_SUB  # type: ignore[index]  # written again


@pytest.mark.parametrize(
    "provider",
    [
        pytest.param(None, id="absent"),
        pytest.param("", id="empty"),
        pytest.param(PROVIDER, id="no-sign-in-entry"),
        pytest.param(f"{PROVIDER}:CognitoSignIn:not-a-uuid", id="malformed-sub"),
        pytest.param(
            f"cognito-idp.us-east-1.amazonaws.com/us-east-1_Other:CognitoSignIn:{ALICE_SUB}", id="another-user-pool"
        ),
        pytest.param(f"graph.facebook.com:CognitoSignIn:{ALICE_SUB}", id="another-provider"),
        pytest.param(f"{PROVIDER}:CognitoSignIn:{ALICE_SUB}" + "x" * 3000, id="too-long"),
    ],
)
def test_a_call_without_a_user_of_this_user_pool_is_403(
    call: Any, make_event: Any, table: Any, alice: str, provider: str | None
) -> None:
    event = make_event(identity=alice)
    event["requestContext"]["identity"]["cognitoAuthenticationProvider"] = provider
    response = call(event)
    assert response.status == 403
    assert "cognitoAuthenticationProvider" in response.body["error"]["message"]
    assert mapping(table, alice) is None


def test_without_a_configured_user_pool_every_call_is_403(
    call: Any, make_event: Any, table: Any, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER_POOL_PROVIDER", "")
    assert call(make_event(identity=alice)).status == 403


def test_a_throttled_mapping_write_is_503(call: Any, make_event: Any, table: Any, alice: str) -> None:
    from botocore.stub import Stubber

    from objects_api import store

    with Stubber(store._client()) as stubber:
        stubber.add_client_error("transact_write_items", "ProvisionedThroughputExceededException", http_status_code=400)
        response = call(make_event(identity=alice))
    assert response.status == 503 and response.headers["retry-after"] == "1"


def test_the_mapping_keys_are_the_ones_the_stack_lets_the_function_write() -> None:
    """The API role may put only items whose partition key starts with records_schema.IDENTITY_MAPPING_PREFIX."""
    from objects_api import domain
    from stacks import records_schema

    assert domain.IDENTITY_MAPPING_PREFIX == records_schema.IDENTITY_MAPPING_PREFIX
    key = domain.identity_mapping_key("us-east-1:11111111-1111-4111-8111-111111111111")
    assert key[records_schema.PARTITION_KEY].startswith(records_schema.IDENTITY_MAPPING_PREFIX)
    assert set(key) == {records_schema.PARTITION_KEY, records_schema.SORT_KEY}
