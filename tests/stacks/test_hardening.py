"""Hardening from the adversarial review (issue 11), asserted on every synthesized environment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Capture, Match, Template

from stacks.app_builder import add_guard_rules, cdk_json_context
from stacks.config import build_config
from tests.support.docs import page, section
from tests.support.synth import Synthesized
from tests.support.template import has_statement, logical_id

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


def test_checks_page_lists_every_control_tower_suppression(synthesized: Synthesized) -> None:
    listed = section(page("checks.md"), "## Acknowledged Control Tower (cfn-guard) findings")
    for violation in _guard_report(synthesized.outdir)["suppressedViolations"]:
        assert f"`{violation['ruleName']}`" in listed, violation["ruleName"]


# ------------------------------------------------------------------------------------------------ key (item 9)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_key_grants_only_for_aws_resources(stack_templates: dict[str, Template], suffix: str) -> None:
    deny_grants = {
        "Sid": "DenyGrantsExceptForAwsResources",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
    }
    stack_templates[suffix].all_resources_properties(
        "AWS::KMS::Key", {"KeyPolicy": {"Statement": Match.array_with([Match.exact(deny_grants)])}}
    )


# ------------------------------------------------------------------------------------------------ queues (item 10)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_dead_letter_queues_name_their_sources_and_the_buffer_keeps_messages_as_long(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    buffer_name = f"secure-serverless-{suffix}-object-created-buffer"
    fourteen_days = 14 * 86400
    logical_id(template, "AWS::SQS::Queue", {"RedrivePolicy": Match.any_value()})  # exactly one buffer
    dlq = Capture()
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": buffer_name,
            "MessageRetentionPeriod": fourteen_days,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]}},
        },
    )
    # The buffer's DLQ keeps messages as long, and accepts redrive from the buffer only.
    names_the_buffer = {
        "MessageRetentionPeriod": fourteen_days,
        "RedriveAllowPolicy": {
            "redrivePermission": "byQueue",
            "sourceQueueArns": [{"Fn::Join": ["", Match.array_with([":sqs:", f":{buffer_name}"])]}],
        },
    }
    assert logical_id(template, "AWS::SQS::Queue", names_the_buffer) == dlq.as_string()
    # Every other DLQ (SNS subscription's) accepts no SQS source at all.
    deny_all = {"RedriveAllowPolicy": Match.exact({"redrivePermission": "denyAll"})}
    others = len(template.find_resources("AWS::SQS::Queue")) - 2
    assert len(template.find_resources("AWS::SQS::Queue", {"Properties": deny_all})) == others


# ------------------------------------------------------------------------------------------------ API (item 14)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_no_test_invoke_permission_on_the_handler(stack_templates: dict[str, Template], suffix: str) -> None:
    api_permissions = stack_templates[suffix].find_resources(
        "AWS::Lambda::Permission", {"Properties": {"Principal": "apigateway.amazonaws.com"}}
    )
    assert len(api_permissions) == 4  # one per route (GET x3, POST /uploads), on the deployed stage only
    assert "test-invoke-stage" not in json.dumps(api_permissions)


# ------------------------------------------------------------------------------------------------ alarms (item 6)
def _alarm_arn_names(arns: object) -> set[str]:
    names = set()
    for arn in arns if isinstance(arns, list) else [arns]:
        text = json.dumps(arn)
        assert "*" not in text, arn  # no pattern: `prod-*` would also match `prod-x` alarms
        names.add(arn["Fn::Join"][1][-1].removeprefix(":alarm:"))
    return names


def _alarms_allowed_to_publish(
    template: Template, resource_type: str, document: str, sid: str, operator: str
) -> set[str]:
    """Names of the alarms whose ARNs the one `resource_type` policy's statement `sid` admits as aws:SourceArn."""
    template.resource_count_is(resource_type, 1)
    arns = Capture()
    template.has_resource_properties(
        resource_type,
        {document: {"Statement": has_statement(Sid=sid, Condition={operator: {"aws:SourceArn": arns}})}},
    )
    return _alarm_arn_names(arns.as_array())


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_only_this_environments_exact_alarms_may_publish(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    alarm_names = {a["Properties"]["AlarmName"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()}
    assert len(alarm_names) > 5
    assert (
        _alarms_allowed_to_publish(template, "AWS::KMS::Key", "KeyPolicy", "AllowCloudWatchAlarms", "ArnLike")
        == alarm_names
    )
    assert (
        _alarms_allowed_to_publish(
            template, "AWS::SNS::TopicPolicy", "PolicyDocument", "AllowThisEnvironmentsAlarms", "ArnEquals"
        )
        == alarm_names
    )


# ------------------------------------------------------------------------------------------------ trusts (item 8)
THIS_ACCOUNT_ONLY = {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def _trust(principal: dict, condition: object) -> dict:
    """An assume-role policy of exactly one statement, for `principal`, with `condition`."""
    return {
        "AssumeRolePolicyDocument": {
            "Statement": [Match.object_like({"Principal": Match.exact(principal), "Condition": condition})]
        }
    }


@pytest.mark.parametrize("suffix", ["staging", "prod"])
def test_flow_log_role_trusts_the_service_only_for_this_account(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    flow_logs = {"Service": "vpc-flow-logs.amazonaws.com"}
    logical_id(template, "AWS::IAM::Role", _trust(flow_logs, Match.any_value()))  # exactly one
    source = Capture()
    template.has_resource_properties(
        "AWS::IAM::Role",
        _trust(flow_logs, {"StringEquals": Match.exact(THIS_ACCOUNT_ONLY), "ArnLike": {"aws:SourceArn": source}}),
    )
    assert ":vpc-flow-log/*" in json.dumps(source.as_object())


def test_api_gateway_account_role_trusts_the_service_only_for_this_account(synthesized: Synthesized) -> None:
    assert synthesized.account_template is not None
    template = Template.from_json(synthesized.account_template)
    template.resource_count_is("AWS::IAM::Role", 1)
    template.has_resource_properties(
        "AWS::IAM::Role",
        _trust({"Service": "apigateway.amazonaws.com"}, Match.exact({"StringEquals": THIS_ACCOUNT_ONLY})),
    )


# ------------------------------------------------------------------------------------------------ endpoints (item 3)
@pytest.mark.parametrize("suffix", ["staging", "prod"])
def test_vpc_endpoints_serve_only_this_accounts_principals_and_resources(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    """S3, DynamoDB and SQS endpoints name the functions' own roles and this environment's resources in every
    statement (no `*` principal or resource, no wildcard action); X-Ray, which has no resources, admits only this
    account's principals. What each endpoint lets through is decided per request in the access matrix
    (tests/tools/test_access_matrix.py, rows *.vpce)."""
    template = stack_templates[suffix]
    account = {"Ref": "AWS::AccountId"}
    template.resource_count_is("AWS::EC2::VPCEndpoint", 4)  # S3, DynamoDB, X-Ray, SQS
    endpoints = template.find_resources("AWS::EC2::VPCEndpoint")
    roles = set(template.find_resources("AWS::IAM::Role"))
    own = set(template.to_json()["Resources"])
    for endpoint_id, endpoint in endpoints.items():
        statements = endpoint["Properties"]["PolicyDocument"]["Statement"]
        assert statements, endpoint_id
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert statement["Effect"] == "Allow" and not any("*" in a for a in actions), (endpoint_id, statement)
            if ".xray" in json.dumps(endpoint["Properties"]["ServiceName"]):
                assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": account}}
                continue
            principal = statement["Principal"]["AWS"]
            assert principal.keys() == {"Fn::GetAtt"} and principal["Fn::GetAtt"][0] in roles, (endpoint_id, statement)
            named = set(re.findall(r"'Fn::GetAtt': \['(\w+)'", str(statement["Resource"])))
            assert statement["Resource"] != "*" and named and named <= own, (endpoint_id, statement)


# ------------------------------------------------------------------------------------------------ Cognito (item 11)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_sign_in_email_changes_only_once_verified(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    template.resource_count_is("AWS::Cognito::UserPool", 1)
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {"UserAttributeUpdateSettings": Match.exact({"AttributesRequireVerificationBeforeUpdate": ["email"]})},
    )
    template.resource_count_is("AWS::Cognito::UserPoolClient", 1)
    writable = Capture()
    template.has_resource_properties("AWS::Cognito::UserPoolClient", {"WriteAttributes": writable})
    assert writable.as_array() and "email" not in writable.as_array()


# ------------------------------------------------------------------------------------------------ layers (item 15)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_layers_are_named_per_environment_and_left_only_by_prod(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    assert template.find_resources("AWS::Lambda::LayerVersion")
    expected = "Retain" if suffix == "prod" else "Delete"
    template.all_resources(
        "AWS::Lambda::LayerVersion",
        {
            "Properties": {"LayerName": Match.string_like_regexp(f"^{re.escape(f'secure-serverless-{suffix}-')}")},
            "DeletionPolicy": expected,
            "UpdateReplacePolicy": expected,
        },
    )


# ------------------------------------------------------------------------------------------------ alarm (item 16)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_records_failed_in_partial_batch_responses_raise_an_alarm(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    records_failed = {"MetricName": "RecordsFailed"}
    logical_id(template, "AWS::CloudWatch::Alarm", records_failed)  # exactly one
    alarm_actions, ok_actions = Capture(), Capture()
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            **records_failed,
            "AlarmName": f"secure-serverless-{suffix}-processor-records-failed",
            "Namespace": f"SecureServerless/{suffix}",
            "Dimensions": Match.exact([{"Name": "service", "Value": "processor"}]),
            "Statistic": "Sum",
            "Threshold": 1,
            "AlarmActions": alarm_actions,
            "OKActions": ok_actions,
        },
    )
    assert alarm_actions.as_array() and alarm_actions.as_array() == ok_actions.as_array()
    # The metric the processor emits under that namespace and service (lambda/processor handler).
    processor = {"Handler": Match.string_like_regexp("^processor\\.")}
    logical_id(template, "AWS::Lambda::Function", processor)  # exactly one
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            **processor,
            "Environment": {
                "Variables": {
                    "POWERTOOLS_METRICS_NAMESPACE": f"SecureServerless/{suffix}",
                    "POWERTOOLS_SERVICE_NAME": "processor",
                }
            },
        },
    )
    from processor import handler

    assert handler.RECORDS_FAILED == "RecordsFailed"


