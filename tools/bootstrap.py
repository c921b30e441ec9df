#!/usr/bin/env python3
"""`make bootstrap LEVEL=<preview|staging|prod>`: bootstrap one account and region for one trust level, least
privilege: its own qualifier (and toolkit stack `CDKToolkit-<qualifier>`), CloudFormation execution policies that this
project ships (bootstrap/cfn-execution-policy.json: exactly the handler permissions of the resource types its stacks
use) instead of AdministratorAccess, and a permissions boundary (bootstrap/permissions-boundary.json) that forbids
escalation: no role created or changed without the same boundary, no change to the bootstrap stack, the CI stack, the
bootstrap roles, the CI roles, the boundary or the execution policies.

Run with that account's administrator credentials. It creates or updates the managed policies
`secure-serverless-<qualifier>-cfn-exec-<n>` and `secure-serverless-<qualifier>-boundary`, then runs the pinned
`cdk bootstrap`. `python -m tools.bootstrap derive <template.json>...` prints the policies the templates need (what
`make bootstrap-policy` writes into bootstrap/cfn-execution-policy.json).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXECUTION_POLICY_FILE = ROOT / "bootstrap" / "cfn-execution-policy.json"
BOUNDARY_FILE = ROOT / "bootstrap" / "permissions-boundary.json"
MANAGED_POLICY_LIMIT = 6144  # characters of a managed policy document, whitespace not counted
HANDLERS = ("create", "read", "update", "delete")  # what CloudFormation calls for a resource during a deploy
SCHEMA_REGION = "us-east-1"
# Types CloudFormation handles itself (no handler permissions) and what a custom resource needs: CloudFormation invokes
# its provider function with the execution role.
NO_PERMISSIONS = {"AWS::CDK::Metadata"}
CUSTOM_RESOURCE_ACTIONS = ("lambda:InvokeFunction",)
# An IAM action name; the schemas also list a few that are not (AWS::S3::Bucket's "s3:REST.PUT.OBJECT", which IAM
# refuses in a policy: the evaluation engine's validator found it), left out.
_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


def resource_types(templates: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every resource type the templates declare that needs permissions (not CDK's metadata, which the CLI adds
    and tests leave out)."""
    types = {resource["Type"] for template in templates for resource in template.get("Resources", {}).values()}
    return types - NO_PERMISSIONS


