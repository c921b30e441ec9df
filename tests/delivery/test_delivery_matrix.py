"""The delivery path, proved by a real IAM policy evaluation engine (tests/support/iam_eval): which GitHub token can
assume which CI role, which bootstrap roles each CI role can assume, and what a preview's execution role can do to
prod. Every cell is asserted; weakened policies must flip cells (each row can fail); docs/deploying.md shows the
generated tables (`make delivery-matrix`) and this test fails when they drift."""

from __future__ import annotations

import copy

import pytest

from tests.support import delivery_eval, delivery_matrix
from tests.support.iam_eval import Policy, Request, ctx_str, evaluate
from tools import bootstrap

TOKENS = [t.label for t in delivery_matrix.tokens(delivery_eval._context())]
# token -> the CI roles (by column) it may assume; every other (token, role) pair must be denied.
EXPECTED_TRUST = {
    "pull request (no environment)": {"pull-request-diff (one account)", "pull-request-diff (3 accounts: preview)"},
    "pull request in environment preview": {
        "preview (one account)",
        "preview-cleanup (one account)",
        "preview (3 accounts: preview)",
        "preview-cleanup (3 accounts: preview)",
    },
    "a fork's pull request": set(),
    "another repository, environment prod, its main": set(),
    "branch workflow naming environment staging": set(),
    "name-only subject, environment prod, main": set(),
    "environment prod, no job_workflow_ref claim": set(),
    "main workflow, environment staging": {"staging (one account)", "staging (3 accounts: staging)"},
    "main workflow, environment prod-plan": {"prod-plan (one account)", "prod-plan (3 accounts: prod)"},
    "main workflow, environment prod": {"prod (one account)", "prod (3 accounts: prod)"},
    "sweeper on main, environment preview-sweeper": {
        "preview-sweeper (one account)",
        "preview-sweeper (3 accounts: preview)",
    },
}
LEVELS = {
    "preview": "preview",
    "pull-request-diff": "preview",
    "staging": "staging",
    "prod-plan": "prod",
    "prod": "prod",
}


@pytest.fixture(scope="module")
def trust() -> dict[tuple[str, str], bool]:
    return delivery_eval.trust_matrix()[2]


def test_every_token_reaches_exactly_its_roles(trust: dict[tuple[str, str], bool]) -> None:
    assert set(EXPECTED_TRUST) == set(TOKENS)
    columns = {column for _, column in trust}
    assert len(columns) == 14  # 3 roles (one account) + 4 preview roles (ciPreviews=true) + 7 (3 accounts)
    for token in TOKENS:
        granted = {column for column in columns if trust[(token, column)]}
        assert granted == EXPECTED_TRUST[token], token


def test_nothing_from_a_pull_request_or_a_branch_reaches_an_account_with_staging_or_prod(
    trust: dict[tuple[str, str], bool],
) -> None:
    untrusted = [t for t in TOKENS if t.startswith(("pull request", "a fork", "branch", "another"))]
    guarded = [c for _, c in trust if "3 accounts: staging" in c or "3 accounts: prod" in c]
    guarded += [c for _, c in trust if c in ("staging (one account)", "prod-plan (one account)", "prod (one account)")]
    assert guarded
    for token in untrusted:
        for column in guarded:
            assert trust[(token, column)] is False, (token, column)


@pytest.fixture(scope="module")
def assume() -> dict[tuple[str, str], bool]:
    return delivery_eval.assume_matrix()[2]


def test_ci_roles_assume_only_their_own_levels_bootstrap_roles(assume: dict[tuple[str, str], bool]) -> None:
    kinds = {
        "pull-request-diff": {"lookup"},
        "preview": {"deploy", "file-publishing", "lookup"},
        "preview-cleanup": set(),
        "preview-sweeper": {"deploy", "lookup"},
        "staging": {"deploy", "file-publishing", "lookup"},
        "prod-plan": {"file-publishing", "lookup"},
        "prod": {"lookup"},
    }
    roles = {role for role, _ in assume}
    assert len(roles) == 14
    for role in roles:
        name, layout = role.split(" (", 1)
        layout = "one account" if layout.startswith("one account") else "3 accounts"
        level = LEVELS.get(name, "preview")
        expected = {f"{level} {kind} ({layout})" for kind in kinds[name]}
        granted = {target for (r, target), ok in assume.items() if r == role and ok}
        assert granted == expected, role


@pytest.fixture(scope="module")
def execution() -> dict[tuple[str, str], bool]:
    return delivery_eval.execution_matrix()[2]


