"""The mapped layout across three emulator accounts (docs/deploying.md, "One account per trust level"): each trust
level bootstrapped in its own account with its own qualifier (`make bootstrap`), the app synthesized once with an
`accounts` mapping, each account's CI stack, account stack and environment stack deployed into it with that
account's own credentials, then every account read back through its own CloudFormation, IAM and S3 APIs.

LocalStack takes the account id from an access key id of 12 digits, so each account here is its own set of stacks,
roles, managed policies and buckets. What the checks prove: the mapping synthesizes stacks bound to their accounts
and qualifiers, each account needs only its own level's bootstrap, and each account ends up holding exactly its
level's stacks and roles (CI roles trusting only its level's GitHub environments, reaching only its own bootstrap
roles, every other role under its level's boundary) and none of another level's. What they do not prove: that the
roles, trusts and boundaries hold, since the emulator enforces no IAM policy and would let one account's credentials
assume another account's roles (tests/delivery evaluates the policies with an IAM engine), nor anything about AWS
Organizations, SCPs or cross-account networking. The default account (000000000000) of the other checks is left
alone, and the mapped stacks are not destroyed: the emulator and its state are discarded at the end of the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from stacks.app_builder import cdk_json_context
from stacks.delivery import ci_settings_from_context
from tests.e2e.conftest import ACCOUNT, FALLBACK_REASON, REGION, ROOT, Aws, aws_environment, report

FAILED_STATES = ("FAILED", "ROLLBACK", "IN_PROGRESS")
CI_ROLE_PREFIX = "secure-serverless-ci-"


@dataclass(frozen=True)
class Level:
    """One trust level of the mapped layout: the account that holds it and the environment deployed there."""

    name: str
    account: str
    environment: str


# dev carries the preview trust level (and every pr-<n>); one emulator account per level, none of them the default.
LAYOUT = (
    Level("preview", "000000000001", "dev"),
    Level("staging", "000000000002", "staging"),
    Level("prod", "000000000003", "prod"),
)
ACCOUNTS_CONTEXT = {level.environment: {"account": level.account, "region": REGION} for level in LAYOUT}
QUALIFIERS = ci_settings_from_context(cdk_json_context().get).qualifiers
# What each level's CI roles trust, after `repo:<owner>@<id>/<repo>@<id>:` (docs/deploying.md's role table).
SUBJECTS = {
    "preview": {"pull_request", "environment:preview", "environment:preview-sweeper"},
    "staging": {"environment:staging"},
    "prod": {"environment:prod-plan", "environment:prod"},
}
CI_ROLES = {
    "preview": {"pull-request-diff", "preview", "preview-cleanup", "preview-sweeper"},
    "staging": {"staging"},
    "prod": {"prod-plan", "prod"},
}


@cache
def clients(account: str) -> Aws:
    """boto3 clients of one emulator account (`clients(a).cloudformation`), made on first use."""
    return Aws(account)


def stack_ids(level: Level) -> tuple[str, ...]:
    """The cloud assembly's ids of what an administrator deploys into `level`'s account (stack names repeat across
    accounts, ids do not): its CI stack, its account stack, its environment."""
    where = f"{level.account}-{REGION}"
    return f"SecureServerless-ci-{where}", f"SecureServerless-account-{where}", f"SecureServerless-{level.environment}"


def expected_stacks(level: Level) -> set[str]:
    return {
        f"CDKToolkit-{QUALIFIERS[level.name]}",
        "SecureServerless-ci",
        "SecureServerless-account",
        f"SecureServerless-{level.environment}",
    }


@dataclass
class Step:
    output: str
    seconds: float


def _run(command: list[str], env: Mapping[str, str], timeout: int = 900) -> Step:
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command[:6])} ...` failed ({result.returncode}):\n{output[-6000:]}")
    return Step(output, time.monotonic() - started)


def _in_parallel(steps: Mapping[str, tuple[list[str], Mapping[str, str]]]) -> dict[str, Step]:
    """Run independent commands side by side (the accounts share nothing); fail with the first failure's output."""
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        futures = {name: pool.submit(_run, command, env) for name, (command, env) in steps.items()}
        failures = [f"{name}: {future.exception()}" for name, future in futures.items() if future.exception()]
        if failures:
            pytest.fail("\n".join(failures))
        return {name: future.result() for name, future in futures.items()}


