"""SecureServerless-ci: one stack per account holding only that account's trust level; OIDC trust pinned to the
repository's immutable ids + GitHub environment (+ the main workflow on main for staging and prod), one-hour sessions,
and each role may assume only its own qualifier's bootstrap roles (prod: create or execute its change set, not both)."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks, ServerlessChecks

from secure_serverless import acknowledge_opt_in_packs
from stacks.app_builder import build_app, cdk_json_context
from stacks.ci_stack import CI_STACK_NAME, CiStack
from stacks.delivery import TRUST_LEVELS, CiSettings
from tests.support.nag import nag_findings
from tests.support.synth import Synthesized
from tests.support.template import logical_id

ROOT = Path(__file__).resolve().parents[2]
HOST = "token.actions.githubusercontent.com"
ACCOUNT, REGION = "111111111111", "eu-west-1"
EXISTING_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
SETTINGS = CiSettings("acme/shop", owner_id="5001", repository_id="7002", previews=True)
REPO = "repo:acme@5001/shop@7002"
MAIN = "acme/shop/.github/workflows/main.yml@refs/heads/main"
SWEEP = "acme/shop/.github/workflows/sweep-previews.yml@refs/heads/main"
QUALIFIERS = {"preview": "hnb659fds", "staging": "secslsstg", "prod": "secslsprd"}
ALL_ROLES = {"pull-request-diff", "preview", "preview-cleanup", "preview-sweeper", "staging", "prod-plan", "prod"}


def _build(
    settings: CiSettings, env: cdk.Environment | None = None, levels: tuple[str, ...] = TRUST_LEVELS
) -> tuple[CiStack, dict]:
    app = cdk.App(context=cdk_json_context(), builtin_cloud_formation_validation=False)
    stack = CiStack(app, settings, levels=levels, env=env)
    acknowledge_opt_in_packs(app)  # as the app does: it runs the compliance packs and cfn-guard
    return stack, Template.from_stack(stack).to_json()


@pytest.fixture(scope="module")
def bound() -> tuple[CiStack, dict]:
    """Every trust level (previews enabled), bound to an account/region so ARNs are plain strings to compare."""
    return _build(SETTINGS, cdk.Environment(account=ACCOUNT, region=REGION))


def _roles(template: dict) -> dict[str, dict]:
    """Role properties by role name without the `secure-serverless-ci-` prefix."""
    return {
        r["Properties"]["RoleName"].removeprefix("secure-serverless-ci-"): r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Role"
    }


def _statements(role: dict) -> list[dict]:
    (policy,) = role["Policies"]
    return policy["PolicyDocument"]["Statement"]


def _actions(role: dict) -> set[str]:
    found: set[str] = set()
    for statement in _statements(role):
        actions = statement["Action"]
        found.update([actions] if isinstance(actions, str) else actions)
    return found


def _assumable(role: dict) -> set[str]:
    found: set[str] = set()
    for statement in _statements(role):
        if statement["Action"] == "sts:AssumeRole":
            resources = statement["Resource"]
            found.update([resources] if isinstance(resources, str) else resources)
    return found


def _bootstrap(level: str, kind: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/cdk-{QUALIFIERS[level]}-{kind}-role-{ACCOUNT}-{REGION}"


def test_the_app_synthesizes_the_ci_stack_nag_clean(synthesized: Synthesized) -> None:
    # The session synth (AwsSolutions + Serverless packs) would have raised on any finding; check it was there.
    # One account and no mapping: staging and prod roles only (previews are off unless ciPreviews=true).
    template = json.loads((synthesized.outdir / f"{CI_STACK_NAME}.template.json").read_text())
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    owner, name = context["ciRepository"].split("/")
    repo = f"repo:{owner}@{context['ciRepositoryOwnerId']}/{name}@{context['ciRepositoryId']}"
    subjects = {
        n: r["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"][f"{HOST}:sub"]
        for n, r in _roles(template).items()
    }
    assert subjects == {
        "staging": f"{repo}:environment:staging",
        "prod-plan": f"{repo}:environment:prod-plan",
        "prod": f"{repo}:environment:prod",
    }


def test_every_trust_level_has_its_roles(bound: tuple[CiStack, dict]) -> None:
    assert set(_roles(bound[1])) == ALL_ROLES


@pytest.mark.parametrize(
    "name,subject,workflow",
    [
        ("pull-request-diff", f"{REPO}:pull_request", None),
        ("preview", f"{REPO}:environment:preview", None),
        ("preview-cleanup", f"{REPO}:environment:preview", None),
        ("preview-sweeper", f"{REPO}:environment:preview-sweeper", SWEEP),
        ("staging", f"{REPO}:environment:staging", MAIN),
        ("prod-plan", f"{REPO}:environment:prod-plan", MAIN),
        ("prod", f"{REPO}:environment:prod", MAIN),
    ],
)
def test_trust_requires_exact_audience_subject_and_workflow(
    bound: tuple[CiStack, dict], name: str, subject: str, workflow: str | None
) -> None:
    provider = logical_id(Template.from_json(bound[1]), "AWS::IAM::OIDCProvider")
    equals = {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": subject}
    if workflow:
        equals[f"{HOST}:job_workflow_ref"] = workflow
    assert _roles(bound[1])[name]["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": {"Ref": provider}},
                "Condition": {"StringEquals": equals},
            }
        ],
    }


def test_no_wildcard_or_pattern_anywhere_in_the_trust(bound: tuple[CiStack, dict]) -> None:
    for name, role in _roles(bound[1]).items():
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert set(statement["Condition"]) == {"StringEquals"}, name  # no StringLike, no ForAnyValue
        for value in statement["Condition"]["StringEquals"].values():
            assert "*" not in value and "?" not in value, (name, value)


def test_sessions_last_at_most_one_hour(bound: tuple[CiStack, dict]) -> None:
    assert {name: r["MaxSessionDuration"] for name, r in _roles(bound[1]).items()} == dict.fromkeys(ALL_ROLES, 3600)


def test_roles_assume_only_their_own_qualifiers_bootstrap_roles(bound: tuple[CiStack, dict]) -> None:
    roles = _roles(bound[1])
    assert {name: _assumable(role) for name, role in roles.items()} == {
        "pull-request-diff": {_bootstrap("preview", "lookup")},
        "preview": {_bootstrap("preview", k) for k in ("deploy", "file-publishing", "lookup")},
        "preview-cleanup": set(),
        "preview-sweeper": {_bootstrap("preview", "deploy"), _bootstrap("preview", "lookup")},
        "staging": {_bootstrap("staging", k) for k in ("deploy", "file-publishing", "lookup")},
        "prod-plan": {_bootstrap("prod", "file-publishing"), _bootstrap("prod", "lookup")},
        "prod": {_bootstrap("prod", "lookup")},
    }
    for role in roles.values():
        assert "ManagedPolicyArns" not in role
    template = Template.from_json(bound[1])
    template.resource_count_is("AWS::IAM::Policy", 0)
    template.resource_count_is("AWS::IAM::ManagedPolicy", 0)


def test_prods_plan_role_creates_and_its_approved_role_executes(bound: tuple[CiStack, dict]) -> None:
    roles = _roles(bound[1])
    plan, execute = _actions(roles["prod-plan"]), _actions(roles["prod"])
    assert "cloudformation:CreateChangeSet" in plan and "cloudformation:ExecuteChangeSet" not in plan
    assert "cloudformation:ExecuteChangeSet" in execute and "cloudformation:CreateChangeSet" not in execute
    assert "iam:PassRole" not in execute
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/SecureServerless-prod/*"
    for role in (roles["prod-plan"], roles["prod"]):
        for statement in _statements(role):
            if str(statement["Action"]).startswith("cloudformation:") or "cloudformation:" in str(statement["Action"]):
                assert statement["Resource"] == stack
    (pass_role,) = [s for s in _statements(roles["prod-plan"]) if s["Action"] == "iam:PassRole"]
    assert pass_role == {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": f"arn:aws:iam::{ACCOUNT}:role/cdk-secslsprd-cfn-exec-role-{ACCOUNT}-{REGION}",
        "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
    }


def test_preview_cleanup_may_only_empty_preview_buckets(bound: tuple[CiStack, dict]) -> None:
    assert _statements(_roles(bound[1])["preview-cleanup"]) == [
        {
            "Effect": "Allow",
            "Action": "cloudformation:ListStackResources",
            "Resource": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/SecureServerless-pr-*/*",
        },
        {"Effect": "Allow", "Action": "s3:ListBucketVersions", "Resource": "arn:aws:s3:::secsls-pr-*"},
        {"Effect": "Allow", "Action": "s3:DeleteObjectVersion", "Resource": "arn:aws:s3:::secsls-pr-*/*"},
    ]


def test_previews_are_off_unless_enabled() -> None:
    settings = CiSettings("acme/shop", owner_id="5001", repository_id="7002")
    assert set(_roles(_build(settings)[1])) == {"staging", "prod-plan", "prod"}


@pytest.fixture(scope="module")
def three_accounts(tmp_path_factory: pytest.TempPathFactory) -> cdk.cx_api.CloudAssembly:
    """dev and previews in one account, staging in a second, prod in a third."""
    mapping = {
        "dev": {"account": "222222222222", "region": REGION},
        "staging": {"account": "333333333333", "region": REGION},
        "prod": {"account": "444444444444", "region": REGION},
    }
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("three-accounts")),
        context=cdk_json_context(env="dev", accounts=json.dumps(mapping)),
        builtin_cloud_formation_validation=False,
    )
    return build_app(app, cloudformation_validation=False).synth()


@pytest.mark.slow
def test_each_mapped_account_gets_a_ci_stack_with_only_its_trust_levels_roles(
    three_accounts: cdk.cx_api.CloudAssembly,
) -> None:
    stacks = {a.id: a for a in three_accounts.stacks if a.stack_name == CI_STACK_NAME}
    held = {(a.environment.account, tuple(sorted(_roles(a.template)))) for a in stacks.values()}
    assert held == {
        ("222222222222", ("preview", "preview-cleanup", "preview-sweeper", "pull-request-diff")),
        ("333333333333", ("staging",)),
        ("444444444444", ("prod", "prod-plan")),
    }
    for artifact in stacks.values():
        subjects = json.dumps([r["AssumeRolePolicyDocument"] for r in _roles(artifact.template).values()])
        text = json.dumps(artifact.template)
        if artifact.environment.account != "222222222222":
            # No pull-request token and no preview environment reaches an account that holds staging or prod.
            assert ":pull_request" not in subjects and ":environment:preview" not in subjects
            assert "hnb659fds" not in text


@pytest.mark.slow
def test_ci_stacks_deploy_with_the_administrators_credentials_and_environments_through_their_bootstrap(
    three_accounts: cdk.cx_api.CloudAssembly,
) -> None:
    """The bootstrap's execution role carries the boundary that refuses `secure-serverless-ci-*` roles and the CI
    stack: a CI stack deployed through it could never be created. So CI stacks assume no role and pass none
    (the CLI's own, administrator, credentials), and every other stack goes through its own account's bootstrap."""
    qualifiers = {"222222222222": "hnb659fds", "333333333333": "secslsstg", "444444444444": "secslsprd"}
    for artifact in three_accounts.stacks:
        account = artifact.environment.account
        if artifact.stack_name == CI_STACK_NAME:
            assert artifact.assume_role_arn is None and artifact.cloud_formation_execution_role_arn is None, artifact.id
            assert "BootstrapVersion" not in artifact.template.get("Parameters", {}), artifact.id
        else:
            role = f"cdk-{qualifiers[account]}-cfn-exec-role-{account}-{REGION}"
            assert artifact.cloud_formation_execution_role_arn == f"arn:${{AWS::Partition}}:iam::{account}:role/{role}"


def test_an_existing_oidc_provider_is_trusted_instead_of_creating_one() -> None:
    _, template = _build(
        CiSettings(
            "acme/shop", owner_id="5001", repository_id="7002", previews=True, oidc_provider_arn=EXISTING_PROVIDER
        )
    )
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
