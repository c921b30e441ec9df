"""POST /uploads through the Lambda entry point, against moto: 201 with a presigned POST for exactly the caller's key
(its signed policy decoded and compared whole), 413/429 naming the limit with Retry-After, the sub mapping written at
issuance, and the grant usable to upload into a (moto) bucket."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.support import aws_clients as cached_clients

BUCKET = "secsls-test-uploads"
REGION = "us-east-1"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f8e0000-0000-4000-8000-000000000000"
ALICE_SUB = "a11ce000-0000-4000-8000-000000000001"
LIMITS = {
    "UPLOAD_MAX_OBJECT_BYTES": "1000",
    "UPLOADS_PER_MINUTE": "3",
    "UPLOADS_PER_DAY": "5",
    "UPLOAD_MAX_BYTES_HELD": "4000",
    "UPLOAD_GRANT_SECONDS": "120",
}


@pytest.fixture(autouse=True)
def upload_env(api_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**LIMITS, "UPLOAD_KMS_KEY_ARN": KEY_ARN}.items():
        monkeypatch.setenv(name, value)


def grant_event(make_event: Any, body: Any, **kwargs: Any) -> dict[str, Any]:
    event: dict[str, Any] = make_event("/uploads", method="POST", **kwargs)
    event["resource"] = event["requestContext"]["resourcePath"] = "/uploads"
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    return event


def ask(name: str = "report.txt", content_type: str = "text/plain", size: int = 100) -> dict[str, Any]:
    return {"name": name, "content_type": content_type, "size": size}


def policy_of(fields: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return document


@pytest.mark.parametrize("name", ["report.txt", "with space +plus %25 colon:x ünï 日本.txt", "dir/sub/file"])
def test_a_grant_is_a_presigned_post_for_exactly_the_callers_key(
    call: Any, make_event: Any, table: Any, alice: str, name: str
) -> None:
    before = datetime.now(UTC)
    response = call(grant_event(make_event, ask(name=name, size=321)))
    after = datetime.now(UTC)
    assert response.status == 201, response.body
    body = response.body
    key = f"uploads/{alice}/{name}"
    assert body["key"] == key and body["name"] == name and body["method"] == "POST"
    assert body["url"].startswith(f"https://{BUCKET}.s3.amazonaws.com")
    fields = body["fields"]
    assert fields["key"] == key
    assert fields["Content-Type"] == "text/plain"
    assert fields["x-amz-server-side-encryption"] == "aws:kms"
    assert fields["x-amz-server-side-encryption-aws-kms-key-id"] == KEY_ARN
    assert fields["x-amz-server-side-encryption-bucket-key-enabled"] == "true"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    policy = policy_of(fields)
    # The signed policy's conditions, compared whole: S3 enforces what is signed, whatever an emulator checks.
    assert policy["conditions"] == [
        ["content-length-range", 1, 321],
        {"Content-Type": "text/plain"},
        {"x-amz-server-side-encryption": "aws:kms"},
        {"x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN},
        {"x-amz-server-side-encryption-bucket-key-enabled": "true"},
        {"bucket": BUCKET},
        {"key": key},
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
        {"x-amz-credential": fields["x-amz-credential"]},
        {"x-amz-date": fields["x-amz-date"]},
        {"x-amz-security-token": fields["x-amz-security-token"]},
    ]
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert 119 <= (expiration - before).total_seconds() and (expiration - after).total_seconds() <= 121
    assert body["expires_in"] == 120
    assert datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")) == expiration.replace(microsecond=0)
    assert body["remaining"] == {"uploads_per_minute": 2, "uploads_per_day": 4, "upload_max_bytes_held": 4000 - 321}
    assert body["limits"]["upload_max_object_bytes"] == 1000
    assert response.headers["cache-control"] == "no-store"


def test_the_grant_uploads_into_the_bucket(call: Any, make_event: Any, table: Any, alice: str) -> None:
    s3 = cached_clients.client("s3", REGION)
    s3.create_bucket(Bucket=BUCKET)
    name = "with space +plus %25 colon:x ünï.txt"
    body = call(grant_event(make_event, ask(name=name, size=11))).body
    posted = requests.post(body["url"], data=body["fields"], files={"file": ("x", b"hello world")}, timeout=5)
    assert posted.status_code in (200, 201, 204), posted.text
    assert s3.get_object(Bucket=BUCKET, Key=f"uploads/{alice}/{name}")["Body"].read() == b"hello world"


def test_grant_issuance_records_the_identity_and_the_subs_identity_item(
    call: Any, make_event: Any, table: Any, alice: str
) -> None:
    assert call(grant_event(make_event, ask())).status == 201
    forward = table.get_item(Key={"object_key": f"#identity/{alice}", "version_id": "#sub"})["Item"]
    reverse = table.get_item(Key={"object_key": f"#sub/{ALICE_SUB}", "version_id": alice})["Item"]
    assert forward["sub"] == ALICE_SUB
    assert reverse == {"object_key": f"#sub/{ALICE_SUB}", "version_id": alice, "identity_id": alice, "sub": ALICE_SUB}
    assert call(make_event(identity=alice)).body["items"] == []  # neither lists as a record


def test_an_identity_of_another_sub_gets_no_grant_and_no_mapping_item(
    call: Any, make_event: Any, table: Any, alice: str
) -> None:
    from objects_api import store

    assert call(grant_event(make_event, ask())).status == 201
    store._KNOWN_IDENTITIES.clear()  # another execution environment
    other = "0ddba110-0000-4000-8000-000000000009"
    response = call(grant_event(make_event, ask(), sub=other))
    assert response.status == 403 and response.body["error"]["code"] == "forbidden"
    # The transaction wrote neither item: no reverse mapping for the other sub, no counter for it.
    assert table.get_item(Key={"object_key": f"#sub/{other}", "version_id": alice}).get("Item") is None
    assert table.get_item(Key={"object_key": f"#usage/{other}", "version_id": "#day/" + _today()}).get("Item") is None


def test_over_the_object_size_is_413_naming_the_limit_and_counts_nothing(
    call: Any, make_event: Any, table: Any
) -> None:
    response = call(grant_event(make_event, ask(size=1001)))
    assert response.status == 413
    assert response.body["error"]["code"] == "limit_exceeded"
    assert response.body["error"]["limit"] == "upload_max_object_bytes"
    assert "retry-after" not in response.headers
    assert (
        table.get_item(Key={"object_key": f"#usage/{ALICE_SUB}", "version_id": "#day/" + _today()}).get("Item") is None
    )


def test_over_the_bytes_held_is_413_naming_the_limit(call: Any, make_event: Any, table: Any) -> None:
    table.put_item(Item={"object_key": f"#usage/{ALICE_SUB}", "version_id": "#held", "bytes": 3500, "objects": 2})
    assert call(grant_event(make_event, ask(size=500))).status == 201  # exactly the total
    response = call(grant_event(make_event, ask(size=501)))
    assert response.status == 413
    assert response.body["error"] == {
        "code": "limit_exceeded",
        "message": response.body["error"]["message"],
        "limit": "upload_max_bytes_held",
    }


def test_over_the_rate_is_429_with_retry_after_to_the_minutes_end(
    call: Any, make_event: Any, table: Any, bob: str
) -> None:
    for _ in range(3):
        assert call(grant_event(make_event, ask())).status == 201
    response = call(grant_event(make_event, ask()))
    now = datetime.now(UTC)
    assert response.status == 429
    assert response.body["error"]["code"] == "rate_limited"
    assert response.body["error"]["limit"] == "uploads_per_minute"
    assert 1 <= int(response.headers["retry-after"]) <= 60 - now.second + 1
    # Limits are per user: Bob is not held back by Alice.
    assert call(grant_event(make_event, ask(), identity=bob)).status == 201


def test_a_replaced_identity_of_the_same_user_shares_the_limits(call: Any, make_event: Any, table: Any) -> None:
    replacement = "us-east-1:33333333-3333-4333-8333-333333333333"
    for _ in range(3):
        assert call(grant_event(make_event, ask())).status == 201
    response = call(grant_event(make_event, ask(), identity=replacement, sub=ALICE_SUB))
    assert response.status == 429 and response.body["error"]["limit"] == "uploads_per_minute"


def test_over_the_day_is_429_with_retry_after_to_midnight_utc(
    call: Any, make_event: Any, table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPLOADS_PER_MINUTE", "5")
    monkeypatch.setenv("UPLOADS_PER_DAY", "5")
    for _ in range(5):
        assert call(grant_event(make_event, ask())).status == 201
    response = call(grant_event(make_event, ask()))
    now = datetime.now(UTC)
    to_midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
    assert response.status == 429 and response.body["error"]["limit"] == "uploads_per_day"
    assert to_midnight - 2 <= int(response.headers["retry-after"]) <= to_midnight + 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (None, "invalid_body"),
        ("not json", "invalid_body"),
        ({"name": "a", "content_type": "text/plain"}, "invalid_size"),
        (ask(name="../x"), "invalid_name"),
        (ask(content_type="nope"), "invalid_content_type"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(call: Any, make_event: Any, table: Any, body: Any, code: str) -> None:
    response = call(grant_event(make_event, body))
    assert response.status == 400 and response.body["error"]["code"] == code


def test_other_methods_on_uploads_are_405(call: Any, make_event: Any, table: Any) -> None:
    response = call(grant_event(make_event, None) | {"httpMethod": "GET"})
    assert response.status == 405 and response.headers["allow"] == "POST"
    assert call(make_event("/objects", method="POST")).headers["allow"] == "GET"


def test_a_caller_without_identity_gets_no_grant(call: Any, make_event: Any, table: Any) -> None:
    response = call(grant_event(make_event, ask(), identity=None))
    assert response.status == 403


def test_a_missing_limit_setting_is_a_500_not_a_default(
    call: Any, make_event: Any, table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UPLOADS_PER_DAY")
    response = call(grant_event(make_event, ask()))
    assert response.status == 500 and response.body["error"]["code"] == "internal_error"


def _today() -> str:
    return f"{datetime.now(UTC):%Y-%m-%d}"