@dataclass
class MappedLayout:
    out_dir: Path
    seconds: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MappedLayout]:
    """Bootstrap the three accounts and synthesize the mapped app (side by side), then deploy each account's stacks
    with its own credentials (the three accounts side by side)."""
    layout = MappedLayout(tmp_path_factory.mktemp("cdk-out-mapped"))
    cdk = str(ROOT / "node_modules" / ".bin" / "cdk")
    environments = ",".join(level.environment for level in LAYOUT)
    started = time.monotonic()
    # Synthesis is CPU work, bootstrapping mostly waits on the emulator: together they cost little more than synth.
    synth = [cdk, "synth", "--quiet", "--no-notices", "-c", f"env={environments}"]
    synth += ["-c", f"accounts={json.dumps(ACCOUNTS_CONTEXT)}", "-o", str(layout.out_dir)]
    steps: dict[str, tuple[list[str], Mapping[str, str]]] = {"synth": (synth, aws_environment())}
    for level in LAYOUT:
        bootstrap = [sys.executable, "-m", "tools.bootstrap", "run", "--level", level.name]
        steps[f"bootstrap {level.name}"] = (
            [*bootstrap, "--account", level.account, "--region", REGION],
            aws_environment(level.account),
        )
    done = _in_parallel(steps)
    layout.seconds["bootstrap + synth"] = time.monotonic() - started
    report(
        f"mapped layout: make bootstrap in 3 accounts + one synth, side by side: "
        f"{layout.seconds['bootstrap + synth']:.1f} s ("
        + ", ".join(f"{name} {step.seconds:.1f} s" for name, step in done.items())
        + ")"
    )
    started = time.monotonic()
    deploy = [cdk, "deploy", "--app", str(layout.out_dir), "--require-approval", "never", "--concurrency", "2"]
    done = _in_parallel(
        {level.name: ([*deploy, *stack_ids(level), "--no-notices"], aws_environment(level.account)) for level in LAYOUT}
    )
    layout.seconds["deploy"] = time.monotonic() - started
    report(
        f"mapped layout: cdk deploy, each account with its own credentials, side by side: "
        f"{layout.seconds['deploy']:.1f} s ("
        + ", ".join(f"{level.account} ({level.name}) {done[level.name].seconds:.1f} s" for level in LAYOUT)
        + ")"
    )
    yield layout


