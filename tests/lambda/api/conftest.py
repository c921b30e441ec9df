"""Fixtures of the objects API tests: environment, a moto table with the real schema, REST proxy events."""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from moto import mock_aws

from stacks.records_schema import create_table_request
from tests.support import aws_clients as cached_clients

TABLE_NAME = "objects-test"
OWNER_INDEX = "by-owner-test"
REGION = "us-east-1"
ALICE = "us-east-1:11111111-1111-4111-8111-111111111111"
BOB = "us-east-1:22222222-2222-4222-8222-222222222222"
IDENTITY_POOL_ID = "us-east-1:99999999-9999-4999-8999-999999999999"
BUCKET_NAME = "secsls-test-uploads"
USER_POOL_PROVIDER = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"
ALICE_SUB = "a11ce000-0000-4000-8000-000000000001"
BOB_SUB = "b0b00000-0000-4000-8000-000000000002"
SUBS = {ALICE: ALICE_SUB, BOB: BOB_SUB}


def provider_of(sub: str, provider: str = USER_POOL_PROVIDER) -> str:
    """requestContext.identity.cognitoAuthenticationProvider of a user pool sign-in, as API Gateway sets it."""
    return f"{provider},{provider}:CognitoSignIn:{sub}"


@pytest.fixture(autouse=True)
def api_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment of the function; set before the handler module is first imported (see `api`)."""
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "TABLE_NAME": TABLE_NAME,
        "OWNER_INDEX_NAME": OWNER_INDEX,
        "IDENTITY_POOL_ID": IDENTITY_POOL_ID,
        "BUCKET_NAME": BUCKET_NAME,
        "EXPECTED_BUCKET_OWNER": "123456789012",  # moto's account
        "USER_POOL_PROVIDER": USER_POOL_PROVIDER,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "SecureServerless",
        "POWERTOOLS_SERVICE_NAME": "api",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws() -> Any:
    """A fresh mocked AWS per test; the function's cached client is dropped on both sides."""
    from objects_api import signer, store

    with mock_aws():
        store.reset_client()
        signer.reset_client()
        yield
    store.reset_client()
    signer.reset_client()


@pytest.fixture
def table(aws: Any) -> Any:
    """The objects table as the infrastructure defines it (keys, sparse owner GSI, projection ALL)."""
    dynamodb = cached_clients.resource("dynamodb", REGION)
    return dynamodb.create_table(**create_table_request(TABLE_NAME, OWNER_INDEX))


@pytest.fixture
def seed(table: Any) -> Callable[..., dict[str, Any]]:
    """Write an item the way the processor does; returns it. `identity=None` writes a non-upload key."""

    def put(
        name: str,
        identity: str | None = ALICE,
        version_id: str | None = None,
        sequencer: str = "0055AED6DCD90281E5",
        size: int = 42,
        **extra: Any,
    ) -> dict[str, Any]:
        object_key = f"uploads/{identity}/{name}" if identity else name
        item: dict[str, Any] = {
            "object_key": object_key,
            "version_id": version_id or uuid.uuid4().hex,
            "bucket": "secsls-test-uploads",
            "size": size,
            "etag": "d41d8cd98f00b204e9800998ecf8427e",
            "content_type": "text/plain",
            "last_modified": "2025-01-01T00:00:00Z",
            "sequencer": sequencer,
            "event_time": "2025-01-01T00:00:00.000Z",
            "recorded_at": "2025-01-01T00:00:01Z",
        }
        if identity:
            item["owner"] = identity
            item["name"] = name
        item.update(extra)
        table.put_item(Item=item)
        return item

    return put


@pytest.fixture
def api(api_env: None) -> Any:
    """The handler module, imported only once the environment is set (Metrics reads its namespace at import)."""
    return importlib.import_module("objects_api.handler")


@dataclass
class FakeContext:
    function_name: str = "secure-serverless-test-api"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:secure-serverless-test-api"
    aws_request_id: str = "6f1c3c2e-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/secure-serverless-test-api"
    log_stream_name: str = "2025/01/01/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()


def rest_event(
    path: str = "/objects",
    *,
    method: str = "GET",
    identity: str | None = ALICE,
    query: dict[str, str] | None = None,
    multi_query: dict[str, list[str]] | None = None,
    name: str | None = None,
    path_parameters: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    encode_path: bool = True,
    sub: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST API proxy event (payload v1) as sent after IAM (SigV4) authorisation.

    `name` builds a `/objects/{key+}` request: `path` stays percent-encoded (as REST APIs send it) while
    pathParameters.key is decoded, unless `encode_path=False`. The caller signed in as `sub` (default: Alice's or
    Bob's own sub for their identities, else a fixed one).
    """
    resource = "/objects"
    if name is not None:
        resource = "/objects/{key+}"
        path = "/objects/" + (quote(name, safe="/") if encode_path else name)
        path_parameters = {"key": name} if path_parameters is None else path_parameters
    all_headers = {
        "Accept": "application/json",
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "pytest",
        "X-Amz-Date": "20250101T000000Z",
        "X-Amz-Security-Token": "token",
        "Authorization": "AWS4-HMAC-SHA256 Credential=ASIA/20250101/us-east-1/execute-api/aws4_request, ...",
        **(headers or {}),
    }
    if multi_query is None and query is not None:
        multi_query = {key: [value] for key, value in query.items()}
    identity_block: dict[str, Any] = {
        "cognitoIdentityPoolId": IDENTITY_POOL_ID,
        "accountId": "123456789012",
        "cognitoAuthenticationType": "authenticated",
        "cognitoAuthenticationProvider": provider_of(
            sub or SUBS.get(identity or "", "c0ffee00-0000-4000-8000-000000000003")
        ),
        "caller": "AROAEXAMPLE:CognitoIdentityCredentials",
        "sourceIp": "203.0.113.10",
        "principalOrgId": None,
        "accessKey": "ASIAEXAMPLE",
        "userAgent": "pytest",
        "userArn": "arn:aws:sts::123456789012:assumed-role/authenticated/CognitoIdentityCredentials",
        "user": "AROAEXAMPLE:CognitoIdentityCredentials",
    }
    if identity is not None:
        identity_block["cognitoIdentityId"] = identity
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {key: [value] for key, value in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": "Abc123=",
            "requestTime": "01/Jan/2025:00:00:00 +0000",
            "path": f"/dev{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "dev",
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1735689600000,
            "requestId": str(uuid.uuid4()),
            "identity": identity_block,
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123",
        },
        "body": None,
        "isBase64Encoded": False,
    }


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: Any
    raw: dict[str, Any]


def response_headers(raw: dict[str, Any]) -> dict[str, str]:
    """Headers of a proxy response, single- or multi-value, with lower-cased names."""
    headers = {name.lower(): value for name, value in (raw.get("headers") or {}).items()}
    for name, values in (raw.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ", ".join(values)
    return headers


@pytest.fixture
def call(api: Any, lambda_context: FakeContext) -> Callable[[dict[str, Any]], ApiResponse]:
    """Invoke the Lambda entry point with an event; parse the proxy response (the body must be JSON)."""

    def invoke(event: dict[str, Any]) -> ApiResponse:
        raw = api.lambda_handler(event, lambda_context)
        headers = response_headers(raw)
        assert not raw.get("isBase64Encoded"), raw
        return ApiResponse(status=raw["statusCode"], headers=headers, body=json.loads(raw["body"]), raw=raw)

    return invoke


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """`rest_event` as a fixture (test modules don't import conftest)."""
    return rest_event


@pytest.fixture
def alice() -> str:
    return ALICE


@pytest.fixture
def bob() -> str:
    return BOB
