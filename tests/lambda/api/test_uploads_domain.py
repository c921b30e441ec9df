"""Upload grants' rules (objects_api.upload_rules), no AWS: the body, the limits and the errors naming them, the
counting windows and Retry-After, and the POST policy's conditions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from objects_api import store
from objects_api import upload_rules as rules
from objects_api.domain import InvalidParameter
from stacks import records_schema

LIMITS = rules.UploadLimits(
    upload_max_object_bytes=1000,
    uploads_per_minute=3,
    uploads_per_day=5,
    upload_max_bytes_held=4000,
    upload_grant_seconds=120,
)
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f8e0000-0000-4000-8000-000000000000"


def body(**fields: object) -> str:
    return json.dumps({"name": "a.txt", "content_type": "text/plain", "size": 10, **fields})


def test_keys_are_the_records_schemas() -> None:
    assert rules.USAGE_PREFIX == records_schema.USAGE_PREFIX
    assert rules.USAGE_HELD_SORT_KEY == records_schema.USAGE_HELD_SORT_KEY
    assert rules.TTL_ATTRIBUTE == records_schema.TTL_ATTRIBUTE
    assert store.SUB_IDENTITIES_PREFIX == records_schema.SUB_IDENTITIES_PREFIX


def test_limits_come_from_the_environment_or_the_function_fails() -> None:
    environ = {name.upper(): str(value) for name, value in LIMITS.as_dict().items()}
    assert rules.UploadLimits.from_environment(environ) == LIMITS
    for broken in ("", "0", "-1", "1.5", "١٠"):
        with pytest.raises(RuntimeError, match="UPLOADS_PER_DAY must be a positive integer"):
            rules.UploadLimits.from_environment({**environ, "UPLOADS_PER_DAY": broken})


@pytest.mark.parametrize(
    "name",
    ["plain.txt", "with space.txt", "plus+sign.txt", "per%cent.txt", "colon:name.txt", "ünï 日本/é.bin", "a/b/c"],
)
def test_a_valid_body_is_read_exactly(name: str) -> None:
    request = rules.parse_upload_request(body(name=name, content_type='image/png; q="x y"', size=1000), LIMITS)
    assert request == rules.UploadRequest(name=name, content_type='image/png; q="x y"', size=1000)


@pytest.mark.parametrize(
    ("raw", "field", "rule"),
    [
        (None, "body", "body must be a JSON object"),
        ("", "body", "body must be a JSON object"),
        ("[1]", "body", "body must be a JSON object"),
        ("{", "body", "body must be a JSON object"),
        (body(extra=1), "body", "unknown fields ['extra']"),
        ("x" * 9000, "body", "at most 8192 bytes"),
        (body(name=""), "name", "name must not be empty"),
        (body(name=7), "name", "name must not be empty"),
        (body(name="/abs"), "name", "name must not start with '/'"),
        (body(name="a/../b"), "name", "'..' path segment"),
        (body(name="a\nb"), "name", "control characters"),
        (body(name="x" * 1025), "name", "at most 1024 UTF-8 bytes"),
        (body(content_type="text"), "content_type", "content_type must be a media type"),
        (body(content_type="text/plain\r\nX: y"), "content_type", "content_type must be a media type"),
        (body(content_type="téxt/plain"), "content_type", "content_type must be a media type"),
        (body(content_type=None), "content_type", "content_type must be a media type"),
        (body(content_type="a/" + "b" * 300), "content_type", "at most 255"),
        (body(size=0), "size", "size must be an integer number of bytes, at least 1"),
        (body(size=True), "size", "at least 1"),
        (body(size=1.5), "size", "at least 1"),
        (body(size="10"), "size", "at least 1"),
    ],
)
def test_a_bad_body_is_refused_naming_the_field_and_rule(raw: object, field: str, rule: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        rules.parse_upload_request(raw, LIMITS)
    assert caught.value.code == f"invalid_{field}" and caught.value.status == 400
    assert rule in caught.value.message


def test_an_object_over_the_size_limit_is_413_naming_the_limit() -> None:
    assert rules.parse_upload_request(body(size=1000), LIMITS).size == 1000
    with pytest.raises(rules.LimitExceeded) as caught:
        rules.parse_upload_request(body(size=1001), LIMITS)
    error = caught.value
    assert (error.status, error.code, error.limit) == (413, "limit_exceeded", "upload_max_object_bytes")
    assert error.body() == {"error": {"code": "limit_exceeded", "message": error.message, "limit": error.limit}}
    assert "1001" in error.message and "upload_max_object_bytes" in error.message and "1000" in error.message
    assert error.headers() == {}  # waiting does not help: no Retry-After


def test_bytes_held_plus_the_declared_size_over_the_total_is_413() -> None:
    rules.check_bytes_held(3000, 1000, LIMITS)  # exactly the total: allowed
    with pytest.raises(rules.LimitExceeded) as caught:
        rules.check_bytes_held(3001, 1000, LIMITS)
    assert caught.value.limit == "upload_max_bytes_held" and caught.value.status == 413
    assert "3001 bytes held" in caught.value.message and "4000" in caught.value.message


def test_windows_are_the_utc_minute_and_day() -> None:
    now = datetime(2026, 12, 3, 23, 59, 30, 250_000, tzinfo=UTC)
    minute, day = rules.windows(now, LIMITS)
    assert (minute.limit, minute.sort_key, minute.allowed) == ("uploads_per_minute", "#minute/2026-12-03T23:59", 3)
    assert (day.limit, day.sort_key, day.allowed) == ("uploads_per_day", "#day/2026-12-03", 5)
    assert minute.ends_at == day.ends_at == datetime(2026, 12, 4, tzinfo=UTC)
    assert minute.retry_after(now) == 30  # 29.75 s, rounded up: never invites a retry before the window ends
    assert minute.retry_after(minute.ends_at) == 1  # at least 1


def test_a_full_window_is_429_with_retry_after_to_its_end() -> None:
    now = datetime(2026, 12, 3, 10, 15, 20, tzinfo=UTC)
    pair = rules.windows(now, LIMITS)
    minute, day = pair
    rules.check_windows({minute.sort_key: 2, day.sort_key: 4}, pair, now)  # one slot left in each
    with pytest.raises(rules.RateLimited) as caught:
        rules.check_windows({minute.sort_key: 3, day.sort_key: 4}, pair, now)
    error = caught.value
    assert (error.status, error.code, error.limit) == (429, "rate_limited", "uploads_per_minute")
    assert error.headers() == {"Retry-After": "40"}
    assert error.body()["error"]["limit"] == "uploads_per_minute"
    # Both full: the day's wait is the true one.
    with pytest.raises(rules.RateLimited) as caught:
        rules.check_windows({minute.sort_key: 3, day.sort_key: 5}, pair, now)
    assert caught.value.limit == "uploads_per_day"
    assert caught.value.headers() == {"Retry-After": str(13 * 3600 + 44 * 60 + 40)}
    with pytest.raises(ValueError, match="none is a window"):
        rules.first_full(["#minute/other"], pair, now)


def test_policy_conditions_bind_size_type_and_encryption_exactly() -> None:
    request = rules.UploadRequest(name="a b+c.txt", content_type="text/plain", size=321)
    assert rules.grant_conditions(request, KEY_ARN) == [
        ["content-length-range", 1, 321],  # the declared size, not the largest object allowed
        {"Content-Type": "text/plain"},
        {"x-amz-server-side-encryption": "aws:kms"},
        {"x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN},
        {"x-amz-server-side-encryption-bucket-key-enabled": "true"},
    ]
    assert rules.grant_fields(request, KEY_ARN) == {
        "Content-Type": "text/plain",
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN,
        "x-amz-server-side-encryption-bucket-key-enabled": "true",
    }


def test_grant_view_says_what_is_left() -> None:
    now = datetime(2026, 12, 3, 10, 15, 20, tzinfo=UTC)
    pair = rules.windows(now, LIMITS)
    request = rules.UploadRequest(name="a.txt", content_type="text/plain", size=100)
    view = rules.grant_view(
        "us-east-1:11111111-1111-4111-8111-111111111111",
        request,
        {"url": "https://bucket.s3.amazonaws.com/", "fields": {"key": "k"}},
        datetime(2026, 12, 3, 10, 17, 20, tzinfo=UTC),
        LIMITS,
        {pair[0].sort_key: 1, pair[1].sort_key: 5},
        3500,
        pair,
    )
    assert view["key"] == "uploads/us-east-1:11111111-1111-4111-8111-111111111111/a.txt"
    assert view["expires_at"] == "2026-12-03T10:17:20Z" and view["expires_in"] == 120
    assert view["remaining"] == {"uploads_per_minute": 2, "uploads_per_day": 0, "upload_max_bytes_held": 400}
    assert view["resets_at"] == {
        "uploads_per_minute": "2026-12-03T10:16:00Z",
        "uploads_per_day": "2026-12-04T00:00:00Z",
    }
    assert view["limits"] == LIMITS.as_dict() and view["max_bytes"] == 100 and view["method"] == "POST"
