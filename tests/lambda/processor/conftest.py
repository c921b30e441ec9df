"""Fixtures of the processor tests: environment, moto-backed bucket and table, fake Lambda context.

Helpers are handed out through fixtures (`events`, `emf`): with --import-mode=importlib test modules
cannot import this conftest.
"""

from __future__ import annotations

import importlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from unittest import mock

import boto3  # noqa: F401
import pytest
from moto import mock_aws

from stacks.records_schema import create_table_request
from tests.support import aws_clients as cached_clients
from tests.support.emf import Emf

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
TABLE_NAME = "secure-serverless-test-objects"
BUCKET = "secure-serverless-test-uploads"
METRICS_NAMESPACE = "SecureServerlessTest"

ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "TABLE_NAME": TABLE_NAME,
    "EXPECTED_BUCKET_NAME": BUCKET,
    "EXPECTED_BUCKET_OWNER": ACCOUNT_ID,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "processor",
    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
}


@pytest.fixture(scope="session")
def handler_module() -> ModuleType:
    """`processor.handler`, imported once with the test environment (it reads namespace/tracing at import).

    Session scope: it is imported before any capsys is active, so the Powertools Logger keeps a stream
    that stays open for the whole session.
    """
    with mock.patch.dict(os.environ, ENV):
        os.environ.pop("LAMBDA_TASK_ROOT", None)
        return importlib.import_module("processor.handler")


@pytest.fixture(autouse=True)
def processor_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    for name in (
        "OBJECT_EXPIRATION_DAYS",
        "NONCURRENT_VERSION_EXPIRATION_DAYS",
        "UPLOAD_MAX_BYTES_HELD",
        "UPLOADS_PER_DAY",
        "LAMBDA_TASK_ROOT",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return dict(ENV)


@pytest.fixture
def aws(processor_env: dict[str, str]) -> Iterator[None]:
    """moto for the test; the processor's cached clients are dropped before and after."""
    from processor import store

    store.reset_clients()
    with mock_aws():
        yield
    store.reset_clients()


@pytest.fixture
def s3(aws: None) -> Any:
    """A versioned bucket in moto; returns a boto3 S3 client."""
    client = cached_clients.client("s3", REGION)
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def dynamodb(aws: None) -> Any:
    """The table with the production schema (object_key + version_id, sparse GSI by-owner)."""
    client = cached_clients.client("dynamodb", REGION)
    client.create_table(**create_table_request(TABLE_NAME))
    return client


@dataclass
class FakeLambdaContext:
    function_name: str = "secure-serverless-test-processor"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:secure-serverless-test-processor"
    aws_request_id: str = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


class Events:
    """Builders of EventBridge events, SQS batches, uploads and table reads."""

    bucket = BUCKET
    table = TABLE_NAME

    def __init__(self, s3: Any = None, dynamodb: Any = None) -> None:
        self._s3 = s3
        self._dynamodb = dynamodb

    @staticmethod
    def event(
        key: str,
        *,
        version_id: str | None = None,
        size: int = 5,
        etag: str = "b1946ac92492d2347c6235b4d2611184",
        bucket: str = BUCKET,
        sequencer: str = "00617F08299329D189",
        time: str = "2021-11-12T00:00:00Z",
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {"key": key, "size": size, "etag": etag, "sequencer": sequencer}
        if version_id is not None:
            obj["version-id"] = version_id
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": ACCOUNT_ID,
            "time": time,
            "region": REGION,
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket},
                "object": obj,
                "request-id": "N4N7GDK58NMKJ12R",
                "requester": ACCOUNT_ID,
                "source-ip-address": "1.2.3.4",
                "reason": "PutObject",
            },
        }

    @staticmethod
    def record(body: Any, message_id: str | None = None) -> dict[str, Any]:
        """An SQS record as the event source mapping delivers it; dict bodies are JSON-encoded."""
        return {
            "messageId": message_id or str(uuid.uuid4()),
            "receiptHandle": "AQEB" + uuid.uuid4().hex,
            "body": body if not isinstance(body, dict) else json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1636675200000"},
            "messageAttributes": {},
            "md5OfBody": "0" * 32,
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:processor-buffer",
            "awsRegion": REGION,
        }

    def batch(self, *records: dict[str, Any]) -> dict[str, Any]:
        return {"Records": list(records)}

    def upload(self, key: str, body: bytes = b"hello", content_type: str = "text/plain") -> tuple[dict[str, Any], dict]:
        """Put an object into the bucket; returns (matching EventBridge event, PutObject response)."""
        put = self._s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)
        event = self.event(key, version_id=put["VersionId"], size=len(body), etag=put["ETag"].strip('"'))
        return event, put

    def item(self, key: str, version_id: str) -> dict[str, Any] | None:
        response = self._dynamodb.get_item(
            TableName=TABLE_NAME,
            Key={"object_key": {"S": key}, "version_id": {"S": version_id}},
            ConsistentRead=True,
        )
        return response.get("Item")

    def items(self) -> list[dict[str, Any]]:
        paginator = self._dynamodb.get_paginator("scan")
        return [item for page in paginator.paginate(TableName=TABLE_NAME) for item in page["Items"]]


@pytest.fixture
def events(s3: Any, dynamodb: Any) -> Events:
    return Events(s3, dynamodb)


@pytest.fixture
def offline_events() -> Events:
    """Event builders only (no AWS)."""
    return Events()


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str], handler_module: ModuleType) -> Emf:
    # The namespace the handler module was imported with (normally METRICS_NAMESPACE).
    return Emf(capsys, handler_module.METRICS_NAMESPACE)
