"""The template resolver gives the values CloudFormation would, with deterministic stand-ins, on a hand-written
template (each intrinsic checked against the exact value) and on real templates: the synthesized environment stacks,
the CI stack and CDK's own bootstrap template resolve completely (no intrinsic left)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stacks.ci_stack import CI_STACK_NAME
from tests.support.resolve import ResolveError, Resolver, StandIns
from tests.support.synth import Synthesized

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE: dict[str, Any] = {
    "Parameters": {"Stage": {"Type": "String", "Default": "dev"}, "Bare": {"Type": "String"}},
    "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
    "Resources": {
        "Named": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": {"Fn::Sub": "data-${Stage}-${AWS::AccountId}"}},
        },
        "Unnamed": {"Type": "AWS::S3::Bucket"},
        "Spaced": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketNamePrefix": "logs-dev", "BucketNamespace": "account-regional"},
        },
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"Path": "/app/"}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "buffer-dev"}},
        "Key": {"Type": "AWS::KMS::Key"},
        "Pool": {"Type": "AWS::Cognito::IdentityPool"},
        "Endpoint": {"Type": "AWS::EC2::VPCEndpoint"},
        "ProdOnly": {"Type": "AWS::SNS::Topic", "Condition": "IsProd"},
        "Policy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "p",
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "s3:PutObject",
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    [
                                        {"Fn::GetAtt": ["Named", "Arn"]},
                                        "/uploads/${cognito-identity.amazonaws.com:sub}/*",
                                    ],
                                ]
                            },
                        },
                        {
                            "Effect": "Allow",
                            "Action": "kms:Decrypt",
                            "Resource": {"Fn::GetAtt": ["Key", "Arn"]},
                            "Condition": {
                                "StringEquals": {
                                    "kms:ViaService": {
                                        "Fn::Sub": [
                                            "s3.${Region}.${AWS::URLSuffix}",
                                            {"Region": {"Ref": "AWS::Region"}},
                                        ]
                                    }
                                }
                            },
                        },
                        {
                            "Fn::If": [
                                "IsProd",
                                {"Effect": "Deny", "Action": "*", "Resource": "*"},
                                {"Ref": "AWS::NoValue"},
                            ]
                        },
                    ]
                },
            },
        },
    },
}


@pytest.fixture(scope="module")
def r() -> Resolver:
    return Resolver(TEMPLATE, StandIns(account="123456789012", region="eu-west-1", stack_name="App-dev"))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Ref": "AWS::AccountId"}, "123456789012"),
        ({"Ref": "AWS::Region"}, "eu-west-1"),
        ({"Ref": "AWS::Partition"}, "aws"),
        ({"Ref": "AWS::URLSuffix"}, "amazonaws.com"),
        ({"Ref": "Stage"}, "dev"),
        ({"Ref": "Named"}, "data-dev-123456789012"),
        ({"Fn::GetAtt": ["Named", "Arn"]}, "arn:aws:s3:::data-dev-123456789012"),
        ({"Fn::GetAtt": "Named.Arn"}, "arn:aws:s3:::data-dev-123456789012"),
        ({"Ref": "Unnamed"}, "app-dev-unnamed"),
        ({"Ref": "Spaced"}, "logs-dev-123456789012-eu-west-1-an"),
        ({"Fn::GetAtt": ["Role", "Arn"]}, "arn:aws:iam::123456789012:role/app/App-dev-Role"),
        ({"Ref": "Queue"}, "https://sqs.eu-west-1.amazonaws.com/123456789012/buffer-dev"),
        ({"Fn::GetAtt": ["Queue", "Arn"]}, "arn:aws:sqs:eu-west-1:123456789012:buffer-dev"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, "b"]]}, "a-dev-b"),
        ({"Fn::Sub": "${Named.Arn}/*"}, "arn:aws:s3:::data-dev-123456789012/*"),
        ({"Fn::Sub": "${!Literal}-${Stage}"}, "${Literal}-dev"),
        ({"Fn::Sub": ["${X}:${AWS::Region}", {"X": {"Ref": "Stage"}}]}, "dev:eu-west-1"),
        ({"Fn::Select": [1, {"Fn::Split": ["/", "a/b/c"]}]}, "b"),
        ({"Fn::If": ["IsProd", "yes", "no"]}, "no"),
    ],
)
def test_intrinsics_resolve_to_what_cloudformation_gives(r: Resolver, expression: Any, expected: Any) -> None:
    assert r.resolve(expression) == expected


def test_generated_ids_are_deterministic_and_distinct(r: Resolver) -> None:
    again = Resolver(TEMPLATE, StandIns(account="123456789012", region="eu-west-1", stack_name="App-dev"))
    ids = {r.resolve({"Ref": x}) for x in ("Key", "Pool", "Endpoint")}
    assert ids == {again.resolve({"Ref": x}) for x in ("Key", "Pool", "Endpoint")}
    assert len(ids) == 3
    assert r.resolve({"Ref": "Endpoint"}).startswith("vpce-")
    assert r.resolve({"Ref": "Pool"}).startswith("eu-west-1:")
    assert (
        r.resolve({"Fn::GetAtt": ["Key", "Arn"]})
        == f"arn:aws:kms:eu-west-1:123456789012:key/{r.resolve({'Ref': 'Key'})}"
    )


def test_a_policy_document_resolves_keeping_iam_policy_variables(r: Resolver) -> None:
    statements = r.resource_properties("Policy")["PolicyDocument"]["Statement"]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::data-dev-123456789012/uploads/${cognito-identity.amazonaws.com:sub}/*",
        },
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": f"arn:aws:kms:eu-west-1:123456789012:key/{r.resolve({'Ref': 'Key'})}",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        },
    ]


def test_conditions_and_parameters() -> None:
    prod = Resolver(TEMPLATE, StandIns(parameters={"Stage": "prod", "Bare": "x"}))
    assert "ProdOnly" in prod.of_type("AWS::SNS::Topic")
    assert "ProdOnly" not in Resolver(TEMPLATE).of_type("AWS::SNS::Topic")
    assert prod.resolve({"Ref": "Bare"}) == "x"
    with pytest.raises(ResolveError, match="Bare"):
        Resolver(TEMPLATE).resolve({"Ref": "Bare"})
    with pytest.raises(ResolveError, match="Missing"):
        Resolver(TEMPLATE).resolve({"Fn::GetAtt": ["Missing", "Arn"]})


def unresolved(value: Any, path: str = "") -> list[str]:
    """Paths of intrinsics left in `value`."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("Ref", "Condition") or any(k.startswith("Fn::") for k in value):
            return [path]
        return [p for k, v in value.items() for p in unresolved(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in unresolved(v, f"{path}[{i}]")]
    return []


def resolve_all(template: dict[str, Any], stack_name: str) -> list[str]:
    resolver = Resolver(template, StandIns(stack_name=stack_name))
    left = []
    for logical_id, resource in template["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        left += unresolved(resolver.resource_properties(logical_id), logical_id)
    return left


def test_environment_stacks_resolve_completely(templates: dict[str, dict[str, Any]]) -> None:
    for suffix in ("dev", "prod"):
        assert resolve_all(templates[suffix], f"SecureServerless-{suffix}") == []


def test_cdk_bootstrap_template_resolves_completely() -> None:
    out = subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "cdk"), "bootstrap", "--show-template", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    template = json.loads(out.stdout)
    assert "CloudFormationExecutionRole" in template["Resources"]
    assert resolve_all(template, "CDKToolkit") == []


def test_ci_stack_resolves_completely(synthesized: Synthesized) -> None:
    template = json.loads((synthesized.outdir / f"{CI_STACK_NAME}.template.json").read_text())
    assert resolve_all(template, CI_STACK_NAME) == []
