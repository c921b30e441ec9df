"""The erasure job as each environment deploys it: the queue and its DLQ (encrypted with the environment key,
redrive, alarm), the worker's exact permissions (by leading key where DynamoDB allows it), and the API's."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Capture, Match, Template

from secure_serverless.private_network import VPC_ACCESS_ACTIONS
from stacks import records_schema as schema
from stacks.config import build_config
from stacks.secure_serverless_stack import ERASURE_MAX_RECEIVE_COUNT, ERASURE_TIMEOUT
from tests.support.template import arn_of, granted, logical_id

SUFFIXES = ("dev", "staging", "prod", "pr-7")
WORKER = {"Handler": "erasure_worker.handler.sqs_handler"}
JOBS = {"QueueName": Match.string_like_regexp("-erasure-jobs$")}


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def leading(*patterns: str) -> dict[str, object]:
    return {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }


def statements_of(template: Template, role_id: str) -> list[dict]:
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": Match.array_with([{"Ref": role_id}])}}
    )
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def worker_role(template: Template) -> str:
    role = Capture()
    logical_id(template, "AWS::Lambda::Function", WORKER)  # exactly one worker
    template.has_resource_properties("AWS::Lambda::Function", {**WORKER, "Role": {"Fn::GetAtt": [role, "Arn"]}})
    return role.as_string()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_jobs_queue_is_encrypted_redriven_and_consumed_one_at_a_time(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    key = logical_id(template, "AWS::KMS::Key")
    dlq = Capture()
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            **JOBS,
            "KmsMasterKeyId": arn_of(key),
            "VisibilityTimeout": 6 * ERASURE_TIMEOUT.to_seconds(),
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                "maxReceiveCount": ERASURE_MAX_RECEIVE_COUNT,
            },
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"KmsMasterKeyId": arn_of(key), "RedriveAllowPolicy": {"redrivePermission": "byQueue"}},
    )
    jobs = logical_id(template, "AWS::SQS::Queue", JOBS)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": arn_of(jobs),
            "BatchSize": 1,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "FunctionName": {"Ref": logical_id(template, "AWS::Lambda::Function", WORKER)},
        },
    )
    # A dead letter raises an alarm, like every other DLQ's.
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": Match.string_like_regexp("erasure-dead-letters"),
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq.as_string(), "QueueName"]}}],
            "Threshold": 1,
            "AlarmActions": Match.any_value(),
        },
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_worker_permissions_are_exactly_what_it_needs(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    role = worker_role(template)
    table = arn_of(logical_id(template, "AWS::DynamoDB::Table"))
    bucket = arn_of(
        logical_id(template, "AWS::S3::Bucket", {"BucketNamePrefix": Match.not_(Match.string_like_regexp("-logs$"))})
    )
    key = arn_of(logical_id(template, "AWS::KMS::Key"))
    jobs = arn_of(logical_id(template, "AWS::SQS::Queue", JOBS))
    log_group = arn_of(
        logical_id(template, "AWS::Logs::LogGroup", {"LogGroupName": Match.string_like_regexp("/erasure$")})
    )
    index = {"Fn::Join": ["", [table, f"/index/{schema.OWNER_INDEX}"]]}
    expected = {
        ("s3:ListBucketVersions", _json(bucket)),
        ("s3:DeleteObjectVersion", _json({"Fn::Join": ["", [bucket, "/uploads/*"]]})),
        ("dynamodb:Query", _json(table)),
        ("dynamodb:Query", _json(index)),
        ("dynamodb:BatchWriteItem", _json(table)),
        ("dynamodb:GetItem", _json(table)),
        ("dynamodb:PutItem", _json(table)),
        ("dynamodb:UpdateItem", _json(table)),
        ("kms:Decrypt", _json(key)),
        ("kms:GenerateDataKey", _json(key)),
        ("sqs:SendMessage", _json(jobs)),
        ("logs:CreateLogStream", _json(log_group)),
        ("logs:PutLogEvents", _json(log_group)),
        ("xray:PutTraceSegments", '"*"'),
        ("xray:PutTelemetryRecords", '"*"'),
        *{(a, _json(jobs)) for a in (
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes", "sqs:GetQueueUrl")},
    }  # fmt: skip
    if build_config(suffix).private_network:
        expected |= {(action, '"*"') for action in VPC_ACCESS_ACTIONS}
    assert granted(template, role) == expected
    by_action: dict[str, list[dict]] = {}
    for statement in statements_of(template, role):
        for action in statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]:
            by_action.setdefault(action, []).append(statement)
    # Listing only under uploads/; deletes only by exact version (s3:DeleteObject is not granted: checked above).
    assert [s.get("Condition") for s in by_action["s3:ListBucketVersions"]] == [
        {"StringLike": {"s3:prefix": "uploads/*"}}
    ]
    # DynamoDB by leading key wherever the table's own partition key is what is checked.
    assert [s["Condition"] for s in by_action["dynamodb:BatchWriteItem"]] == [
        leading("uploads/*", "#sub/*", "#usage/*", "#identity/*")
    ]
    assert [s["Condition"] for s in by_action["dynamodb:GetItem"]] == [leading("#erasure/*", "#identity/*")]
    assert [s["Condition"] for s in by_action["dynamodb:PutItem"]] == [leading("#erasure/*")]
    assert [s["Condition"] for s in by_action["dynamodb:UpdateItem"]] == [leading("#erasure/*")]
    queries = {_json(s["Resource"]): s.get("Condition") for s in by_action["dynamodb:Query"]}
    assert queries == {_json(table): leading("#sub/*", "#usage/*"), _json(index): None}


@pytest.mark.parametrize("suffix", ["dev", "prod"])
def test_api_reaches_only_the_callers_job(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    role = Capture()
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "objects_api.handler.lambda_handler",
            "Role": {"Fn::GetAtt": [role, "Arn"]},
            "Environment": {"Variables": {"ERASURE_QUEUE_URL": {"Ref": logical_id(template, "AWS::SQS::Queue", JOBS)}}},
        },
    )
    conditions: dict[str, list[dict]] = {}
    for statement in statements_of(template, role.as_string()):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            if action in ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"):
                conditions.setdefault(action, []).append(statement["Condition"])
    # (Beside the job: the identity mappings the API records, and the upload grants' counters.)
    assert conditions == {
        "dynamodb:GetItem": [leading("#erasure/*")],
        "dynamodb:UpdateItem": [leading("#erasure/*"), leading("#usage/*")],
        "dynamodb:PutItem": [leading("#identity/*", "#sub/*"), leading("#erasure/*")],
    }


@pytest.mark.parametrize("suffix", ["dev", "prod"])
def test_both_erasure_routes_are_iam_authorised(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    resource = logical_id(template, "AWS::ApiGateway::Resource", {"PathPart": "erasure"})
    for method in ("GET", "POST"):
        template.has_resource_properties(
            "AWS::ApiGateway::Method",
            {"HttpMethod": method, "ResourceId": {"Ref": resource}, "AuthorizationType": "AWS_IAM"},
        )


def test_private_mode_runs_the_worker_in_the_vpc(stack_templates: dict[str, Template]) -> None:
    template = stack_templates["prod"]
    template.has_resource_properties("AWS::Lambda::Function", {**WORKER, "VpcConfig": Match.any_value()})
    for sid in ("ErasureListsVersions", "ErasureDeletesVersions", "ErasureErasesItems", "ErasureContinuesJobs",
                "ApiStartsErasureJobs", "ApiReadsErasureJobs"):  # fmt: skip
        template.has_resource_properties(
            "AWS::EC2::VPCEndpoint",
            {"PolicyDocument": {"Statement": Match.array_with([Match.object_like({"Sid": sid})])}},
        )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_point_in_time_recovery_keeps_the_default_window(stack_templates: dict[str, Template], suffix: str) -> None:
    """docs/operations.md says backups keep erased items 35 days: DynamoDB's default, so no RecoveryPeriodInDays."""
    template = stack_templates[suffix]
    table = template.find_resources("AWS::DynamoDB::Table")
    (props,) = [resource["Properties"] for resource in table.values()]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
