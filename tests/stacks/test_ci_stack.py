"""SecureServerless-ci: OIDC trust pinned to repository + GitHub environment, one-hour sessions, and nothing but
sts:AssumeRole into the CDK bootstrap roles of the account and region."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks, ServerlessChecks

from secure_serverless import acknowledge_opt_in_packs
from stacks.app_builder import cdk_json_context
from stacks.ci_stack import CI_STACK_NAME, CiStack
from stacks.delivery import CiSettings
from tests.support.nag import nag_findings
from tests.support.synth import Synthesized
from tests.support.template import logical_id

ROOT = Path(__file__).resolve().parents[2]
HOST = "token.actions.githubusercontent.com"
ACCOUNT, REGION = "111111111111", "eu-west-1"
EXISTING_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"


def _build(settings: CiSettings, env: cdk.Environment | None = None) -> tuple[CiStack, dict]:
    app = cdk.App(context=cdk_json_context(), builtin_cloud_formation_validation=False)
    stack = CiStack(app, settings, env=env)
    acknowledge_opt_in_packs(app)  # as the app does: it runs the compliance packs and cfn-guard
    return stack, Template.from_stack(stack).to_json()


@pytest.fixture(scope="module")
def bound() -> tuple[CiStack, dict]:
    """Bound to an account/region so the bootstrap role ARNs are plain strings to compare."""
    return _build(CiSettings("acme/shop"), cdk.Environment(account=ACCOUNT, region=REGION))


def _roles(template: dict) -> dict[str, dict]:
    """Role properties by the name of the GitHub environment (or `pull-requests`) they serve."""
    return {
        r["Properties"]["RoleName"].removeprefix("secure-serverless-ci-"): r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Role"
    }


def test_the_app_synthesizes_the_ci_stack_nag_clean(synthesized: Synthesized) -> None:
    # The session synth (AwsSolutions + Serverless packs) would have raised on any finding; check it was there.
    template = json.loads((synthesized.outdir / f"{CI_STACK_NAME}.template.json").read_text())
    repository = json.loads((ROOT / "cdk.json").read_text())["context"]["ciRepository"]
    subjects = {
        r["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"][f"{HOST}:sub"]
        for r in _roles(template).values()
    }
    assert subjects == {
        f"repo:{repository}:environment:staging",
        f"repo:{repository}:environment:prod",
        f"repo:{repository}:pull_request",
    }


def test_one_role_per_environment_plus_pull_requests(bound: tuple[CiStack, dict]) -> None:
    assert set(_roles(bound[1])) == {"staging", "prod", "pull-requests", "pull-requests-cleanup"}


@pytest.mark.parametrize(
    "name,subject",
    [
        ("prod", "repo:acme/shop:environment:prod"),
        ("staging", "repo:acme/shop:environment:staging"),
        ("pull-requests", "repo:acme/shop:pull_request"),
        ("pull-requests-cleanup", "repo:acme/shop:pull_request"),
    ],
)
def test_trust_requires_exact_audience_and_subject(bound: tuple[CiStack, dict], name: str, subject: str) -> None:
    provider = logical_id(Template.from_json(bound[1]), "AWS::IAM::OIDCProvider")
    assert _roles(bound[1])[name]["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": {"Ref": provider}},
                "Condition": {"StringEquals": {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": subject}},
            }
        ],
    }


def test_no_wildcard_or_pattern_anywhere_in_the_trust(bound: tuple[CiStack, dict]) -> None:
    for name, role in _roles(bound[1]).items():
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert set(statement["Condition"]) == {"StringEquals"}, name  # no StringLike, no ForAnyValue
        for value in statement["Condition"]["StringEquals"].values():
            assert "*" not in value and "?" not in value, (name, value)
        assert ":repo:acme/shop:" in f":{statement['Condition']['StringEquals'][f'{HOST}:sub']}", name


def test_sessions_last_at_most_one_hour(bound: tuple[CiStack, dict]) -> None:
    assert {name: r["MaxSessionDuration"] for name, r in _roles(bound[1]).items()} == dict.fromkeys(
        ("staging", "prod", "pull-requests", "pull-requests-cleanup"), 3600
    )


def test_roles_may_only_assume_the_bootstrap_roles(bound: tuple[CiStack, dict]) -> None:
    expected = [
        f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-{kind}-role-{ACCOUNT}-{REGION}"
        for kind in ("deploy", "file-publishing", "lookup")
    ]
    deploy_roles = {n: r for n, r in _roles(bound[1]).items() if not n.endswith("-cleanup")}
    assert set(deploy_roles) == {"staging", "prod", "pull-requests"}
    for name, role in deploy_roles.items():
        assert "ManagedPolicyArns" not in role and "PermissionsBoundary" not in role, name
        assert role["Policies"] == [
            {
                "PolicyName": "AssumeCdkBootstrapRoles",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": expected}],
                },
            }
        ], name
    # ...and nothing else in the stack grants anything.
    template = Template.from_json(bound[1])
    template.resource_count_is("AWS::IAM::Policy", 0)
    template.resource_count_is("AWS::IAM::ManagedPolicy", 0)


def test_cleanup_role_may_only_empty_pull_request_buckets(bound: tuple[CiStack, dict]) -> None:
    role = _roles(bound[1])["pull-requests-cleanup"]
    assert "ManagedPolicyArns" not in role
    assert role["Policies"] == [
        {
            "PolicyName": "EmptyPullRequestBuckets",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "cloudformation:ListStackResources",
                        "Resource": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/SecureServerless-pr-*/*",
                    },
                    {"Effect": "Allow", "Action": "s3:ListBucketVersions", "Resource": "arn:aws:s3:::secsls-pr-*"},
                    {"Effect": "Allow", "Action": "s3:DeleteObjectVersion", "Resource": "arn:aws:s3:::secsls-pr-*/*"},
                ],
            },
        }
    ]


def test_bootstrap_roles_follow_the_account_region_and_qualifier_of_the_stack() -> None:
    _, template = _build(CiSettings("acme/shop", qualifier="team1", environments=("prod",), pull_requests=False))
    Template.from_json(template).has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "secure-serverless-ci-prod",
            "Policies": [
                {
                    "PolicyName": "AssumeCdkBootstrapRoles",
                    "PolicyDocument": {
                        "Statement": [
                            Match.object_like(
                                {
                                    "Resource": Match.array_with(
                                        [
                                            {
                                                "Fn::Join": [
                                                    "",
                                                    [
                                                        "arn:",
                                                        {"Ref": "AWS::Partition"},
                                                        ":iam::",
                                                        {"Ref": "AWS::AccountId"},
                                                        ":role/cdk-team1-deploy-role-",
                                                        {"Ref": "AWS::AccountId"},
                                                        "-",
                                                        {"Ref": "AWS::Region"},
                                                    ],
                                                ]
                                            }
                                        ]
                                    )
                                }
                            )
                        ]
                    },
                }
            ],
        },
    )
    assert set(_roles(template)) == {"prod"}  # no pull-request role when ciPullRequests=false


def test_an_existing_oidc_provider_is_trusted_instead_of_creating_one() -> None:
    _, template = _build(CiSettings("acme/shop", oidc_provider_arn=EXISTING_PROVIDER))
    Template.from_json(template).resource_count_is("AWS::IAM::OIDCProvider", 0)
    for name, role in _roles(template).items():
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Federated": EXISTING_PROVIDER}, name


def test_created_provider_is_githubs_with_the_sts_audience(bound: tuple[CiStack, dict]) -> None:
    Template.from_json(bound[1]).has_resource_properties(
        "AWS::IAM::OIDCProvider", {"Url": f"https://{HOST}", "ClientIdList": ["sts.amazonaws.com"]}
    )


def test_every_nag_pack_is_clean_on_the_ci_stack(bound: tuple[CiStack, dict]) -> None:
    stack = bound[0]
    packs = (AwsSolutionsChecks, ServerlessChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks)
    for pack in packs:
        report = pack(stack).validate_scope(stack)
        assert report.success, nag_findings(report)
