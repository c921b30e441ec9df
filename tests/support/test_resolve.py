"""The template resolver turns intrinsics into the values CloudFormation would give, deterministically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from tests.support.resolve import ResolveError, Resolver, StandIns

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "node_modules" / "aws-cdk" / "lib" / "api" / "bootstrap" / "bootstrap-template.yaml"

TEMPLATE = {
    "Parameters": {"Email": {"Type": "String", "Default": "ops@example.com"}, "Stage": {"Type": "String"}},
    "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
    "Resources": {
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketNamePrefix": "app-dev", "BucketNamespace": "account-regional"},
        },
        "Plain": {"Type": "AWS::S3::Bucket"},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"Path": "/svc/"}},
        "Named": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": {"Fn::Sub": "app-${AWS::Region}-role"}}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q-dev"}},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Key": {"Type": "AWS::KMS::Key"},
        "Pool": {"Type": "AWS::Cognito::IdentityPool"},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/app/dev"}},
    },
}


@pytest.fixture
def r() -> Resolver:
    return Resolver(
        TEMPLATE, StandIns(account="123456789012", region="eu-west-1", stack_name="S", parameters={"Stage": "prod"})
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Ref": "AWS::AccountId"}, "123456789012"),
        ({"Ref": "AWS::Partition"}, "aws"),
        ({"Ref": "AWS::URLSuffix"}, "amazonaws.com"),
        ({"Ref": "Email"}, "ops@example.com"),
        ({"Ref": "Bucket"}, "app-dev-123456789012-eu-west-1-an"),
        ({"Fn::GetAtt": ["Bucket", "Arn"]}, "arn:aws:s3:::app-dev-123456789012-eu-west-1-an"),
        ({"Fn::GetAtt": ["Plain", "Arn"]}, "arn:aws:s3:::s-plain"),
        ({"Fn::GetAtt": ["Role", "Arn"]}, "arn:aws:iam::123456789012:role/svc/S-Role"),
        ({"Fn::GetAtt": ["Named", "Arn"]}, "arn:aws:iam::123456789012:role/app-eu-west-1-role"),
        ({"Ref": "Queue"}, "https://sqs.eu-west-1.amazonaws.com/123456789012/q-dev"),
        ({"Fn::GetAtt": ["Queue", "Arn"]}, "arn:aws:sqs:eu-west-1:123456789012:q-dev"),
        ({"Ref": "Topic"}, "arn:aws:sns:eu-west-1:123456789012:S-Topic"),
        ({"Fn::GetAtt": ["Logs", "Arn"]}, "arn:aws:logs:eu-west-1:123456789012:log-group:/app/dev:*"),
        (
            {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Ref": "Bucket"}, "/*"]]},
            "arn:aws:s3:::app-dev-123456789012-eu-west-1-an/*",
        ),
        (
            {"Fn::Sub": "${Queue.Arn}|${AWS::Region}|${!Literal}"},
            "arn:aws:sqs:eu-west-1:123456789012:q-dev|eu-west-1|${Literal}",
        ),
        (
            {"Fn::Sub": ["${X}-${Bucket}", {"X": {"Ref": "AWS::AccountId"}}]},
            "123456789012-app-dev-123456789012-eu-west-1-an",
        ),
        ({"Fn::Select": [1, {"Fn::Split": [":", "a:b:c"]}]}, "b"),
        ({"Fn::If": ["IsProd", "yes", "no"]}, "yes"),
        ([1, {"Ref": "AWS::NoValue"}, 2], [1, 2]),
    ],
)
def test_intrinsics(r: Resolver, value: object, expected: object) -> None:
    assert r.resolve(value) == expected


def test_generated_ids_are_deterministic_and_distinct(r: Resolver) -> None:
    again = Resolver(
        TEMPLATE, StandIns(account="123456789012", region="eu-west-1", stack_name="S", parameters={"Stage": "prod"})
    )
    key = r.get_att("Key", "Arn")
    assert key == again.get_att("Key", "Arn")
    assert key.startswith("arn:aws:kms:eu-west-1:123456789012:key/")
    assert r.ref("Pool").startswith("eu-west-1:") and r.ref("Pool") != r.ref("Key")


def test_errors_name_what_is_missing(r: Resolver) -> None:
    with pytest.raises(ResolveError, match="Missing"):
        r.resolve({"Ref": "Missing"})
    with pytest.raises(ResolveError, match="Fn::Transform"):
        r.resolve({"Fn::Transform": {}})
    with pytest.raises(ResolveError, match="Stage"):
        Resolver(TEMPLATE).resolve({"Fn::If": ["IsProd", 1, 2]})


def test_cdk_bootstrap_template_resolves_whole() -> None:
    """CDK's own bootstrap template (YAML, short-form tags, Conditions, Fn::If with AWS::NoValue) resolves fully."""
    template = json.loads(json.dumps(cfn_yaml.load(str(BOOTSTRAP))))
    r = Resolver(template, StandIns(account="123456789012", stack_name="CDKToolkit"))
    text = json.dumps(r.resolve(template["Resources"]))
    assert "Fn::" not in text and '"Ref"' not in text
    roles = r.of_type("AWS::IAM::Role")
    assert roles["DeploymentActionRole"]["RoleName"] == "cdk-hnb659fds-deploy-role-123456789012-us-east-1"
