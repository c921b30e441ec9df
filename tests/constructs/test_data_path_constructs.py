"""ScaledTable, SecureFunction and EventPipeline on their own, in both delivery modes."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template
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
from secure_serverless.nag import LAMBDA_DLQ_RULES, acknowledge
from tests.support.build import INLINE_CODE, StackSet
from tests.support.nag import nag_findings
from tests.support.template import WILDCARD_ACTIONS, arn_of, has_statement, logical_id, only_policy_grants_exactly

STRING = dynamodb.AttributeType.STRING


def _function(scope: cdk.Stack, key: kms.IKey, **overrides: object) -> SecureFunction:
    # Invoked by an SQS event source (or EventBridge with the pipeline's on-failure destination): no DLQ of its own.
    props: dict[str, object] = {
        "name_prefix": "unit-env", "purpose": "processor", "encryption_key": key, "async_dead_letter_queue": False
    }  # fmt: skip
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
            # The consumer's own decision on its own function (the library never acknowledges on it).
            acknowledge(
                function.function,
                LAMBDA_DLQ_RULES,
                f"Invoked by the pipeline ({name} delivery), whose "
                "dead-letter queue receives every event that fails; an async DLQ would stay unused.",
            )
            setattr(self, name.lower(), pipeline)
            setattr(self, f"{name.lower()}_function", function)
        self.synth()


@pytest.fixture(scope="module")
def built() -> Built:
    return Built()


# ---------------------------------------------------------------------------------------------------------- ScaledTable
SCALABLE_TARGET = "AWS::ApplicationAutoScaling::ScalableTarget"
SCALING_POLICY = "AWS::ApplicationAutoScaling::ScalingPolicy"


def test_table_is_cmk_encrypted_with_pitr_ttl_and_deletion_protection(built: Built) -> None:
    template = built.template("Provisioned")
    key_id = logical_id(template, "AWS::KMS::Key")
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "Properties": {
                "SSESpecification": Match.exact(
                    {"KMSMasterKeyId": arn_of(key_id), "SSEEnabled": True, "SSEType": "KMS"}
                ),
                "PointInTimeRecoverySpecification": Match.exact({"PointInTimeRecoveryEnabled": True}),
                "TimeToLiveSpecification": Match.exact({"AttributeName": "expires_at", "Enabled": True}),
                "DeletionProtectionEnabled": True,
                "ProvisionedThroughput": Match.exact({"ReadCapacityUnits": 2, "WriteCapacityUnits": 3}),
            },
        },
    )


def test_every_dimension_of_table_and_indexes_has_a_scalable_target(built: Built) -> None:
    template = built.template("Provisioned")
    table = {"Ref": logical_id(template, "AWS::DynamoDB::Table")}
    # Six targets and six mutually exclusive patterns: each target is exactly one of them.
    template.resource_count_is(SCALABLE_TARGET, 6)
    for kind, index in (("table", []), ("index", ["/index/by-a"]), ("index", ["/index/by-b"])):
        for dimension, low, high in (("Read", 2, 20), ("Write", 3, 30)):
            template.has_resource_properties(
                SCALABLE_TARGET,
                {
                    "ScalableDimension": f"dynamodb:{kind}:{dimension}CapacityUnits",
                    "ResourceId": {"Fn::Join": ["", ["table/", table, *index]]},
                    "MinCapacity": low,
                    "MaxCapacity": high,
                },
            )


def test_scaling_policies_track_utilisation_and_reference_target_by_id_only(built: Built) -> None:
    template = built.template("Provisioned")
    template.resource_count_is(SCALING_POLICY, 6)
    template.all_resources_properties(
        SCALING_POLICY,
        {
            "PolicyType": "TargetTrackingScaling",
            "ResourceId": Match.absent(),
            "ScalableDimension": Match.absent(),
            "ServiceNamespace": Match.absent(),
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 55,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": Match.string_like_regexp("^DynamoDB(Read|Write)CapacityUtilization$")
                },
            },
        },
    )
    # Six policies, six targets, each target referenced: one policy per target.
    for target_id in template.find_resources(SCALABLE_TARGET):
        template.has_resource_properties(SCALING_POLICY, {"ScalingTargetId": {"Ref": target_id}})


def test_read_grant_is_exact_and_limited_to_named_index(built: Built) -> None:
    template = built.template("Provisioned")
    table_id = logical_id(template, "AWS::DynamoDB::Table")
    only_policy_grants_exactly(
        template,
        [
            {
                "Action": "kms:Decrypt",
                "Effect": "Allow",
                "Resource": arn_of(logical_id(template, "AWS::KMS::Key")),
            },
            {
                "Action": "dynamodb:Query",
                "Effect": "Allow",
                # the table and the named index only: not by-b, not /index/*
                "Resource": [arn_of(table_id), {"Fn::Join": ["", [arn_of(table_id), "/index/by-a"]]}],
            },
        ],
    )


def test_read_grant_rejects_unknown_index(built: Built) -> None:
    with pytest.raises(ValueError, match="index_names"):
        built.provisioned.grant_query(iam.AnyPrincipal(), "nope")


def test_on_demand_has_no_scaling_and_honours_overrides(built: Built) -> None:
    template = built.template("OnDemand")
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Delete",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "ProvisionedThroughput": Match.absent(),
                "TimeToLiveSpecification": Match.absent(),
                "DeletionProtectionEnabled": False,
            },
        },
    )
    template.resource_count_is(SCALABLE_TARGET, 0)


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
    template = built.template("Queue")
    key_id = logical_id(template, "AWS::KMS::Key")
    log_id = logical_id(template, "AWS::Logs::LogGroup")
    template.resource_count_is("AWS::Lambda::Function", 1)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "TracingConfig": Match.exact({"Mode": "Active"}),
            "KmsKeyArn": arn_of(key_id),
            "MemorySize": 256,
            "Timeout": 20,
            "LoggingConfig": {"LogGroup": Match.exact({"Ref": log_id})},
        },
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": "/unit-env/processor", "KmsKeyId": arn_of(key_id), "RetentionInDays": 365},
    )
    template.resource_count_is("AWS::IAM::Role", 1)
    template.has_resource_properties("AWS::IAM::Role", {"ManagedPolicyArns": Match.absent()})


# ---------------------------------------------------------------------------------------------------------- pipeline
def _queue_ids(template: Template) -> tuple[str, str]:
    """(buffer, dead-letter queue): the buffer is the queue that redrives."""
    buffer = logical_id(template, "AWS::SQS::Queue", {"RedrivePolicy": Match.any_value()})
    dlq = logical_id(template, "AWS::SQS::Queue", {"RedrivePolicy": Match.absent()})
    return buffer, dlq


def _rule_target(template: Template, target: dict) -> None:
    """The one rule has exactly one target, with (at least) `target`."""
    template.resource_count_is("AWS::Events::Rule", 1)
    template.has_resource_properties("AWS::Events::Rule", {"Targets": [Match.object_like(target)]})


@pytest.mark.parametrize("name", ["Queue", "Direct"])
def test_rule_matches_only_this_bucket_and_prefix(built: Built, name: str) -> None:
    template = built.template(name)
    bucket_id = logical_id(template, "AWS::S3::Bucket", {"BucketNamePrefix": f"unit-{name.lower()}"})
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "Name": f"unit-{name.lower()}-object-created",
            "EventPattern": Match.exact(
                {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {"bucket": {"name": [{"Ref": bucket_id}]}, "object": {"key": [{"prefix": "uploads/"}]}},
                }
            ),
        },
    )
    _rule_target(
        template,
        {
            "RetryPolicy": Match.exact({"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}),
            "DeadLetterConfig": Match.any_value(),
        },
    )


def test_queue_delivery_buffers_encrypted_with_redrive_and_batch_failures(built: Built) -> None:
    template = built.template("Queue")
    key = arn_of(logical_id(template, "AWS::KMS::Key"))
    buffer_id, dlq_id = _queue_ids(template)
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "KmsMasterKeyId": key,
            "VisibilityTimeout": 6 * 20,
            "RedrivePolicy": Match.exact({"deadLetterTargetArn": arn_of(dlq_id), "maxReceiveCount": 5}),
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"RedrivePolicy": Match.absent(), "KmsMasterKeyId": key, "MessageRetentionPeriod": 14 * 24 * 3600},
    )
    _rule_target(template, {"Arn": arn_of(buffer_id), "DeadLetterConfig": Match.exact({"Arn": arn_of(dlq_id)})})
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 1)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": arn_of(buffer_id),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 7,
            "ScalingConfig": Match.exact({"MaximumConcurrency": 4}),
        },
    )
    template.resource_count_is("AWS::Lambda::Permission", 0)  # nothing may invoke it directly


@pytest.mark.parametrize("queue_kind", ["buffer", "dlq"])
def test_only_this_rule_may_send_to_the_queues(built: Built, queue_kind: str) -> None:
    template = built.template("Queue")
    rule_id = logical_id(template, "AWS::Events::Rule")
    queue_id = dict(zip(("buffer", "dlq"), _queue_ids(template), strict=True))[queue_kind]
    tls_only = Match.object_like(
        {"Effect": "Deny", "Condition": Match.exact({"Bool": {"aws:SecureTransport": "false"}})}
    )
    allow_rule = Match.object_like(
        {
            "Sid": "AllowObjectCreatedRule",
            "Effect": "Allow",
            "Principal": Match.exact({"Service": "events.amazonaws.com"}),
            "Action": "sqs:SendMessage",
            "Condition": Match.exact({"ArnEquals": {"aws:SourceArn": arn_of(rule_id)}}),
        }
    )
    # Exactly these two statements: the TLS deny and the one allow.
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {"Queues": [{"Ref": queue_id}], "PolicyDocument": {"Statement": [tls_only, allow_rule]}},
    )


@pytest.mark.parametrize("name", ["Queue", "Direct"])
def test_key_policy_lets_eventbridge_encrypt_only_for_this_rule(built: Built, name: str) -> None:
    template = built.template(name)
    events = Match.object_like(
        {
            "Principal": Match.exact({"Service": "events.amazonaws.com"}),
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Condition": Match.exact(
                {
                    "ArnLike": {
                        "aws:SourceArn": [
                            {"Fn::Join": ["", Match.array_with([f":rule/unit-{name.lower()}-object-created"])]}
                        ]
                    },
                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                }
            ),
        }
    )
    account_admin = Match.object_like({"Principal": {"AWS": Match.any_value()}})
    # The caller's key gets the statement the processor's log group needs (it admitted no log group before).
    logs = Match.object_like(
        {
            "Sid": "AllowCloudWatchLogsForFunction",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": {
                        "Fn::Join": ["", Match.array_with([":log-group:/unit-env/processor"])]
                    }
                }
            },
        }
    )
    template.resource_count_is("AWS::KMS::Key", 1)
    # The account's own statement, the processor's log group and exactly one for EventBridge.
    template.has_resource_properties("AWS::KMS::Key", {"KeyPolicy": {"Statement": [account_admin, logs, events]}})


def test_direct_delivery_invokes_lambda_async_with_scoped_permission(built: Built) -> None:
    template = built.template("Direct")
    rule_id = logical_id(template, "AWS::Events::Rule")
    function_id = logical_id(template, "AWS::Lambda::Function")
    dlq_id = logical_id(template, "AWS::SQS::Queue")
    _rule_target(template, {"Arn": arn_of(function_id), "DeadLetterConfig": Match.exact({"Arn": arn_of(dlq_id)})})
    template.resource_count_is("AWS::Lambda::Permission", 1)
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Principal": "events.amazonaws.com", "Action": "lambda:InvokeFunction", "SourceArn": arn_of(rule_id)},
    )
    template.resource_count_is("AWS::Lambda::EventInvokeConfig", 1)
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 3600,
            "DestinationConfig": Match.exact({"OnFailure": {"Destination": arn_of(dlq_id)}}),
        },
    )
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 0)
    assert built.direct.buffer is None and built.direct.metric_oldest_buffered_age() is None


def test_direct_delivery_grants_exactly_send_to_dlq(built: Built) -> None:
    template = built.template("Direct")
    dlq_id = logical_id(template, "AWS::SQS::Queue")
    default_policy = Match.string_like_regexp("DefaultPolicy")  # the role's own policy, not the X-Ray one
    logical_id(template, "AWS::IAM::Policy", {"PolicyName": default_policy})  # exactly one
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyName": default_policy,
            "PolicyDocument": {"Statement": has_statement(Action="sqs:SendMessage", Resource=arn_of(dlq_id))},
        },
    )
    for wildcard in WILDCARD_ACTIONS:
        template.has_resource_properties(
            "AWS::IAM::Policy",
            {"PolicyName": default_policy, "PolicyDocument": {"Statement": Match.not_(has_statement(Action=wildcard))}},
        )


@pytest.mark.parametrize("name", ["Queue", "Direct"])
def test_no_bucket_notification_to_lambda_and_no_cycle(built: Built, name: str) -> None:
    built.template(name).has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketNamePrefix": f"unit-{name.lower()}",
                "NotificationConfiguration": {
                    "LambdaConfigurations": Match.absent(),
                    "QueueConfigurations": Match.absent(),
                },
            },
            "DependsOn": Match.absent(),
        },
    )


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


@pytest.mark.parametrize(
    ("grant", "action", "key_actions"),
    [
        ("grant_put_item", "dynamodb:PutItem", ["kms:Decrypt", "kms:GenerateDataKey"]),
        ("grant_update_item", "dynamodb:UpdateItem", ["kms:Decrypt", "kms:GenerateDataKey"]),
        ("grant_batch_get_item", "dynamodb:BatchGetItem", "kms:Decrypt"),
        ("grant_get_item", "dynamodb:GetItem", "kms:Decrypt"),
        ("grant_delete_item", "dynamodb:DeleteItem", ["kms:Decrypt", "kms:GenerateDataKey"]),
        ("grant_condition_check_item", "dynamodb:ConditionCheckItem", "kms:Decrypt"),
    ],
)
def test_item_grants_are_exact_and_can_be_limited_to_leading_keys(grant: str, action: str, key_actions: object) -> None:
    """`leading_keys` limits the one action to matching partition keys and requires the key (ForAllValues alone would
    pass a request without it); without it the grant is unconditioned. Each grant is its one action on the table and
    the key actions it needs, nothing else."""
    stack = cdk.Stack(cdk.App(), "LeadingKeys")
    table = ScaledTable(stack, "Items", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING))
    limited = iam.Role(stack, "Limited", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    plain = iam.Role(stack, "Plain", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    getattr(table, grant)(limited, leading_keys=["#identity/*", "#sub/*"])
    getattr(table, grant)(plain)
    template = Template.from_stack(stack)
    role_ids = {
        name: stack.get_logical_id(role.node.default_child) for name, role in (("Limited", limited), ("Plain", plain))
    }
    statements = {
        name: [
            s
            for p in template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}}).values()
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        for name, role_id in role_ids.items()
    }
    for name in ("Limited", "Plain"):
        assert sorted(json.dumps(s["Action"]) for s in statements[name]) == sorted(
            [json.dumps(action), json.dumps(key_actions)]
        ), statements[name]
    (limited_item,) = [s for s in statements["Limited"] if s["Action"] == action]
    (plain_item,) = [s for s in statements["Plain"] if s["Action"] == action]
    assert limited_item["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#identity/*", "#sub/*"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    assert "Condition" not in plain_item


def test_the_rule_takes_the_detail_types_asked_for() -> None:
    """`detail_types` widens the rule to S3's other event types (here Object Deleted, for a processor that follows
    deletions); the default stays Object Created alone (test_rule_matches_only_this_bucket_and_prefix)."""
    stack = cdk.Stack(cdk.App(), "DetailTypes")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    bucket = SecureBucket(stack, "Bucket", name_prefix="unit-types").bucket
    pipeline = EventPipeline(
        stack,
        "Pipeline",
        bucket=bucket,
        processor=_function(stack, key).function,
        encryption_key=key,
        rule_name="unit-types",
        detail_types=("Object Created", "Object Deleted"),
    )
    assert pipeline.detail_types == ("Object Created", "Object Deleted")
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "Description": "Object Created, Object Deleted in the bucket",
            "EventPattern": Match.object_like({"detail-type": ["Object Created", "Object Deleted"]}),
        },
    )


@pytest.mark.parametrize(
    "value", [(), "Object Created", ("Object Created", "Object Created"), ("Object Gone",), ("object deleted",)]
)
def test_bad_detail_types_name_the_field(value: object) -> None:
    stack = cdk.Stack(cdk.App(), "BadTypes")
    key = kms.Key(stack, "Key")
    bucket = SecureBucket(stack, "B", name_prefix="bad").bucket
    with pytest.raises(ValueError, match="detail_types"):
        EventPipeline(
            stack, "P", bucket=bucket, processor=_function(stack, key).function, encryption_key=key, detail_types=value
        )


def test_the_redelivery_window_covers_every_retry_and_retention(built: Built) -> None:
    """QUEUE: EventBridge's retries (max_event_age, 1 h here), then the buffer and its DLQ (14 days: a message keeps
    its enqueue time in the DLQ). DIRECT: EventBridge's, Lambda's asynchronous retries (1 h), the DLQ's 14 days."""
    day, hour = 86_400, 3_600
    assert built.queue.redelivery_window.to_seconds() == hour + 14 * day
    assert built.direct.redelivery_window.to_seconds() == hour + hour + 14 * day


