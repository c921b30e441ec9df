"""tools/sigv4_call.py: URL encoding, SigV4 signing for execute-api and the Cognito exchange, without network."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import io
import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.stub import Stubber

TOOL_PATH = Path(__file__).resolve().parents[3] / "tools" / "sigv4_call.py"
BASE = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"
CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example")


@pytest.fixture(scope="module")
def tool() -> Any:
    spec = importlib.util.spec_from_file_location("sigv4_call_tool_under_test", TOOL_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_import_has_no_side_effects(capsys: pytest.CaptureFixture[str], tool: Any) -> None:
    spec = importlib.util.spec_from_file_location("sigv4_call_tool_import_only", TOOL_PATH)
    assert spec and spec.loader
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert capsys.readouterr() == ("", "")


def test_signed_request_has_execute_api_scope(tool: Any) -> None:
    headers = tool.sign_get(f"{BASE}/objects?limit=2", CREDS, "eu-west-1")

    authorization = headers["Authorization"]
    assert re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/execute-api/aws4_request, "
        r"SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}",
        authorization,
    ), authorization
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-amz-date", "x-amz-security-token"} <= set(signed)
    assert headers["X-Amz-Security-Token"] == "session-token-example"
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["X-Amz-Date"])


def _reference_signature(url: str, headers: dict[str, str], secret: str, region: str) -> str:
    """SigV4 as API Gateway checks it, written from the spec: each path segment encoded once more.

    `headers` has lower-case names, as sent (urllib adds Host from the URL).
    """
    parts = urlsplit(url)
    values = {**headers, "host": parts.netloc}
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    canonical_query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    canonical = "\n".join(
        [
            "GET",
            quote(parts.path, safe="/~"),
            canonical_query,
            "".join(f"{name}:{values[name].strip()}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    amz_date = headers["x-amz-date"]
    scope = f"{amz_date[:8]}/{region}/execute-api/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (amz_date[:8], region, "execute-api", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def sent_headers(request: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in request.header_items()}


def test_build_url_percent_encodes_path_and_query(tool: Any) -> None:
    url = tool.build_url(BASE + "/", "/objects/dir/my file+1 ü.txt", [("cursor", "ab-_=="), ("limit", "2")])
    assert url == (
        "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod/objects/dir/my%20file%2B1%20%C3%BC.txt"
        "?cursor=ab-_%3D%3D&limit=2"
    )


@pytest.mark.parametrize("bad", ["http://example.com/prod", "ftp://x/y", "https:///nohost", f"{BASE}?a=b"])
def test_build_url_rejects_non_https_or_query(tool: Any, bad: str) -> None:
    with pytest.raises(tool.ToolError):
        tool.build_url(bad, "/objects")


def test_region_detection(tool: Any) -> None:
    assert tool.region_from_url(BASE) == "eu-west-1"
    assert tool.region_from_url("https://api.example.com/objects") is None
    assert tool.region_from_pool_id("us-east-2:1111-2222") == "us-east-2"
    assert tool.region_from_pool_id("ap-southeast-1_AbCdEf") == "ap-southeast-1"
    assert tool.region_from_pool_id("nonsense") is None


class FakeResponse(io.BytesIO):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(body)
        self.status = status


class FakeOpener:
    """Stands in for urllib's urlopen: records the request, never touches the network."""

    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.status = status
        self.body = json.dumps(body if body is not None else {"items": [], "next_cursor": None}).encode()
        self.requests: list[Any] = []

    def __call__(self, request: Any, timeout: float) -> FakeResponse:
        self.requests.append(request)
        if self.status >= 400:
            import urllib.error

            raise urllib.error.HTTPError(request.full_url, self.status, "error", {}, io.BytesIO(self.body))
        return FakeResponse(self.status, self.body)


def test_main_signs_what_it_sends_with_env_credentials(tool: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDS.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDS.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", CREDS.token)
    opener, out, err = FakeOpener(), io.StringIO(), io.StringIO()

    status = tool.main([BASE, "/objects/a b+c.txt", "-q", "limit=2"], out=out, err=err, opener=opener)

    assert status == 0
    assert json.loads(out.getvalue()) == {"items": [], "next_cursor": None}
    assert "HTTP 200" in err.getvalue()
    (request,) = opener.requests
    assert request.full_url == f"{BASE}/objects/a%20b%2Bc.txt?limit=2"
    headers = sent_headers(request)
    assert "/eu-west-1/execute-api/aws4_request" in headers["authorization"]
    expected = _reference_signature(request.full_url, headers, CREDS.secret_key, "eu-west-1")
    assert headers["authorization"].endswith(f"Signature={expected}")


def test_main_exit_status_follows_http_status(tool: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    body = {"error": {"code": "forbidden", "message": "nope"}}
    out, err = io.StringIO(), io.StringIO()
    assert tool.main([BASE, "/objects"], out=out, err=err, opener=FakeOpener(403, body)) == 1
    assert json.loads(out.getvalue()) == body
    assert "HTTP 403" in err.getvalue()


def test_main_needs_region_for_custom_domains(tool: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    err = io.StringIO()
    assert tool.main(["https://api.example.com", "/objects"], err=err, opener=FakeOpener()) == 2
    assert "--region" in err.getvalue()


def test_main_rejects_partial_cognito_options(tool: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SS_ID_TOKEN", raising=False)
    err = io.StringIO()
    assert tool.main([BASE, "/objects", "--identity-pool-id", "eu-west-1:x"], err=err, opener=FakeOpener()) == 2
    assert "--id-token" in err.getvalue()


def test_id_token_is_exchanged_for_identity_pool_credentials(tool: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pool, user_pool, token = "eu-west-1:99999999-9999-4999-8999-999999999999", "eu-west-1_AbCdEf", "id.token.jwt"
    identity_id = "eu-west-1:11111111-1111-4111-8111-111111111111"
    logins = {f"cognito-idp.eu-west-1.amazonaws.com/{user_pool}": token}
    client = boto3.client("cognito-identity", region_name="eu-west-1", config=Config(signature_version=UNSIGNED))
    monkeypatch.setenv("SS_ID_TOKEN", token)
    opener, out = FakeOpener(), io.StringIO()
    with Stubber(client) as stubber:
        stubber.add_response("get_id", {"IdentityId": identity_id}, {"IdentityPoolId": pool, "Logins": logins})
        stubber.add_response(
            "get_credentials_for_identity",
            {
                "IdentityId": identity_id,
                "Credentials": {"AccessKeyId": "ASIATEMP", "SecretKey": "temp-secret", "SessionToken": "temp-token"},
            },
            {"IdentityId": identity_id, "Logins": logins},
        )
        status = tool.main(
            [BASE, "/objects", "--identity-pool-id", pool, "--user-pool-id", user_pool],
            out=out,
            err=io.StringIO(),
            opener=opener,
            cognito_client=client,
        )
        stubber.assert_no_pending_responses()
    assert status == 0
    (request,) = opener.requests
    headers = sent_headers(request)
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIATEMP/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == "temp-token"
    expected = _reference_signature(request.full_url, headers, "temp-secret", "eu-west-1")
    assert headers["authorization"].endswith(f"Signature={expected}")
