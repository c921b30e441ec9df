"""Operations as each environment deploys them: alert topic, e-mail parameter, alarms, dashboard, private network."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Capture, Match, Template

from stacks.config import EMAIL_PATTERN, PLACEHOLDER_ALERT_EMAIL, build_config
from tests.support.template import arn_of, as_destinations, egress_destinations, has_statement, logical_id

SUFFIXES = ("dev", "staging", "prod", "pr-7")


TOPIC, KEY, ALARM = "AWS::SNS::Topic", "AWS::KMS::Key", "AWS::CloudWatch::Alarm"
VPC_ENDPOINT, SECURITY_GROUP = "AWS::EC2::VPCEndpoint", "AWS::EC2::SecurityGroup"


def _ref(template: Template, resource_type: str, properties: object = None) -> dict:
    return {"Ref": logical_id(template, resource_type, properties)}


def _id_starting(template: Template, prefix: str, resource_type: str = "AWS::SQS::Queue") -> str:
    """The one logical id of type `resource_type` that starts with `prefix` (the resource's construct path)."""
    (found,) = [rid for rid in template.find_resources(resource_type) if rid.startswith(prefix)]
    return found


def _service(name: str) -> dict:
    """An endpoint ServiceName ending in `name` (com.amazonaws.<region><name>)."""
    return {"Fn::Join": ["", Match.array_with([name])]}


# ---------------------------------------------------------------------------------------------------------- topic
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_alert_topic_is_encrypted_and_only_this_environments_alarms_publish(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    topic_ref = _ref(template, TOPIC)
    template.has_resource_properties(
        TOPIC,
        {"KmsMasterKeyId": arn_of(logical_id(template, KEY)), "TopicName": f"secure-serverless-{suffix}-alerts"},
    )
    template.resource_count_is("AWS::SNS::TopicPolicy", 1)
    arns = Capture()
    publish = has_statement(
        Sid="AllowThisEnvironmentsAlarms",
        Principal=Match.exact({"Service": "cloudwatch.amazonaws.com"}),
        Action="sns:Publish",
        Resource=Match.exact(topic_ref),
        Condition={"ArnEquals": {"aws:SourceArn": arns}},
    )
    template.has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {"Statement": publish}})
    text = json.dumps(arns.as_array())  # exact ARNs: see test_hardening
    assert f":alarm:secure-serverless-{suffix}-alerts-undeliverable" in text and "*" not in text
    tls = has_statement(Effect="Deny", Condition=Match.exact({"Bool": {"aws:SecureTransport": "false"}}))
    template.has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {"Statement": tls}})


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_key_policy_lets_cloudwatch_use_the_key_only_for_this_environments_alarms(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    template.resource_count_is(KEY, 1)
    arns = Capture()
    statement = has_statement(
        Sid="AllowCloudWatchAlarms",
        Principal=Match.exact({"Service": "cloudwatch.amazonaws.com"}),
        Action=["kms:Decrypt", "kms:GenerateDataKey"],
        Condition={
            "ArnLike": {"aws:SourceArn": arns},
            "StringEquals": Match.exact({"aws:SourceAccount": {"Ref": "AWS::AccountId"}}),
        },
    )
    template.has_resource_properties(KEY, {"KeyPolicy": {"Statement": statement}})
    text = json.dumps(arns.as_array())  # exact ARNs: see test_hardening
    assert f":alarm:secure-serverless-{suffix}-alerts-undeliverable" in text and "*" not in text


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_email_subscription_uses_the_parameter_and_has_a_dlq(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    template.has_parameter(
        "AlertEmail",
        {"Type": "String", "Default": build_config(suffix).alert_email, "AllowedPattern": EMAIL_PATTERN},
    )
    template.resource_count_is("AWS::SNS::Subscription", 1)
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "email",
            "Endpoint": Match.exact({"Ref": "AlertEmail"}),
            "TopicArn": Match.exact(_ref(template, TOPIC)),
            "RedrivePolicy": {
                "deadLetterTargetArn": Match.exact(arn_of(_id_starting(template, "AlertingSubscription")))
            },
        },
    )


