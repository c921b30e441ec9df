"""Evaluate the delivery path with the real IAM engine (tests/support/iam_eval): the CI roles' trust against GitHub
tokens, the CI roles' permission to assume each trust level's bootstrap roles (CDK's own bootstrap template with this
project's parameters), and what a preview's CloudFormation execution role (the shipped execution policies under the
preview boundary) can do to prod's bucket, table and key and to the CI and bootstrap stacks.

Everything is resolved from synthesized templates (tests/support/resolve.py) in two layouts: one account (no
mapping; previews enabled for the third table, to show what that costs) and three accounts (tests/support/
delivery_matrix.MAPPING).
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk

from stacks.app_builder import add_ci_stacks, cdk_json_context, synthesize
from stacks.delivery import ci_settings_from_context, parse_accounts
from tests.support.delivery_matrix import (
    MAPPING,
    ONE_ACCOUNT,
    PREVIEW_ACCOUNT,
    PROD_ACCOUNT,
    REGION,
    ROOT,
    STAGING_ACCOUNT,
    markdown,
    tokens,
)
from tests.support.iam_eval import Decision, Policy, Request, ctx_bool, ctx_str, evaluate, principal_context
from tests.support.resolve import Resolver, StandIns
from tools import bootstrap

LEVEL_ACCOUNT = {"preview": PREVIEW_ACCOUNT, "staging": STAGING_ACCOUNT, "prod": PROD_ACCOUNT}


@dataclass(frozen=True)
class Role:
    """A CI role as deployed: its layout, account, ARN, trust and inline identity policies (resolved)."""

    layout: str
    name: str
    account: str
    arn: str
    trust: dict[str, Any]
    identity: list[dict[str, Any]]

    @property
    def column(self) -> str:
        return f"{self.name.removeprefix('secure-serverless-ci-')} ({self.layout})"


def _context() -> dict[str, Any]:
    return cdk_json_context()


def _ci_templates(previews: bool) -> dict[str, tuple[str, dict[str, Any]]]:
    """Layout label -> (account, CI template) of each CI stack of both layouts (no environment stack is needed)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for layout, mapping in (("one account", {}), ("3 accounts", MAPPING)):
        context = {**_context(), **({"ciPreviews": "true"} if previews else {})}
        app = cdk.App(context=context, builtin_cloud_formation_validation=False)
        targets = parse_accounts(json.dumps(mapping) if mapping else None, {REGION})
        settings = ci_settings_from_context(app.node.try_get_context, separate_preview_account=bool(targets))
        add_ci_stacks(app, settings, targets)
        for artifact in app.synth().stacks:
            if not mapping:
                out[layout] = (ONE_ACCOUNT, artifact.template)
                continue
            level = next(lvl for lvl, acct in LEVEL_ACCOUNT.items() if acct == artifact.environment.account)
            out[f"{layout}: {level}"] = (artifact.environment.account, artifact.template)
    return out


def ci_roles(previews: bool = False) -> list[Role]:
    roles = []
    for layout, (account, template) in _ci_templates(previews).items():
        resolver = Resolver(template, StandIns(account=account, region=REGION, stack_name="SecureServerless-ci"))
        for _logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            properties = resolver.resolve(resource["Properties"])
            roles.append(
                Role(
                    layout=layout,
                    name=properties["RoleName"],
                    account=account,
                    arn=f"arn:aws:iam::{account}:role/{properties['RoleName']}",
                    trust=properties["AssumeRolePolicyDocument"],
                    identity=[p["PolicyDocument"] for p in properties.get("Policies", [])],
                )
            )
    return roles


def _cell(decision: Decision) -> str:
    return "**allowed**" if decision.allowed else "denied"


