"""Operations as each environment deploys them: alert topic, e-mail parameter, alarms, dashboard, private network."""

from __future__ import annotations

import json
import re

import pytest

from stacks.config import EMAIL_PATTERN, PLACEHOLDER_ALERT_EMAIL, build_config
from tests.support.template import as_list, resources_of, single, statements_by_sid

SUFFIXES = ("dev", "staging", "prod", "pr-7")


def _ref(template: dict, rtype: str, where=lambda r: True) -> dict:  # noqa: ANN001
    return {"Ref": single(template, rtype, where)[0]}


def _getatt(template: dict, rtype: str, attribute: str, where=lambda r: True) -> dict:  # noqa: ANN001
    return {"Fn::GetAtt": [single(template, rtype, where)[0], attribute]}


def _id_starting(template: dict, prefix: str, rtype: str = "AWS::SQS::Queue") -> str:
    """The one logical id of type `rtype` that starts with `prefix` (the resource's construct path)."""
    (logical_id,) = [rid for rid, _ in resources_of(template, rtype) if rid.startswith(prefix)]
    return logical_id


# ---------------------------------------------------------------------------------------------------------- topic
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_alert_topic_is_encrypted_and_only_this_environments_alarms_publish(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    topic_ref = _ref(template, "AWS::SNS::Topic")
    _, topic = single(template, "AWS::SNS::Topic")
    assert topic["Properties"]["KmsMasterKeyId"] == _getatt(template, "AWS::KMS::Key", "Arn")
    assert topic["Properties"]["TopicName"] == f"secure-serverless-{suffix}-alerts"
    _, policy = single(template, "AWS::SNS::TopicPolicy")
    statements = statements_by_sid(policy["Properties"]["PolicyDocument"]["Statement"])
    publish = statements["AllowThisEnvironmentsAlarms"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish" and publish["Resource"] == topic_ref
    arns = json.dumps(publish["Condition"]["ArnEquals"]["aws:SourceArn"])  # exact ARNs: see test_hardening
    assert f":alarm:secure-serverless-{suffix}-alerts-undeliverable" in arns and "*" not in arns
    denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_key_policy_lets_cloudwatch_use_the_key_only_for_this_environments_alarms(templates: dict, suffix: str) -> None:
    _, key = single(templates[suffix], "AWS::KMS::Key")
    statement = statements_by_sid(key["Properties"]["KeyPolicy"]["Statement"])["AllowCloudWatchAlarms"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    arns = json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])  # exact ARNs: see test_hardening
    assert f":alarm:secure-serverless-{suffix}-alerts-undeliverable" in arns and "*" not in arns
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_email_subscription_uses_the_parameter_and_has_a_dlq(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    parameter = template["Parameters"]["AlertEmail"]
    assert parameter["Type"] == "String"
    assert parameter["Default"] == build_config(suffix).alert_email
    assert parameter["AllowedPattern"] == EMAIL_PATTERN
    _, subscription = single(template, "AWS::SNS::Subscription")
    props = subscription["Properties"]
    assert props["Protocol"] == "email" and props["Endpoint"] == {"Ref": "AlertEmail"}
    assert props["TopicArn"] == _ref(template, "AWS::SNS::Topic")
    assert props["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": [_id_starting(template, "AlertingSubscription"), "Arn"]
    }


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
def _alarms(template: dict) -> dict[str, dict]:
    return {a["Properties"]["AlarmName"]: a["Properties"] for _, a in resources_of(template, "AWS::CloudWatch::Alarm")}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_quota_alarms_follow_the_config(templates: dict, suffix: str) -> None:
    config = build_config(suffix)
    alarms = _alarms(templates[suffix])
    prefix = f"secure-serverless-{suffix}-"
    account = alarms[prefix + "account-concurrency-near-quota"]
    assert (account["Namespace"], account["MetricName"], account["Statistic"]) == (
        "AWS/Lambda",
        "ConcurrentExecutions",
        "Maximum",
    )
    assert "Dimensions" not in account  # account-wide
    assert account["Threshold"] == config.account_concurrency_quota * config.account_concurrency_alarm_percent / 100
    assert account["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    processor = alarms[prefix + "processor-concurrency-at-limit"]
    (dimension,) = processor["Dimensions"]
    assert dimension["Name"] == "FunctionName"
    assert (processor["MetricName"], processor["Statistic"]) == ("ConcurrentExecutions", "Maximum")
    ceilings = [config.processor_max_concurrency, config.processor_reserved_concurrency or 10**9]
    assert processor["Threshold"] == min(ceilings)
    # Sustained: the whole configured duration, in alarm periods.
    assert processor["EvaluationPeriods"] * config.alarm_period_minutes >= config.concurrency_limit_sustained_minutes
    assert processor["Period"] == config.alarm_period_minutes * 60


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_api_function_answers_before_api_gateway_gives_up(templates: dict, suffix: str) -> None:
    from objects_api import store

    config = build_config(suffix)
    (function,) = [f["Properties"] for _, f in resources_of(templates[suffix], "AWS::Lambda::Function")
                   if f["Properties"].get("Handler") == "objects_api.handler.lambda_handler"]  # fmt: skip
    assert function["Timeout"] == config.api_timeout_seconds == store.API_FUNCTION_TIMEOUT_SECONDS
    assert store.QUERY_BUDGET.worst_case_seconds + 1 <= function["Timeout"] < store.API_GATEWAY_TIMEOUT_SECONDS


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_signal_has_an_alarm_wired_to_the_topic(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    config = build_config(suffix)
    topic_ref = _ref(template, "AWS::SNS::Topic")
    alarms = _alarms(template)
    prefix = f"secure-serverless-{suffix}-"
    expected = {
        "processor-errors", "processor-throttles", "processor-duration-near-timeout",
        "api-errors", "api-throttles", "api-duration-near-timeout",
        "api-5xx", "api-p99-latency",
        "table-read-throttles", "table-write-throttles", "table-by-owner-read-throttles",
        "table-by-owner-write-throttles",
        "pipeline-dead-letters", "pipeline-oldest-event-age", "pipeline-failed-deliveries",
        "alerts-undeliverable",
        "account-concurrency-near-quota", "processor-concurrency-at-limit",
        "processor-records-failed",
    }  # fmt: skip
    assert set(alarms) == {prefix + name for name in expected}
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [topic_ref], name
        assert alarm["OKActions"] == [topic_ref], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        assert alarm["Period"] == config.alarm_period_minutes * 60, name


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_alarm_metrics_dimensions_and_thresholds(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    config = build_config(suffix)
    alarms = {name.removeprefix(f"secure-serverless-{suffix}-"): a for name, a in _alarms(template).items()}
    processor = _ref(template, "AWS::Lambda::Function", lambda r: "processor" in r["Properties"]["Handler"])
    table = _ref(template, "AWS::DynamoDB::Table")
    stage = _ref(template, "AWS::ApiGateway::Stage")
    rule = _ref(template, "AWS::Events::Rule")
    dlq = {"Fn::GetAtt": [_id_starting(template, "PipelineDeadLetterQueue"), "QueueName"]}

    def check(name: str, namespace: str, metric: str, statistic: str, dimensions: dict, threshold: float) -> None:
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric), name
        assert alarm.get("Statistic", alarm.get("ExtendedStatistic")) == statistic, name
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == dimensions, name
        assert alarm["Threshold"] == threshold, name

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
    check(
        "pipeline-oldest-event-age", "AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum",
        {"QueueName": {"Fn::GetAtt": [_id_starting(template, "PipelineBuffer"), "QueueName"]}},
        config.buffer_oldest_message_threshold_seconds,
    )  # fmt: skip
    check("pipeline-failed-deliveries", "AWS/Events", "FailedInvocations", "Sum", {"RuleName": rule}, 1)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_dashboard_shows_every_alarm(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    _, dashboard = single(template, "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == f"secure-serverless-{suffix}-operations"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for alarm_id, _ in resources_of(template, "AWS::CloudWatch::Alarm"):
        assert alarm_id in body  # in the status widget and as the graph's annotation
    for namespace in ("AWS/Lambda", "AWS/ApiGateway", "AWS/DynamoDB", "AWS/SQS", "AWS/Events"):
        assert namespace in body


# ---------------------------------------------------------------------------------------------------------- network
PRIVATE = [s for s in SUFFIXES if build_config(s).private_network]
PUBLIC = [s for s in SUFFIXES if not build_config(s).private_network]


def test_presets_cover_both_network_modes() -> None:
    assert "prod" in PRIVATE and "dev" in PUBLIC


@pytest.mark.parametrize("suffix", PRIVATE)
def test_private_network_is_isolated_with_endpoints(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    types = {r["Type"] for r in template["Resources"].values()}
    assert "AWS::EC2::NatGateway" not in types and "AWS::EC2::InternetGateway" not in types
    subnets = [s["Properties"] for _, s in resources_of(template, "AWS::EC2::Subnet")]
    assert len(subnets) == 2
    assert len({json.dumps(s["AvailabilityZone"]) for s in subnets}) == 2
    assert all(s["MapPublicIpOnLaunch"] is False for s in subnets)
    for _, route_table in resources_of(template, "AWS::EC2::Route"):
        raise AssertionError(f"no route may leave the VPC: {route_table}")
    endpoints = [e["Properties"] for _, e in resources_of(template, "AWS::EC2::VPCEndpoint")]
    gateway = {json.dumps(e["ServiceName"]) for e in endpoints if e.get("VpcEndpointType") == "Gateway"}
    assert any(".s3" in g for g in gateway) and any(".dynamodb" in g for g in gateway) and len(gateway) == 2
    interfaces = [e for e in endpoints if e.get("VpcEndpointType") == "Interface"]
    # X-Ray for traces; SQS for the processor's ChangeMessageVisibility on failed records.
    services = sorted(json.dumps(e["ServiceName"]) for e in interfaces)
    assert len(services) == 2 and ".sqs" in services[0] and ".xray" in services[1]
    assert all(e["PrivateDnsEnabled"] is True for e in interfaces)


@pytest.mark.parametrize("suffix", PRIVATE)
def test_security_groups_allow_only_https_between_functions_and_endpoints(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    groups = dict(resources_of(template, "AWS::EC2::SecurityGroup"))
    (functions_id,) = [gid for gid, g in groups.items() if "Functions" in g["Properties"]["GroupDescription"]]
    (endpoints_id,) = [gid for gid, g in groups.items() if "Interface endpoints" in g["Properties"]["GroupDescription"]]
    egress = groups[functions_id]["Properties"]["SecurityGroupEgress"]
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in egress] == [("tcp", 443, 443)]
    assert "SecurityGroupIngress" not in groups[functions_id]["Properties"]
    (ingress,) = [i["Properties"] for _, i in resources_of(template, "AWS::EC2::SecurityGroupIngress")]
    assert ingress["GroupId"] == {"Fn::GetAtt": [endpoints_id, "GroupId"]}
    assert ingress["SourceSecurityGroupId"] == {"Fn::GetAtt": [functions_id, "GroupId"]}
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 443, 443)
    endpoint_egress = groups[endpoints_id]["Properties"]["SecurityGroupEgress"]
    assert endpoint_egress[0]["CidrIp"] == "255.255.255.255/32"  # CDK's "no egress" placeholder rule
    interfaces = [e for _, e in resources_of(template, "AWS::EC2::VPCEndpoint")
                  if e["Properties"].get("VpcEndpointType") == "Interface"]  # fmt: skip
    assert len(interfaces) == 2
    for interface in interfaces:
        assert interface["Properties"]["SecurityGroupIds"] == [{"Fn::GetAtt": [endpoints_id, "GroupId"]}]


@pytest.mark.parametrize("suffix", PRIVATE)
def test_functions_run_in_the_isolated_subnets(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    subnets = sorted(json.dumps({"Ref": sid}) for sid, _ in resources_of(template, "AWS::EC2::Subnet"))
    groups = {
        gid
        for gid, g in resources_of(template, "AWS::EC2::SecurityGroup")
        if "Functions" in g["Properties"]["GroupDescription"]
    }
    functions = list(resources_of(template, "AWS::Lambda::Function"))
    assert len(functions) == 2
    for _, function in functions:
        config = function["Properties"]["VpcConfig"]
        assert sorted(json.dumps(s) for s in config["SubnetIds"]) == subnets
        assert [g["Fn::GetAtt"][0] for g in config["SecurityGroupIds"]] == list(groups)


@pytest.mark.parametrize("suffix", PRIVATE)
def test_bucket_requires_the_s3_endpoint_without_locking_out_uploaders_admins_or_cloudformation(
    templates: dict, suffix: str
) -> None:
    template = templates[suffix]
    endpoint_id = single(
        template, "AWS::EC2::VPCEndpoint", lambda r: ".s3" in json.dumps(r["Properties"]["ServiceName"])
    )[0]
    bucket_id = single(
        template, "AWS::S3::Bucket", lambda r: not r["Properties"]["BucketNamePrefix"].endswith("-logs")
    )[0]
    _, policy = single(template, "AWS::S3::BucketPolicy", lambda r: r["Properties"]["Bucket"] == {"Ref": bucket_id})
    guard = statements_by_sid(policy["Properties"]["PolicyDocument"]["Statement"])["DenyDataAccessOutsideVpcEndpoints"]
    assert guard["Effect"] == "Deny"
    assert as_list(guard["Condition"]["StringNotEquals"]["aws:SourceVpce"]) == [{"Ref": endpoint_id}]
    exempt = json.dumps(guard["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
    _, attachment = single(template, "AWS::Cognito::IdentityPoolRoleAttachment")
    assert json.dumps(attachment["Properties"]["Roles"]["authenticated"]) in exempt
    assert "cfn-exec-role" not in exempt  # CloudFormation never reads or writes objects
    sso = [
        p for p in as_list(guard["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) if "AWSReservedSSO" in json.dumps(p)
    ]
    assert len(sso) == 2 and all(json.dumps(p).endswith("AdministratorAccess_" + "?" * 16 + '"}') for p in sso)
    assert "s3:*" not in as_list(guard["Action"])  # bucket configuration stays manageable


@pytest.mark.parametrize("suffix", PUBLIC)
def test_public_mode_has_no_network_resources(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    assert not [r for r in template["Resources"].values() if r["Type"].startswith("AWS::EC2::")]
    for _, function in resources_of(template, "AWS::Lambda::Function"):
        assert "VpcConfig" not in function["Properties"]
    for _, policy in resources_of(template, "AWS::S3::BucketPolicy"):
        assert "aws:SourceVpce" not in json.dumps(policy)


@pytest.mark.parametrize("suffix", PRIVATE)
def test_flow_logs_go_to_an_encrypted_log_group(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    _, flow = single(template, "AWS::EC2::FlowLog")
    group_id, group = single(
        template, "AWS::Logs::LogGroup", lambda r: str(r["Properties"]["LogGroupName"]).endswith("vpc-flow-logs")
    )
    assert flow["Properties"]["LogGroupName"] == {"Ref": group_id}
    assert flow["Properties"]["TrafficType"] == "ALL"
    assert group["Properties"]["KmsKeyId"] == _getatt(template, "AWS::KMS::Key", "Arn")