def _active_stacks(account: str) -> list[dict[str, Any]]:
    pages = clients(account).cloudformation.get_paginator("list_stacks").paginate()
    return [s for page in pages for s in page["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]


def emulated_only(resource: dict[str, Any]) -> bool:
    """A type the emulator only pretends to create (tests/e2e/check_deployed.py lists them the same way)."""
    return FALLBACK_REASON in (resource.get("ResourceStatusReason") or "")


def _resources(account: str, stack: str) -> list[dict[str, Any]]:
    pages = clients(account).cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
    return [r for page in pages for r in page["StackResourceSummaries"]]


def _roles(account: str) -> list[dict[str, Any]]:
    pages = clients(account).iam.get_paginator("list_roles").paginate()
    return [role for page in pages for role in page["Roles"]]


def _physical_roles(account: str, stacks: list[str]) -> dict[str, str]:
    """Role name -> the stack in `account` whose resource it is."""
    return {
        resource["PhysicalResourceId"].split("/")[-1]: stack
        for stack in stacks
        for resource in _resources(account, stack)
        if resource["ResourceType"] == "AWS::IAM::Role" and resource.get("PhysicalResourceId")
    }


@pytest.mark.parametrize("level", LAYOUT, ids=lambda level: level.name)
def test_each_account_holds_exactly_its_levels_stacks(mapped: MappedLayout, level: Level) -> None:
    stacks = _active_stacks(level.account)
    names = {s["StackName"] for s in stacks}
    resources = [(s["StackName"], r) for s in stacks for r in _resources(level.account, s["StackName"])]
    failed = {f"{stack}/{r['LogicalResourceId']}": r["ResourceStatus"] for stack, r in resources
              if any(state in r["ResourceStatus"] for state in FAILED_STATES)}  # fmt: skip
    pretended = sorted({f"{stack}: {r['ResourceType']}" for stack, r in resources if emulated_only(r)})
    report(
        f"account {level.account} ({level.name}) stacks: {', '.join(sorted(names))}; {len(resources)} resources, "
        f"failed: {failed or 'none'}; emulated-only (not counted as passed): {'; '.join(pretended) or 'none'}"
    )
    assert names == expected_stacks(level)
    assert all(f":{level.account}:stack/" in s["StackId"] for s in stacks)
    assert all(s["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE") for s in stacks), stacks
    assert failed == {}


def test_no_account_holds_another_levels_stacks_and_the_default_account_none_of_them(mapped: MappedLayout) -> None:
    """Environment stacks and toolkit stacks appear in exactly one mapped account each; the default account of the
    other checks received no CI stack and no mapped environment."""
    seen: dict[str, list[str]] = {}
    for level in LAYOUT:
        for name in {s["StackName"] for s in _active_stacks(level.account)}:
            seen.setdefault(name, []).append(level.account)
    shared = {name: accounts for name, accounts in seen.items() if len(accounts) > 1}
    # Only the two stacks every account has by design (one CI stack and one account stack per account) repeat.
    assert shared == {name: [level.account for level in LAYOUT] for name in ("SecureServerless-ci",
                                                                             "SecureServerless-account")}  # fmt: skip
    default = {s["StackName"] for s in _active_stacks(ACCOUNT)}
    mapped_only = {"SecureServerless-ci", "SecureServerless-dev", "SecureServerless-staging"}
    report(f"default account {ACCOUNT}: {', '.join(sorted(default)) or 'no stacks'}")
    assert default & mapped_only == set()


@pytest.mark.parametrize("level", LAYOUT, ids=lambda level: level.name)
def test_each_account_holds_exactly_its_levels_roles(mapped: MappedLayout, level: Level) -> None:
    """Every role of the account belongs to one of its stacks; the bootstrap roles are its own qualifier's, the CI
    roles its own level's, and every other role carries its level's permissions boundary."""
    account, qualifier = level.account, QUALIFIERS[level.name]
    stacks = sorted(expected_stacks(level))
    roles = {role["RoleName"]: role for role in _roles(account)}
    owners = _physical_roles(account, stacks)
    assert set(roles) == set(owners), "roles that no stack of this account holds, or missing"
    assert all(f"::{account}:role/" in role["Arn"] for role in roles.values())
    bootstrap = {name for name, stack in owners.items() if stack.startswith("CDKToolkit-")}
    assert bootstrap and all(name.startswith(f"cdk-{qualifier}-") and name.endswith(f"-{account}-{REGION}")
                             for name in bootstrap), bootstrap  # fmt: skip
    other_qualifiers = [q for name, q in QUALIFIERS.items() if name != level.name]
    assert not [name for name in roles if any(f"-{q}-" in name for q in other_qualifiers)]
    ci = {name.removeprefix(CI_ROLE_PREFIX) for name, stack in owners.items() if stack == "SecureServerless-ci"}
    assert ci == CI_ROLES[level.name]
    boundary = f"arn:aws:iam::{account}:policy/secure-serverless-{qualifier}-boundary"
    iam = clients(account).iam
    # The CI roles are an administrator's (deployed with its credentials), the toolkit's roles CDK's own; every other
    # role, and the toolkit's CloudFormation execution role, carries the level's boundary.
    bounded = [
        name
        for name, stack in owners.items()
        if stack not in ("SecureServerless-ci", f"CDKToolkit-{qualifier}")
        or name.startswith(f"cdk-{qualifier}-cfn-exec")
    ]
    unbounded = sorted(
        name
        for name in bounded
        if (iam.get_role(RoleName=name)["Role"].get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        != boundary
    )
    policies = sorted(
        p["PolicyName"]
        for page in iam.get_paginator("list_policies").paginate(Scope="Local")
        for p in page["Policies"]
        if p["PolicyName"].startswith("secure-serverless-")
    )
    report(
        f"account {account} ({level.name}) roles: {len(roles)} ({len(bootstrap)} bootstrap {qualifier}, CI: "
        f"{', '.join(sorted(ci))}); without the {qualifier} boundary: {unbounded or 'none'}; policies: "
        f"{', '.join(policies)}"
    )
    assert unbounded == []
    assert policies and all(p.startswith(f"secure-serverless-{qualifier}-") for p in policies)
    buckets = [b["Name"] for b in clients(account).s3.list_buckets()["Buckets"] if b["Name"].startswith("cdk-")]
    assert buckets == [f"cdk-{qualifier}-assets-{account}-{REGION}"]


@pytest.mark.parametrize("level", LAYOUT, ids=lambda level: level.name)
def test_ci_roles_trust_only_their_levels_environments_and_reach_only_their_own_bootstrap(
    mapped: MappedLayout, level: Level
) -> None:
    """Read back from IAM: each CI role's trust names this account's OIDC provider and one of its level's GitHub
    subjects; every role it may assume is a bootstrap role of this account and qualifier."""
    account, qualifier = level.account, QUALIFIERS[level.name]
    iam = clients(account).iam
    subjects: set[str] = set()
    assumable: set[str] = set()
    # LocalStack's community edition only pretends to create AWS::IAM::OIDCProvider ("deployed as a fallback", Ref =
    # "unknown"): then the trust can only be seen to name the CI stack's own provider resource, not an ARN.
    (provider,) = [
        r for r in _resources(account, "SecureServerless-ci") if r["ResourceType"] == "AWS::IAM::OIDCProvider"
    ]
    if emulated_only(provider):
        federated = "unknown"
        report(f"account {account} ({level.name}): the OIDC provider is emulated-only; the trusts name its Ref")
    else:
        federated = f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"
    for name in sorted(CI_ROLES[level.name]):
        role = iam.get_role(RoleName=f"{CI_ROLE_PREFIX}{name}")["Role"]
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        for statement in trust["Statement"]:
            assert statement["Principal"]["Federated"] == federated
            subject = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
            subjects.add(subject.split(":", 2)[2])
        for policy in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy)["PolicyDocument"]
            document = json.loads(document) if isinstance(document, str) else document
            for statement in document["Statement"]:
                if "sts:AssumeRole" in statement["Action"]:
                    resources = statement["Resource"]
                    assumable.update([resources] if isinstance(resources, str) else resources)
    report(f"account {account} ({level.name}) CI trusts: {', '.join(sorted(subjects))}; may assume: "
           f"{', '.join(sorted(a.split('/')[-1] for a in assumable))}")  # fmt: skip
    assert subjects == SUBJECTS[level.name]
    assert assumable and all(
        a.startswith(f"arn:aws:iam::{account}:role/cdk-{qualifier}-") and a.endswith(f"-{account}-{REGION}")
        for a in assumable
    ), assumable


@pytest.mark.parametrize("level", LAYOUT, ids=lambda level: level.name)
def test_each_environment_went_through_its_own_levels_bootstrap(mapped: MappedLayout, level: Level) -> None:
    """The deployed template checks its own qualifier's bootstrap version, and its assets are in its own bucket.
    (Which execution role deployed it is not readable here: the emulator's DescribeStacks returns no RoleARN; the
    cloud assembly's is checked in tests/stacks/test_ci_stack.py.)"""
    account, qualifier = level.account, QUALIFIERS[level.name]
    stack = f"SecureServerless-{level.environment}"
    described = clients(account).cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in described.get("Parameters", [])}
    assert parameters.get("BootstrapVersion") == f"/cdk-bootstrap/{qualifier}/version"
    assets = json.loads((mapped.out_dir / f"{stack}.assets.json").read_text())
    keys = {
        destination["objectKey"]
        for asset in assets.get("files", {}).values()
        for destination in asset["destinations"].values()
    }
    bucket = f"cdk-{qualifier}-assets-{account}-{REGION}"
    stored = {
        o["Key"]
        for page in clients(account).s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }
    report(f"{stack} in {account}: bootstrap {qualifier}, {len(keys & stored)}/{len(keys)} assets in {bucket}")
    assert keys and keys <= stored
