#!/usr/bin/env python3
"""The scheduled sweeper (`make sweep`, main's sweep-previews workflow): destroy every SecureServerless-pr-<n> stack
whose pull request is closed. It catches what the pull-request workflow misses: a pull request closed while it had a
merge conflict runs no workflow, and a destroy that failed once is retried here. A destroy that fails makes the run
fail and names the stack."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

PREVIEW_STACK = re.compile(r"^SecureServerless-pr-([1-9][0-9]{0,9})$")
GONE = {"DELETE_COMPLETE"}


def preview_stacks(cloudformation: Any) -> dict[int, str]:
    """Pull-request number -> stack name of every preview stack that still exists."""
    found: dict[int, str] = {}
    for page in cloudformation.get_paginator("list_stacks").paginate():
        for summary in page["StackSummaries"]:
            match = PREVIEW_STACK.match(summary["StackName"])
            if match and summary["StackStatus"] not in GONE:
                found[int(match.group(1))] = summary["StackName"]
    return found


def pull_request_state(api: str, repository: str, number: int, token: str) -> str:
    """'open' or 'closed', from GitHub's REST API (GET /repos/{owner}/{repo}/pulls/{number})."""
    request = urllib.request.Request(
        f"{api}/repos/{repository}/pulls/{number}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the API base is configuration
        state: str = json.load(response)["state"]
    return state


def sweep(
    stacks: dict[int, str], state_of: Callable[[int], str], destroy: Callable[[str], bool]
) -> tuple[list[str], list[str]]:
    """Destroy the stacks of closed pull requests; returns (destroyed, failed) stack names."""
    destroyed, failed = [], []
    for number, stack in sorted(stacks.items()):
        if state_of(number) != "closed":
            continue
        (destroyed if destroy(f"pr-{number}") else failed).append(stack)
    return destroyed, failed


def make_destroy(command: Iterable[str]) -> Callable[[str], bool]:
    def destroy(environment: str) -> bool:
        return subprocess.run([*command, f"ENV={environment}"], check=False).returncode == 0

    return destroy


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", default=os.environ.get("GITHUB_REPOSITORY"), required=False)
    parser.add_argument("--api", default=os.environ.get("GITHUB_API_URL", "https://api.github.com"))
    parser.add_argument("--destroy-command", default="make destroy", help="run with ENV=pr-<n> appended")
    args = parser.parse_args(argv)
    token = os.environ.get("GITHUB_TOKEN", "")
    if not args.repository or not token:
        print("sweep: needs --repository (or GITHUB_REPOSITORY) and GITHUB_TOKEN", file=sys.stderr)
        return 2
    stacks = preview_stacks(boto3.client("cloudformation"))
    destroyed, failed = sweep(
        stacks,
        lambda number: pull_request_state(args.api, args.repository, number, token),
        make_destroy(args.destroy_command.split()),
    )
    print(f"sweep: {len(stacks)} preview stacks; destroyed {destroyed or 'none'}")
    for stack in failed:
        print(f"::error::destroy of {stack} failed; it stays until the next sweep or a manual `make destroy`")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