def handler_actions(types: Iterable[str]) -> set[str]:
    """The IAM actions CloudFormation's handlers need to create, read, update and delete each type, from the resource
    provider schemas that cfn-lint bundles (offline)."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    actions: set[str] = set()
    for type_name in types:
        if type_name in NO_PERMISSIONS:
            continue
        if type_name.startswith("Custom::") or type_name == "AWS::CloudFormation::CustomResource":
            actions.update(CUSTOM_RESOURCE_ACTIONS)
            continue
        handlers = PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, type_name).schema.get("handlers", {})
        missing = [h for h in ("create", "delete") if h not in handlers]
        if missing:
            raise ValueError(f"{type_name}: the schema lists no {'/'.join(missing)} handler permissions")
        for handler in HANDLERS:
            actions.update(a for a in handlers.get(handler, {}).get("permissions", []) if _ACTION.match(a))
    return actions


def policy_size(document: Mapping[str, Any]) -> int:
    """Characters IAM counts against the managed-policy limit (whitespace is not counted)."""
    return len(json.dumps(document, separators=(",", ":")))


def execution_policies(actions: Iterable[str]) -> list[dict[str, Any]]:
    """Policy documents, each within the managed-policy limit, one statement per service (Resource '*': the
    execution role creates resources whose names CloudFormation chooses; the boundary removes what must never
    happen)."""
    by_service: dict[str, list[str]] = {}
    for action in sorted(set(actions)):
        if "*" in action or "?" in action:
            raise ValueError(f"wildcard action {action!r}")
        by_service.setdefault(action.split(":")[0], []).append(action)
    documents: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    for service, service_actions in sorted(by_service.items()):
        statement = {
            "Sid": "".join(part.capitalize() for part in service.replace("-", " ").split()),
            "Effect": "Allow",
            "Action": service_actions,
            "Resource": "*",
        }
        candidate = {"Version": "2012-10-17", "Statement": [*current, statement]}
        if current and policy_size(candidate) > MANAGED_POLICY_LIMIT - 200:  # room for a longer account id
            documents.append({"Version": "2012-10-17", "Statement": current})
            current = []
        current.append(statement)
    if current:
        documents.append({"Version": "2012-10-17", "Statement": current})
    for document in documents:
        if policy_size(document) > MANAGED_POLICY_LIMIT:
            raise ValueError(f"one service's actions exceed {MANAGED_POLICY_LIMIT} characters")
    return documents


def policy_names(qualifier: str, count: int) -> tuple[list[str], str]:
    """Names of the execution policies and of the boundary for one qualifier."""
    return [f"secure-serverless-{qualifier}-cfn-exec-{i + 1}" for i in range(count)], (
        f"secure-serverless-{qualifier}-boundary"
    )


def boundary_policy(qualifier: str, account: str, region: str, partition: str = "aws") -> dict[str, Any]:
    """The shipped boundary with this qualifier, account, region and partition filled in."""
    text = BOUNDARY_FILE.read_text()
    for name, value in {
        "${Qualifier}": qualifier,
        "${AWS::AccountId}": account,
        "${AWS::Region}": region,
        "${AWS::Partition}": partition,
    }.items():
        text = text.replace(name, value)
    document: dict[str, Any] = json.loads(text)
    document.pop("Comment", None)
    return document


def shipped_execution_policies() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = json.loads(EXECUTION_POLICY_FILE.read_text())["Policies"]
    return documents


def _upsert_policy(iam: Any, arn: str, name: str, document: Mapping[str, Any], description: str) -> None:
    body = json.dumps(document, separators=(",", ":"))
    try:
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    except iam.exceptions.NoSuchEntityException:
        iam.create_policy(PolicyName=name, PolicyDocument=body, Description=description)
        return
    if len(versions) >= 5:  # IAM keeps at most five versions: drop the oldest non-default one
        oldest = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])[0]
        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=body, SetAsDefault=True)


def bootstrap_command(
    qualifier: str, account: str, region: str, execution_arns: list[str], boundary_name: str
) -> list[str]:
    """The pinned `cdk bootstrap` for one trust level."""
    return [
        str(ROOT / "node_modules" / ".bin" / "cdk"),
        "bootstrap",
        f"aws://{account}/{region}",
        "--qualifier",
        qualifier,
        "--toolkit-stack-name",
        f"CDKToolkit-{qualifier}",
        "--cloudformation-execution-policies",
        ",".join(execution_arns),
        "--custom-permissions-boundary",
        boundary_name,
        "--termination-protection",
        "--no-notices",
    ]


def bootstrap(level: str, account: str | None, region: str, dry_run: bool = False) -> list[str]:
    """Create/update the policies and run `cdk bootstrap` for `level`; returns the command it ran (or would run)."""
    import boto3

    from stacks.app_builder import cdk_json_context
    from stacks.delivery import ci_settings_from_context

    context = cdk_json_context()
    qualifier = ci_settings_from_context(context.get).qualifiers[level]
    session = boto3.Session(region_name=region)
    account = account or session.client("sts").get_caller_identity()["Account"]
    partition = session.get_partition_for_region(region)
    documents = shipped_execution_policies()
    exec_names, boundary_name = policy_names(qualifier, len(documents))
    command = bootstrap_command(
        qualifier,
        account,
        region,
        [f"arn:{partition}:iam::{account}:policy/{name}" for name in exec_names],
        boundary_name,
    )
    if dry_run:
        return command
    iam = session.client("iam")
    for name, document in zip(exec_names, documents, strict=True):
        _upsert_policy(
            iam,
            f"arn:{partition}:iam::{account}:policy/{name}",
            name,
            document,
            f"secure-serverless {level}: what CloudFormation may do for this project's stacks",
        )
    _upsert_policy(
        iam,
        f"arn:{partition}:iam::{account}:policy/{boundary_name}",
        boundary_name,
        boundary_policy(qualifier, account, region, partition),
        f"secure-serverless {level}: permissions boundary of every role its deploys create",
    )
    with tempfile.TemporaryDirectory() as empty:  # outside the project: no app to synthesize first
        subprocess.run(command, cwd=empty, check=True)
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="create/update the policies, then cdk bootstrap (administrator credentials)")
    run.add_argument("--level", required=True, choices=("preview", "staging", "prod"))
    run.add_argument("--account", help="default: the credentials' account")
    run.add_argument("--region", required=True)
    run.add_argument("--dry-run", action="store_true", help="print the cdk bootstrap command only")
    derive = sub.add_parser("derive", help="print the execution policies the given templates need")
    derive.add_argument("templates", nargs="+", type=Path)
    derive.add_argument("--write", action="store_true", help=f"write them into {EXECUTION_POLICY_FILE.name}")
    args = parser.parse_args(argv)
    if args.command == "derive":
        templates = [json.loads(path.read_text()) for path in args.templates]
        types = resource_types(templates)
        shipped = {
            "Comment": "Generated by `make bootstrap-policy` (tools/bootstrap.py derive) from the synthesized "
            "templates; a test fails when it misses or exceeds what they need.",
            "ResourceTypes": sorted(types),
            "Policies": execution_policies(handler_actions(types)),
        }
        text = json.dumps(shipped, indent=1) + "\n"
        if args.write:
            EXECUTION_POLICY_FILE.write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    command = bootstrap(args.level, args.account, args.region, args.dry_run)
    print(" ".join(command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