def test_update_item_grant_can_be_limited_to_leading_keys() -> None:
    stack = cdk.Stack(cdk.App(), "UpdateLeadingKeys")
    table = ScaledTable(stack, "Items", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING))
    role = iam.Role(stack, "Counter", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    table.grant_update_item(role, leading_keys=["#usage/*"])
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": has_statement(
                    Action="dynamodb:UpdateItem",
                    Resource=arn_of(logical_id(template, "AWS::DynamoDB::Table")),
                    Condition={
                        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#usage/*"]},
                        "Null": {"dynamodb:LeadingKeys": "false"},
                    },
                )
            }
        },
    )


def test_update_item_grant_is_exact_and_can_be_limited_to_leading_keys() -> None:
    """UpdateItem (counters, alone or inside TransactWriteItems) on the table only, with the key through DynamoDB's
    use; `leading_keys` limits it like PutItem's."""
    stack = cdk.Stack(cdk.App(), "UpdateItem")
    table = ScaledTable(stack, "Items", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING))
    counter = iam.Role(stack, "Counter", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    table.grant_update_item(counter, leading_keys=["#usage/*"])
    template = Template.from_stack(stack)
    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (update,) = [s for s in statements if s["Action"] == "dynamodb:UpdateItem"]
    assert update["Resource"] == {"Fn::GetAtt": [stack.get_logical_id(table.table.node.default_child), "Arn"]}
    assert update["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#usage/*"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    actions = sorted(a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    assert actions == ["dynamodb:UpdateItem", "kms:Decrypt", "kms:GenerateDataKey"]
