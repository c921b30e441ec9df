"""What the operator tools need to know about one deployed environment: the stack's outputs, by name.

`SecureServerless-<ENV>` publishes BucketName, TableName, PipelineBufferUrl and PipelineDeadLetterQueueUrl;
`--bucket`/`--table`/`--buffer-url`/`--dlq-url` on each tool override them (say, for a stack under another name).
"""

from __future__ import annotations

import argparse
from typing import Any

import boto3


class ToolError(Exception):
    """A usage, lookup or AWS problem: reported on stderr with exit status 2."""


def tool_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """A tool's parser: the docstring's first paragraph as description, the rest as epilog, the common arguments."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=doc.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc.split("\n\n", 1)[1],
    )
    add_common_arguments(parser)
    return parser


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env", metavar="ENV", help="environment suffix: the stack is SecureServerless-ENV")
    parser.add_argument("--region", help="AWS region (default: the credential chain's)")
    parser.add_argument("--profile", help="named AWS profile (default: the credential chain's)")
    parser.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")


def session(args: argparse.Namespace) -> boto3.Session:
    return boto3.Session(profile_name=args.profile, region_name=args.region)


def outputs(cloudformation: Any, env: str) -> dict[str, str]:
    """The stack's outputs as {OutputKey: OutputValue}."""
    name = f"SecureServerless-{env}"
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except Exception as error:  # noqa: BLE001 - any lookup failure is reported the same way
        raise ToolError(f"cannot read stack {name!r}: {error}") from error
    return {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}


def resolve(args: argparse.Namespace, cloudformation: Any, wanted: dict[str, str]) -> dict[str, str]:
    """{argument name: value} for `wanted` ({argument name: output key}), flags first, then the stack's outputs."""
    given = {name: getattr(args, name) for name in wanted if getattr(args, name, None)}
    if len(given) == len(wanted):
        return given
    found = outputs(cloudformation, args.env)
    for name, key in wanted.items():
        if name not in given:
            if key not in found:
                raise ToolError(
                    f"stack SecureServerless-{args.env} has no output {key!r}; pass --{name.replace('_', '-')}"
                )
            given[name] = found[key]
    return given
