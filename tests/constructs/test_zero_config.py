"""Every construct constructs with only what it cannot choose itself, and the result is nag-clean."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from secure_serverless import (
    Alerting,
    EnvironmentKey,
    EventPipeline,
    IdentityPool,
    LoggedApi,
    PrivateNetwork,
    Route,
    ScaledTable,
    SecureBucket,
    SecureFunction,
)
from tests.support.build import INLINE_CODE as CODE
from tests.support.build import StackSet
from tests.support.nag import nag_findings


class Built(StackSet):
    def __init__(self) -> None:
        super().__init__()
        self.bucket = SecureBucket(self._stack("Bucket"), "Uploads")
        EnvironmentKey(self._stack("Key"), "Key")
        ScaledTable(
            self._stack("Table"),
            "Items",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        )
        IdentityPool(self._stack("Identity"), "Identity")
        stack = self._stack("Pipeline")
        function = SecureFunction(stack, "Processor", code=CODE, handler="index.handler")
        EventPipeline(stack, "Pipeline", bucket=SecureBucket(stack, "Data").bucket, processor=function.function)
        stack = self._stack("Api")
        LoggedApi(stack, "Api", handler=SecureFunction(stack, "Handler", code=CODE, handler="index.handler").function,
                  routes=[Route("/items")])  # fmt: skip
        Alerting(self._stack("Alerting"), "Alerting")
        PrivateNetwork(self._stack("Network"), "Network")
        self.synth()


@pytest.fixture(scope="module")
def built() -> Built:
    return Built()


def test_omitted_bucket_names_are_left_to_cloudformation(built: Built) -> None:
    buckets = Template.from_stack(built.stacks["Bucket"]).find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    for bucket in buckets.values():
        assert "BucketName" not in bucket["Properties"] and "BucketNamePrefix" not in bucket["Properties"]


def test_zero_config_bucket_is_sse_s3(built: Built) -> None:
    assert built.bucket.encryption_key is None
    Template.from_stack(built.stacks["Bucket"]).has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
        },
    )


@pytest.mark.parametrize("name", ["Table", "Pipeline", "Api", "Alerting", "Network"])
def test_an_omitted_key_is_created_with_rotation(built: Built, name: str) -> None:
    Template.from_stack(built.stacks[name]).has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        SecureBucket(cdk.Stack(cdk.App(), "S"), "B", s3.BucketEncryption.KMS)  # type: ignore[misc]  # the point


@pytest.mark.parametrize("name", ["Bucket", "Key", "Table", "Identity", "Pipeline", "Api", "Alerting", "Network"])
def test_zero_config_constructs_pass_nag(built: Built, name: str) -> None:
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        result = pack.validate_scope(built.stacks[name])
        assert result.success, nag_findings(result)