# --- table 1: which token can assume which CI role -----------------------------------------------------------------
@functools.cache
def trust_matrix() -> tuple[list[str], list[list[str]], dict[tuple[str, str], bool]]:
    context = _context()
    roles = ci_roles(previews=False) + [r for r in ci_roles(previews=True) if r.layout == "one account"]
    unique: dict[str, Role] = {}
    for role in roles:
        unique.setdefault(role.column, role)
    roles = list(unique.values())
    policies = [Policy(f"trust-{i}", "trust", role.trust) for i, role in enumerate(roles)]
    requests = []
    for t_index, token in enumerate(tokens(context)):
        for r_index, role in enumerate(roles):
            requests.append(
                Request(
                    f"{t_index}/{r_index}",
                    f"arn:aws:iam::{role.account}:oidc-provider/token.actions.githubusercontent.com",
                    "sts:AssumeRoleWithWebIdentity",
                    role.arn,
                    context={k: ctx_str(v) for k, v in token.context().items()},
                    resource_policy=f"trust-{r_index}",
                    resource_account=role.account,
                )
            )
    decisions = evaluate(policies, requests)
    allowed = {}
    rows = []
    for t_index, token in enumerate(tokens(context)):
        row = [token.label]
        for r_index, role in enumerate(roles):
            decision = decisions[t_index * len(roles) + r_index]
            allowed[(token.label, role.column)] = decision.allowed
            row.append(_cell(decision))
        rows.append(row)
    return ["token", *[r.column for r in roles]], rows, allowed


# --- table 2: which CI role can assume which bootstrap role --------------------------------------------------------
@functools.cache
def bootstrap_template() -> dict[str, Any]:
    """The pinned CLI's own bootstrap template (outside the project: no app synth)."""
    with tempfile.TemporaryDirectory() as empty:
        out = subprocess.run(
            [str(ROOT / "node_modules" / ".bin" / "cdk"), "bootstrap", "--show-template", "--json"],
            capture_output=True,
            text=True,
            check=True,
            cwd=empty,
            timeout=180,
        )
    template: dict[str, Any] = json.loads(out.stdout)
    return template


def bootstrap_roles(level: str, account: str) -> dict[str, dict[str, Any]]:
    """kind -> resolved properties of the bootstrap roles of `level` in `account`, with make bootstrap's
    parameters (qualifier, execution policies, boundary)."""
    qualifier = ci_settings_from_context(_context().get).qualifiers[level]
    names, boundary_name = bootstrap.policy_names(qualifier, len(bootstrap.shipped_execution_policies()))
    parameters = {
        "Qualifier": qualifier,
        "CloudFormationExecutionPolicies": [f"arn:aws:iam::{account}:policy/{n}" for n in names],
        "InputPermissionsBoundary": boundary_name,
        "TrustedAccounts": [],
        "TrustedAccountsForLookup": [],
    }
    resolver = Resolver(
        bootstrap_template(),
        StandIns(account=account, region=REGION, stack_name=f"CDKToolkit-{qualifier}", parameters=parameters),
    )
    kinds = {"DeploymentActionRole": "deploy", "FilePublishingRole": "file-publishing", "LookupRole": "lookup"}
    return {kind: resolver.resolve(bootstrap_template()["Resources"][lid]["Properties"]) for lid, kind in kinds.items()}


