"""The data path as each environment deploys it: table, pipeline, processor function and its exact permissions."""

from __future__ import annotations

import importlib.metadata
import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match, Matcher, Template

from secure_serverless.private_network import VPC_ACCESS_ACTIONS
from stacks.config import build_config
from stacks.layer import LAYER_DIR, REQUIREMENTS
from stacks.records_schema import TTL_ATTRIBUTE
from tests.support.synth import Synthesized
from tests.support.template import WILDCARD_ACTIONS, granted, has_statement, logical_id

SUFFIXES = ("dev", "staging", "prod", "pr-7")


PROCESSOR = {"Handler": Match.string_like_regexp("processor")}
# The pipeline's buffer (the erasure job queue has a redrive policy too: tests/stacks/test_erasure.py).
BUFFER = {"RedrivePolicy": Match.any_value(), "QueueName": Match.string_like_regexp("-object-created-buffer$")}
NOT_ACCESS_LOGS = {"BucketNamePrefix": Match.not_(Match.string_like_regexp("-logs$"))}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_processor_permissions_are_exactly_what_it_needs(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    ids = {
        rtype: logical_id(template, rtype, properties)
        for rtype, properties in (
            ("AWS::KMS::Key", None),
            ("AWS::DynamoDB::Table", None),
            ("AWS::S3::Bucket", NOT_ACCESS_LOGS),
            ("AWS::SQS::Queue", BUFFER),
            ("AWS::Logs::LogGroup", {"LogGroupName": Match.string_like_regexp("/processor$")}),
        )
    }
    role = Capture()
    logical_id(template, "AWS::Lambda::Function", PROCESSOR)  # exactly one processor
    template.has_resource_properties("AWS::Lambda::Function", {**PROCESSOR, "Role": {"Fn::GetAtt": [role, "Arn"]}})
    role_grants = granted(template, role.as_string())  # exactly these, compared whole

    def arn(kind: str) -> str:
        return json.dumps({"Fn::GetAtt": [ids[kind], "Arn"]}, sort_keys=True)

    # Only users' uploads: the processor reads nothing outside uploads/ (it skips such events without a call).
    bucket_arn = {"Fn::GetAtt": [ids["AWS::S3::Bucket"], "Arn"]}
    objects = json.dumps({"Fn::Join": ["", [bucket_arn, "/uploads/*"]]}, sort_keys=True)
    expected = {
        ("s3:GetObject", objects),
        ("s3:GetObjectVersion", objects),
        ("s3:DeleteObjectVersion", objects),  # the exact version of an upload it refuses (usage.py)
        ("s3:ListBucket", arn("AWS::S3::Bucket")),
        ("dynamodb:PutItem", arn("AWS::DynamoDB::Table")),  # records, tombstones (leading keys: test below)
        ("dynamodb:DeleteItem", arn("AWS::DynamoDB::Table")),  # records, tombstones (leading keys: test below)
        ("dynamodb:ConditionCheckItem", arn("AWS::DynamoDB::Table")),  # tombstones only (leading keys: test below)
        ("dynamodb:GetItem", arn("AWS::DynamoDB::Table")),  # mappings, records, usage, tombstones (test below)
        ("dynamodb:UpdateItem", arn("AWS::DynamoDB::Table")),  # usage items only (leading keys: test below)
        ("kms:Decrypt", arn("AWS::KMS::Key")),
        ("kms:GenerateDataKey", arn("AWS::KMS::Key")),
        ("logs:CreateLogStream", arn("AWS::Logs::LogGroup")),
        ("logs:PutLogEvents", arn("AWS::Logs::LogGroup")),
        ("xray:PutTraceSegments", '"*"'),
        ("xray:PutTelemetryRecords", '"*"'),
        *{(a, arn("AWS::SQS::Queue")) for a in (
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes", "sqs:GetQueueUrl")},
    }  # fmt: skip
    if build_config(suffix).private_network:  # Lambda's VPC networking: EC2 offers no narrower resource
        expected |= {(action, '"*"') for action in VPC_ACCESS_ACTIONS}
    assert role_grants == expected

    # The uploader's sub is read from the identity mapping items; records and the tombstones of deleted versions
    # (#deleted/<hash of the key>) are written and deleted, a record's put checks its version's tombstone; a deleted
    # version's record, its tombstone and the uploader's usage (given back) are read; only usage items are updated.
    def leading(*patterns: str) -> dict[str, Any]:
        return {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)},
            "Null": {"dynamodb:LeadingKeys": "false"},
        }

    for action, condition in (
        ("dynamodb:GetItem", leading("#identity/*")),
        ("dynamodb:GetItem", leading("uploads/*", "#usage/*", "#deleted/*")),
        ("dynamodb:UpdateItem", leading("#usage/*")),
        (["dynamodb:DeleteItem", "dynamodb:PutItem"], leading("uploads/*", "#deleted/*")),  # one merged statement
        ("dynamodb:ConditionCheckItem", leading("#deleted/*")),
    ):
        template.has_resource_properties(
            "AWS::IAM::Policy",
            {
                "Roles": Match.array_with([{"Ref": role.as_string()}]),
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [Match.object_like({"Action": action, "Effect": "Allow", "Condition": condition})]
                    )
                },
            },
        )
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role.as_string()} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    item_actions = ("GetItem", "UpdateItem", "PutItem", "DeleteItem", "ConditionCheckItem")
    unconditioned = [
        s
        for s in statements
        if {f"dynamodb:{action}" for action in item_actions}
        & set(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert all("Condition" in statement for statement in unconditioned), unconditioned


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_pipeline_takes_object_deleted_events_too(stack_templates: dict[str, Template], suffix: str) -> None:
    """Deletions reach the processor through the same rule (and buffer) as creations, and the processor keeps
    a tombstone longer than any redelivery of them (EventBridge's 6 h + 14 days in the buffer/DLQ + a day)."""
    template = stack_templates[suffix]
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {"source": ["aws.s3"], "detail-type": ["Object Created", "Object Deleted"]}
            )
        },
    )
    assert len(template.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": Match.any_value()}})) == 1
    environment = Capture()
    template.has_resource_properties("AWS::Lambda::Function", {**PROCESSOR, "Environment": {"Variables": environment}})
    assert int(environment.as_object()["TOMBSTONE_SECONDS"]) == 6 * 3600 + 15 * 86400


@pytest.mark.parametrize("action", WILDCARD_ACTIONS, ids=["single", "list"])
def test_no_identity_policy_anywhere_has_a_wildcard_action(
    stack_templates: dict[str, Template], action: Matcher
) -> None:
    for template in stack_templates.values():
        template.all_resources_properties(
            "AWS::IAM::Policy", {"PolicyDocument": {"Statement": Match.not_(has_statement(Action=action))}}
        )


# X-Ray, Lambda's VPC networking and the prefix-list lookup's one Describe action: EC2/X-Ray offer nothing narrower.
RESOURCE_STAR_ACTIONS = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    *VPC_ACCESS_ACTIONS,
    "ec2:DescribeManagedPrefixLists",
)
# Any action other than those (a JS lookahead: the matcher runs in CDK's Node process).
_OTHER = Match.string_like_regexp("^(?!(?:" + "|".join(re.escape(a) for a in RESOURCE_STAR_ACTIONS) + ")$)")


