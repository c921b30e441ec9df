"""`make bootstrap`: the shipped CloudFormation execution policies are exactly the handler permissions of the resource
types the synthesized stacks use (cfn-lint's bundled resource schemas), each within IAM's managed-policy limit; every
role the stacks create carries its trust level's boundary; the boundary forbids escalation; the pinned `cdk
bootstrap` gets its own qualifier, these policies and this boundary."""

from __future__ import annotations

import json

import pytest

from tests.support.synth import Synthesized
from tools import bootstrap

QUALIFIERS = {"dev": "hnb659fds", "pr-7": "hnb659fds", "staging": "secslsstg", "prod": "secslsprd"}


@pytest.fixture(scope="module")
def derived(synthesized: Synthesized) -> tuple[set[str], set[str]]:
    """Resource types and handler actions of every environment template and the account stack (not the CI stack:
    an administrator deploys it, never the execution role)."""
    assert synthesized.account_template is not None
    types = bootstrap.resource_types([*synthesized.templates.values(), synthesized.account_template])
    return types, bootstrap.handler_actions(types)


def _shipped_actions() -> set[str]:
    return {
        action
        for document in bootstrap.shipped_execution_policies()
        for statement in document["Statement"]
        for action in statement["Action"]
    }


def test_shipped_policy_covers_exactly_the_synthesized_resource_types(derived: tuple[set[str], set[str]]) -> None:
    types, actions = derived
    shipped = json.loads(bootstrap.EXECUTION_POLICY_FILE.read_text())
    fix = "regenerate with `make bootstrap-policy`"
    assert sorted(types) == shipped["ResourceTypes"], fix
    missing, extra = actions - _shipped_actions(), _shipped_actions() - actions
    assert (missing, extra) == (set(), set()), f"execution policy misses {missing} / exceeds with {extra}: {fix}"


def test_the_comparison_can_fail(derived: tuple[set[str], set[str]]) -> None:
    types, actions = derived
    fewer = bootstrap.handler_actions(types - {"AWS::EC2::VPC"})
    more = bootstrap.handler_actions(types | {"AWS::RDS::DBInstance"})
    assert fewer < actions < more and "ec2:CreateVpc" in actions - fewer and "rds:CreateDBInstance" in more


def test_each_policy_fits_the_managed_policy_limit_and_names_exact_actions() -> None:
    documents = bootstrap.shipped_execution_policies()
    assert 1 <= len(documents) <= 9  # cdk bootstrap attaches them all; a role holds at most 10 managed policies
    for document in documents:
        assert bootstrap.policy_size(document) <= bootstrap.MANAGED_POLICY_LIMIT
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow" and "NotAction" not in statement
            assert all("*" not in a and "?" not in a for a in statement["Action"]), statement["Sid"]
    with pytest.raises(ValueError, match="wildcard"):
        bootstrap.execution_policies(["s3:Get*"])


def test_schema_entries_that_are_no_iam_action_are_left_out() -> None:
    assert "s3:REST.PUT.OBJECT" not in bootstrap.handler_actions({"AWS::S3::Bucket"})
    assert "s3:CreateBucket" in bootstrap.handler_actions({"AWS::S3::Bucket"})


def test_custom_resources_need_only_to_invoke_their_provider() -> None:
    assert bootstrap.handler_actions({"Custom::GatewayPrefixLists", "AWS::CDK::Metadata"}) == {"lambda:InvokeFunction"}


@pytest.mark.parametrize("suffix", sorted(QUALIFIERS))
def test_every_role_carries_its_trust_levels_boundary(synthesized: Synthesized, suffix: str) -> None:
    roles = [r for r in synthesized.templates[suffix]["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert roles
    name = f":policy/secure-serverless-{QUALIFIERS[suffix]}-boundary"
    for role in roles:
        assert json.dumps(role["Properties"]["PermissionsBoundary"]).endswith(f'"{name}"]]}}'), role


def test_boundary_fits_and_denies_escalation() -> None:
    document = bootstrap.boundary_policy("secslsprd", "123456789012", "eu-west-1")
    assert bootstrap.policy_size(document) <= bootstrap.MANAGED_POLICY_LIMIT
    assert "${" not in json.dumps(document)
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["NoRoleWithoutThisBoundary"]["Condition"] == {
        "StringNotEquals": {
            "iam:PermissionsBoundary": "arn:aws:iam::123456789012:policy/secure-serverless-secslsprd-boundary"
        }
    }
    assert "iam:CreateRole" in by_sid["NoRoleWithoutThisBoundary"]["Action"]
    assert set(by_sid["NoChangeToBootstrapOrCiStacks"]["Resource"]) == {
        "arn:aws:cloudformation:eu-west-1:123456789012:stack/CDKToolkit*",
        "arn:aws:cloudformation:eu-west-1:123456789012:stack/SecureServerless-ci/*",
    }
    assert "iam:CreatePolicyVersion" in by_sid["NoChangeToBoundaryOrExecutionPolicies"]["Action"]
    assert [s["Effect"] for s in document["Statement"]].count("Allow") == 1


def test_bootstrap_command_has_its_own_qualifier_policies_and_boundary() -> None:
    command = bootstrap.bootstrap("staging", "123456789012", "eu-west-1", dry_run=True)
    arguments = dict(zip(command[3::2], command[4::2], strict=False))
    count = len(bootstrap.shipped_execution_policies())
    assert command[1:3] == ["bootstrap", "aws://123456789012/eu-west-1"]
    assert arguments["--qualifier"] == "secslsstg"
    assert arguments["--toolkit-stack-name"] == "CDKToolkit-secslsstg"
    assert arguments["--cloudformation-execution-policies"].split(",") == [
        f"arn:aws:iam::123456789012:policy/secure-serverless-secslsstg-cfn-exec-{i + 1}" for i in range(count)
    ]
    assert arguments["--custom-permissions-boundary"] == "secure-serverless-secslsstg-boundary"
