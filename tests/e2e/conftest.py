"""Fixtures of the local end-to-end test: moto in server mode on 127.0.0.1, the stack's resources as the
synthesized template defines them, and fresh copies of the two real handlers wired with the template's variables.

Isolation from the other test modules (they use the in-process `moto.mock_aws`):
- the environment is replaced for this module only (every `AWS_*`/`POWERTOOLS_*` variable and the functions'
  own variables are removed first, then the fake credentials and `AWS_ENDPOINT_URL` are set) and restored after;
- the handlers are imported FRESH (`processor.*` and `objects_api.*` are taken out of `sys.modules`) because
  they read their service name and metrics namespace at import. Afterwards the previous module objects are put
  back exactly, so modules that imported `processor.store` at collection keep the very object their fixtures reset;
- the handlers' cached boto3/botocore clients are dropped before and after, in the fresh and the previous copies,
  and boto3's default session is put back as it was: no client pointing at this server outlives the module;
- every socket connect must go to the moto server's 127.0.0.1 port.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock
from urllib.parse import quote

import boto3
import pytest

from tests.support.emf import Emf

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"  # moto's default account: what `Ref: AWS::AccountId` is here
REGION = "us-east-1"
HOST = "127.0.0.1"
ENVIRONMENT = "dev"
METRICS_NAMESPACE = "SecureServerless/e2e"
PROCESSOR_HANDLER = "processor.handler.sqs_handler"
API_HANDLER = "objects_api.handler.lambda_handler"
# What each handler reads from its environment (besides POWERTOOLS_*); removed from the outer environment so that
# only the template's variables reach the handlers (the test asserts the template passes exactly these).
PROCESSOR_VARIABLES = frozenset({"TABLE_NAME", "EXPECTED_BUCKET_OWNER"})
API_VARIABLES = frozenset({"TABLE_NAME", "OWNER_INDEX_NAME", "IDENTITY_POOL_ID"})
# Own service names: the fresh handler copies must not pre-configure the Powertools loggers named "processor"
# and "api" that the other test modules' handler imports use.
SERVICE_NAMES = {PROCESSOR_HANDLER: "processor-e2e", API_HANDLER: "api-e2e"}
HANDLER_PACKAGES = ("processor", "objects_api")
# Local names of the resources (the template only has name prefixes or generated names).
TABLE_NAME = "secsls-e2e-records"
BUCKET_NAME = "secsls-e2e-data"
BUFFER_QUEUE_NAME = "secsls-e2e-buffer"
DEAD_LETTER_QUEUE_NAME = "secsls-e2e-dead-letters"
IDENTITY_POOL_ID = f"{REGION}:99999999-9999-4999-8999-999999999999"


# --- what the test takes from the template ----------------------------------------------------------------------


def _resources(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def _one(found: Mapping[str, dict[str, Any]], what: str) -> tuple[str, dict[str, Any]]:
    assert len(found) == 1, f"expected exactly one {what} in the {ENVIRONMENT} template, found {sorted(found)}"
    return next(iter(found.items()))


def _get_att_arn(value: object) -> str:
    """Logical id of `{"Fn::GetAtt": [id, "Arn"]}` (the only reference form the wiring below accepts)."""
    assert isinstance(value, dict) and list(value) == ["Fn::GetAtt"] and value["Fn::GetAtt"][1] == "Arn", value
    return value["Fn::GetAtt"][0]


@dataclass(frozen=True)
class Blueprint:
    """The resources and wiring of the `dev` template that the data path runs through."""

    table_id: str
    table: dict[str, Any]
    bucket_id: str
    bucket: dict[str, Any]
    identity_pool_id: str
    buffer: dict[str, Any]
    mapping: dict[str, Any]
    rule_pattern: dict[str, Any]
    function_variables: dict[str, dict[str, Any]]  # handler -> Environment.Variables (unresolved)

    @classmethod
    def of(cls, template: Mapping[str, Any]) -> Blueprint:
        table_id, table = _one(_resources(template, "AWS::DynamoDB::Table"), "DynamoDB table")
        buckets = {
            lid: r
            for lid, r in _resources(template, "AWS::S3::Bucket").items()
            if not str(r["Properties"].get("BucketNamePrefix", "")).endswith("-logs")
        }
        bucket_id, bucket = _one(buckets, "data bucket (BucketNamePrefix not ending in -logs)")
        functions = {
            r["Properties"].get("Handler"): (lid, r) for lid, r in _resources(template, "AWS::Lambda::Function").items()
        }
        for handler in (PROCESSOR_HANDLER, API_HANDLER):
            assert handler in functions, f"no function with Handler {handler!r}: {sorted(map(str, functions))}"
        processor_id = functions[PROCESSOR_HANDLER][0]
        _, mapping = _one(
            {
                lid: r
                for lid, r in _resources(template, "AWS::Lambda::EventSourceMapping").items()
                if r["Properties"].get("FunctionName") == {"Ref": processor_id}
            },
            "event source mapping of the processor",
        )
        queues = _resources(template, "AWS::SQS::Queue")
        buffer_id = _get_att_arn(mapping["Properties"]["EventSourceArn"])
        buffer = queues[buffer_id]
        _get_att_arn(buffer["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])  # a dead-letter queue of the stack
        _, rule = _one(
            {
                lid: r
                for lid, r in _resources(template, "AWS::Events::Rule").items()
                if any(_get_att_arn(t["Arn"]) == buffer_id for t in r["Properties"].get("Targets", []))
            },
            "EventBridge rule targeting the processor's queue",
        )
        return cls(
            table_id=table_id,
            table=table["Properties"],
            bucket_id=bucket_id,
            bucket=bucket["Properties"],
            identity_pool_id=_one(_resources(template, "AWS::Cognito::IdentityPool"), "identity pool")[0],
            buffer=buffer["Properties"],
            mapping=mapping["Properties"],
            rule_pattern=rule["Properties"]["EventPattern"],
            function_variables={
                handler: dict(functions[handler][1]["Properties"]["Environment"]["Variables"])
                for handler in (PROCESSOR_HANDLER, API_HANDLER)
            },
        )

    # DynamoDB ------------------------------------------------------------------------------------------------

    def create_table_request(self, name: str) -> dict[str, Any]:
        """CreateTable with the template's keys, attributes, indexes and capacity (nothing else is resolved).

        Not reproduced: SSESpecification (a customer managed KMS key - moto does not encrypt, and its `Fn::GetAtt`
        would need a key), point-in-time recovery, TTL, deletion protection and tags: none of them changes what
        the handlers read or write.
        """
        props = self.table
        billing = props.get("BillingMode", "PROVISIONED")
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        indexes = []
        for index in props.get("GlobalSecondaryIndexes", []):
            wanted = ("IndexName", "KeySchema", "Projection") + (
                ("ProvisionedThroughput",) if billing == "PROVISIONED" else ()
            )
            indexes.append({name: index[name] for name in wanted})
        if indexes:
            request["GlobalSecondaryIndexes"] = indexes
        local = [
            {n: i[n] for n in ("IndexName", "KeySchema", "Projection")} for i in props.get("LocalSecondaryIndexes", [])
        ]
        if local:
            request["LocalSecondaryIndexes"] = local
        return request

    @property
    def index_names(self) -> set[str]:
        return {index["IndexName"] for index in self.table.get("GlobalSecondaryIndexes", [])}

    # functions -----------------------------------------------------------------------------------------------

    def function_env(self, handler: str) -> dict[str, str]:
        """The function's variables with their references resolved to the local resources.

        POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE are replaced by the test's own values; any
        other reference than the table or the account fails the test (it would need a new local resource).
        """
        env: dict[str, str] = {}
        for name, value in self.function_variables[handler].items():
            if name == "POWERTOOLS_SERVICE_NAME":
                env[name] = SERVICE_NAMES[handler]
            elif name == "POWERTOOLS_METRICS_NAMESPACE":
                env[name] = METRICS_NAMESPACE
            elif value == {"Ref": self.table_id}:
                env[name] = TABLE_NAME
            elif value == {"Ref": "AWS::AccountId"}:
                env[name] = ACCOUNT_ID
            elif value == {"Ref": self.bucket_id}:
                env[name] = BUCKET_NAME
            elif value == {"Ref": self.identity_pool_id}:
                env[name] = IDENTITY_POOL_ID
            elif isinstance(value, str):
                env[name] = value
            else:
                pytest.fail(f"{handler}: variable {name} = {value!r} has no local equivalent in this test")
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
        return env

    # EventBridge ---------------------------------------------------------------------------------------------

    def rule_matches(self, event: Mapping[str, Any]) -> bool:
        """Does the rule's pattern (exact-value lists only; `Ref` of the data bucket = the local bucket) match?"""

        def value_of(candidate: object) -> object:
            if candidate == {"Ref": self.bucket_id}:
                return BUCKET_NAME
            assert not isinstance(candidate, dict), f"pattern filter not supported by this test: {candidate!r}"
            return candidate

        def match(pattern: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
            for key, wanted in pattern.items():
                if key not in data:
                    return False
                if isinstance(wanted, dict):
                    if not isinstance(data[key], dict) or not match(wanted, data[key]):
                        return False
                elif data[key] not in [value_of(c) for c in wanted]:
                    return False
            return True

        return match(self.rule_pattern, event)


@pytest.fixture(scope="module")
def blueprint(templates: dict[str, dict]) -> Blueprint:
    return Blueprint.of(templates[ENVIRONMENT])


# --- moto server, environment, handlers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto in server mode on 127.0.0.1 (a free port chosen by the OS); its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == HOST
    endpoint = f"http://{HOST}:{port}"
    try:
        yield endpoint
    finally:
        try:
            reset_moto(endpoint)  # the server shares moto's in-process backends: leave them empty
        finally:
            server.stop()


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def aws_env(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Only the moto server is reachable: fake credentials, no profile/config files, no IMDS, one endpoint."""
    missing = tmp_path_factory.mktemp("no-aws-config")
    port = int(moto_server.rsplit(":", 1)[1])
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and tuple(address[:2]) != (HOST, port):
            raise AssertionError(f"the e2e test may only connect to {HOST}:{port}, not {address!r}")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN")) or name in (
                *PROCESSOR_VARIABLES,
                *API_VARIABLES,
                "RECORD_RETENTION_DAYS",
                "LAMBDA_TASK_ROOT",
            ):
                patch.delenv(name)
        values = {
            "AWS_ENDPOINT_URL": moto_server,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(missing / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(missing / "credentials"),
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        for name, value in values.items():
            patch.setenv(name, value)
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.setattr(boto3, "DEFAULT_SESSION", None)  # the API's boto3.client() makes its own, dropped after
        reset_moto(moto_server)
        yield moto_server


@dataclass(frozen=True)
class Handlers:
    processor: ModuleType  # processor.handler
    api: ModuleType  # objects_api.handler


def _take_handler_modules() -> dict[str, ModuleType]:
    taken = {name: module for name, module in sys.modules.items() if name.split(".")[0] in HANDLER_PACKAGES}
    for name in taken:
        del sys.modules[name]
    return taken


def _reset_clients(modules: Mapping[str, ModuleType], *, drop_session: bool) -> None:
    processor_store = modules.get("processor.store")
    if processor_store is not None:
        processor_store.reset_clients(drop_session=drop_session)
    api_store = modules.get("objects_api.store")
    if api_store is not None:
        api_store.reset_client()


@pytest.fixture(scope="module")
def handlers(aws_env: str, blueprint: Blueprint) -> Iterator[Handlers]:
    previous = _take_handler_modules()
    _reset_clients(previous, drop_session=False)
    fresh: dict[str, ModuleType] = {}
    try:
        modules = []
        for handler in (PROCESSOR_HANDLER, API_HANDLER):
            # Each module is imported with its own function's environment (both read POWERTOOLS_* at import).
            with mock.patch.dict(os.environ, blueprint.function_env(handler)):
                modules.append(importlib.import_module(handler.rsplit(".", 1)[0]))
        fresh = {n: m for n, m in sys.modules.items() if n.split(".")[0] in HANDLER_PACKAGES}
        for module in modules:
            assert Path(module.__file__).is_relative_to(ROOT / "lambda"), module.__file__
        _reset_clients(fresh, drop_session=True)
        yield Handlers(processor=modules[0], api=modules[1])
    finally:
        _reset_clients(fresh, drop_session=True)
        _take_handler_modules()
        sys.modules.update(previous)
        _reset_clients(previous, drop_session=False)


# --- one local copy of the data path per test --------------------------------------------------------------------


@dataclass
class FakeContext:
    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    log_group_name: str = "/aws/lambda/e2e"
    log_stream_name: str = "2025/01/01/[$LATEST]e2e"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@dataclass
class ApiResponse:
    status: int
    body: Any
    raw: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        """Single- and multi-value headers of the proxy response, names lower-cased."""
        merged = {name.lower(): value for name, value in (self.raw.get("headers") or {}).items()}
        for name, values in (self.raw.get("multiValueHeaders") or {}).items():
            merged[name.lower()] = ", ".join(values)
        return merged


class LocalStack:
    """The bucket, the table and the processor's queues in moto, the two handlers, and the event source mapping.

    `deliver()` does what the SQS event source mapping does with ReportBatchItemFailures: receive up to BatchSize
    messages, invoke the processor with them, delete the ones not reported as failed and leave the rest in flight.
    """

    def __init__(self, blueprint: Blueprint, handlers: Handlers, clients: Clients) -> None:
        self.blueprint = blueprint
        self.handlers = handlers
        self.s3, self.dynamodb, self.sqs = clients.s3, clients.dynamodb, clients.sqs
        self._sequencer = int("0067A1B2C3D4E5F600", 16)  # S3 sequencers are hex; only their order matters

    # resources -----------------------------------------------------------------------------------------------

    def create(self) -> None:
        self.create_table()
        self.s3.create_bucket(Bucket=BUCKET_NAME)
        versioning = self.blueprint.bucket.get("VersioningConfiguration", {}).get("Status")
        if versioning == "Enabled":
            self.s3.put_bucket_versioning(Bucket=BUCKET_NAME, VersioningConfiguration={"Status": "Enabled"})
        # Not reproduced: SSE-KMS with the stack's key, public access block, lifecycle, access logging.
        # Queues: the template's visibility timeout and redrive policy (KMS encryption is not reproduced).
        dead_letters = self.sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME)["QueueUrl"]
        self.dead_letter_url = dead_letters
        dead_letter_arn = self.queue_attribute(dead_letters, "QueueArn")
        redrive = dict(self.blueprint.buffer["RedrivePolicy"], deadLetterTargetArn=dead_letter_arn)
        attributes = {"RedrivePolicy": json.dumps(redrive)}
        if "VisibilityTimeout" in self.blueprint.buffer:
            attributes["VisibilityTimeout"] = str(self.blueprint.buffer["VisibilityTimeout"])
        self.buffer_url = self.sqs.create_queue(QueueName=BUFFER_QUEUE_NAME, Attributes=attributes)["QueueUrl"]
        self.buffer_arn = self.queue_attribute(self.buffer_url, "QueueArn")

    def create_table(self) -> None:
        self.dynamodb.create_table(**self.blueprint.create_table_request(TABLE_NAME))

    def delete_table(self) -> None:
        self.dynamodb.delete_table(TableName=TABLE_NAME)

    def queue_attribute(self, url: str, name: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[name])["Attributes"][name]

    def queue_depth(self, url: str) -> tuple[int, int]:
        """(visible, in flight) messages of a queue."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return int(attributes[names[0]]), int(attributes[names[1]])

    def items(self) -> list[dict[str, Any]]:
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=TABLE_NAME, ConsistentRead=True)
        return [item for page in pages for item in page["Items"]]

    # S3 -> EventBridge -> SQS ------------------------------------------------------------------------------------

    def upload(self, key: str, body: bytes, content_type: str = "text/plain") -> tuple[dict[str, Any], dict[str, Any]]:
        """PutObject; returns (its response, the "Object Created" event S3 sends to EventBridge for it)."""
        put = self.s3.put_object(Bucket=BUCKET_NAME, Key=key, Body=body, ContentType=content_type)
        return put, self.object_created(key, put, size=len(body))

    def object_created(self, key: str, put: Mapping[str, Any], *, size: int) -> dict[str, Any]:
        """The EventBridge event of S3 for a PutObject: the key as is (NOT URL-encoded, unlike S3 notifications)."""
        self._sequencer += 1
        obj: dict[str, Any] = {
            "key": key,
            "size": size,
            "etag": put["ETag"].strip('"'),
            "sequencer": f"{self._sequencer:018X}",
        }
        if put.get("VersionId"):
            obj["version-id"] = put["VersionId"]
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": ACCOUNT_ID,
            "time": "2025-01-01T00:00:00Z",
            "region": REGION,
            "resources": [f"arn:aws:s3:::{BUCKET_NAME}"],
            "detail": {
                "version": "0",
                "bucket": {"name": BUCKET_NAME},
                "object": obj,
                "request-id": "E2E0REQUEST0ID00",
                "requester": ACCOUNT_ID,
                "source-ip-address": HOST,
                "reason": "PutObject",
            },
        }

    def publish(self, event: Mapping[str, Any]) -> str:
        """What the stack's rule does with a matching event: the event JSON becomes one message of the buffer."""
        assert self.blueprint.rule_matches(event), f"the stack's rule would not route this event: {event!r}"
        return self.sqs.send_message(QueueUrl=self.buffer_url, MessageBody=json.dumps(event, ensure_ascii=False))[
            "MessageId"
        ]

    # SQS -> Lambda (event source mapping with ReportBatchItemFailures) ------------------------------------------

    def receive(self) -> list[dict[str, Any]]:
        batch_size = int(self.blueprint.mapping.get("BatchSize", 10))
        response = self.sqs.receive_message(
            QueueUrl=self.buffer_url,
            MaxNumberOfMessages=min(batch_size, 10),
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        return response.get("Messages", [])

    def sqs_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.buffer_arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }

    def invoke_processor(self, event: dict[str, Any]) -> dict[str, Any]:
        with mock.patch.dict(os.environ, self.blueprint.function_env(PROCESSOR_HANDLER)):
            response = self.handlers.processor.sqs_handler(event, FakeContext("secsls-e2e-processor"))
        assert isinstance(response, dict) and set(response) == {"batchItemFailures"}, response
        return response

    def deliver(self, messages: list[dict[str, Any]]) -> set[str]:
        """One invocation for `messages`; successes are deleted, failures stay in flight. Returns the failed ids."""
        response = self.invoke_processor(self.sqs_event(messages))
        failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            result = self.sqs.delete_message_batch(QueueUrl=self.buffer_url, Entries=entries)
            assert not result.get("Failed"), result
        return failed

    def expire_visibility(self, messages: list[dict[str, Any]]) -> None:
        """What the end of the visibility timeout does: the messages become receivable again (no sleep)."""
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.buffer_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    # API Gateway -> API ------------------------------------------------------------------------------------------

    def get(self, identity: str, name: str | None = None) -> ApiResponse:
        """GET /objects, or GET /objects/{key+} for `name`, signed by `identity` (a REST API proxy event)."""
        resource = "/objects" if name is None else "/objects/{key+}"
        path = "/objects" if name is None else "/objects/" + quote(name, safe="/")
        event = rest_event(resource, path, identity, {"key": name} if name is not None else None)
        with mock.patch.dict(os.environ, self.blueprint.function_env(API_HANDLER)):
            raw = self.handlers.api.lambda_handler(event, FakeContext("secsls-e2e-api"))
        return ApiResponse(status=raw["statusCode"], body=json.loads(raw["body"]), raw=raw)