@pytest.mark.parametrize("resource", ["*", Match.array_with(["*"])], ids=["single", "list"])
@pytest.mark.parametrize("action", [_OTHER, Match.array_with([_OTHER])], ids=["single", "list"])
def test_only_xray_and_vpc_networking_use_resource_star(
    stack_templates: dict[str, Template], resource: object, action: Matcher
) -> None:
    for template in stack_templates.values():
        template.all_resources_properties(
            "AWS::IAM::Policy",
            {"PolicyDocument": {"Statement": Match.not_(has_statement(Resource=resource, Action=action))}},
        )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_processor_function_configuration(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    table_id = logical_id(template, "AWS::DynamoDB::Table")
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    powertools_id, runtime_id = sorted(layers, key=lambda rid: not rid.startswith("Powertools"))
    assert runtime_id.startswith("SharedRuntimeLayer")
    logical_id(template, "AWS::Lambda::Function", PROCESSOR)  # exactly one processor
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "processor.handler.sqs_handler",
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "TracingConfig": Match.exact({"Mode": "Active"}),
            "Layers": [{"Ref": powertools_id}, {"Ref": runtime_id}],
            "Timeout": config.processor_timeout_seconds,
            "Environment": {
                "Variables": {
                    "TABLE_NAME": {"Ref": table_id},
                    "EXPECTED_BUCKET_OWNER": {"Ref": "AWS::AccountId"},
                    "EXPECTED_BUCKET_NAME": {"Ref": logical_id(template, "AWS::S3::Bucket", NOT_ACCESS_LOGS)},
                    "POWERTOOLS_METRICS_NAMESPACE": f"SecureServerless/{suffix}",
                }
            },
            "ReservedConcurrentExecutions": Match.absent()
            if config.processor_reserved_concurrency is None
            else config.processor_reserved_concurrency,
        },
    )
    logical_id(template, "AWS::Logs::LogGroup", {"LogGroupName": Match.string_like_regexp("/processor$")})
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": f"/secure-serverless-{suffix}/processor", "RetentionInDays": config.log_retention_days},
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_pipeline_per_environment(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    template.resource_count_is("AWS::Events::Rule", 1)
    template.has_resource_properties("AWS::Events::Rule", {"Name": f"secure-serverless-{suffix}-object-created"})
    logical_id(template, "AWS::SQS::Queue", BUFFER)  # exactly one buffer
    visibility = Capture()
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            **BUFFER,
            "RedrivePolicy": {"maxReceiveCount": config.processor_max_receive_count},
            "VisibilityTimeout": visibility,
        },
    )
    assert visibility.as_number() >= 6 * config.processor_timeout_seconds
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 2)  # the pipeline's and the erasure worker's
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "ScalingConfig": Match.exact({"MaximumConcurrency": config.processor_max_concurrency}),
            "BatchSize": config.processor_batch_size,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


