"""The delivery matrix: which GitHub OIDC tokens can assume which CI role, and what a preview's CloudFormation
execution role can do to prod's resources and to the stacks that guard the delivery path, decided by a real IAM
policy evaluation engine (tests/support/iam_eval, `@cloud-copilot/iam-simulate`; a test tool, AGPL, never shipped).

`make delivery-matrix` prints the tables; `--update-docs` writes them into docs/deploying.md between the markers, and
tests/delivery/test_delivery_matrix.py fails when the page and the evaluation drift.

Two layouts are synthesized: **one account** (no mapping: staging and prod roles, previews off) and **three accounts**
(dev and previews in 111111111111, staging in 222222222222, prod in 333333333333).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "deploying.md"
START, END = "<!-- delivery-matrix:start -->", "<!-- delivery-matrix:end -->"
HOST = "token.actions.githubusercontent.com"
REGION = "eu-west-1"
ONE_ACCOUNT = "999999999999"
PREVIEW_ACCOUNT, STAGING_ACCOUNT, PROD_ACCOUNT = "111111111111", "222222222222", "333333333333"
MAPPING = {
    "dev": {"account": PREVIEW_ACCOUNT, "region": REGION},
    "staging": {"account": STAGING_ACCOUNT, "region": REGION},
    "prod": {"account": PROD_ACCOUNT, "region": REGION},
}


@dataclass(frozen=True)
class Token:
    """The claims of one GitHub OIDC token that a trust policy can test."""

    label: str
    sub: str
    job_workflow_ref: str | None
    aud: str = "sts.amazonaws.com"

    def context(self) -> dict[str, str]:
        keys = {f"{HOST}:sub": self.sub, f"{HOST}:aud": self.aud}
        if self.job_workflow_ref is not None:
            keys[f"{HOST}:job_workflow_ref"] = self.job_workflow_ref
        return keys


def tokens(context: Mapping[str, Any]) -> list[Token]:
    """The tokens of the table, for the repository named in cdk.json."""
    owner, name = context["ciRepository"].split("/")
    repo = f"repo:{owner}@{context['ciRepositoryOwnerId']}/{name}@{context['ciRepositoryId']}"
    workflow = f"{owner}/{name}/.github/workflows"
    main = f"{workflow}/main.yml@refs/heads/main"
    pr_ref = f"{workflow}/pull-request.yml@refs/pull/7/merge"
    return [
        Token("pull request (no environment)", f"{repo}:pull_request", pr_ref),
        Token("pull request in environment preview", f"{repo}:environment:preview", pr_ref),
        Token(
            "a fork's pull request",
            f"repo:someone@4242/{name}@4343:pull_request",
            f"someone/{name}/x@refs/pull/7/merge",
        ),
        Token(
            "another repository, environment prod, its main",
            f"repo:{owner}@{context['ciRepositoryOwnerId']}/other@8888:environment:prod",
            f"{owner}/other/.github/workflows/main.yml@refs/heads/main",
        ),
        Token(
            "branch workflow naming environment staging",
            f"{repo}:environment:staging",
            f"{workflow}/main.yml@refs/heads/feature",
        ),
        Token("name-only subject, environment prod, main", f"repo:{owner}/{name}:environment:prod", main),
        Token("environment prod, no job_workflow_ref claim", f"{repo}:environment:prod", None),
        Token("main workflow, environment staging", f"{repo}:environment:staging", main),
        Token("main workflow, environment prod-plan", f"{repo}:environment:prod-plan", main),
        Token("main workflow, environment prod", f"{repo}:environment:prod", main),
        Token(
            "sweeper on main, environment preview-sweeper",
            f"{repo}:environment:preview-sweeper",
            f"{workflow}/sweep-previews.yml@refs/heads/main",
        ),
    ]


def ci_roles(template: Mapping[str, Any], account: str) -> dict[str, dict[str, Any]]:
    """Role name -> {arn, trust} of a synthesized CI stack, with the OIDC provider's Ref resolved for `account`."""
    provider = f"arn:aws:iam::{account}:oidc-provider/{HOST}"
    roles = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        properties = resource["Properties"]
        trust = json.loads(json.dumps(properties["AssumeRolePolicyDocument"]))
        for statement in trust["Statement"]:
            if isinstance(statement["Principal"].get("Federated"), dict):
                statement["Principal"]["Federated"] = provider
        roles[properties["RoleName"]] = {
            "arn": f"arn:aws:iam::{account}:role/{properties['RoleName']}",
            "trust": trust,
            "account": account,
        }
    return roles


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def replace_between_markers(text: str, table: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[:start] + "\n" + table + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update-docs", action="store_true", help=f"write the tables into {DOCS.name}")
    args = parser.parse_args(argv)
    from tests.support.delivery_eval import render

    table = render()
    if args.update_docs:
        DOCS.write_text(replace_between_markers(DOCS.read_text(), table))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
