"""One environment in moto for the operator tools: a versioned bucket, the records table, the pipeline's buffer
and DLQ, and a CloudFormation stack `SecureServerless-<ENV>` publishing their names as the real stack does."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

from stacks.records_schema import create_table_request
from tests.support import aws_clients as cached_clients

ENV = "tooltest"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
BUCKET = "secsls-tooltest-data"
TABLE = "secure-serverless-tooltest-records"

VARIABLES = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "TABLE_NAME": TABLE,
    "EXPECTED_BUCKET_NAME": BUCKET,
    "EXPECTED_BUCKET_OWNER": ACCOUNT_ID,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "processor",
    "POWERTOOLS_METRICS_NAMESPACE": "SecureServerlessTest",
}


@dataclass
class Environment:
    s3: Any
    dynamodb: Any
    sqs: Any
    buffer_url: str
    buffer_arn: str
    dlq_url: str

    def records(self) -> list[tuple[str, str]]:
        items = self.dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
        return sorted((item["object_key"]["S"], item["version_id"]["S"]) for item in items)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Environment]:
    for name, value in VARIABLES.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "LAMBDA_TASK_ROOT",
        "OBJECT_EXPIRATION_DAYS",
        "NONCURRENT_VERSION_EXPIRATION_DAYS",
    ):
        monkeypatch.delenv(name, raising=False)
    from processor import store

    store.reset_clients()
    with mock_aws():
        s3 = cached_clients.client("s3", REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = cached_clients.client("dynamodb", REGION)
        dynamodb.create_table(**create_table_request(TABLE))
        sqs = cached_clients.client("sqs", REGION)
        dlq = sqs.create_queue(QueueName=f"secure-serverless-{ENV}-dead-letters")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10"})
        buffer = sqs.create_queue(QueueName=f"secure-serverless-{ENV}-buffer", Attributes={"RedrivePolicy": redrive})[
            "QueueUrl"
        ]
        buffer_arn = sqs.get_queue_attributes(QueueUrl=buffer, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        outputs = {
            "BucketName": BUCKET,
            "TableName": TABLE,
            "PipelineBufferUrl": buffer,
            "PipelineDeadLetterQueueUrl": dlq,
        }
        template = {
            "Resources": {"Marker": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"marker-{ENV}"}}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        cached_clients.client("cloudformation", REGION).create_stack(
            StackName=f"SecureServerless-{ENV}", TemplateBody=json.dumps(template)
        )
        yield Environment(s3, dynamodb, sqs, buffer, buffer_arn, dlq)
    store.reset_clients()


@pytest.fixture(scope="session")
def processor_handler() -> ModuleType:
    return importlib.import_module("processor.handler")
