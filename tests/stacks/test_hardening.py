"""Hardening from the adversarial review (issue 11), asserted on every synthesized environment."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from stacks.app_builder import add_guard_rules, cdk_json_context
from stacks.config import build_config
from tests.support.synth import Synthesized
from tests.support.template import resources_of

SUFFIXES = ("dev", "staging", "prod", "pr-7")
ROOT = Path(__file__).resolve().parents[2]
GUARD = "cdk-validator-cfnguard"


def _guard_report(outdir: Path) -> dict:
    report = json.loads((outdir / "validation-report.json").read_text())
    (guard,) = [p for p in report["pluginReports"] if p["pluginName"] == GUARD]
    return guard


# ------------------------------------------------------------------------------------------------ gate (item 19)
def test_control_tower_rules_have_no_unsuppressed_finding(synthesized: Synthesized) -> None:
    guard = _guard_report(synthesized.outdir)
    assert guard["violations"] == []
    for violation in guard["suppressedViolations"]:
        control = violation["description"].split("]", 1)[0] + "]"  # e.g. [CT.S3.PR.9]
        assert violation["violatingConstructs"], violation["ruleName"]
        for construct in violation["violatingConstructs"]:
            assert construct["constructPath"], violation["ruleName"]  # names its resource
        assert violation["reason"].startswith(control), (violation["ruleName"], violation["reason"])
        assert len(violation["reason"]) >= 80, violation["reason"]


def test_guard_wiring_fails_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path), context=cdk_json_context(), builtin_cloud_formation_validation=False)
    sqs.Queue(cdk.Stack(app, "Canary"), "QueueWithoutDlq")
    add_guard_rules(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert {v["ruleName"] for v in _guard_report(tmp_path)["violations"]} >= {"sqs_dlq_check"}


def test_readme_lists_every_control_tower_suppression(synthesized: Synthesized) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Acknowledged Control Tower (cfn-guard) findings") :]
    section = section[: section.index("\n## ")]
    for violation in _guard_report(synthesized.outdir)["suppressedViolations"]:
        assert f"`{violation['ruleName']}`" in section, violation["ruleName"]


# ------------------------------------------------------------------------------------------------ key (item 9)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_key_grants_only_for_aws_resources(templates: dict, suffix: str) -> None:
    for _, key in resources_of(templates[suffix], "AWS::KMS::Key"):
        statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
        assert statements["DenyGrantsExceptForAwsResources"] == {
            "Sid": "DenyGrantsExceptForAwsResources",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
        }


# ------------------------------------------------------------------------------------------------ queues (item 10)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_dead_letter_queues_name_their_sources_and_the_buffer_keeps_messages_as_long(
    templates: dict, suffix: str
) -> None:
    template = templates[suffix]
    queues = dict(resources_of(template, "AWS::SQS::Queue"))
    (buffer_id,) = [lid for lid, q in queues.items() if "RedrivePolicy" in q["Properties"]]
    buffer = queues[buffer_id]["Properties"]
    dlq_id = buffer["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert buffer["QueueName"] == f"secure-serverless-{suffix}-object-created-buffer"
    assert buffer["MessageRetentionPeriod"] == queues[dlq_id]["Properties"]["MessageRetentionPeriod"] == 14 * 86400
    allow = queues[dlq_id]["Properties"]["RedriveAllowPolicy"]
    assert allow["redrivePermission"] == "byQueue"
    (source,) = allow["sourceQueueArns"]
    assert buffer["QueueName"] in json.dumps(source) and ":sqs:" in json.dumps(source)
    for lid, queue in queues.items():  # every other DLQ (SNS subscription's) accepts no SQS source at all
        if lid not in (buffer_id, dlq_id):
            assert queue["Properties"]["RedriveAllowPolicy"] == {"redrivePermission": "denyAll"}


# ------------------------------------------------------------------------------------------------ API (item 14)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_no_test_invoke_permission_on_the_handler(templates: dict, suffix: str) -> None:
    permissions = [p["Properties"] for _, p in resources_of(templates[suffix], "AWS::Lambda::Permission")]
    api_permissions = [p for p in permissions if p["Principal"] == "apigateway.amazonaws.com"]
    assert len(api_permissions) == 2  # one per route, on the deployed stage only
    for permission in api_permissions:
        source = json.dumps(permission["SourceArn"])
        assert "test-invoke-stage" not in source


# ------------------------------------------------------------------------------------------------ alarms (item 6)
def _alarm_arn_names(arns: object) -> set[str]:
    names = set()
    for arn in arns if isinstance(arns, list) else [arns]:
        text = json.dumps(arn)
        assert "*" not in text, arn  # no pattern: `prod-*` would also match `prod-x` alarms
        names.add(arn["Fn::Join"][1][-1].removeprefix(":alarm:"))
    return names


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_only_this_environments_exact_alarms_may_publish(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    alarm_names = {a["Properties"]["AlarmName"] for _, a in resources_of(template, "AWS::CloudWatch::Alarm")}
    assert len(alarm_names) > 5
    (key,) = [k for _, k in resources_of(template, "AWS::KMS::Key")]
    (key_statement,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowCloudWatchAlarms"
    ]
    assert _alarm_arn_names(key_statement["Condition"]["ArnLike"]["aws:SourceArn"]) == alarm_names
    (topic_policy,) = [p for _, p in resources_of(template, "AWS::SNS::TopicPolicy")]
    (publish,) = [
        s
        for s in topic_policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "AllowThisEnvironmentsAlarms"
    ]
    assert _alarm_arn_names(publish["Condition"]["ArnEquals"]["aws:SourceArn"]) == alarm_names


# ------------------------------------------------------------------------------------------------ trusts (item 8)
def _trust(role: dict) -> dict:
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    return statement


@pytest.mark.parametrize("suffix", ["staging", "prod"])
def test_flow_log_role_trusts_the_service_only_for_this_account(templates: dict, suffix: str) -> None:
    (role,) = [
        r
        for _, r in resources_of(templates[suffix], "AWS::IAM::Role")
        if _trust(r)["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    ]
    condition = _trust(role)["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":vpc-flow-log/*" in json.dumps(condition["ArnLike"]["aws:SourceArn"])


def test_api_gateway_account_role_trusts_the_service_only_for_this_account(synthesized: Synthesized) -> None:
    assert synthesized.account_template is not None
    (role,) = [r for _, r in resources_of(synthesized.account_template, "AWS::IAM::Role")]
    statement = _trust(role)
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# ------------------------------------------------------------------------------------------------ endpoints (item 3)
@pytest.mark.parametrize("suffix", ["staging", "prod"])
def test_vpc_endpoints_serve_only_this_accounts_principals_and_resources(templates: dict, suffix: str) -> None:
    endpoints = [e["Properties"] for _, e in resources_of(templates[suffix], "AWS::EC2::VPCEndpoint")]
    assert len(endpoints) == 4  # S3, DynamoDB, X-Ray, SQS
    account = {"Ref": "AWS::AccountId"}
    for endpoint in endpoints:
        (statement,) = endpoint["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"])  # exact actions
        conditions = statement["Condition"]["StringEquals"]
        assert conditions["aws:PrincipalAccount"] == account
        if not json.dumps(endpoint["ServiceName"]).endswith('.xray"]]}'):  # X-Ray has no resources to own
            assert conditions["aws:ResourceAccount"] == account


# ------------------------------------------------------------------------------------------------ Cognito (item 11)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_sign_in_email_changes_only_once_verified(templates: dict, suffix: str) -> None:
    (pool,) = [p["Properties"] for _, p in resources_of(templates[suffix], "AWS::Cognito::UserPool")]
    assert pool["UserAttributeUpdateSettings"] == {"AttributesRequireVerificationBeforeUpdate": ["email"]}
    (client,) = [c["Properties"] for _, c in resources_of(templates[suffix], "AWS::Cognito::UserPoolClient")]
    assert client["WriteAttributes"] and "email" not in client["WriteAttributes"]


# ------------------------------------------------------------------------------------------------ layers (item 15)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_layers_are_named_per_environment_and_left_only_by_prod(templates: dict, suffix: str) -> None:
    layers = list(resources_of(templates[suffix], "AWS::Lambda::LayerVersion"))
    assert layers
    for _, layer in layers:
        assert layer["Properties"]["LayerName"].startswith(f"secure-serverless-{suffix}-")
        expected = "Retain" if suffix == "prod" else "Delete"
        assert layer.get("DeletionPolicy", "Delete") == expected
        assert layer.get("UpdateReplacePolicy", "Delete") == expected


# ------------------------------------------------------------------------------------------------ alarm (item 16)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_records_failed_in_partial_batch_responses_raise_an_alarm(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    (alarm,) = [
        a["Properties"]
        for _, a in resources_of(template, "AWS::CloudWatch::Alarm")
        if a["Properties"].get("MetricName") == "RecordsFailed"
    ]
    assert alarm["AlarmName"] == f"secure-serverless-{suffix}-processor-records-failed"
    assert alarm["Namespace"] == f"SecureServerless/{suffix}"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "processor"}]
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)
    assert alarm["AlarmActions"] and alarm["AlarmActions"] == alarm["OKActions"]
    # The metric the processor emits under that namespace and service (lambda/processor handler).
    (processor,) = [
        f["Properties"]["Environment"]["Variables"]
        for _, f in resources_of(template, "AWS::Lambda::Function")
        if f["Properties"]["Handler"].startswith("processor.")
    ]
    assert processor["POWERTOOLS_METRICS_NAMESPACE"] == alarm["Namespace"]
    assert processor["POWERTOOLS_SERVICE_NAME"] == "processor"
    from processor import handler

    assert handler.RECORDS_FAILED == "RecordsFailed"


# ------------------------------------------------------------------------------------------------ WAF (items 18, 2)
def _waf_rules(template: dict) -> dict[str, dict]:
    (acl,) = [a["Properties"] for _, a in resources_of(template, "AWS::WAFv2::WebACL")]
    return {rule["Name"]: rule for rule in acl["Rules"]}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_waf_size_limits_admit_every_request_the_api_accepts(templates: dict, suffix: str) -> None:
    from objects_api import domain

    rules = _waf_rules(templates[suffix])
    if build_config(suffix).waf_managed_rules:
        group = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
        assert {(o["Name"], json.dumps(o["ActionToUse"])) for o in group["RuleActionOverrides"]} == {
            ("SizeRestrictions_URIPATH", '{"Count": {}}'),
            ("SizeRestrictions_QUERYSTRING", '{"Count": {}}'),
        }
    # The longest request the API accepts: a 1,024-byte name, every byte percent-encoded, under the stage; the
    # longest cursor with the largest limit.
    longest_path = len(f"/{suffix}/objects/") + 3 * domain.MAX_NAME_BYTES
    longest_query = len(f"limit={domain.MAX_LIMIT}&cursor=") + domain.MAX_CURSOR_CHARS
    for name, longest in (("UriPathTooLong", longest_path), ("QueryStringTooLong", longest_query)):
        size = rules[name]["Statement"]["SizeConstraintStatement"]
        assert (size["ComparisonOperator"], rules[name]["Action"]) == ("GT", {"Block": {}})
        assert longest <= size["Size"] <= 2 * longest, (name, longest, size["Size"])


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_environment_with_the_api_limits_each_identity(templates: dict, suffix: str) -> None:
    """Item 2: wherever there is a REST API stage, a web ACL on that stage blocks one set of credentials (the SigV4
    session token) over its own limit, apart from the per-IP limit, at the configured rates."""
    template = Template.from_json(templates[suffix])
    stages = template.find_resources("AWS::ApiGateway::Stage")
    assert stages, "every environment has the API"
    config = build_config(suffix)
    token_key = {"Header": {"Name": "x-amz-security-token", "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Rules": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Name": "RateLimitPerIdentity",
                            "Action": {"Block": {}},
                            "Statement": {
                                "RateBasedStatement": {
                                    "AggregateKeyType": "CUSTOM_KEYS",
                                    "CustomKeys": [token_key],
                                    "Limit": config.api_identity_rate_limit,
                                }
                            },
                        }
                    ),
                    Match.object_like(
                        {
                            "Name": "RateLimitPerIp",
                            "Action": {"Block": {}},
                            "Statement": {
                                "RateBasedStatement": {"AggregateKeyType": "IP", "Limit": config.api_ip_rate_limit}
                            },
                        }
                    ),
                ]
            )
        },
    )
    (acl_id,) = template.find_resources("AWS::WAFv2::WebACL")
    associations = template.find_resources(
        "AWS::WAFv2::WebACLAssociation", {"Properties": {"WebACLArn": {"Fn::GetAtt": [acl_id, "Arn"]}}}
    )
    for stage_id in stages:  # each stage is the resource of an association with this ACL
        assert any(stage_id in json.dumps(a["Properties"]["ResourceArn"]) for a in associations.values()), stage_id