def rest_event(resource: str, path: str, identity: str, path_parameters: dict[str, str] | None) -> dict[str, Any]:
    """API Gateway REST API proxy event (payload 1.0) after IAM authorisation with Cognito identity credentials."""
    headers = {"Accept": "application/json", "Host": "e2e.execute-api.us-east-1.amazonaws.com"}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "GET",
            "path": f"/{ENVIRONMENT}{path}",
            "accountId": ACCOUNT_ID,
            "stage": ENVIRONMENT,
            "requestId": str(uuid.uuid4()),
            "identity": {
                "cognitoIdentityPoolId": IDENTITY_POOL_ID,
                "cognitoIdentityId": identity,
                "cognitoAuthenticationType": "authenticated",
                "accountId": ACCOUNT_ID,
                "sourceIp": HOST,
                "userAgent": "e2e",
            },
            "apiId": "e2e",
        },
        "body": None,
        "isBase64Encoded": False,
    }


@dataclass(frozen=True)
class Clients:
    s3: Any
    dynamodb: Any
    sqs: Any


@pytest.fixture(scope="module")
def clients(aws_env: str) -> Clients:
    """The test's own clients (never the handlers' cached ones), from a session of its own."""
    session = boto3.session.Session()
    return Clients(s3=session.client("s3"), dynamodb=session.client("dynamodb"), sqs=session.client("sqs"))


@pytest.fixture
def stack(aws_env: str, blueprint: Blueprint, handlers: Handlers, clients: Clients) -> Iterator[LocalStack]:
    """A fresh local copy of the data path for one test (moto emptied before and after)."""
    reset_moto(aws_env)
    local = LocalStack(blueprint, handlers, clients)
    local.create()
    try:
        yield local
    finally:
        reset_moto(aws_env)


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str]) -> Callable[[], dict[str, float]]:
    """Totals per metric of the EMF blobs printed (namespace SecureServerless/e2e) since the last call."""
    return Emf(capsys, METRICS_NAMESPACE).totals
