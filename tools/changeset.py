#!/usr/bin/env python3
"""Prod's approval sees what it approves: `plan` creates a CloudFormation change set from the verified assembly (its
template already published by `cdk publish-assets`), writes the change list into the job summary (escaped) and
outputs the change set's ARN; `execute`, after the environment's approval, executes exactly that ARN, and only if it
is still unexecuted and carries the digest of the assembly that was built. The plan role may create change sets but
not execute them; the approved role may execute but not create (stacks/ci_stack.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from tools.summary import escape_block

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


class ChangeSetError(Exception):
    """A change set that must not be executed, or a deploy that failed (the message names the stack)."""


def description(digest: str) -> str:
    return f"secure-serverless assembly sha256 {digest}"


def stack_properties(assembly: Path, stack: str, account: str, region: str, partition: str = "aws") -> dict[str, Any]:
    """The stack's template URL, execution role and tags from the assembly manifest, placeholders filled in."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    properties: dict[str, Any] = manifest["artifacts"][stack]["properties"]
    text = json.dumps(properties)
    for name, value in {"${AWS::AccountId}": account, "${AWS::Region}": region, "${AWS::Partition}": partition}.items():
        text = text.replace(name, value)
    resolved: dict[str, Any] = json.loads(text)
    bucket_key = resolved["stackTemplateAssetObjectUrl"].removeprefix("s3://")
    bucket, key = bucket_key.split("/", 1)
    return {
        "template_url": f"https://{bucket}.s3.{region}.amazonaws.com/{key}",
        "role_arn": resolved.get("cloudFormationExecutionRoleArn"),
        "tags": [{"Key": k, "Value": v} for k, v in sorted(resolved.get("tags", {}).items())],
        "stack_name": resolved.get("stackName", stack),
    }


def _stack_exists(cloudformation: Any, stack_name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return bool(stacks) and stacks[0]["StackStatus"] != "REVIEW_IN_PROGRESS"


def change_lines(cloudformation: Any, arn: str) -> list[str]:
    lines = []
    for page in cloudformation.get_paginator("describe_change_set").paginate(ChangeSetName=arn):
        for change in page.get("Changes", []):
            rc = change.get("ResourceChange", {})
            lines.append(
                f"{rc.get('Action', '?'):<8} {rc.get('LogicalResourceId', '?')} ({rc.get('ResourceType', '?')})"
                + (f" replacement={rc['Replacement']}" if rc.get("Replacement") else "")
            )
    return lines


def plan(cloudformation: Any, props: dict[str, Any], name: str, digest: str) -> tuple[str, list[str]]:
    """Create the change set and wait for it; returns its ARN and the change list."""
    stack_name = props["stack_name"]
    kwargs: dict[str, Any] = {
        "StackName": stack_name,
        "ChangeSetName": name,
        "TemplateURL": props["template_url"],
        "ChangeSetType": "UPDATE" if _stack_exists(cloudformation, stack_name) else "CREATE",
        "Capabilities": CAPABILITIES,
        "Tags": props["tags"],
        "Description": description(digest),
    }
    if props.get("role_arn"):
        kwargs["RoleARN"] = props["role_arn"]
    arn = cloudformation.create_change_set(**kwargs)["Id"]
    cloudformation.get_waiter("change_set_create_complete").wait(
        ChangeSetName=arn, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
    )
    return arn, change_lines(cloudformation, arn)


def execute(cloudformation: Any, arn: str, stack_name: str, digest: str) -> None:
    """Execute exactly `arn` if it is the approved, unexecuted change set of `stack_name` for `digest`."""
    found = cloudformation.describe_change_set(ChangeSetName=arn)
    if found.get("StackName") != stack_name:
        raise ChangeSetError(f"change set {arn} belongs to {found.get('StackName')}, not {stack_name}")
    if found.get("Description") != description(digest):
        raise ChangeSetError(f"change set {arn} of {stack_name} was not planned from assembly sha256 {digest}")
    if found.get("Status") != "CREATE_COMPLETE" or found.get("ExecutionStatus") != "AVAILABLE":
        raise ChangeSetError(
            f"change set {arn} of {stack_name} is {found.get('Status')}/{found.get('ExecutionStatus')}, not executable"
        )
    created = not _stack_exists(cloudformation, stack_name)
    cloudformation.execute_change_set(ChangeSetName=arn)
    waiter = "stack_create_complete" if created else "stack_update_complete"
    try:
        cloudformation.get_waiter(waiter).wait(StackName=stack_name, WaiterConfig={"Delay": 10, "MaxAttempts": 360})
    except Exception as error:  # botocore WaiterError: the stack rolled back or failed
        raise ChangeSetError(f"deploy of {stack_name} failed: {error}") from error


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--assembly", type=Path, required=True)
    p.add_argument("--stack", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--digest", required=True)
    e = sub.add_parser("execute")
    e.add_argument("--stack", required=True)
    e.add_argument("--change-set", required=True)
    e.add_argument("--digest", required=True)
    args = parser.parse_args(argv)
    session = boto3.Session()
    cloudformation = session.client("cloudformation")
    try:
        if args.command == "plan":
            account = session.client("sts").get_caller_identity()["Account"]
            region = session.region_name or "us-east-1"
            props = stack_properties(
                args.assembly, args.stack, account, region, session.get_partition_for_region(region)
            )
            arn, lines = plan(cloudformation, props, args.name, args.digest)
            _append(
                os.environ.get("GITHUB_STEP_SUMMARY"),
                escape_block(f"Change set {args.name} of {props['stack_name']}", "\n".join(lines) or "(no changes)"),
            )
            _append(os.environ.get("GITHUB_OUTPUT"), f"change-set={arn}\n")
            print(arn)
        else:
            execute(cloudformation, args.change_set, args.stack, args.digest)
            print(f"executed {args.change_set}")
    except ChangeSetError as error:
        print(f"::error::{error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