# ------------------------------------------------------------------------------------------------ WAF (items 18, 2)
def _waf_rules(template: Template) -> dict[str, dict]:
    """The one web ACL's rules by name (their limits are compared with what the API accepts, not matched)."""
    template.resource_count_is("AWS::WAFv2::WebACL", 1)
    rules = Capture()
    template.has_resource_properties("AWS::WAFv2::WebACL", {"Rules": rules})
    return {rule["Name"]: rule for rule in rules.as_array()}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_waf_size_limits_admit_every_request_the_api_accepts(stack_templates: dict[str, Template], suffix: str) -> None:
    from objects_api import domain

    rules = _waf_rules(stack_templates[suffix])
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


def test_private_network_environments_use_the_apps_address_range(stack_templates: dict[str, Template]) -> None:
    """Item 8 of issue 19: the library defaults to CDK's range; the stack passes this app's plan."""
    from stacks.secure_serverless_stack import VPC_CIDR

    private = [suffix for suffix in SUFFIXES if build_config(suffix).private_network]
    assert private
    for suffix in SUFFIXES:
        vpcs = stack_templates[suffix].find_resources("AWS::EC2::VPC")
        assert [v["Properties"]["CidrBlock"] for v in vpcs.values()] == ([VPC_CIDR] if suffix in private else [])


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
