"""Whole-template checks on every environment: cdk-nag packs, cfn-lint, side-by-side names.

Snapshots are per construct (tests/constructs/test_snapshots.py), small enough to review in a diff."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from cdk_nag import HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks

from stacks.app_builder import add_nag_packs, build_app, cdk_json_context
from stacks.config import ConfigError, validate_suffix
from tests.support.synth import Synthesized

ROOT = Path(__file__).resolve().parents[2]


def _report(outdir: Path) -> dict:
    return json.loads((outdir / "validation-report.json").read_text())


def test_default_packs_are_clean_on_every_environment(synthesized: Synthesized) -> None:
    # The session synth raised if any AwsSolutions/Serverless finding was left unacknowledged; the report agrees.
    report = _report(synthesized.outdir)
    assert [v for plugin in report["pluginReports"] for v in plugin["violations"]] == []


def test_nag_wiring_fails_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    # Proves the packs really run (cdk-nag 3.x is a validation plugin, not an Aspect).
    app = cdk.App(outdir=str(tmp_path), context=cdk_json_context(), builtin_cloud_formation_validation=False)
    sqs.Queue(cdk.Stack(app, "Canary"), "UnencryptedQueueWithoutDlq")
    add_nag_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    rules = {v["ruleName"] for p in _report(tmp_path)["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-SQS3", "AwsSolutions-SQS4", "Serverless-SQSRedrivePolicy"} <= rules


@pytest.mark.slow
def test_compliance_packs_are_clean_on_every_environment(tmp_path: Path) -> None:
    """HIPAA, NIST 800-53 R5 and PCI DSS 3.2.1 on top of the default packs: deliberate choices are acknowledged."""
    app = cdk.App(
        outdir=str(tmp_path),
        context=cdk_json_context(env="dev,staging,prod"),
        builtin_cloud_formation_validation=False,  # the session fixture keeps it on; this test is about nag
    )
    build_app(app, cloudformation_validation=False)
    cdk.Validations.of(app).add_plugins(HIPAASecurityChecks(app), NIST80053R5Checks(app), PCIDSS321Checks(app))
    try:
        app.synth()
    except RuntimeError:
        pass  # the report below lists what failed
    violations = [
        (v["ruleName"], [c["constructPath"] for c in v["violatingConstructs"]])
        for plugin in _report(tmp_path)["pluginReports"]
        for v in plugin["violations"]
    ]
    assert violations == []


def test_cfn_lint_is_clean_on_every_template(synthesized: Synthesized) -> None:
    files = sorted(str(path) for path in synthesized.outdir.glob("*.template.json"))
    assert len(files) == len(synthesized.templates) + 2  # every environment, the account-level and the CI stack
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--config-file", str(ROOT / ".cfnlintrc.yaml"), "--", *files],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Properties that are account/region-wide physical names, by resource type (what two environments could clash on).
PHYSICAL_NAME_PROPERTIES = {
    "AWS::S3::Bucket": ("BucketName", "BucketNamePrefix"),
    "AWS::KMS::Alias": ("AliasName",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::Events::Rule": ("Name",),
    "AWS::SQS::Queue": ("QueueName",),
    "AWS::SNS::Topic": ("TopicName",),
    "AWS::DynamoDB::Table": ("TableName",),
    "AWS::Lambda::Function": ("FunctionName",),
    "AWS::Lambda::LayerVersion": ("LayerName",),
    "AWS::IAM::Role": ("RoleName",),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName",),
    "AWS::CloudWatch::Alarm": ("AlarmName",),
    "AWS::CloudWatch::Dashboard": ("DashboardName",),
    "AWS::ApiGateway::RestApi": ("Name",),
    "AWS::Cognito::UserPool": ("UserPoolName",),
    "AWS::Cognito::UserPoolClient": ("ClientName",),
    "AWS::Cognito::IdentityPool": ("IdentityPoolName",),
    "AWS::SSM::Parameter": ("Name",),
    "AWS::WAFv2::WebACL": ("Name",),
}


def _physical_names(template: dict) -> set[str]:
    """Every physical name the template sets, and every export name, as canonical JSON."""
    names = {
        json.dumps(resource["Properties"][prop], sort_keys=True)
        for resource in template["Resources"].values()
        for prop in PHYSICAL_NAME_PROPERTIES.get(resource["Type"], ())
        if prop in resource.get("Properties", {})
    }
    names |= {
        json.dumps(o["Export"]["Name"], sort_keys=True) for o in template.get("Outputs", {}).values() if "Export" in o
    }
    return names


def test_environments_side_by_side_share_no_physical_name(templates: dict) -> None:
    suffixes = list(templates)
    names = {suffix: _physical_names(templates[suffix]) for suffix in suffixes}
    assert all(names.values())
    for i, first in enumerate(suffixes):
        for second in suffixes[i + 1 :]:
            assert names[first] & names[second] == set(), (first, second)


def _name_shapes(template: dict, suffix: str) -> set[str]:
    """The template's physical names with its suffix replaced by `{suffix}` (wherever it stands as a word)."""
    word = re.compile(rf"(?<=[-/]){re.escape(suffix)}(?=[-/\"]|$)")
    return {word.sub("{suffix}", name) for name in _physical_names(template)}


def _adversarial_suffixes(names: set[str], suffix: str) -> set[str]:
    """Suffixes `<suffix>-<words>` built from what follows the suffix in this environment's own names: the ones
    most likely to reproduce one of its names (`dev` + `-logs` ... -> `dev-logs`)."""
    found = set()
    for name in names:
        for tail in re.findall(rf"(?<=[-/]){re.escape(suffix)}-([a-z0-9-]+)", name):
            words = tail.split("-")
            found |= {f"{suffix}-{'-'.join(words[:n])}" for n in range(1, len(words) + 1)}
    return found


def test_adversarial_suffix_pairs_share_no_physical_name(templates: dict) -> None:
    # Two environments whose suffixes extend one another (`dev` / `dev-logs`): either the config refuses the
    # second suffix before synthesis, or no physical name of one equals a name of the other.
    refused, checked = set(), set()
    for suffix, template in templates.items():
        names = _physical_names(template)
        for other in sorted(_adversarial_suffixes(names, suffix)):
            try:
                validate_suffix(other)
            except ConfigError:
                refused.add(other)
                continue
            shapes = _name_shapes(templates["pr-7"], "pr-7")  # every adversarial suffix uses the dev preset
            other_names = {shape.replace("{suffix}", other) for shape in shapes}
            assert names & other_names == set(), (suffix, other)
            checked.add(other)
    assert {"dev-logs", "prod-logs"} <= refused  # the known collision is refused by the config
    assert len(checked) >= 10, checked  # and the test really compared many accepted neighbours


def test_every_physical_name_carries_the_suffix(templates: dict) -> None:
    for suffix, template in templates.items():
        for name in _physical_names(template):
            assert f"-{suffix}" in name or f"/{suffix}" in name, (suffix, name)
