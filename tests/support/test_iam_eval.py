"""The IAM evaluation driver decides like AWS on small known cases, each of which a wrong engine set-up would fail:
an Allow, an explicit Deny, an implicit deny, policy variables, a permission boundary, OIDC trust conditions, and
endpoint-policy principals. All requests go in ONE batch (one Node start-up)."""

from __future__ import annotations

import pytest

from tests.support.iam_eval import (
    ANONYMOUS,
    Decision,
    EvaluationError,
    Policy,
    Request,
    ctx_bool,
    ctx_list,
    ctx_str,
    evaluate,
    principal_context,
)

ACCOUNT = "111111111111"
OTHER = "222222222222"
ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/App/session"
BUCKET = "arn:aws:s3:::data"
ID_A = "us-east-1:aaaaaaaa-0000-0000-0000-000000000001"
ID_B = "us-east-1:bbbbbbbb-0000-0000-0000-000000000002"
POOL = "us-east-1:11111111-2222-3333-4444-555555555555"
GITHUB = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
COGNITO = "cognito-identity.amazonaws.com"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


POLICIES = [
    Policy(
        "reader",
        "identity",
        doc(
            {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{BUCKET}/*"},
            {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:GetObject", "Resource": f"{BUCKET}/secret/*"},
        ),
    ),
    Policy(
        "own-prefix",
        "identity",
        doc(
            {
                "Sid": "OwnPrefix",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{BUCKET}/uploads/${{cognito-identity.amazonaws.com:sub}}/*",
            },
            {
                "Sid": "OwnTeam",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{BUCKET}/teams/${{aws:PrincipalTag/team}}/*",
            },
        ),
    ),
    Policy(
        "bucket",
        "resource",
        doc(
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": [BUCKET, f"{BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ),
    ),
    Policy(
        "boundary", "boundary", doc({"Sid": "OnlyGet", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    ),
    Policy(
        "github-trust",
        "trust",
        doc(
            {
                "Sid": "Prod",
                "Effect": "Allow",
                "Principal": {"Federated": GITHUB},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                    "StringLike": {"token.actions.githubusercontent.com:sub": "repo:org@1/app@2:environment:prod"},
                },
            }
        ),
    ),
    Policy(
        "cognito-trust",
        "trust",
        doc(
            {
                "Effect": "Allow",
                "Principal": {"Federated": COGNITO},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {"cognito-identity.amazonaws.com:aud": POOL},
                    "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
                },
            }
        ),
    ),
    Policy(
        "endpoint",
        "endpoint",
        doc(
            {
                "Sid": "OwnAccountReads",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:GetObject",
                "Resource": f"{BUCKET}/*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
            },
            {
                "Sid": "OnlyAppWrites",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/App"},
                "Action": "s3:PutObject",
                "Resource": f"{BUCKET}/*",
            },
        ),
    ),
]

TLS = {"aws:SecureTransport": ctx_bool(True)}


def s3(rid: str, action: str, key: str, *, principal: str = ROLE, **kw: object) -> Request:
    kw.setdefault("context", TLS)
    if isinstance(principal, str):
        kw["context"] = {**principal_context(principal), **kw["context"]}  # type: ignore[dict-item]  # a Mapping
    kw.setdefault("resource_policy", "bucket")
    kw.setdefault("resource_account", ACCOUNT)
    return Request(rid, principal, action, f"{BUCKET}/{key}", **kw)  # type: ignore[arg-type]  # kw are Request fields


def web_identity(rid: str, trust: str, provider: str, context: dict) -> Request:
    return Request(
        rid,
        provider,
        "sts:AssumeRoleWithWebIdentity",
        f"arn:aws:iam::{ACCOUNT}:role/Deploy",
        context=context,
        resource_policy=trust,
        resource_account=ACCOUNT,
    )


def gh(sub: str, aud: str = "sts.amazonaws.com") -> dict:
    return {
        "token.actions.githubusercontent.com:sub": ctx_str(sub),
        "token.actions.githubusercontent.com:aud": ctx_str(aud),
    }


def cognito(aud: str, amr: list[str]) -> dict:
    return {"cognito-identity.amazonaws.com:aud": ctx_str(aud), "cognito-identity.amazonaws.com:amr": ctx_list(amr)}


REQUESTS = [
    s3("allow", "s3:GetObject", "a.txt", identity_policies=("reader",)),
    s3("identity-deny", "s3:GetObject", "secret/a.txt", identity_policies=("reader",)),
    s3("implicit", "s3:DeleteObject", "a.txt", identity_policies=("reader",)),
    s3(
        "tls-deny",
        "s3:GetObject",
        "a.txt",
        identity_policies=("reader",),
        context={"aws:SecureTransport": ctx_bool(False)},
    ),
    s3(
        "own-prefix",
        "s3:PutObject",
        f"uploads/{ID_A}/x",
        identity_policies=("own-prefix",),
        context={**TLS, "cognito-identity.amazonaws.com:sub": ctx_str(ID_A)},
    ),
    s3(
        "other-prefix",
        "s3:PutObject",
        f"uploads/{ID_B}/x",
        identity_policies=("own-prefix",),
        context={**TLS, "cognito-identity.amazonaws.com:sub": ctx_str(ID_A)},
    ),
    s3(
        "tag-own",
        "s3:GetObject",
        "teams/red/x",
        identity_policies=("own-prefix",),
        context={**TLS, "aws:PrincipalTag/team": ctx_str("red")},
    ),
    s3(
        "tag-other",
        "s3:GetObject",
        "teams/blue/x",
        identity_policies=("own-prefix",),
        context={**TLS, "aws:PrincipalTag/team": ctx_str("red")},
    ),
    s3("boundary-keeps", "s3:GetObject", "a.txt", identity_policies=("reader",), permission_boundaries=("boundary",)),
    s3("boundary-cuts", "s3:PutObject", "a.txt", identity_policies=("reader",), permission_boundaries=("boundary",)),
    web_identity("gh-prod", "github-trust", GITHUB, gh("repo:org@1/app@2:environment:prod")),
    web_identity("gh-staging", "github-trust", GITHUB, gh("repo:org@1/app@2:environment:staging")),
    web_identity("gh-aud", "github-trust", GITHUB, gh("repo:org@1/app@2:environment:prod", aud="other")),
    web_identity("cognito-auth", "cognito-trust", COGNITO, cognito(POOL, ["authenticated", "cognito-idp"])),
    web_identity("cognito-unauth", "cognito-trust", COGNITO, cognito(POOL, ["unauthenticated"])),
    web_identity("cognito-other-pool", "cognito-trust", COGNITO, cognito("us-east-1:other", ["authenticated"])),
    s3("vpce-read", "s3:GetObject", "a.txt", identity_policies=("reader",), endpoint_policies=("endpoint",)),
    s3("vpce-app-write", "s3:PutObject", "a.txt", identity_policies=("reader",), endpoint_policies=("endpoint",)),
    s3(
        "vpce-other-write",
        "s3:PutObject",
        "a.txt",
        principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/Other/s",
        identity_policies=("reader",),
        endpoint_policies=("endpoint",),
    ),
    s3(
        "vpce-foreign-read",
        "s3:GetObject",
        "a.txt",
        principal=f"arn:aws:sts::{OTHER}:assumed-role/App/s",
        identity_policies=("reader",),
        endpoint_policies=("endpoint",),
    ),
    s3("anonymous", "s3:GetObject", "a.txt", principal=ANONYMOUS),  # type: ignore[arg-type]  # the marker dict
]


@pytest.fixture(scope="module")
def decided() -> dict[str, Decision]:
    return {d.id: d for d in evaluate(POLICIES, REQUESTS)}


@pytest.mark.parametrize(
    ("rid", "result", "labels"),
    [
        ("allow", "Allowed", ("reader#Read",)),
        ("identity-deny", "ExplicitlyDenied", ("reader#NoSecrets",)),
        ("implicit", "ImplicitlyDenied", ()),
        ("tls-deny", "ExplicitlyDenied", ("bucket#TlsOnly",)),
        ("own-prefix", "Allowed", ("own-prefix#OwnPrefix",)),
        ("other-prefix", "ImplicitlyDenied", ()),
        ("tag-own", "Allowed", ("own-prefix#OwnTeam",)),
        ("tag-other", "ImplicitlyDenied", ()),
        ("boundary-keeps", "Allowed", ("reader#Read",)),
        ("boundary-cuts", "ImplicitlyDenied", ()),
        ("gh-prod", "Allowed", ("github-trust#Prod",)),
        ("gh-staging", "ImplicitlyDenied", ()),
        ("gh-aud", "ImplicitlyDenied", ()),
        ("cognito-auth", "Allowed", ("cognito-trust#1",)),
        ("cognito-unauth", "ImplicitlyDenied", ()),
        ("cognito-other-pool", "ImplicitlyDenied", ()),
        ("vpce-read", "Allowed", ("reader#Read", "endpoint#OwnAccountReads")),
        ("vpce-app-write", "Allowed", ("reader#Read", "endpoint#OnlyAppWrites")),
        ("vpce-other-write", "ImplicitlyDenied", ()),
        ("vpce-foreign-read", "ImplicitlyDenied", ()),
        ("anonymous", "ImplicitlyDenied", ()),
    ],
)
def test_known_decisions(decided: dict[str, Decision], rid: str, result: str, labels: tuple[str, ...]) -> None:
    decision = decided[rid]
    assert (decision.result, decision.labels) == (result, labels), decision


def test_implicit_deny_names_the_layer_without_an_allow(decided: dict[str, Decision]) -> None:
    assert decided["boundary-cuts"].blocked_by == ("pb",)
    assert decided["vpce-other-write"].blocked_by == ("vpce",)
    assert "endpoint" in decided["vpce-foreign-read"].missing
    assert "identity" not in decided["boundary-cuts"].missing


def test_untyped_context_is_refused() -> None:
    bad = Request("bad", ROLE, "s3:GetObject", f"{BUCKET}/a", context={"aws:SecureTransport": "true"})  # type: ignore[dict-item]  # the point
    with pytest.raises(EvaluationError, match="aws:SecureTransport"):
        evaluate(POLICIES, [bad])


def test_invalid_policy_is_refused() -> None:
    broken = Policy("broken", "identity", doc({"Effect": "Allow", "Action": "s3:GetObject"}))  # no Resource
    with pytest.raises(EvaluationError, match="broken"):
        evaluate([broken], [])