SCALABLE_TARGET = "AWS::ApplicationAutoScaling::ScalableTarget"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_records_expire_with_the_buckets_lifecycle(stack_templates: dict[str, Template], suffix: str) -> None:
    """One source: the processor gets the very day counts of the bucket's lifecycle rules, the table deletes by TTL
    on the attribute the processor writes; without object expiry the processor gets none (no TTL on records)."""
    template, config = stack_templates[suffix], build_config(suffix)
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"TimeToLiveSpecification": Match.exact({"AttributeName": TTL_ATTRIBUTE, "Enabled": True})},
    )
    (bucket,) = template.find_resources("AWS::S3::Bucket", {"Properties": NOT_ACCESS_LOGS}).values()
    rules = {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    noncurrent = rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"]
    assert noncurrent == config.noncurrent_version_expiration_days
    (function,) = template.find_resources("AWS::Lambda::Function", {"Properties": PROCESSOR}).values()
    variables = function["Properties"]["Environment"]["Variables"]
    if config.object_expiration_days is None:
        assert "expire-current-versions" not in rules
        assert "OBJECT_EXPIRATION_DAYS" not in variables and "NONCURRENT_VERSION_EXPIRATION_DAYS" not in variables
        return
    current = rules["expire-current-versions"]
    assert current == {"Id": "expire-current-versions", "ExpirationInDays": config.object_expiration_days,
                       "Status": "Enabled"}  # fmt: skip
    assert variables["OBJECT_EXPIRATION_DAYS"] == str(current["ExpirationInDays"])
    assert variables["NONCURRENT_VERSION_EXPIRATION_DAYS"] == str(noncurrent)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_table_per_environment(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Delete" if config.destroyable else "Retain",
            "Properties": {
                "KeySchema": Match.exact(
                    [
                        {"AttributeName": "object_key", "KeyType": "HASH"},
                        {"AttributeName": "version_id", "KeyType": "RANGE"},
                    ]
                ),
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "by-owner",
                        "KeySchema": Match.exact(
                            [
                                {"AttributeName": "owner", "KeyType": "HASH"},
                                {"AttributeName": "object_key", "KeyType": "RANGE"},
                            ]
                        ),
                    }
                ],
                "DeletionProtectionEnabled": not config.destroyable,
                "PointInTimeRecoverySpecification": Match.exact({"PointInTimeRecoveryEnabled": True}),
                "SSESpecification": {"SSEType": "KMS"},
                **(
                    {"BillingMode": "PAY_PER_REQUEST", "ProvisionedThroughput": Match.absent()}
                    if config.table_on_demand
                    else {}
                ),
            },
        },
    )
    if config.table_on_demand:
        template.resource_count_is(SCALABLE_TARGET, 0)
        return
    template.resource_count_is(SCALABLE_TARGET, 4)  # table and index, read and write: each with its range
    for dimension, (low, high) in (("Read", config.table_read_capacity), ("Write", config.table_write_capacity)):
        matching = template.find_resources(
            SCALABLE_TARGET,
            {
                "Properties": {
                    "ScalableDimension": Match.string_like_regexp(f"{dimension}CapacityUnits$"),
                    "MinCapacity": low,
                    "MaxCapacity": high,
                }
            },
        )
        assert len(matching) == 2, (dimension, sorted(matching))
    template.all_resources_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": config.table_target_utilization_percent}},
    )


def test_no_s3_to_lambda_notification_or_permission(stack_templates: dict[str, Template]) -> None:
    for template in stack_templates.values():
        assert not template.find_resources("AWS::Lambda::Permission", {"Properties": {"Principal": "s3.amazonaws.com"}})
        # EventBridge is the only notification: no Lambda, queue or topic configuration on any bucket.
        for configuration in ("LambdaConfigurations", "QueueConfigurations", "TopicConfigurations"):
            assert not template.find_resources(
                "AWS::S3::Bucket", {"Properties": {"NotificationConfiguration": {configuration: Match.any_value()}}}
            )


def test_synth_of_every_environment_ran_cloudformation_validation(synthesized: Synthesized) -> None:
    # The session fixture keeps CDK's built-in CloudFormation validation on; a dependency cycle would fail it.
    assert set(synthesized.templates) == set(SUFFIXES)


def test_layer_is_built_from_the_pins_the_tests_use() -> None:
    pins = dict(line.split("==") for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#"))
    assert importlib.metadata.version("aws-lambda-powertools") == pins["aws-lambda-powertools"]
    assert importlib.metadata.version("aws-xray-sdk") == pins["aws-xray-sdk"]
    dist = LAYER_DIR / "python" / f"aws_lambda_powertools-{pins['aws-lambda-powertools']}.dist-info"
    assert dist.is_dir()
    assert not (LAYER_DIR / "python" / "botocore").exists()  # the runtime's boto3/botocore are not shadowed
