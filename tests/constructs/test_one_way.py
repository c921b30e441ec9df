"""One way to pass things (issue 19 item 5): the CDK interfaces and this library's constructs are accepted alike, and
a bring-your-own access-log bucket works without any feature flag in the consumer's app."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from secure_serverless import (
    Alerting,
    EnvironmentKey,
    EventPipeline,
    IdentityPool,
    LoggedApi,
    Route,
    ScaledTable,
    SecureBucket,
    SecureFunction,
)
from secure_serverless.overrides import UnsafeOverrideError
from tests.support.build import INLINE_CODE as CODE

PK = dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)


def _policy_actions(template: Template, role_fragment: str) -> set[str]:
    actions: set[str] = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if any(role_fragment in str(role) for role in policy["Properties"]["Roles"]):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                action = statement["Action"]
                actions |= {action} if isinstance(action, str) else set(action)
    return actions


def test_secure_constructs_go_where_cdk_objects_go() -> None:
    stack = cdk.Stack(cdk.App(), "Composed")
    key = EnvironmentKey(stack, "Key", name_prefix="team-a")
    data = SecureBucket(stack, "Data", encryption_key=key)
    table = ScaledTable(stack, "Items", partition_key=PK, encryption_key=key)
    worker = SecureFunction(stack, "Worker", code=CODE, handler="index.handler", encryption_key=key)
    handler = SecureFunction(stack, "Handler", code=CODE, handler="index.handler", encryption_key=key)
    EventPipeline(stack, "Pipeline", bucket=data, processor=worker, encryption_key=key)
    LoggedApi(stack, "Api", handler=handler, routes=[Route("/items")], encryption_key=key, waf=False)
    Alerting(stack, "Alerting", encryption_key=key)
    data.grant_read_objects(worker, prefix="in/")  # a SecureFunction is a grantee
    table.grant_put_item(worker)
    IdentityPool(stack, "Identity").grant_own_uploads(data, prefix="uploads/")
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::KMS::Key", 1)  # the one EnvironmentKey, unwrapped everywhere
    assert {"s3:GetObject", "dynamodb:PutItem", "sqs:ReceiveMessage"} <= _policy_actions(template, "WorkerRole")
    template.has_resource_properties(
        "AWS::Lambda::Permission", {"Principal": "apigateway.amazonaws.com", "FunctionName": Match.any_value()}
    )


def test_grant_own_uploads_takes_a_plain_bucket_with_exact_actions() -> None:
    stack = cdk.Stack(cdk.App(), "Plain")
    identity = IdentityPool(stack, "Identity")
    identity.grant_own_uploads(s3.Bucket.from_bucket_name(stack, "B", "team-uploads"), prefix="in/")
    assert _policy_actions(Template.from_stack(stack), "Authenticated") == {"s3:PutObject"}


def test_an_imported_processor_needs_its_visibility_timeout() -> None:
    stack = cdk.Stack(cdk.App(), "Imported")
    imported = lambda_.Function.from_function_arn(
        stack, "F", "arn:aws:lambda:eu-west-1:111122223333:function:team-processor"
    )  # fmt: skip
    bucket = s3.Bucket.from_bucket_name(stack, "B", "uploads")
    with pytest.raises(ValueError, match=r"buffer_props\['visibility_timeout'\].*unknown"):
        EventPipeline(stack, "Refused", bucket=bucket, processor=imported)
    EventPipeline(stack, "P", bucket=bucket, processor=imported,
                  buffer_props={"visibility_timeout": cdk.Duration.minutes(6)})  # fmt: skip
    Template.from_stack(stack).has_resource_properties("AWS::SQS::Queue", {"VisibilityTimeout": 360})


def test_a_bring_your_own_acl_less_log_bucket_needs_no_feature_flag() -> None:
    stack = cdk.Stack(cdk.App(), "OwnLogs")  # no cdk.json context: a consumer's bare app
    logs = s3.Bucket(stack, "CentralLogs", enforce_ssl=True, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED)
    SecureBucket(stack, "Data", existing_access_logs_bucket=logs)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"LoggingConfiguration": {"DestinationBucketName": {"Ref": Match.string_like_regexp("CentralLogs")},
                                  "LogFilePrefix": "access-logs/"}},
    )  # fmt: skip
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
            "Condition": {"ArnLike": {"aws:SourceArn": Match.any_value()},
                          "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        })])}},
    )  # fmt: skip
    for bucket in template.find_resources("AWS::S3::Bucket").values():
        assert "AccessControl" not in bucket["Properties"]  # never the LogDeliveryWrite ACL


def test_an_existing_log_bucket_and_its_props_still_conflict() -> None:
    stack = cdk.Stack(cdk.App(), "Both")
    logs = s3.Bucket(stack, "CentralLogs")
    with pytest.raises(UnsafeOverrideError, match="access_logs_bucket_props"):
        SecureBucket(stack, "Data", existing_access_logs_bucket=logs, access_logs_bucket_props={"versioned": True})
