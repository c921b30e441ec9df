"""The data path as each environment deploys it: table, pipeline, processor function and its exact permissions."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from secure_serverless.private_network import VPC_ACCESS_ACTIONS
from stacks.config import build_config
from stacks.layer import LAYER_DIR, REQUIREMENTS
from tests.support.synth import Synthesized
from tests.support.template import as_list, resources_of, single

SUFFIXES = ("dev", "staging", "prod", "pr-7")


def _processor(template: dict) -> tuple[str, dict]:
    return single(template, "AWS::Lambda::Function", lambda r: "processor" in r["Properties"]["Handler"])


def _role_statements(template: dict, function: dict) -> list[dict]:
    """Every statement of every identity policy attached to the function's role (its own default policy and the
    dedicated X-Ray / VPC-access policies whose Resource '*' acknowledgments cover only them)."""
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        p for _, p in resources_of(template, "AWS::IAM::Policy") if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    return [statement for policy in policies for statement in policy["Properties"]["PolicyDocument"]["Statement"]]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_processor_permissions_are_exactly_what_it_needs(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    ids = {
        rtype: single(template, rtype, where)[0]
        for rtype, where in (
            ("AWS::KMS::Key", lambda r: True),
            ("AWS::DynamoDB::Table", lambda r: True),
            ("AWS::S3::Bucket", lambda r: not r["Properties"]["BucketNamePrefix"].endswith("-logs")),
            ("AWS::SQS::Queue", lambda r: "RedrivePolicy" in r["Properties"]),
            ("AWS::Logs::LogGroup", lambda r: str(r["Properties"]["LogGroupName"]).endswith("/processor")),
        )
    }
    _, function = _processor(template)
    granted = {
        (action, json.dumps(resource, sort_keys=True))
        for statement in _role_statements(template, function)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
        if statement["Effect"] == "Allow"
    }

    def arn(kind: str) -> str:
        return json.dumps({"Fn::GetAtt": [ids[kind], "Arn"]}, sort_keys=True)

    objects = json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [ids["AWS::S3::Bucket"], "Arn"]}, "/*"]]}, sort_keys=True)
    expected = {
        ("s3:GetObject", objects),
        ("s3:GetObjectVersion", objects),
        ("s3:ListBucket", arn("AWS::S3::Bucket")),
        ("dynamodb:PutItem", arn("AWS::DynamoDB::Table")),
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
    assert granted == expected


def test_no_identity_policy_anywhere_has_a_wildcard_action(templates: dict) -> None:
    for suffix, template in templates.items():
        for _, policy in resources_of(template, "AWS::IAM::Policy"):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                assert not [a for a in as_list(statement["Action"]) if "*" in a], (suffix, statement)


def test_only_xray_and_vpc_networking_use_resource_star(templates: dict) -> None:
    allowed = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", *VPC_ACCESS_ACTIONS}
    for suffix, template in templates.items():
        for _, policy in resources_of(template, "AWS::IAM::Policy"):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if "*" in as_list(statement["Resource"]):
                    assert set(as_list(statement["Action"])) <= allowed, (
                        suffix,
                        statement,
                    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_processor_function_configuration(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    config = build_config(suffix)
    table_id, _ = single(template, "AWS::DynamoDB::Table")
    layers = {rid for rid, _ in resources_of(template, "AWS::Lambda::LayerVersion")}
    powertools_id, runtime_id = sorted(layers, key=lambda rid: not rid.startswith("Powertools"))
    _, function = _processor(template)
    props = function["Properties"]
    assert props["Handler"] == "processor.handler.sqs_handler"
    assert (props["Runtime"], props["Architectures"]) == ("python3.14", ["arm64"])
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Layers"] == [{"Ref": powertools_id}, {"Ref": runtime_id}]
    assert runtime_id.startswith("SharedRuntimeLayer")
    assert props["Timeout"] == config.processor_timeout_seconds
    env = props["Environment"]["Variables"]
    assert env["TABLE_NAME"] == {"Ref": table_id}
    assert env["EXPECTED_BUCKET_OWNER"] == {"Ref": "AWS::AccountId"}
    bucket_id = single(
        template, "AWS::S3::Bucket", lambda r: not r["Properties"]["BucketNamePrefix"].endswith("-logs")
    )[0]
    assert env["EXPECTED_BUCKET_NAME"] == {"Ref": bucket_id}
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == f"SecureServerless/{suffix}"
    if config.processor_reserved_concurrency is None:
        assert "ReservedConcurrentExecutions" not in props
    else:
        assert props["ReservedConcurrentExecutions"] == config.processor_reserved_concurrency
    _, log_group = single(
        template, "AWS::Logs::LogGroup", lambda r: str(r["Properties"]["LogGroupName"]).endswith("/processor")
    )
    assert log_group["Properties"]["LogGroupName"] == f"/secure-serverless-{suffix}/processor"
    assert log_group["Properties"]["RetentionInDays"] == config.log_retention_days


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_pipeline_per_environment(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    config = build_config(suffix)
    _, rule = single(template, "AWS::Events::Rule")
    assert rule["Properties"]["Name"] == f"secure-serverless-{suffix}-object-created"
    _, buffer = single(template, "AWS::SQS::Queue", lambda r: "RedrivePolicy" in r["Properties"])
    assert buffer["Properties"]["VisibilityTimeout"] >= 6 * config.processor_timeout_seconds
    assert buffer["Properties"]["RedrivePolicy"]["maxReceiveCount"] == config.processor_max_receive_count
    _, mapping = single(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": config.processor_max_concurrency}
    assert mapping["Properties"]["BatchSize"] == config.processor_batch_size
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_table_per_environment(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    config = build_config(suffix)
    _, table = single(template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "object_key", "KeyType": "HASH"},
        {"AttributeName": "version_id", "KeyType": "RANGE"},
    ]
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-owner"
    assert index["KeySchema"] == [
        {"AttributeName": "owner", "KeyType": "HASH"},
        {"AttributeName": "object_key", "KeyType": "RANGE"},
    ]
    assert props.get("DeletionProtectionEnabled", False) is (not config.destroyable)
    assert table["DeletionPolicy"] == ("Delete" if config.destroyable else "Retain")
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEType"] == "KMS"
    targets = [t["Properties"] for _, t in resources_of(template, "AWS::ApplicationAutoScaling::ScalableTarget")]
    if config.table_on_demand:
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert targets == [] and "ProvisionedThroughput" not in props
        return
    assert len(targets) == 4
    for target in targets:
        low, high = config.table_read_capacity if "Read" in target["ScalableDimension"] else config.table_write_capacity
        assert (target["MinCapacity"], target["MaxCapacity"]) == (low, high)
    for _, policy in resources_of(template, "AWS::ApplicationAutoScaling::ScalingPolicy"):
        target_value = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
        assert target_value == config.table_target_utilization_percent


def test_no_s3_to_lambda_notification_or_permission(templates: dict) -> None:
    for template in templates.values():
        for _, permission in resources_of(template, "AWS::Lambda::Permission"):
            assert permission["Properties"]["Principal"] != "s3.amazonaws.com"
        for _, bucket in resources_of(template, "AWS::S3::Bucket"):
            notifications = bucket["Properties"].get("NotificationConfiguration", {})
            assert set(notifications) <= {"EventBridgeConfiguration"}


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
