"""The CloudFormation validation run in a `node` worker (stacks/cfn_validate_plugin.py) finds exactly what
aws-cdk-lib's built-in plugin finds, fails a synth the same way, and replaces it (never validates twice)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
import pytest

from stacks.app_builder import add_validation_plugins, cdk_json_context, new_app, start_validation
from stacks.cfn_validate_plugin import PLUGIN_NAME, WORKER, EarlyCloudFormationValidate, StackTemplate, engine_dir
from stacks.guard_plugin import EarlyGuardSynthesizer
from tests.support.synth import Synthesized

# Each property breaks a different rule of the engine (unknown property, wrong type, below a minimum, bad enum), one
# resource has a bad reference (a template-level rule), and one is of no known type.
INVALID = {
    "Resources": {
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"Bogus": 1, "DelaySeconds": "abc", "MessageRetentionPeriod": 10},
        },
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "SOMETIMES",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            },
        },
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": {"Ref": "Missing"}}},
        "Unknown": {"Type": "AWS::Nothing::Here", "Properties": {}},
    }
}


@jsii.implements(cdk.IPolicyValidationContext)
class _Context:
    def __init__(self, stacks: list[StackTemplate]) -> None:
        self._stacks = stacks
        self._app = cdk.App()

    @property
    def app_construct(self) -> cdk.App:
        return self._app

    @property
    def stack_templates(self) -> list[cdk.PolicyValidationStack]:
        return [
            cdk.PolicyValidationStack(
                stack_construct_path=s.stack_construct_path,
                template_path=s.template_path,
                account_id=s.account_id,
                region=s.region,
            )
            for s in self._stacks
        ]

    @property
    def template_paths(self) -> list[str]:
        return [s.template_path for s in self._stacks]

    @property
    def account_id(self) -> str | None:
        return None

    @property
    def region(self) -> str | None:
        return None


def _plain(report: cdk.PolicyValidationPluginReport) -> tuple[bool, list[str]]:
    violations = [
        {
            "ruleName": v.rule_name,
            "description": v.description,
            "severity": v.severity,
            "fix": v.fix,
            "ruleMetadata": dict(v.rule_metadata or {}),
            "violatingResources": [
                {
                    "locations": list(r.locations),
                    "constructPath": r.construct_path,
                    "resourceLogicalId": r.resource_logical_id,
                    "templatePath": r.template_path,
                }
                for r in v.violating_resources
            ],
        }  # fmt: skip
        for v in report.violations
    ]
    return report.success, sorted(json.dumps(v, sort_keys=True) for v in violations)


@pytest.fixture(scope="module")
def invalid(tmp_path_factory: pytest.TempPathFactory) -> StackTemplate:
    path = tmp_path_factory.mktemp("cfn-validate") / "Invalid.template.json"
    path.write_text(json.dumps(INVALID, indent=1))
    return StackTemplate(str(path), "Invalid", "123456789012", "eu-west-1")


def test_same_findings_as_aws_cdk_libs_own_plugin(synthesized: Synthesized, invalid: StackTemplate) -> None:
    stacks = [
        StackTemplate(str(p), p.name.removesuffix(".template.json"))
        for p in sorted(synthesized.outdir.glob("*.template.json"))
    ]
    assert len(stacks) >= 5  # the environments, the account and CI stacks
    stacks.append(invalid)
    builtin = _plain(cdk.CloudFormationValidatePlugin().validate(_Context(stacks)))
    ours = _plain(EarlyCloudFormationValidate().validate(_Context(stacks)))
    assert ours == builtin
    success, found = ours
    assert not success
    rules = {json.loads(v)["ruleName"] for v in found}
    assert len(rules) >= 4, rules  # several rules and result shapes compared, not one
    assert all(json.loads(v)["violatingResources"][0]["templatePath"] == invalid.template_path for v in found)


def test_a_template_changed_after_its_early_start_is_validated_again(tmp_path: Path) -> None:
    path = tmp_path / "Changing.template.json"
    path.write_text(json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}}}))
    plugin = EarlyCloudFormationValidate()
    template = StackTemplate(str(path), "Changing")
    plugin.start(template)
    path.write_text(json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"Bogus": 1}}}}))
    try:
        assert [v["ruleName"] for v in plugin.check([template])] == ["F3002"]
    finally:
        plugin.close()


def _synth_invalid(app: cdk.App) -> dict[str, Any]:
    stack = cdk.Stack(app, "Canary", synthesizer=EarlyGuardSynthesizer())
    cdk.CfnResource(stack, "Queue", type="AWS::SQS::Queue", properties={"DelaySeconds": "abc"})
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report: dict[str, Any] = json.loads(Path(app.outdir, "validation-report.json").read_text())
    return report


def test_fails_a_synth_once_in_place_of_the_built_in_plugin(tmp_path: Path) -> None:
    app = new_app(outdir=str(tmp_path), context=cdk_json_context())
    add_validation_plugins(app, start_validation(app))
    report = _synth_invalid(app)
    ours = [p for p in report["pluginReports"] if p["pluginName"] == PLUGIN_NAME]
    assert len(ours) == 1, [p["pluginName"] for p in report["pluginReports"]]  # the built-in one is not added too
    (violation,) = ours[0]["violations"]
    assert violation["ruleName"] == "F3012" and violation["severity"] == "error"
    assert violation["violatingConstructs"][0]["constructPath"] == "Canary/Queue"


def test_new_app_turns_the_built_in_plugin_off(tmp_path: Path) -> None:
    # Without ours, an app from new_app validates nothing: the built-in plugin is off there (so never twice).
    app = new_app(outdir=str(tmp_path), context=cdk_json_context())
    stack = cdk.Stack(app, "Canary")
    cdk.CfnResource(stack, "Queue", type="AWS::SQS::Queue", properties={"DelaySeconds": "abc"})
    app.synth()  # no ValidationFailed


def test_worker_keeps_aws_cdk_libs_options() -> None:
    """The worker's rule exclusions and validateTemplate options are aws-cdk-lib's (its plugin's own source)."""
    source = (engine_dir() / "plugin.js").read_text()
    worker = WORKER.read_text()
    (ignored,) = re.findall(r"IGNORE_RULES=new Set\(\[([^\]]*)\]\)", source)
    (ours,) = re.findall(r"const IGNORE_RULES = \[([^\]]*)\]", worker)
    assert json.loads(f"[{ours}]") == json.loads(f"[{ignored}]")
    (options,) = re.findall(r"validateTemplate\(templateFile,(\{.*?\})\)\}catch", source)
    assert 'detailLevel:"STANDARD"' in options and 'severityLevel:"WARN"' in options
    (excluded,) = re.findall(r"services:(\[[^\]]*\])", options)
    (ours_excluded,) = re.findall(r"const EXCLUDED_SERVICES = (\[[^\]]*\])", worker)
    assert excluded.replace('"', "").replace(" ", "") == ours_excluded.replace('"', "").replace(" ", "")
    assert 'detailLevel: "STANDARD"' in worker and 'severityLevel: "WARN"' in worker
    assert sorted(p.name for p in (engine_dir() / "rules").glob("*.rego"))  # the default rules are loaded too