@functools.cache
def assume_matrix() -> tuple[list[str], list[list[str]], dict[tuple[str, str], bool]]:
    targets: list[tuple[str, str, str, str]] = []  # (column, layout, role arn, trust policy name)
    policies: list[Policy] = []
    layouts = {"one account": {lvl: ONE_ACCOUNT for lvl in LEVEL_ACCOUNT}, "3 accounts": LEVEL_ACCOUNT}
    for layout, accounts in layouts.items():
        for level, account in accounts.items():
            for kind, properties in bootstrap_roles(level, account).items():
                name = f"bootstrap-{layout}-{level}-{kind}"
                policies.append(Policy(name, "trust", properties["AssumeRolePolicyDocument"]))
                arn = f"arn:aws:iam::{account}:role/{properties['RoleName']}"
                targets.append((f"{level} {kind} ({layout})", layout, arn, name))
    roles = [r for r in ci_roles(previews=True) if r.layout == "one account"] + [
        r for r in ci_roles(previews=False) if r.layout != "one account"
    ]
    requests = []
    for r_index, role in enumerate(roles):
        for i, document in enumerate(role.identity):
            policies.append(Policy(f"ci-{r_index}-{i}", "identity", document))
        for t_index, (_, _layout, arn, trust) in enumerate(targets):
            requests.append(
                Request(
                    f"{r_index}/{t_index}",
                    f"arn:aws:sts::{role.account}:assumed-role/{role.name}/gha",
                    "sts:AssumeRole",
                    arn,
                    context=principal_context(f"arn:aws:sts::{role.account}:assumed-role/{role.name}/gha"),
                    identity_policies=tuple(f"ci-{r_index}-{i}" for i in range(len(role.identity))),
                    resource_policy=trust,
                    resource_account=arn.split(":")[4],
                )
            )
    decisions = evaluate(policies, requests)
    allowed: dict[tuple[str, str], bool] = {}
    rows = []
    for r_index, role in enumerate(roles):
        granted = []
        for t_index, (column, layout, _, _) in enumerate(targets):
            decision = decisions[r_index * len(targets) + t_index]
            allowed[(role.column, column)] = decision.allowed
            if decision.allowed:
                granted.append(column.removesuffix(f" ({layout})"))
        rows.append([role.column, ", ".join(granted) or "none"])
    return ["CI role", "bootstrap roles it can assume (every other one: denied)"], rows, allowed


# --- table 3: what a preview's execution role can do -----------------------------------------------------------------
@functools.cache
def prod_template() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        assembly = synthesize(["prod"], out, validation=False)
        template: dict[str, Any] = assembly.get_stack_by_name("SecureServerless-prod").template
    return template