def test_a_preview_execution_role_cannot_touch_prod_in_its_own_account_nor_escalate(
    execution: dict[tuple[str, str], bool],
) -> None:
    for (row, column), ok in execution.items():
        if row == "a role with the boundary: iam:CreateRole":
            assert ok, (row, column)  # a preview's own roles can be created, with the boundary
        elif column == "3 accounts" or "stack" in row or "role:" in row or "without the boundary" in row:
            assert not ok, (row, column)
        else:
            # One account with previews on: prod's bucket, table and key are within reach (documented blast radius).
            assert ok, (row, column)
    assert len(execution) == 22


# --- each row can fail: weakened policies flip it ------------------------------------------------------------------
def _trust_decision(document: dict, token_label: str, role_account: str = "999999999999") -> bool:
    (token,) = [t for t in delivery_matrix.tokens(delivery_eval._context()) if t.label == token_label]
    request = Request(
        "r",
        f"arn:aws:iam::{role_account}:oidc-provider/token.actions.githubusercontent.com",
        "sts:AssumeRoleWithWebIdentity",
        f"arn:aws:iam::{role_account}:role/x",
        context={k: ctx_str(v) for k, v in token.context().items()},
        resource_policy="t",
        resource_account=role_account,
    )
    return evaluate([Policy("t", "trust", document)], [request])[0].allowed


def test_the_workflow_pin_and_the_immutable_subject_decide() -> None:
    (staging,) = [r for r in delivery_eval.ci_roles() if r.column == "staging (one account)"]
    assert _trust_decision(staging.trust, "main workflow, environment staging")
    assert not _trust_decision(staging.trust, "branch workflow naming environment staging")
    weakened = copy.deepcopy(staging.trust)
    del weakened["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:job_workflow_ref"]
    assert _trust_decision(weakened, "branch workflow naming environment staging")  # the pin is what refused it
    (prod,) = [r for r in delivery_eval.ci_roles() if r.column == "prod (one account)"]
    named = copy.deepcopy(prod.trust)
    named["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] = (
        delivery_matrix.tokens(delivery_eval._context())[5].sub
    )
    assert _trust_decision(named, "name-only subject, environment prod, main")


def test_the_boundary_is_what_refuses_changing_a_ci_role_and_a_role_without_it() -> None:
    account, q = "999999999999", "hnb659fds"
    principal = f"arn:aws:sts::{account}:assumed-role/cdk-{q}-cfn-exec-role-{account}-eu-west-1/cfn"
    policies = [Policy(f"e{i}", "identity", d) for i, d in enumerate(bootstrap.shipped_execution_policies())]
    boundary = bootstrap.boundary_policy(q, account, "eu-west-1")
    weak = copy.deepcopy(boundary)
    weak["Statement"] = [
        s for s in weak["Statement"] if s["Sid"] not in ("NoChangeToBootstrapOrCiRoles", "NoRoleWithoutThisBoundary")
    ]
    policies += [Policy("boundary", "boundary", boundary), Policy("weak", "boundary", weak)]
    requests = []
    for name in ("boundary", "weak"):
        for action, resource in (
            ("iam:PutRolePolicy", f"arn:aws:iam::{account}:role/secure-serverless-ci-prod"),
            ("iam:CreateRole", f"arn:aws:iam::{account}:role/SecureServerless-pr-7-SomeRole"),
        ):
            requests.append(
                Request(
                    f"{name}/{action}",
                    principal,
                    action,
                    resource,
                    identity_policies=tuple(p.name for p in policies if p.kind == "identity"),
                    permission_boundaries=(name,),
                    resource_account=account,
                )
            )
    decisions = {d.id: d for d in evaluate(policies, requests)}
    assert decisions["boundary/iam:PutRolePolicy"].result == "ExplicitlyDenied"
    assert decisions["boundary/iam:CreateRole"].result == "ExplicitlyDenied"
    assert decisions["weak/iam:PutRolePolicy"].allowed and decisions["weak/iam:CreateRole"].allowed


def test_the_docs_show_the_generated_tables() -> None:
    text = delivery_matrix.DOCS.read_text()
    start, end = text.index(delivery_matrix.START), text.index(delivery_matrix.END)
    shown = text[start + len(delivery_matrix.START) : end].strip()
    assert shown == delivery_eval.render().strip(), (
        "docs/deploying.md's delivery matrix drifted: run `make delivery-matrix`"
    )
