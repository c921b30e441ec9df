"""One moto world for the erasure tests (worker, API routes, operator tool): a versioned bucket, the records
table, the erasure queue, and helpers that seed a user's objects, records, counters and mappings the way the other
functions write them, and read back what is left."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto import mock_aws

from stacks import records_schema as schema
from tests.support import aws_clients as cached_clients

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
BUCKET = "secsls-erasure-test-data"
TABLE = "erasure-test-records"
QUEUE = "erasure-test-jobs"
ALICE_SUB = "a11ce000-0000-4000-8000-000000000001"
BOB_SUB = "b0b00000-0000-4000-8000-000000000002"
ALICE = "us-east-1:11111111-1111-4111-8111-111111111111"
ALICE_OLD = "us-east-1:33333333-3333-4333-8333-333333333333"  # from a replaced identity pool
BOB = "us-east-1:22222222-2222-4222-8222-222222222222"
AWKWARD_NAMES = ("a b.txt", "plus+sign", "100%", "time:12:00", "naïve/日本語.txt")


@dataclass
class World:
    s3: Any
    dynamodb: Any
    sqs: Any
    queue_url: str
    sent: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------ seeding
    def put_object(self, identity: str, name: str, body: bytes = b"x") -> str:
        key = f"uploads/{identity}/{name}"
        version = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
        self.dynamodb.put_item(
            TableName=TABLE,
            Item={
                "object_key": {"S": key},
                "version_id": {"S": version},
                "owner": {"S": identity},
                "name": {"S": name},
                "size": {"N": str(len(body))},
            },
        )
        return version

    def delete_marker(self, identity: str, name: str) -> None:
        self.s3.delete_object(Bucket=BUCKET, Key=f"uploads/{identity}/{name}")

    def map_identity(self, identity: str, sub: str, *, sub_item: bool = True) -> None:
        self.dynamodb.put_item(
            TableName=TABLE,
            Item={
                "object_key": {"S": f"{schema.IDENTITY_MAPPING_PREFIX}{identity}"},
                "version_id": {"S": "#sub"},
                "identity_id": {"S": identity},
                "sub": {"S": sub},
            },
        )
        if sub_item:
            self.dynamodb.put_item(
                TableName=TABLE,
                Item={
                    "object_key": {"S": f"{schema.SUB_IDENTITIES_PREFIX}{sub}"},
                    "version_id": {"S": identity},
                },
            )

    def usage(self, sub: str) -> None:
        for sort_key in (schema.USAGE_HELD_SORT_KEY, "#minute/2026-12-03T16:00", "#day/2026-12-03"):
            self.dynamodb.put_item(
                TableName=TABLE,
                Item={"object_key": {"S": f"{schema.USAGE_PREFIX}{sub}"}, "version_id": {"S": sort_key}},
            )

    def request(self, sub: str, identities: tuple[str, ...] = (), job_id: str | None = None) -> str:
        """The job item as POST /erasure writes it; returns the job id."""
        job_id = job_id or uuid.uuid4().hex
        item: dict[str, Any] = {
            "object_key": {"S": f"{schema.ERASURE_PREFIX}{sub}"},
            "version_id": {"S": schema.ERASURE_JOB_SORT_KEY},
            "job_id": {"S": job_id},
            "status": {"S": "pending"},
            "requested_at": {"S": "2026-12-03T16:00:00.000Z"},
            "requested_by": {"S": "user"},
        }
        if identities:
            item["identity_ids"] = {"SS": list(identities)}
        self.dynamodb.put_item(TableName=TABLE, Item=item)
        return job_id

    # ------------------------------------------------------------ reading back
    def versions(self, identity: str) -> list[tuple[str, str]]:
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=f"uploads/{identity}/")
        found = []
        for page in pages:
            found += [(v["Key"], "version") for v in page.get("Versions", [])]
            found += [(m["Key"], "marker") for m in page.get("DeleteMarkers", [])]
        return found

    def items(self) -> dict[tuple[str, str], dict[str, Any]]:
        items = self.dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
        return {(item["object_key"]["S"], item["version_id"]["S"]): item for item in items}

    def keys_of(self, sub: str, identities: tuple[str, ...]) -> list[tuple[str, str]]:
        """Every table key that belongs to `sub` other than its erasure job and reports."""
        marks = [f"#sub/{sub}", f"#usage/{sub}"] + [f"#identity/{i}" for i in identities]
        marks += [f"uploads/{i}/" for i in identities]
        return sorted(key for key in self.items() if any(key[0].startswith(mark) for mark in marks))

    def job(self, sub: str) -> dict[str, Any]:
        return self.items()[(f"{schema.ERASURE_PREFIX}{sub}", schema.ERASURE_JOB_SORT_KEY)]

    def messages(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [
            {"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs", "receiptHandle": "r",
             "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
             "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{QUEUE}", "awsRegion": REGION}
            for m in response.get("Messages", [])
        ]  # fmt: skip


def sqs_event(sub: str, job_id: str, message_id: str | None = None) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message_id or str(uuid.uuid4()),
                "receiptHandle": "r",
                "body": json.dumps({"sub": sub, "job_id": job_id}),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{QUEUE}",
                "awsRegion": REGION,
            }
        ]
    }


class Context:
    """A Lambda context with a fixed remaining time."""

    function_name = "erasure-test"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:erasure-test"
    aws_request_id = "req"

    def __init__(self, remaining_ms: int = 300_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


WORKER_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "TABLE_NAME": TABLE,
    "OWNER_INDEX_NAME": schema.OWNER_INDEX,
    "BUCKET_NAME": BUCKET,
    "EXPECTED_BUCKET_OWNER": ACCOUNT_ID,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "erasure",
    "POWERTOOLS_METRICS_NAMESPACE": "SecureServerlessTest",
}


def create_world() -> World:
    """The bucket, table and queue in the current moto mock."""
    s3 = cached_clients.client("s3", REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    dynamodb = cached_clients.client("dynamodb", REGION)
    dynamodb.create_table(**schema.create_table_request(TABLE))
    sqs = cached_clients.client("sqs", REGION)
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    return World(s3=s3, dynamodb=dynamodb, sqs=sqs, queue_url=queue_url)


@contextmanager
def mocked_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The worker's environment (no real AWS endpoint or profile) and a fresh world in a moto mock, with the
    worker's cached clients reset on the way in and out; QUEUE_URL names the world's queue."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in WORKER_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    from shared_runtime import clients

    with mock_aws():
        clients.reset_clients()
        world = create_world()
        monkeypatch.setenv("QUEUE_URL", world.queue_url)
        yield world
    clients.reset_clients()