def _evaluate_rule(node: object, parameters: dict[str, str]) -> object:
    """CloudFormation's rule functions this stack uses (Fn::Not, Fn::Equals, Ref to a parameter), evaluated."""
    if isinstance(node, dict) and len(node) == 1:
        ((function, argument),) = node.items()
        if function == "Ref":
            return parameters[argument]
        if function == "Fn::Not":
            return not _evaluate_rule(argument[0], parameters)
        if function == "Fn::Equals":
            return _evaluate_rule(argument[0], parameters) == _evaluate_rule(argument[1], parameters)
        raise AssertionError(f"unexpected rule function {function}")
    return node


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_placeholder_alert_email_cannot_be_deployed_to_staging_or_prod(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    placeholder = template["Parameters"]["AlertEmail"]["Default"]  # synth keeps working without an address
    assert placeholder == PLACEHOLDER_ALERT_EMAIL
    rules = {name: rule for name, rule in template["Rules"].items() if name != "CheckBootstrapVersion"}  # CDK's
    if not build_config(suffix).require_real_alert_email:
        assert rules == {}
        return
    (rule,) = rules.values()
    assert "RuleCondition" not in rule  # applies to every deployment of this template
    (assertion,) = rule["Assertions"]
    assert "AlertEmail" in assertion["AssertDescription"] and placeholder in assertion["AssertDescription"]
    assert _evaluate_rule(assertion["Assert"], {"AlertEmail": placeholder}) is False
    assert _evaluate_rule(assertion["Assert"], {"AlertEmail": "oncall@corp.example.net"}) is True


@pytest.mark.parametrize(
    "address,ok",
    [("ops@example.com", True), ("a.b+c@sub.example.org", True), ("nope", False), ("a@b", False), ("a b@c.de", False)],
)
def test_parameter_pattern_agrees_with_the_config_rule(address: str, ok: bool) -> None:
    # CloudFormation's AllowedPattern must match the whole value, as re.fullmatch does.
    assert (re.fullmatch(EMAIL_PATTERN, address) is not None) is ok


# ---------------------------------------------------------------------------------------------------------- alarms
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_quota_alarms_follow_the_config(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    prefix = f"secure-serverless-{suffix}-"
    # The account's applied quota, not a number in the config: usage / SERVICE_QUOTA(usage) in percent.
    template.has_resource_properties(
        ALARM,
        {
            "AlarmName": prefix + "account-concurrency-near-quota",
            "Metrics": Match.array_with(
                [
                    Match.object_like({"Expression": "100 * usage / SERVICE_QUOTA(usage)", "ReturnData": True}),
                    Match.object_like(
                        {
                            "Id": "usage",
                            "ReturnData": False,
                            "MetricStat": Match.object_like(
                                {
                                    "Metric": {
                                        "Namespace": "AWS/Usage",
                                        "MetricName": "ResourceCount",
                                        "Dimensions": [
                                            {"Name": "Class", "Value": "None"},
                                            {"Name": "Resource", "Value": "ConcurrentExecutions"},
                                            {"Name": "Service", "Value": "Lambda"},
                                            {"Name": "Type", "Value": "Resource"},
                                        ],
                                    },
                                    "Stat": "Maximum",
                                }
                            ),
                        }
                    ),
                ]
            ),
            "Threshold": config.account_concurrency_alarm_percent,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )
    periods = Capture()
    template.has_resource_properties(
        ALARM,
        {
            "AlarmName": prefix + "processor-concurrency-at-limit",
            "Dimensions": [Match.object_like({"Name": "FunctionName"})],
            "MetricName": "ConcurrentExecutions",
            "Statistic": "Maximum",
            "Threshold": min(config.processor_max_concurrency, config.processor_reserved_concurrency or 10**9),
            "EvaluationPeriods": periods,
            "Period": config.alarm_period_minutes * 60,
        },
    )
    # Sustained: the whole configured duration, in alarm periods.
    assert periods.as_number() * config.alarm_period_minutes >= config.concurrency_limit_sustained_minutes


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_top_uploaders_are_named_by_a_contributor_insights_rule_with_an_alarm(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    """The rule counts the processor's `upload counted`/`upload refused` log lines by the uploader's sub in its own
    log group; the alarm watches the top contributor against uploads_per_minute x the alarm period."""
    from processor import handler

    template = stack_templates[suffix]
    config = build_config(suffix)
    rule_name = f"secure-serverless-{suffix}-top-uploaders"
    processor_logs = logical_id(
        template, "AWS::Logs::LogGroup", {"LogGroupName": Match.string_like_regexp("/processor$")}
    )
    body = Capture()
    template.resource_count_is("AWS::CloudWatch::InsightRule", 1)
    template.has_resource_properties(
        "AWS::CloudWatch::InsightRule", {"RuleName": rule_name, "RuleState": "ENABLED", "RuleBody": body}
    )
    # The body is JSON around the log group's Ref: put a stand-in name in its place and read it.
    parts = body.as_object()["Fn::Join"][1]
    assert parts[1] == {"Ref": processor_logs}
    rule = json.loads(parts[0] + "/stand-in" + parts[2])
    assert rule == {
        "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
        "LogGroupNames": ["/stand-in"],
        "LogFormat": "JSON",
        "Contribution": {
            "Keys": [f"$.{handler.UPLOAD_LOG_SUB_FIELD}"],
            "Filters": [{"Match": "$.message", "In": [handler.UPLOAD_COUNTED, handler.UPLOAD_REFUSED]}],
        },
        "AggregateOn": "Count",
    }
    template.has_resource_properties(
        ALARM,
        {
            "AlarmName": f"secure-serverless-{suffix}-top-uploader",
            "Metrics": [
                Match.object_like(
                    {
                        "Expression": f"INSIGHT_RULE_METRIC('{rule_name}', 'MaxContributorValue')",
                        "Period": config.alarm_period_minutes * 60,
                        "ReturnData": True,
                    }
                )
            ],
            "Threshold": config.uploads_per_minute * config.alarm_period_minutes,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [_ref(template, TOPIC)],
            "OKActions": [_ref(template, TOPIC)],
        },
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_api_function_answers_before_api_gateway_gives_up(stack_templates: dict[str, Template], suffix: str) -> None:
    from objects_api import store

    template = stack_templates[suffix]
    config = build_config(suffix)
    api_handler = {"Handler": "objects_api.handler.lambda_handler"}
    logical_id(template, "AWS::Lambda::Function", api_handler)  # exactly one
    timeout = Capture()
    template.has_resource_properties("AWS::Lambda::Function", {**api_handler, "Timeout": timeout})
    assert timeout.as_number() == config.api_timeout_seconds == store.API_FUNCTION_TIMEOUT_SECONDS
    assert store.QUERY_BUDGET.worst_case_seconds + 1 <= timeout.as_number() < store.API_GATEWAY_TIMEOUT_SECONDS


EXPECTED_ALARMS = (
    "processor-errors", "processor-throttles", "processor-duration-near-timeout",
    "api-errors", "api-throttles", "api-duration-near-timeout",
    "api-5xx", "api-p99-latency",
    "table-read-throttles", "table-write-throttles", "table-by-owner-read-throttles",
    "table-by-owner-write-throttles",
    "pipeline-dead-letters", "pipeline-new-dead-letters", "pipeline-dead-letter-age",
    "pipeline-oldest-event-age", "pipeline-failed-deliveries",
    "alerts-undeliverable",
    "account-concurrency-near-quota", "processor-concurrency-at-limit",
    "processor-records-failed", "top-uploader",
    "erasure-errors", "erasure-throttles", "erasure-duration-near-timeout", "erasure-dead-letters",
)  # fmt: skip


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_signal_has_an_alarm_wired_to_the_topic(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    topic = [_ref(template, TOPIC)]
    # As many alarms as expected names, each name present: exactly these alarms.
    template.resource_count_is(ALARM, len(EXPECTED_ALARMS))
    for name in EXPECTED_ALARMS:
        template.has_resource_properties(ALARM, {"AlarmName": f"secure-serverless-{suffix}-{name}"})
    template.all_resources_properties(
        ALARM,
        {
            "AlarmActions": Match.exact(topic),
            "OKActions": Match.exact(topic),
            "TreatMissingData": "notBreaching",
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )
    # Every metric of every alarm (a metric-math alarm's inputs included) has the configured period.
    for alarm_id, alarm in template.find_resources(ALARM).items():
        properties = alarm["Properties"]
        periods = (
            [properties["Period"]]
            if "Period" in properties
            else [
                query["MetricStat"]["Period"] if "MetricStat" in query else query["Period"]
                for query in properties["Metrics"]
                if "MetricStat" in query or "Period" in query
            ]
        )  # fmt: skip (an expression without metric inputs, such as INSIGHT_RULE_METRIC, carries its own period)
        assert periods and set(periods) == {config.alarm_period_minutes * 60}, alarm_id


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_alarm_metrics_dimensions_and_thresholds(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    processor = _ref(template, "AWS::Lambda::Function", {"Handler": Match.string_like_regexp("processor")})
    table = _ref(template, "AWS::DynamoDB::Table")
    stage = _ref(template, "AWS::ApiGateway::Stage")
    rule = _ref(template, "AWS::Events::Rule")
    dlq = {"Fn::GetAtt": [_id_starting(template, "PipelineDeadLetterQueue"), "QueueName"]}
    topic = [_ref(template, TOPIC)]

    def check(name: str, namespace: str, metric: str, statistic: str, dimensions: dict, threshold: float) -> None:
        captured = Capture()
        template.has_resource_properties(
            ALARM,
            {
                "AlarmName": f"secure-serverless-{suffix}-{name}",
                "Namespace": namespace,
                "MetricName": metric,
                ("ExtendedStatistic" if statistic.startswith("p") else "Statistic"): statistic,
                "Dimensions": captured,
                "Threshold": threshold,
            },
        )
        assert {d["Name"]: d["Value"] for d in captured.as_array()} == dimensions, name  # in any order

    check("processor-errors", "AWS/Lambda", "Errors", "Sum", {"FunctionName": processor}, 1)
    check("processor-throttles", "AWS/Lambda", "Throttles", "Sum", {"FunctionName": processor}, 1)
    check(
        "processor-duration-near-timeout", "AWS/Lambda", "Duration", "Maximum", {"FunctionName": processor},
        config.processor_timeout_seconds * 1000 * 0.8,
    )  # fmt: skip
    api_dimensions = {"ApiName": f"secure-serverless-{suffix}-api", "Stage": stage}
    check("api-5xx", "AWS/ApiGateway", "5XXError", "Sum", api_dimensions, 1)
    check("api-p99-latency", "AWS/ApiGateway", "Latency", "p99", api_dimensions, config.api_p99_latency_threshold_ms)
    check("table-read-throttles", "AWS/DynamoDB", "ReadThrottleEvents", "Sum", {"TableName": table}, 1)
    check(
        "table-by-owner-write-throttles", "AWS/DynamoDB", "WriteThrottleEvents", "Sum",
        {"TableName": table, "GlobalSecondaryIndexName": "by-owner"}, 1,
    )  # fmt: skip
    check("pipeline-dead-letters", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", {"QueueName": dlq}, 1)
    # Well before SQS deletes a dead letter (14-day retention): a quarter of it.
    check("pipeline-dead-letter-age", "AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", {"QueueName": dlq},
          14 * 86400 * 0.25)  # fmt: skip
    # Every new dead letter notifies, also while the queue is not empty: the visible count rising (messages that the
    # redrive policy moves in are not counted by NumberOfMessagesSent).
    template.has_resource_properties(
        ALARM,
        {
            "AlarmName": f"secure-serverless-{suffix}-pipeline-new-dead-letters",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": topic,
            "OKActions": topic,
            "Metrics": Match.array_with(
                [
                    Match.object_like({"Expression": "DIFF(visible)", "ReturnData": True}),
                    Match.object_like(
                        {
                            "Id": "visible",
                            "MetricStat": Match.object_like(
                                {
                                    "Metric": {
                                        "Namespace": "AWS/SQS",
                                        "MetricName": "ApproximateNumberOfMessagesVisible",
                                        "Dimensions": [{"Name": "QueueName", "Value": dlq}],
                                    },
                                    "Stat": "Maximum",
                                }
                            ),
                        }
                    ),
                ]
            ),
        },
    )
    check(
        "pipeline-oldest-event-age", "AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum",
        {"QueueName": {"Fn::GetAtt": [_id_starting(template, "PipelineBuffer"), "QueueName"]}},
        config.buffer_oldest_message_threshold_seconds,
    )  # fmt: skip
    check("pipeline-failed-deliveries", "AWS/Events", "FailedInvocations", "Sum", {"RuleName": rule}, 1)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_dashboard_shows_every_alarm(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    body = Capture()
    template.has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": f"secure-serverless-{suffix}-operations", "DashboardBody": body}
    )
    text = json.dumps(body.as_object())  # JSON text inside Fn::Join: searched, not matched
    for alarm_id in template.find_resources(ALARM):
        assert alarm_id in text  # in the status widget and as the graph's annotation
    for namespace in ("AWS/Lambda", "AWS/ApiGateway", "AWS/DynamoDB", "AWS/SQS", "AWS/Events"):
        assert namespace in text


# ---------------------------------------------------------------------------------------------------------- network
PRIVATE = [s for s in SUFFIXES if build_config(s).private_network]
PUBLIC = [s for s in SUFFIXES if not build_config(s).private_network]


def test_presets_cover_both_network_modes() -> None:
    assert "prod" in PRIVATE and "dev" in PUBLIC


FUNCTIONS_GROUP = {"GroupDescription": Match.string_like_regexp("Functions")}
ENDPOINTS_GROUP = {"GroupDescription": Match.string_like_regexp("Interface endpoints")}
HTTPS = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}


def _count(template: Template, resource_type: str, properties: dict) -> int:
    return len(template.find_resources(resource_type, {"Properties": properties}))


@pytest.mark.parametrize("suffix", PRIVATE)
def test_private_network_is_isolated_with_endpoints(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    for resource_type in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::Route"):
        template.resource_count_is(resource_type, 0)  # no route may leave the VPC
    template.resource_count_is("AWS::EC2::Subnet", 2)
    template.all_resources_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False})
    zones = {
        json.dumps(s["Properties"]["AvailabilityZone"]) for s in template.find_resources("AWS::EC2::Subnet").values()
    }
    assert len(zones) == 2
    gateway, interface = {"VpcEndpointType": "Gateway"}, {"VpcEndpointType": "Interface"}
    assert _count(template, VPC_ENDPOINT, gateway) == 2
    # X-Ray for traces; SQS for the processor's ChangeMessageVisibility on failed records.
    assert _count(template, VPC_ENDPOINT, {**interface, "PrivateDnsEnabled": True}) == 2
    assert _count(template, VPC_ENDPOINT, interface) == 2
    for kind, service in ((gateway, ".s3"), (gateway, ".dynamodb"), (interface, ".sqs"), (interface, ".xray")):
        template.has_resource_properties(VPC_ENDPOINT, {**kind, "ServiceName": _service(service)})


@pytest.mark.parametrize("suffix", PRIVATE)
def test_endpoint_policies_allow_only_what_the_functions_do_on_this_environments_resources(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    """Each endpoint with resource-level permissions lists exactly the functions' own calls: their role as the
    principal, the exact actions, this environment's bucket/table/queue ARNs (no PutObject, DeleteObject, DeleteItem or
    DeleteMessage; no other bucket, table or queue of the account; no other caller). The API's version deletes and
    listings and the processor's UpdateItem serve DELETE /objects/{key} and the per-user limits (their roles'
    policies narrow them to uploads/ and to usage items); UpdateItem, BatchWriteItem, DeleteObjectVersion and
    SendMessage serve the erasure job."""
    template = stack_templates[suffix]
    processor = arn_of(_role_of(template, "Processor"))
    api = arn_of(_role_of(template, "ApiHandler"))
    bucket = arn_of(logical_id(template, "AWS::S3::Bucket", {"BucketNamePrefix": f"secsls-{suffix}"}))
    table = arn_of(logical_id(template, "AWS::DynamoDB::Table"))
    buffer = arn_of(logical_id(template, "AWS::SQS::Queue", {"QueueName": Match.string_like_regexp("buffer$")}))
    eraser = arn_of(_role_of(template, "Erasure"))
    jobs = arn_of(logical_id(template, "AWS::SQS::Queue", {"QueueName": Match.string_like_regexp("erasure-jobs$")}))
    index = {"Fn::Join": ["", [table, "/index/by-owner"]]}

    def allow(sid: str, principal: dict, actions: list[str], resource: object) -> dict:
        action: object = actions if len(actions) > 1 else actions[0]
        return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal}, "Action": action, "Resource": resource}

    expected = {
        ".s3": [
            allow("ApiDeletesOwnVersions", api, ["s3:DeleteObjectVersion"], {"Fn::Join": ["", [bucket, "/uploads/*"]]}),
            allow("ApiListsOwnVersions", api, ["s3:ListBucketVersions"], bucket),
            allow("ProcessorReadsObjectMetadata", processor, ["s3:GetObject", "s3:GetObjectVersion"],
                  {"Fn::Join": ["", [bucket, "/uploads/*"]]}),
            allow("ProcessorTellsDeletedObjects", processor, ["s3:ListBucket"], bucket),
            allow("ProcessorRefusesUploads", processor, ["s3:DeleteObjectVersion"],
                  {"Fn::Join": ["", [bucket, "/uploads/*"]]}),
            allow("ErasureListsVersions", eraser, ["s3:ListBucketVersions"], bucket),
            allow("ErasureDeletesVersions", eraser, ["s3:DeleteObjectVersion"],
                  {"Fn::Join": ["", [bucket, "/uploads/*"]]}),
        ],
        ".dynamodb": [
            allow("ProcessorWritesRecords", processor, ["dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
                  "dynamodb:PutItem"], table),
            allow("ProcessorCountsUsage", processor, ["dynamodb:UpdateItem"], table),
            allow("ProcessorReadsIdentityMappings", processor, ["dynamodb:GetItem"], table),
            allow("ApiQueriesOwnRecords", api, ["dynamodb:Query"], {"Fn::Join": ["", [table, "/index/by-owner"]]}),
            allow("ApiRecordsIdentityMappings", api, ["dynamodb:PutItem"], table),
            allow("ErasureErasesItems", eraser, ["dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:PutItem",
                  "dynamodb:Query", "dynamodb:UpdateItem"], [table, index]),
            allow("ApiReadsErasureJobs", api, ["dynamodb:GetItem", "dynamodb:UpdateItem"], table),
            allow("ApiCountsUploadGrants", api, ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"], table),
        ],
        ".sqs": [
            allow("ProcessorDelaysFailedRecords", processor, ["sqs:ChangeMessageVisibility"], buffer),
            allow("ErasureContinuesJobs", eraser, ["sqs:SendMessage"], jobs),
            allow("ApiStartsErasureJobs", api, ["sqs:SendMessage"], jobs),
        ],
    }  # fmt: skip
    for service, statements in expected.items():
        template.has_resource_properties(
            VPC_ENDPOINT,
            {"ServiceName": _service(service), "PolicyDocument": {"Statement": Match.exact(statements)}},
        )


def _role_of(template: Template, function_id_prefix: str) -> str:
    """The logical id of the execution role of the function whose logical id starts with `function_id_prefix`."""
    functions = template.find_resources("AWS::Lambda::Function")
    (function,) = [f for lid, f in functions.items() if lid.startswith(f"{function_id_prefix}Function")]
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


@pytest.mark.parametrize("suffix", PRIVATE)
def test_security_groups_allow_only_https_between_functions_and_endpoints(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    functions_id = logical_id(template, SECURITY_GROUP, FUNCTIONS_GROUP)
    endpoints_id = logical_id(template, SECURITY_GROUP, ENDPOINTS_GROUP)
    # Out: HTTPS to the S3 and DynamoDB prefix lists (looked up at deploy time) and to the endpoints' group only;
    # no CIDR rule at all (0.0.0.0/0 would reach anything the moment a route is added).
    template.has_resource_properties(
        SECURITY_GROUP,
        {**FUNCTIONS_GROUP, "SecurityGroupEgress": Match.absent(), "SecurityGroupIngress": Match.absent()},
    )
    lookup_id = logical_id(template, "Custom::GatewayPrefixLists")
    assert egress_destinations(template) == as_destinations(
        (
            {"DestinationPrefixListId": {"Fn::GetAtt": [lookup_id, "S3"]}},
            {"DestinationPrefixListId": {"Fn::GetAtt": [lookup_id, "DynamoDb"]}},
            {"DestinationSecurityGroupId": {"Fn::GetAtt": [endpoints_id, "GroupId"]}},
        )
    )
    template.all_resources_properties(
        "AWS::EC2::SecurityGroupEgress",
        {**HTTPS, "GroupId": Match.exact({"Fn::GetAtt": [functions_id, "GroupId"]}), "CidrIp": Match.absent()},
    )
    template.has_resource_properties(
        "Custom::GatewayPrefixLists",
        {
            "PrefixListNames": Match.exact(
                {
                    "S3": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]},
                    "DynamoDb": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".dynamodb"]]},
                }
            )
        },
    )
    template.resource_count_is("AWS::EC2::SecurityGroupIngress", 1)
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {
            **HTTPS,
            "GroupId": Match.exact({"Fn::GetAtt": [endpoints_id, "GroupId"]}),
            "SourceSecurityGroupId": Match.exact({"Fn::GetAtt": [functions_id, "GroupId"]}),
        },
    )
    template.has_resource_properties(  # CDK's "no egress" placeholder rule
        SECURITY_GROUP,
        {**ENDPOINTS_GROUP, "SecurityGroupEgress": [Match.object_like({"CidrIp": "255.255.255.255/32"})]},
    )
    interface = {"VpcEndpointType": "Interface"}
    endpoints_group = Match.exact([{"Fn::GetAtt": [endpoints_id, "GroupId"]}])
    assert _count(template, VPC_ENDPOINT, interface) == 2
    assert _count(template, VPC_ENDPOINT, {**interface, "SecurityGroupIds": endpoints_group}) == 2


@pytest.mark.parametrize("suffix", PRIVATE)
def test_functions_run_in_the_isolated_subnets(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    subnets = [{"Ref": sid} for sid in sorted(template.find_resources("AWS::EC2::Subnet"))]
    functions_group = {"Fn::GetAtt": [logical_id(template, SECURITY_GROUP, FUNCTIONS_GROUP), "GroupId"]}
    in_vpc = {"VpcConfig": {"SubnetIds": Match.exact(subnets), "SecurityGroupIds": Match.exact([functions_group])}}
    assert _count(template, "AWS::Lambda::Function", in_vpc) == 3  # the processor, the API handler, the erasure worker
    # The only other function: the deploy-time prefix-list lookup (it calls the EC2 API, which has no endpoint).
    (outside,) = [
        rid for rid in template.find_resources("AWS::Lambda::Function", {"Properties": {"VpcConfig": Match.absent()}})
    ]
    assert outside.startswith("NetworkPrefixListLookup")
    template.resource_count_is("AWS::Lambda::Function", 4)


@pytest.mark.parametrize("suffix", PRIVATE)
def test_bucket_requires_the_s3_endpoint_without_locking_out_admins_or_the_grants_users_devices_use(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    endpoint_id = logical_id(template, VPC_ENDPOINT, {"ServiceName": _service(".s3")})
    bucket_id = logical_id(
        template, "AWS::S3::Bucket", {"BucketNamePrefix": Match.not_(Match.string_like_regexp("-logs$"))}
    )
    authenticated = Capture()
    template.resource_count_is("AWS::Cognito::IdentityPoolRoleAttachment", 1)
    template.has_resource_properties(
        "AWS::Cognito::IdentityPoolRoleAttachment", {"Roles": {"authenticated": authenticated}}
    )
    api_role = template.to_json()["Resources"][
        logical_id(template, "AWS::Lambda::Function", {"Handler": "objects_api.handler.lambda_handler"})
    ]["Properties"]["Role"]
    exempt = Capture()
    guard = {
        "Sid": "DenyDataAccessOutsideVpcEndpoints",
        "Effect": "Deny",
        "Condition": {
            "StringNotEquals": {"aws:SourceVpce": Match.exact([{"Ref": endpoint_id}])},
            "ArnNotLike": {"aws:PrincipalArn": exempt},
        },
    }
    for action in (Match.not_("s3:*"), Match.not_(Match.array_with(["s3:*"]))):  # configuration stays manageable
        template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {"Bucket": {"Ref": bucket_id}, "PolicyDocument": {"Statement": has_statement(**guard, Action=action)}},
        )
    exempt_arns = exempt.as_array()
    # Signed-in users hold no S3 right: nothing of theirs is exempt (their uploads are the API role's grants).
    assert json.dumps(authenticated.as_object()) not in json.dumps(exempt_arns)
    assert json.dumps(api_role) not in json.dumps(exempt_arns)
    assert "cfn-exec-role" not in json.dumps(exempt_arns)  # CloudFormation never reads or writes objects
    sso = [arn for arn in exempt_arns if "AWSReservedSSO" in json.dumps(arn)]
    assert len(sso) == 2 and all(json.dumps(arn).endswith("AdministratorAccess_" + "?" * 16 + '"}') for arn in sso)
    # The API role passes from outside the VPC for exactly s3:PutObject under uploads/ (its upload grants) ...
    uploads = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/uploads/*"]]}
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": has_statement(
                    Sid="DenyUploadsOutsideVpcEndpoints",
                    Effect="Deny",
                    Action="s3:PutObject",
                    Resource=Match.exact(uploads),
                    Condition={"ArnNotLike": {"aws:PrincipalArn": Match.exact([*exempt_arns, api_role])}},
                )
            },
        },
    )
    # ... and for nothing elsewhere: every principal's PutObject outside uploads/ is guarded.
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": has_statement(
                    Sid="DenyUploadsOutsideVpcEndpointsElsewhere",
                    Effect="Deny",
                    Action="s3:PutObject",
                    NotResource=Match.exact(uploads),
                    Condition=Match.exact(guard["Condition"] | {"ArnNotLike": {"aws:PrincipalArn": exempt_arns}}),
                )
            },
        },
    )


@pytest.mark.parametrize("suffix", PUBLIC)
def test_public_mode_has_no_network_resources(
    templates: dict, stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    assert not [r for r in templates[suffix]["Resources"].values() if r["Type"].startswith("AWS::EC2::")]  # any type
    template.all_resources_properties("AWS::Lambda::Function", {"VpcConfig": Match.absent()})
    assert "aws:SourceVpce" not in json.dumps(template.find_resources("AWS::S3::BucketPolicy"))


@pytest.mark.parametrize("suffix", PRIVATE)
def test_flow_logs_go_to_an_encrypted_log_group(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    flow_logs_group = {"LogGroupName": Match.string_like_regexp("vpc-flow-logs$")}
    group_id = logical_id(template, "AWS::Logs::LogGroup", flow_logs_group)
    template.resource_count_is("AWS::EC2::FlowLog", 1)
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"LogGroupName": Match.exact({"Ref": group_id}), "TrafficType": "ALL"}
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {**flow_logs_group, "KmsKeyId": arn_of(logical_id(template, KEY))}
    )
