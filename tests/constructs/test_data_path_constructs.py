"""ScaledTable, SecureFunction and EventPipeline on their own, in both delivery modes."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from secure_serverless import (
    CapacityRange,
    Delivery,
    EventPipeline,
    IndexSpec,
    ScaledTable,
    SecureBucket,
    SecureFunction,
)
from tests.support.build import StackSet
from tests.support.nag import nag_findings
from tests.support.template import as_list, resources_of, single, statements_by_sid

STRING = dynamodb.AttributeType.STRING
INLINE_CODE = lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")


def _function(scope: cdk.Stack, key: kms.IKey, **overrides: object) -> SecureFunction:
    props: dict[str, object] = {"name_prefix": "unit-env", "purpose": "processor", "encryption_key": key}
    return SecureFunction(scope, "Processor", code=INLINE_CODE, handler="index.handler", **{**props, **overrides})


class Built(StackSet):
    """Stacks with the data-path constructs in their variants, synthesized once for the module."""

    def __init__(self) -> None:
        super().__init__()

        stack = self._stack("Provisioned")
        key = kms.Key(stack, "Key", enable_key_rotation=True)
        self.provisioned = ScaledTable(
            stack,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=STRING),
            sort_key=dynamodb.Attribute(name="sk", type=STRING),
            indexes=[
                IndexSpec("by-a", dynamodb.Attribute(name="a", type=STRING)),
                IndexSpec(
                    "by-b", dynamodb.Attribute(name="b", type=STRING), dynamodb.Attribute(name="sk", type=STRING)
                ),
            ],
            encryption_key=key,
            read_capacity=CapacityRange(2, 20),
            write_capacity=CapacityRange(3, 30),
            target_utilization_percent=55,
        )
        self.reader = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.provisioned.grant_query(self.reader, "by-a")

        stack = self._stack("OnDemand")
        self.on_demand = ScaledTable(
            stack,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=STRING),
            encryption_key=kms.Key(stack, "Key", enable_key_rotation=True),
            on_demand=True,
            time_to_live_attribute=None,
            deletion_protection=False,
        )
        cdk.RemovalPolicies.of(self.on_demand).destroy()  # CDK's own way, instead of a removal prop

        for name, delivery in (("Queue", Delivery.QUEUE), ("Direct", Delivery.DIRECT)):
            stack = self._stack(name)
            key = kms.Key(stack, "Key", enable_key_rotation=True)
            bucket = SecureBucket(stack, "Bucket", name_prefix=f"unit-{name.lower()}")
            function = _function(stack, key, timeout=cdk.Duration.seconds(20))
            pipeline = EventPipeline(
                stack,
                "Pipeline",
                bucket=bucket.bucket,
                processor=function.function,
                encryption_key=key,
                rule_name=f"unit-{name.lower()}-object-created",
                key_prefix="uploads/",
                delivery=delivery,
                batch_size=7,
                max_concurrency=4,
                max_receive_count=5,
                retry_attempts=3,
                max_event_age=cdk.Duration.hours(1),
            )
            setattr(self, name.lower(), pipeline)
            setattr(self, f"{name.lower()}_function", function)
        self.synth()


@pytest.fixture(scope="module")
def built() -> Built:
    return Built()


# ---------------------------------------------------------------------------------------------------------- ScaledTable
def test_table_is_cmk_encrypted_with_pitr_ttl_and_deletion_protection(built: Built) -> None:
    template = built.templates["Provisioned"]
    key_id, _ = single(template, "AWS::KMS::Key")
    _, table = single(template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["SSESpecification"] == {
        "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert props["ProvisionedThroughput"] == {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3}
    assert table["DeletionPolicy"] == "Retain"


def test_every_dimension_of_table_and_indexes_has_a_scalable_target(built: Built) -> None:
    template = built.templates["Provisioned"]
    table_id, _ = single(template, "AWS::DynamoDB::Table")
    dimensions = {}
    for _, target in resources_of(template, "AWS::ApplicationAutoScaling::ScalableTarget"):
        props = target["Properties"]
        dimensions[(props["ScalableDimension"], json.dumps(props["ResourceId"]))] = (
            props["MinCapacity"],
            props["MaxCapacity"],
        )
    table_dims = [d for d in dimensions if d[0].startswith("dynamodb:table:")]
    index_dims = [d for d in dimensions if d[0].startswith("dynamodb:index:")]
    assert len(table_dims) == 2 and len(index_dims) == 4
    for (dimension, resource_id), (low, high) in dimensions.items():
        assert table_id in resource_id
        expected = (2, 20) if dimension.endswith("ReadCapacityUnits") else (3, 30)
        assert (low, high) == expected, dimension
    assert sum("/index/by-a" in rid for _, rid in dimensions) == 2
    assert sum("/index/by-b" in rid for _, rid in dimensions) == 2


def test_scaling_policies_track_utilisation_and_reference_target_by_id_only(built: Built) -> None:
    template = built.templates["Provisioned"]
    targets = {rid for rid, _ in resources_of(template, "AWS::ApplicationAutoScaling::ScalableTarget")}
    policies = list(resources_of(template, "AWS::ApplicationAutoScaling::ScalingPolicy"))
    assert len(policies) == 6
    referenced = set()
    for _, policy in policies:
        props = policy["Properties"]
        assert props["PolicyType"] == "TargetTrackingScaling"
        assert "ResourceId" not in props and "ScalableDimension" not in props and "ServiceNamespace" not in props
        referenced.add(props["ScalingTargetId"]["Ref"])
        config = props["TargetTrackingScalingPolicyConfiguration"]
        assert config["TargetValue"] == 55
        assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] in (
            "DynamoDBReadCapacityUtilization",
            "DynamoDBWriteCapacityUtilization",
        )
    assert referenced == targets


def test_read_grant_is_exact_and_limited_to_named_index(built: Built) -> None:
    template = built.templates["Provisioned"]
    _, policy = single(template, "AWS::IAM::Policy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = sorted(a for s in statements for a in as_list(s["Action"]))
    assert actions == ["dynamodb:Query", "kms:Decrypt"]
    text = json.dumps(statements)
    assert "/index/by-a" in text and "/index/by-b" not in text and "/index/*" not in text


def test_read_grant_rejects_unknown_index(built: Built) -> None:
    with pytest.raises(ValueError, match="index_names"):
        built.provisioned.grant_query(iam.AnyPrincipal(), "nope")


def test_on_demand_has_no_scaling_and_honours_overrides(built: Built) -> None:
    template = built.templates["OnDemand"]
    _, table = single(template, "AWS::DynamoDB::Table")
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in table["Properties"]
    assert "TimeToLiveSpecification" not in table["Properties"]
    assert table["Properties"].get("DeletionProtectionEnabled", False) is False
    assert table["DeletionPolicy"] == "Delete"
    assert list(resources_of(template, "AWS::ApplicationAutoScaling::ScalableTarget")) == []


def test_bad_table_props_are_rejected() -> None:
    with pytest.raises(ValueError, match="capacity range"):
        CapacityRange(5, 1)
    stack = cdk.Stack(cdk.App(), "Bad")
    with pytest.raises(ValueError, match="target_utilization_percent"):
        ScaledTable(
            stack,
            "T",
            partition_key=dynamodb.Attribute(name="pk", type=STRING),
            encryption_key=kms.Key(stack, "K"),
            target_utilization_percent=95,
        )


# ---------------------------------------------------------------------------------------------------------- function
def test_function_is_hardened(built: Built) -> None:
    template = built.templates["Queue"]
    key_id, _ = single(template, "AWS::KMS::Key")
    _, function = single(template, "AWS::Lambda::Function")
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["KmsKeyArn"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert props["MemorySize"] == 256 and props["Timeout"] == 20
    log_id, log_group = single(template, "AWS::Logs::LogGroup")
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": log_id}
    assert log_group["Properties"]["LogGroupName"] == "/unit-env/processor"
    assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert log_group["Properties"]["RetentionInDays"] == 365
    _, role = single(template, "AWS::IAM::Role")
    assert "ManagedPolicyArns" not in role["Properties"]


# ---------------------------------------------------------------------------------------------------------- pipeline
def _rule(template: dict) -> dict:
    return single(template, "AWS::Events::Rule")[1]["Properties"]


def _queue_ids(template: dict) -> tuple[str, str]:
    dlq = single(template, "AWS::SQS::Queue", lambda r: "RedrivePolicy" not in r["Properties"])[0]
    buffer = single(template, "AWS::SQS::Queue", lambda r: "RedrivePolicy" in r["Properties"])[0]
    return buffer, dlq


@pytest.mark.parametrize("name", ["Queue", "Direct"])
def test_rule_matches_only_this_bucket_and_prefix(built: Built, name: str) -> None:
    template = built.templates[name]
    bucket_id, _ = single(
        template, "AWS::S3::Bucket", lambda r: not r["Properties"]["BucketNamePrefix"].endswith("-logs")
    )
    rule = _rule(template)
    assert rule["Name"] == f"unit-{name.lower()}-object-created"
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [{"Ref": bucket_id}]}, "object": {"key": [{"prefix": "uploads/"}]}},
    }
    (target,) = rule["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert "DeadLetterConfig" in target


def test_queue_delivery_buffers_encrypted_with_redrive_and_batch_failures(built: Built) -> None:
    template = built.templates["Queue"]
    key_id, _ = single(template, "AWS::KMS::Key")
    buffer_id, dlq_id = _queue_ids(template)
    buffer = template["Resources"][buffer_id]["Properties"]
    assert buffer["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert buffer["VisibilityTimeout"] == 6 * 20
    assert buffer["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}, "maxReceiveCount": 5}
    dlq = template["Resources"][dlq_id]["Properties"]
    assert dlq["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    (target,) = _rule(template)["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [buffer_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    _, mapping = single(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [buffer_id, "Arn"]}
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["BatchSize"] == 7
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 4}
    assert list(resources_of(template, "AWS::Lambda::Permission")) == []  # nothing may invoke it directly


@pytest.mark.parametrize("queue_kind", ["buffer", "dlq"])
def test_only_this_rule_may_send_to_the_queues(built: Built, queue_kind: str) -> None:
    template = built.templates["Queue"]
    rule_id, _ = single(template, "AWS::Events::Rule")
    queue_id = dict(zip(("buffer", "dlq"), _queue_ids(template), strict=True))[queue_kind]
    _, policy = single(template, "AWS::SQS::QueuePolicy", lambda r: r["Properties"]["Queues"] == [{"Ref": queue_id}])
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allow = statements_by_sid(statements)["AllowObjectCreatedRule"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    assert [s for s in statements if s["Effect"] == "Allow"] == [allow]
    tls = [s for s in statements if s["Effect"] == "Deny"]
    assert tls and tls[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("name", ["Queue", "Direct"])
def test_key_policy_lets_eventbridge_encrypt_only_for_this_rule(built: Built, name: str) -> None:
    _, key = single(built.templates[name], "AWS::KMS::Key")
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (events_statement,) = [s for s in statements if s["Principal"] == {"Service": "events.amazonaws.com"}]
    assert sorted(events_statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    source = json.dumps(events_statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert f":rule/unit-{name.lower()}-object-created" in source
    assert events_statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_direct_delivery_invokes_lambda_async_with_scoped_permission(built: Built) -> None:
    template = built.templates["Direct"]
    rule_id, _ = single(template, "AWS::Events::Rule")
    function_id, _ = single(template, "AWS::Lambda::Function")
    ((dlq_id, _),) = resources_of(template, "AWS::SQS::Queue")
    (target,) = _rule(template)["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    _, permission = single(template, "AWS::Lambda::Permission")
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"
    assert permission["Properties"]["Action"] == "lambda:InvokeFunction"
    assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}
    _, invoke_config = single(template, "AWS::Lambda::EventInvokeConfig")
    props = invoke_config["Properties"]
    assert props["MaximumRetryAttempts"] == 2
    assert props["MaximumEventAgeInSeconds"] == 3600
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq_id, "Arn"]}}}
    assert list(resources_of(template, "AWS::Lambda::EventSourceMapping")) == []
    assert built.direct.buffer is None and built.direct.metric_oldest_buffered_age() is None


def test_direct_delivery_grants_exactly_send_to_dlq(built: Built) -> None:
    template = built.templates["Direct"]
    ((dlq_id, _),) = resources_of(template, "AWS::SQS::Queue")
    _, policy = single(template, "AWS::IAM::Policy", lambda r: "DefaultPolicy" in r["Properties"]["PolicyName"])
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    send = [s for s in statements if "sqs:SendMessage" in as_list(s["Action"])]
    assert send and send[0]["Resource"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    for statement in statements:
        assert not [a for a in as_list(statement["Action"]) if "*" in a], statement


def test_no_bucket_notification_to_lambda_and_no_cycle(built: Built) -> None:
    for name in ("Queue", "Direct"):
        template = built.templates[name]
        _, bucket = single(
            template, "AWS::S3::Bucket", lambda r: not r["Properties"]["BucketNamePrefix"].endswith("-logs")
        )
        notifications = bucket["Properties"]["NotificationConfiguration"]
        assert "LambdaConfigurations" not in notifications and "QueueConfigurations" not in notifications
        assert "DependsOn" not in bucket


@pytest.mark.parametrize(
    "field,value",
    [("batch_size", 0), ("max_concurrency", 1), ("max_receive_count", 0), ("retry_attempts", 200),
     ("async_retry_attempts", 3), ("key_prefix", "a*b"), ("rule_name", "bad name")],
)  # fmt: skip
def test_bad_pipeline_props_name_the_field(field: str, value: object) -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    key = kms.Key(stack, "Key")
    props: dict[str, object] = {"encryption_key": key, "rule_name": "bad-rule", field: value}
    bucket = SecureBucket(stack, "B", name_prefix="bad").bucket
    with pytest.raises(ValueError, match=field):
        EventPipeline(stack, "P", bucket=bucket, processor=_function(stack, key).function, **props)


@pytest.mark.parametrize("name", ["Queue", "Direct"])
def test_pipeline_stacks_pass_nag_packs(built: Built, name: str) -> None:
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        result = pack.validate_scope(built.stacks[name])
        assert result.success, nag_findings(result)
