"""Arbitrary query strings and path parameters never produce a 5xx, and every answer is JSON."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ANY_TEXT = st.text(max_size=40) | st.sampled_from(["1", "25", "100", "0", "101", "..", "/", "%2F", "=="])
QUERY = st.dictionaries(
    st.sampled_from(["limit", "cursor", "owner", "identity", "key"]) | st.text(max_size=10),
    ANY_TEXT,
    max_size=4,
)
PATH_PARAMETERS = st.none() | st.dictionaries(
    st.sampled_from(["key", "proxy"]) | st.text(max_size=5),
    st.text(max_size=60) | st.sampled_from(["..", "../x", "a/../b", "/x", "ok.txt", "x" * 1100]),
    max_size=2,
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_clean(response: Any) -> None:
    assert response.status < 500, response.body
    assert response.headers["content-type"] == "application/json"
    if response.status >= 400:
        assert set(response.body) == {"error"}
        assert set(response.body["error"]) == {"code", "message"}


@FUZZ
@given(query=QUERY)
def test_list_never_5xx(call: Any, make_event: Any, seed: Any, alice: str, query: dict[str, str]) -> None:
    seed("a.txt", version_id="v1")
    assert_clean(call(make_event(identity=alice, query=query or None)))


@FUZZ
@given(path_parameters=PATH_PARAMETERS, query=QUERY)
def test_get_never_5xx(
    call: Any, make_event: Any, seed: Any, alice: str, path_parameters: Any, query: dict[str, str]
) -> None:
    seed("a.txt", version_id="v1")
    event = make_event(identity=alice, name="x", query=query or None)
    event["pathParameters"] = path_parameters
    assert_clean(call(event))


@FUZZ
@given(cursor=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=300))
def test_base64_alphabet_cursors_never_5xx(call: Any, make_event: Any, seed: Any, alice: str, cursor: str) -> None:
    seed("a.txt", version_id="v1")
    response = call(make_event(identity=alice, query={"cursor": cursor}))
    assert_clean(response)
    assert response.status == 400