def _prod_resources(account: str) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """name -> (ARN, resource policy) of prod's data bucket, records table and key, resolved for `account`."""
    template = prod_template()
    resolver = Resolver(template, StandIns(account=account, region=REGION, stack_name="SecureServerless-prod"))
    policies = {
        resolver.resolve(r["Properties"]["Bucket"]): resolver.resolve(r["Properties"]["PolicyDocument"])
        for r in template["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy"
    }
    buckets = [
        resolver.physical_name(lid) for lid, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"
    ]
    data = next(b for b in buckets if "logs" not in b)
    (table_id,) = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"]
    (key_id,) = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::KMS::Key"]
    key = template["Resources"][key_id]
    return {
        "bucket": (f"arn:aws:s3:::{data}", policies.get(data)),
        "table": (resolver.get_att(table_id, "Arn"), None),
        "key": (resolver.get_att(key_id, "Arn"), resolver.resolve(key["Properties"]["KeyPolicy"])),
    }


@functools.cache
def execution_matrix() -> tuple[list[str], list[list[str]], dict[tuple[str, str], bool]]:
    columns = {"one account (previews on)": ONE_ACCOUNT, "3 accounts": PREVIEW_ACCOUNT}
    prod_accounts = {"one account (previews on)": ONE_ACCOUNT, "3 accounts": PROD_ACCOUNT}
    qualifiers = ci_settings_from_context(_context().get).qualifiers
    policies: list[Policy] = []
    exec_names = []
    for i, document in enumerate(bootstrap.shipped_execution_policies()):
        policies.append(Policy(f"exec-{i}", "identity", document))
        exec_names.append(f"exec-{i}")
    rows_spec: list[tuple[str, str, str, str]] = [
        ("prod bucket: s3:PutBucketPolicy", "s3:PutBucketPolicy", "bucket", ""),
        ("prod bucket: s3:DeleteBucket", "s3:DeleteBucket", "bucket", ""),
        ("prod table: dynamodb:DeleteTable", "dynamodb:DeleteTable", "table", ""),
        ("prod key: kms:PutKeyPolicy", "kms:PutKeyPolicy", "key", ""),
        ("prod key: kms:ScheduleKeyDeletion", "kms:ScheduleKeyDeletion", "key", ""),
        ("prod CI stack: cloudformation:DeleteStack", "cloudformation:DeleteStack", "ci-stack", ""),
        ("prod bootstrap stack: cloudformation:UpdateStack", "cloudformation:UpdateStack", "bootstrap-stack", ""),
        ("prod's CI role: iam:PutRolePolicy", "iam:PutRolePolicy", "ci-role", ""),
        (
            "prod's bootstrap deploy role: iam:UpdateAssumeRolePolicy",
            "iam:UpdateAssumeRolePolicy",
            "bootstrap-role",
            "",
        ),
        ("a role without the boundary: iam:CreateRole", "iam:CreateRole", "role", "none"),
        ("a role with the boundary: iam:CreateRole", "iam:CreateRole", "role", "boundary"),
    ]
    requests = []
    for c_index, (column, account) in enumerate(columns.items()):
        prod_account = prod_accounts[column]
        q = qualifiers["preview"]
        principal = f"arn:aws:sts::{account}:assumed-role/cdk-{q}-cfn-exec-role-{account}-{REGION}/cfn"
        boundary_name = f"boundary-{c_index}"
        policies.append(Policy(boundary_name, "boundary", bootstrap.boundary_policy(q, account, REGION)))
        resources = _prod_resources(prod_account)
        for name, (_, document) in resources.items():
            if document is not None:
                policies.append(Policy(f"{name}-{c_index}", "resource", document))
        for r_index, (_, action, target, boundary) in enumerate(rows_spec):
            context = {**principal_context(principal), "aws:SecureTransport": ctx_bool(True)}
            resource_policy = None
            if target in resources:
                arn, document = resources[target]
                resource_policy = f"{target}-{c_index}" if document is not None else None
            elif target == "ci-stack":
                arn = f"arn:aws:cloudformation:{REGION}:{prod_account}:stack/SecureServerless-ci/1"
            elif target == "bootstrap-stack":
                arn = f"arn:aws:cloudformation:{REGION}:{prod_account}:stack/CDKToolkit-{qualifiers['prod']}/1"
            elif target == "ci-role":
                arn = f"arn:aws:iam::{prod_account}:role/secure-serverless-ci-prod"
            elif target == "bootstrap-role":
                arn = f"arn:aws:iam::{prod_account}:role/cdk-{qualifiers['prod']}-deploy-role-{prod_account}-{REGION}"
            else:
                arn = f"arn:aws:iam::{account}:role/SecureServerless-pr-7-SomeRole"
                if boundary == "boundary":
                    context["iam:PermissionsBoundary"] = ctx_str(
                        f"arn:aws:iam::{account}:policy/secure-serverless-{q}-boundary"
                    )
            requests.append(
                Request(
                    f"{c_index}/{r_index}",
                    principal,
                    action,
                    arn,
                    context=context,
                    identity_policies=tuple(exec_names),
                    resource_policy=resource_policy,
                    permission_boundaries=(boundary_name,),
                    resource_account=arn.split(":")[4] or prod_account,
                )
            )
    decisions = evaluate(policies, requests)
    allowed: dict[tuple[str, str], bool] = {}
    rows = []
    for r_index, (label, *_rest) in enumerate(rows_spec):
        row = [label]
        for c_index, column in enumerate(columns):
            decision = decisions[c_index * len(rows_spec) + r_index]
            allowed[(label, column)] = decision.allowed
            row.append(_cell(decision))
        rows.append(row)
    return ["preview execution role (execution policies + preview boundary)", *columns], rows, allowed


def render() -> str:
    parts = []
    header, rows, _ = trust_matrix()
    parts.append("**Which GitHub token can assume which CI role** (trust policies, `sts:AssumeRoleWithWebIdentity`):")
    parts.append(markdown(header, rows))
    header, rows, _ = assume_matrix()
    parts.append("**Which bootstrap roles each CI role can assume** (its policy and the bootstrap role's trust):")
    parts.append(markdown(header, rows))
    header, rows, _ = execution_matrix()
    parts.append("**What a preview's CloudFormation execution role can do** (prod's resources in prod's account):")
    parts.append(markdown(header, rows))
    return "\n\n".join(parts)


__all__ = ["assume_matrix", "execution_matrix", "render", "trust_matrix"]
