"""One account per environment: the `accounts` context binds a stack to an account/region; without it nothing moves."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks.app_builder import build_app, cdk_json_context

PROD_ACCOUNT, PROD_REGION = "111111111111", "eu-west-1"
PR_ACCOUNT, PR_REGION = "222222222222", "us-east-1"
MAPPING = {
    "prod": {"account": PROD_ACCOUNT, "region": PROD_REGION},
    "dev": {"account": PR_ACCOUNT, "region": PR_REGION},  # the preset: every pr-<n> and unknown suffix
}


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> cdk.cx_api.CloudAssembly:
    """staging (unmapped), prod (by suffix) and pr-7 (by its dev preset) in one app with the mapping."""
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("mapped")),
        context=cdk_json_context(env="staging,prod,pr-7", accounts=json.dumps(MAPPING)),
        builtin_cloud_formation_validation=False,
    )
    return build_app(app).synth()


def _artifact(assembly: cdk.cx_api.CloudAssembly, artifact_id: str) -> cdk.cx_api.CloudFormationStackArtifact:
    return assembly.get_stack_artifact(artifact_id)


@pytest.mark.slow
@pytest.mark.parametrize(
    "artifact_id,account,region",
    [
        ("SecureServerless-prod", PROD_ACCOUNT, PROD_REGION),
        ("SecureServerless-pr-7", PR_ACCOUNT, PR_REGION),
        ("SecureServerless-staging", "unknown-account", "unknown-region"),  # no mapping: the CLI's account
    ],
)
def test_stacks_are_bound_to_their_mapped_account(
    mapped: cdk.cx_api.CloudAssembly, artifact_id: str, account: str, region: str
) -> None:
    artifact = _artifact(mapped, artifact_id)
    assert (artifact.environment.account, artifact.environment.region) == (account, region)
    if account != "unknown-account":
        # The CLI deploys through that account's bootstrap role: credentials for another account cannot assume it,
        # and the CLI stops with "Need to perform AWS calls for account <mapped>" before creating a change set.
        assert artifact.assume_role_arn == (
            f"arn:${{AWS::Partition}}:iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-{region}"
        )
        assets = json.loads(Path(mapped.directory, f"{artifact_id}.assets.json").read_text())
        destinations = [d for f in assets["files"].values() for d in f["destinations"].values()]
        assert destinations and {(d["bucketName"], d["assumeRoleArn"]) for d in destinations} == {
            (
                f"cdk-hnb659fds-assets-{account}-{region}",
                f"arn:${{AWS::Partition}}:iam::{account}:role/cdk-hnb659fds-file-publishing-role-{account}-{region}",
            )
        }


@pytest.mark.slow
def test_each_mapped_account_gets_its_own_account_level_stack(mapped: cdk.cx_api.CloudAssembly) -> None:
    accounts = {
        a.id: (a.environment.account, a.environment.region)
        for a in mapped.stacks
        if a.stack_name == "SecureServerless-account"
    }
    assert accounts == {
        "SecureServerless-account": ("unknown-account", "unknown-region"),
        f"SecureServerless-account-{PROD_ACCOUNT}-{PROD_REGION}": (PROD_ACCOUNT, PROD_REGION),
        f"SecureServerless-account-{PR_ACCOUNT}-{PR_REGION}": (PR_ACCOUNT, PR_REGION),
    }
    prod = _artifact(mapped, "SecureServerless-prod")
    assert f"SecureServerless-account-{PROD_ACCOUNT}-{PROD_REGION}" in [d.id for d in prod.dependencies]


@pytest.mark.slow
def test_mapped_template_is_bound_to_the_account(mapped: cdk.cx_api.CloudAssembly) -> None:
    template = json.dumps(_artifact(mapped, "SecureServerless-prod").template)
    assert PROD_ACCOUNT in template and PROD_REGION in template


@pytest.mark.slow
def test_an_unmapped_environment_keeps_its_template(mapped: cdk.cx_api.CloudAssembly, templates: dict) -> None:
    # staging has no mapping: byte-for-byte the template of the app without any `accounts` context.
    assert _artifact(mapped, "SecureServerless-staging").template == templates["staging"]
