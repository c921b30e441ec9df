"""The cfn-guard plugin of the app (stacks/guard_plugin.py) finds exactly what the upstream plugin finds, faster.

ControlTowerGuard runs cfn-guard per template and service folder, over templates whose resources of types the rules
do not name are reduced to their Type, in parallel, and parses the output with a port of the upstream plugin's
parsing. Proven here: over every synthesized template of the app (whose acknowledged findings exercise many result
shapes) and over a template of deliberately non-compliant resources, its violations equal those of
`CfnGuardValidator(control_tower_rules_enabled=False, rules=...)` given the same rule files; and wired into an app, an
unencrypted bucket still fails the synth.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
import pytest
from aws_cdk import aws_s3 as s3
from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

from stacks import guard_plugin
from stacks.app_builder import add_guard_rules, cdk_json_context
from stacks.guard_plugin import (
    PLUGIN_NAME,
    ControlTowerGuard,
    EarlyGuardSynthesizer,
    named_types,
    plan,
    reduced,
    template_types,
)
from stacks.guard_rules import rule_files
from tests.support.synth import Synthesized

ROLE = {"Fn::GetAtt": ["Role", "Arn"]}
# One resource of each kind the app's rules check, each breaking some Control Tower control.
NON_COMPLIANT = {
    "Resources": {
        "PlainBucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "OpenPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "PlainBucket"},
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "s3:GetObject",
                            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["PlainBucket", "Arn"]}, "/*"]]},
                        }
                    ]
                },
            },
        },  # fmt: skip
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": []}}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"KeySchema": [], "AttributeDefinitions": []}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
        "Wildcard": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "p",
                "Roles": [{"Ref": "Role"}],
                "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
            },
        },  # fmt: skip
        "Function": {"Type": "AWS::Lambda::Function", "Properties": {"Role": ROLE, "Code": {"ZipFile": "x"}}},
        "Public": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {"Action": "lambda:InvokeFunction", "FunctionName": {"Ref": "Function"}, "Principal": "*"},
        },
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"ComparisonOperator": "GreaterThanThreshold"}},
        "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"RestApiId": "x"}},
        "Unrelated": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "not checked by any rule"}},
    }
}


@jsii.implements(cdk.IPolicyValidationContextBeta1)
class _Context:
    def __init__(self, paths: list[str]) -> None:
        self._paths = paths

    @property
    def template_paths(self) -> list[str]:
        return self._paths


def _upstream(paths: list[str]) -> tuple[bool, list[dict[str, Any]]]:
    report = CfnGuardValidator(control_tower_rules_enabled=False, rules=rule_files()).validate(_Context(paths))
    violations = [
        {
            "ruleName": v.rule_name,
            "description": v.description,
            "fix": v.fix,
            "ruleMetadata": dict(v.rule_metadata or {}),
            "violatingResources": [
                {
                    "locations": list(r.locations),
                    "resourceLogicalId": r.resource_logical_id,
                    "templatePath": r.template_path,
                }
                for r in v.violating_resources
            ],
        }  # fmt: skip
        for v in report.violations
    ]
    return report.success, violations


def _canonical(violations: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(v, sort_keys=True) for v in violations)


@pytest.fixture(scope="module")
def non_compliant(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("guard") / "NonCompliant.template.json"
    path.write_text(json.dumps(NON_COMPLIANT, indent=1))
    return str(path)


def test_same_findings_as_the_upstream_plugin(synthesized: Synthesized, non_compliant: str) -> None:
    paths = [*sorted(str(p) for p in synthesized.outdir.glob("*.template.json")), non_compliant]
    assert len(paths) >= 6  # four environments, the account and CI stacks, the non-compliant template
    upstream_success, upstream = _upstream(paths)
    success, ours = ControlTowerGuard(rule_files(), workers=2).check(paths)
    assert (success, _canonical(ours)) == (upstream_success, _canonical(upstream))
    rules_failed = {v["ruleName"] for v in ours if v["violatingResources"][0]["templatePath"] == non_compliant}
    assert len(rules_failed) >= 10, rules_failed  # many rules, services and result shapes compared
    in_app = [v for v in ours if v["violatingResources"][0]["templatePath"] != non_compliant]
    assert len(in_app) >= 10  # and the app's own findings (acknowledged on their resources)


def test_every_template_gets_only_its_types_rules_over_a_reduced_copy(synthesized: Synthesized) -> None:
    guard = ControlTowerGuard(rule_files())
    account = str(synthesized.outdir / "SecureServerless-account.template.json")
    runs = plan([account], guard._rules, template_types)
    folders = {Path(rule).parent.name for run in runs for rule in run.rules}
    assert folders == {"identityandaccessmanagement"}  # the account stack holds one role and the account setting
    kept = reduced(NON_COMPLIANT, frozenset({"AWS::S3::Bucket"}))["Resources"]
    assert kept["PlainBucket"] == NON_COMPLIANT["Resources"]["PlainBucket"]
    assert kept["Queue"] == {"Type": "AWS::SQS::Queue"}  # a lookup by logical id still finds it and its type
    assert set(kept) == set(NON_COMPLIANT["Resources"])


def test_a_rule_reading_resources_without_a_type_filter_gets_the_whole_template() -> None:
    filtered = 'let buckets = Resources.*[ Type == "AWS::S3::Bucket" ]\nlet r = %doc.Resources[ keys == %k ]\n'
    assert named_types(filtered) == {"AWS::S3::Bucket"}
    assert named_types('let all = Resources.*.Properties\nlet b = "AWS::S3::Bucket"\n') is None
    assert named_types("# Resources.*.Properties in a comment\nrule r { Resources exists }\n") == frozenset()


def test_an_unencrypted_bucket_fails_the_synth(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path), context=cdk_json_context(), builtin_cloud_formation_validation=False)
    s3.CfnBucket(cdk.Stack(app, "Canary"), "Unencrypted")
    add_guard_rules(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (guard,) = [p for p in report["pluginReports"] if p["pluginName"] == PLUGIN_NAME]
    flagged = {(v["ruleName"], c["constructPath"]) for v in guard["violations"] for c in v["violatingConstructs"]}
    assert ("s3_bucket_default_encryption_kms_check", "Canary/Unencrypted") in flagged


def test_templates_are_checked_from_the_moment_they_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's stack synthesizers start cfn-guard on each template once written, before the validation plugins
    run, in one batch of the app's early stacks: one cfn-guard process per set of rule files over both templates, not
    one per template; the plugin then only collects (a template is checked once) and still reports its findings."""
    events: list[tuple[str, str]] = []
    runs: list[tuple[int, int]] = []  # (rule files, data files) of each cfn-guard process
    original_start, original_check, original_run = (
        ControlTowerGuard.start,
        ControlTowerGuard.check,
        guard_plugin.run_guard,
    )

    def start(self: ControlTowerGuard, template: str, expected: int = 1) -> None:
        events.append(("start", Path(template).name))
        original_start(self, template, expected)

    def check(self: ControlTowerGuard, paths: Any) -> Any:
        events.append(("check", ",".join(Path(p).name for p in paths)))
        return original_check(self, paths)

    def run_guard(binary: Path, rules: Any, data: Any) -> str:
        runs.append((len(rules), len(data)))
        return original_run(binary, rules, data)

    monkeypatch.setattr(ControlTowerGuard, "start", start)
    monkeypatch.setattr(ControlTowerGuard, "check", check)
    monkeypatch.setattr(guard_plugin, "run_guard", run_guard)
    app = cdk.App(outdir=str(tmp_path), context=cdk_json_context(), builtin_cloud_formation_validation=False)
    s3.CfnBucket(cdk.Stack(app, "Early", synthesizer=EarlyGuardSynthesizer()), "Unencrypted")
    s3.CfnBucket(cdk.Stack(app, "Second", synthesizer=EarlyGuardSynthesizer()), "AlsoUnencrypted")
    add_guard_rules(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert events == [
        ("start", "Early.template.json"),
        ("start", "Second.template.json"),
        ("check", "Early.template.json,Second.template.json"),
    ]
    assert runs and all(files == 2 for _, files in runs), runs  # each process over both templates
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (guard,) = [p for p in report["pluginReports"] if p["pluginName"] == PLUGIN_NAME]
    flagged = {c["constructPath"] for v in guard["violations"] for c in v["violatingConstructs"]}
    assert {"Early/Unencrypted", "Second/AlsoUnencrypted"} <= flagged  # findings still told apart per template


def test_a_template_changed_after_it_was_started_is_checked_again(tmp_path: Path) -> None:
    template = tmp_path / "Changed.template.json"
    template.write_text(json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}))
    guard = ControlTowerGuard(rule_files())
    guard.start(str(template))  # nothing any rule checks: no finding
    template.write_text(json.dumps(NON_COMPLIANT))
    success, violations = guard.check([str(template)])
    assert not success
    assert {"s3_bucket_default_encryption_kms_check", "sqs_dlq_check"} <= {v["ruleName"] for v in violations}
