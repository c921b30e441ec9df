"""Escape hatches: `existing_<thing>` objects and `<thing>_props` overrides merged under the secure defaults.

An override that weakens a promised guarantee, or that conflicts with an `existing_` object or a named argument, is
refused before synthesis with one line naming the argument and the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

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
    UnsafeOverrideError,
)
from tests.support.build import INLINE_CODE as CODE

PK = dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)


def _plain_function(stack: cdk.Stack, construct_id: str = "Plain") -> lambda_.Function:
    return lambda_.Function(
        stack, construct_id, code=CODE, handler="index.handler", runtime=lambda_.Runtime.PYTHON_3_14
    )


def _pipeline(stack: cdk.Stack, **kwargs: Any) -> EventPipeline:
    bucket = s3.Bucket.from_bucket_name(stack, "Uploads", "uploads-bucket")
    return EventPipeline(stack, "Pipeline", bucket=bucket, processor=_plain_function(stack, "Processor"), **kwargs)


def _api(stack: cdk.Stack, **kwargs: Any) -> LoggedApi:
    return LoggedApi(stack, "Api", handler=_plain_function(stack, "Handler"), routes=[Route("/items")], **kwargs)


REFUSED: dict[str, tuple[Callable[[cdk.Stack], object], str, str]] = {
    # name: (build, the argument named in the message, a word of the rule)
    "bucket public access": (
        lambda s: SecureBucket(s, "B", bucket_props={"block_public_access": s3.BlockPublicAccess.BLOCK_ACLS}),
        "bucket_props['block_public_access']", "private"),
    "bucket public read": (
        lambda s: SecureBucket(s, "B", bucket_props={"public_read_access": True}), "bucket_props['public_read_access']",
        "private"),
    "bucket non-TLS": (
        lambda s: SecureBucket(s, "B", bucket_props={"enforce_ssl": False}), "bucket_props['enforce_ssl']", "TLS"),
    "bucket unencrypted": (
        lambda s: SecureBucket(s, "B", bucket_props={"encryption": s3.BucketEncryption.UNENCRYPTED}),
        "bucket_props['encryption']", "encryption"),
    "bucket versioning off": (
        lambda s: SecureBucket(s, "B", bucket_props={"versioned": False}), "bucket_props['versioned']", "versioning"),
    "log bucket non-TLS": (
        lambda s: SecureBucket(s, "B", access_logs_bucket_props={"enforce_ssl": False}),
        "access_logs_bucket_props['enforce_ssl']", "TLS"),
    "bucket key with S3-managed encryption": (
        lambda s: SecureBucket(s, "B", encryption_key=kms.Key(s, "K"),
                               bucket_props={"encryption": s3.BucketEncryption.S3_MANAGED}),
        "bucket_props['encryption']", "KMS"),
    "log bucket props with an existing log bucket": (
        lambda s: SecureBucket(s, "B", existing_access_logs_bucket=s3.Bucket(s, "Logs"),
                               access_logs_bucket_props={"versioned": True}),
        "access_logs_bucket_props", "existing_access_logs_bucket"),
    "bucket removal policy threaded": (
        lambda s: SecureBucket(s, "B", bucket_props={"removal_policy": cdk.RemovalPolicy.DESTROY}),
        "bucket_props['removal_policy']", "RemovalPolicies"),
    "key rotation off": (
        lambda s: EnvironmentKey(s, "K", key_props={"enable_key_rotation": False}), "key_props['enable_key_rotation']",
        "rotates"),
    "table AWS-owned encryption": (
        lambda s: ScaledTable(s, "T", partition_key=PK,
                              table_props={"encryption": dynamodb.TableEncryption.AWS_MANAGED}),
        "table_props['encryption']", "CUSTOMER_MANAGED"),
    "table key conflicts with encryption_key": (
        lambda s: ScaledTable(s, "T", partition_key=PK, table_props={"encryption_key": kms.Key(s, "K")}),
        "table_props['encryption_key']", "encryption_key"),
    "function tracing off": (
        lambda s: SecureFunction(s, "F", code=CODE, handler="index.handler",
                                 function_props={"tracing": lambda_.Tracing.DISABLED}),
        "function_props['tracing']", "ACTIVE"),
    "function role conflicts": (
        lambda s: SecureFunction(s, "F", code=CODE, handler="index.handler",
                                 function_props={"role": _plain_function(s).role}),
        "function_props['role']", "own role"),
    "function timeout conflicts with the named argument": (
        lambda s: SecureFunction(s, "F", code=CODE, handler="index.handler", timeout=cdk.Duration.seconds(30),
                                 function_props={"timeout": cdk.Duration.minutes(10)}),
        "function_props['timeout']", "conflicts with timeout"),
    "function DLQ settings conflict": (
        lambda s: SecureFunction(s, "F", code=CODE, handler="index.handler",
                                 function_props={"dead_letter_queue_enabled": False}),
        "function_props['dead_letter_queue_enabled']", "async_dead_letter_queue"),
    # issue 19 item 4: the pipeline's own rules, an existing DLQ, a key policy, BlockPublicAccess by value, and no
    # raw TypeError from any *_props key.
    "pipeline visibility below 6x the function timeout": (
        lambda s: _pipeline(s, buffer_props={"visibility_timeout": cdk.Duration.seconds(10)}),
        "buffer_props['visibility_timeout'] = 10 s", "6x the processor's timeout (3 s)"),
    "pipeline retention shorter than its receives": (
        lambda s: _pipeline(s, buffer_props={"retention_period": cdk.Duration.seconds(30)}),
        "buffer_props['retention_period'] = 30 s", "max_receive_count x visibility_timeout"),
    "pipeline retention longer than the DLQ's": (
        lambda s: _pipeline(s, buffer_props={"retention_period": cdk.Duration.days(14)},
                            dead_letter_retention=cdk.Duration.days(4)),
        "buffer_props['retention_period']", "dead_letter_retention"),
    "pipeline unencrypted existing DLQ": (
        lambda s: _pipeline(s, existing_dead_letter_queue=sqs.Queue(s, "Plain", enforce_ssl=True)),
        "existing_dead_letter_queue", "KMS-encrypted"),
    "pipeline data_key_reuse is the construct's": (
        lambda s: _pipeline(s, buffer_props={"data_key_reuse": cdk.Duration.minutes(5)}),
        "buffer_props['data_key_reuse']", "conflicts with encryption_key"),
    "pipeline unknown buffer key": (
        lambda s: _pipeline(s, buffer_props={"visibility": cdk.Duration.minutes(5)}),
        "buffer_props['visibility']", "not a keyword argument of Queue"),
    "key policy open to everyone": (
        lambda s: EnvironmentKey(s, "K", key_props={"policy": iam.PolicyDocument(statements=[iam.PolicyStatement(
            actions=["kms:Decrypt"], resources=["*"], principals=[iam.AnyPrincipal()])])}),
        "key_props['policy']", "'*' principal without a condition"),
    "key description conflicts with the named argument": (
        lambda s: EnvironmentKey(s, "K", key_props={"description": "x"}), "key_props['description']", "description"),
    "bucket lifecycle conflicts with the named expirations": (
        lambda s: SecureBucket(s, "B", bucket_props={"lifecycle_rules": []}),
        "bucket_props['lifecycle_rules']", "noncurrent_version_expiration"),
    "bucket public access partly open, shown by value": (
        lambda s: SecureBucket(s, "B", bucket_props={"block_public_access": s3.BlockPublicAccess(
            block_public_acls=True, block_public_policy=False, ignore_public_acls=True, restrict_public_buckets=True)}),
        "block_public_policy=False", "must block all four"),
    "table unknown key": (
        lambda s: ScaledTable(s, "T", partition_key=PK, table_props={"point_in_time_recovery_enabled": False}),
        "table_props['point_in_time_recovery_enabled']", "not a keyword argument of Table"),
    "pipeline buffer non-TLS": (
        lambda s: _pipeline(s, buffer_props={"enforce_ssl": False}), "buffer_props['enforce_ssl']", "TLS"),
    "pipeline buffer unencrypted": (
        lambda s: _pipeline(s, buffer_props={"encryption": sqs.QueueEncryption.UNENCRYPTED}),
        "buffer_props['encryption']", "encryption_key"),
    "api account-wide role": (
        lambda s: _api(s, api_props={"cloud_watch_role": True}), "api_props['cloud_watch_role']", "singleton"),
    "user pool props with an existing pool": (
        lambda s: IdentityPool(s, "I", existing_user_pool=cognito.UserPool(s, "P"),
                               user_pool_props={"user_pool_name": "x"}),
        "user_pool_props", "existing_user_pool"),
    "user pool MFA off through props": (
        lambda s: IdentityPool(s, "I", user_pool_props={"mfa": cognito.Mfa.OFF}), "user_pool_props['mfa']", "mfa"),
    "client secret": (
        lambda s: IdentityPool(s, "I", user_pool_client_props={"generate_secret": True}),
        "user_pool_client_props['generate_secret']", "secret"),
    "client password flow": (
        lambda s: IdentityPool(s, "I", user_pool_client_props={"auth_flows": cognito.AuthFlow(user_password=True)}),
        "user_pool_client_props['auth_flows']", "SRP"),
    "topic non-TLS": (
        lambda s: Alerting(s, "A", topic_props={"enforce_ssl": False}), "topic_props['enforce_ssl']", "TLS"),
    "topic props with an existing topic": (
        lambda s: Alerting(s, "A", existing_topic=sns.Topic(s, "T"), topic_props={"display_name": "x"}),
        "topic_props", "existing_topic"),
    "network NAT": (
        lambda s: PrivateNetwork(s, "N", vpc_props={"nat_gateways": 1}), "vpc_props['nat_gateways']", "internet"),
    "network public subnet": (
        lambda s: PrivateNetwork(s, "N", vpc_props={"subnet_configuration": [
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)]}),
        "vpc_props['subnet_configuration']", "PRIVATE_ISOLATED"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_weakening_or_conflicting_override_is_refused_in_one_line(case: str) -> None:
    build, argument, rule_word = REFUSED[case]
    stack = cdk.Stack(cdk.App(), "Refused")
    with pytest.raises(UnsafeOverrideError) as raised:
        build(stack)
    message = str(raised.value)
    assert "\n" not in message
    assert argument in message and rule_word in message, message
    assert isinstance(raised.value, ValueError)  # callers catching ValueError keep working


def test_harmless_overrides_are_merged_over_the_defaults() -> None:
    stack = cdk.Stack(cdk.App(), "Merged")
    SecureBucket(stack, "B", bucket_props={"transfer_acceleration": True})
    ScaledTable(stack, "T", partition_key=PK, table_props={"contributor_insights_enabled": True})
    SecureFunction(stack, "F", code=CODE, handler="index.handler",
                   function_props={"ephemeral_storage_size": cdk.Size.mebibytes(1024)})  # fmt: skip
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"AccelerateConfiguration": {"AccelerationStatus": "Enabled"}, "VersioningConfiguration": {"Status": "Enabled"},
         "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicAcls": True})},
    )  # fmt: skip
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "ContributorInsightsSpecification": {"Enabled": True},
            "SSESpecification": Match.object_like({"SSEEnabled": True}),
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function", {"EphemeralStorage": {"Size": 1024}, "TracingConfig": {"Mode": "Active"}}
    )


def test_existing_collaborators_are_used_not_created() -> None:
    """Every construct composes with plain L2 resources passed as existing_* (and creates none of its own)."""
    stack = cdk.Stack(cdk.App(), "Existing")
    logs_bucket = s3.Bucket(stack, "CentralLogs", enforce_ssl=True)
    log_group = logs.LogGroup(stack, "FunctionLogs")
    access_logs = logs.LogGroup(stack, "ApiAccessLogs")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    dlq = sqs.Queue(stack, "Dlq", enforce_ssl=True, encryption_master_key=key)
    topic = sns.Topic(stack, "Alerts", enforce_ssl=True)
    pool = cognito.UserPool(stack, "Users")

    SecureBucket(stack, "Data", existing_access_logs_bucket=logs_bucket, encryption_key=key)
    function = SecureFunction(stack, "F", code=CODE, handler="index.handler", existing_log_group=log_group,
                              encryption_key=key, dead_letter_queue=dlq)  # fmt: skip
    pipeline = _pipeline(stack, existing_dead_letter_queue=dlq, encryption_key=key)
    api = _api(stack, existing_access_log_group=access_logs, encryption_key=key, waf=False)
    identity = IdentityPool(stack, "Identity", existing_user_pool=pool)
    alerting = Alerting(stack, "Alerting", existing_topic=topic, encryption_key=key)

    assert pipeline.dead_letter_queue is dlq and identity.user_pool is pool and alerting.topic is topic
    assert function.log_group is log_group and api.access_log_group is access_logs
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::S3::Bucket", 2)  # the central log bucket and the data bucket
    template.resource_count_is("AWS::Cognito::UserPool", 1)
    template.resource_count_is("AWS::SNS::Topic", 1)
    template.resource_count_is("AWS::SQS::Queue", 2)  # the existing DLQ and the pipeline's buffer
    template.resource_count_is("AWS::KMS::Key", 1)
    dlq_arn = {"Fn::GetAtt": [Match.string_like_regexp("^Dlq"), "Arn"]}
    template.has_resource_properties(
        "AWS::SQS::Queue", {"RedrivePolicy": {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}}
    )


def test_block_public_access_equal_to_block_all_by_value_is_accepted() -> None:
    stack = cdk.Stack(cdk.App(), "ByValue")
    all_four = s3.BlockPublicAccess(
        block_public_acls=True, block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True
    )
    SecureBucket(stack, "B", bucket_props={"block_public_access": all_four})
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket", {"PublicAccessBlockConfiguration": Match.object_like({"BlockPublicPolicy": True})}
    )


def test_a_key_policy_with_a_conditioned_wildcard_principal_is_accepted() -> None:
    stack = cdk.Stack(cdk.App(), "Conditioned")
    statement = iam.PolicyStatement(
        actions=["kms:Decrypt"], resources=["*"], principals=[iam.AnyPrincipal()],
        conditions={"StringEquals": {"aws:PrincipalOrgID": "o-exampleorgid"}},
    )  # fmt: skip
    EnvironmentKey(stack, "K", key_props={"policy": iam.PolicyDocument(statements=[statement])})
    Template.from_stack(stack).resource_count_is("AWS::KMS::Key", 1)


def test_a_secure_function_and_a_secure_bucket_are_accepted_where_a_function_and_bucket_are() -> None:
    stack = cdk.Stack(cdk.App(), "Unwrapped")
    processor = SecureFunction(stack, "F", code=CODE, handler="index.handler", timeout=cdk.Duration.seconds(40))
    EventPipeline(stack, "P", bucket=SecureBucket(stack, "B"), processor=processor, encryption_key=EnvironmentKey(
        stack, "K"))  # fmt: skip
    Template.from_stack(stack).has_resource_properties("AWS::SQS::Queue", {"VisibilityTimeout": 240})
