"""Decide IAM requests with a real evaluation engine (@cloud-copilot/iam-simulate, test-only, AGPL-3.0-or-later).

`evaluate(policies, requests)` sends one batch to `driver.mjs` in ONE Node process (start-up costs ~0.3 s, so batch
many requests per call) and returns one `Decision` per `Request`, in order. Policies are given once by name
(`Policy`) and referenced by name from the requests, so a batch of hundreds of requests over the same dozen policies
stays small. Context values are typed by the caller (`ctx_str`, `ctx_bool`, `ctx_list`, ...): the driver drops
nothing and infers nothing (see FIELD-NOTES, "IAM policy evaluation").

Endpoint-policy principals are matched by the driver itself (the core engine ignores them); see driver.mjs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DRIVER = Path(__file__).resolve().parent / "driver.mjs"
ROOT = DRIVER.parents[3]

PolicyKind = Literal["identity", "resource", "trust", "boundary", "endpoint", "session", "scp", "rcp"]
Result = Literal["Allowed", "ExplicitlyDenied", "ImplicitlyDenied"]
ANONYMOUS: dict[str, str] = {"type": "Anonymous"}


@dataclass(frozen=True)
class Policy:
    """A policy document under a name, validated by the driver for its kind."""

    name: str
    kind: PolicyKind
    document: Mapping[str, Any]


ContextValue = dict[str, Any]


def ctx_str(value: str) -> ContextValue:
    """A single-valued String (or Arn-compared) context value."""
    return {"type": "String", "value": value}


def ctx_arn(value: str) -> ContextValue:
    return {"type": "Arn", "value": value}


def ctx_bool(value: bool) -> ContextValue:
    return {"type": "Bool", "value": value}


def ctx_num(value: int | float) -> ContextValue:
    return {"type": "Numeric", "value": value}


def ctx_ip(value: str) -> ContextValue:
    return {"type": "IpAddress", "value": value}


def ctx_list(values: Sequence[str]) -> ContextValue:
    """A multi-valued String key (aws:CalledVia, cognito-identity.amazonaws.com:amr, ...)."""
    return {"type": "StringList", "value": list(values)}


def principal_context(principal: str) -> dict[str, ContextValue]:
    """The global keys AWS sets for an IAM principal (`aws:PrincipalArn`, `aws:PrincipalAccount`,
    `aws:PrincipalType`, `aws:userid` shape not modelled). The driver infers nothing, so callers add these
    explicitly; an assumed-role session's `aws:PrincipalArn` is its role's ARN, as in AWS."""
    parts = principal.split(":", 5)
    if len(parts) < 6 or not parts[4].isdigit():
        return {}
    partition, service, account, rest = parts[1], parts[2], parts[4], parts[5]
    out: dict[str, ContextValue] = {"aws:PrincipalAccount": ctx_str(account)}
    if service == "sts" and rest.startswith("assumed-role/"):
        role = rest.split("/")[1]
        out["aws:PrincipalArn"] = ctx_arn(f"arn:{partition}:iam::{account}:role/{role}")
        out["aws:PrincipalType"] = ctx_str("AssumedRole")
    else:
        out["aws:PrincipalArn"] = ctx_arn(principal)
        out["aws:PrincipalType"] = ctx_str(
            "Account" if rest == "root" else "User" if rest.startswith("user/") else "AssumedRole"
        )
    return out


@dataclass(frozen=True)
class ControlPolicies:
    org_identifier: str
    policies: tuple[str, ...]


@dataclass(frozen=True)
class Request:
    """One request: who (principal ARN, service principal, federated provider or ANONYMOUS), what, on what, with
    which context, and the names of the policies that apply to it."""

    id: str
    principal: str | Mapping[str, str]
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    identity_policies: tuple[str, ...] = ()
    resource_policy: str | None = None
    permission_boundaries: tuple[str, ...] = ()
    endpoint_policies: tuple[str, ...] = ()
    session_policy: str | None = None
    scps: tuple[ControlPolicies, ...] = ()
    rcps: tuple[ControlPolicies, ...] = ()
    resource_account: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "principal": dict(self.principal) if isinstance(self.principal, Mapping) else self.principal,
            "action": self.action,
            "resource": self.resource,
            "resourceAccount": self.resource_account,
            "context": dict(self.context),
            "identityPolicies": list(self.identity_policies),
            "resourcePolicy": self.resource_policy,
            "permissionBoundaries": list(self.permission_boundaries),
            "endpointPolicies": list(self.endpoint_policies),
            "sessionPolicy": self.session_policy,
            "scps": [{"orgIdentifier": c.org_identifier, "policies": list(c.policies)} for c in self.scps],
            "rcps": [{"orgIdentifier": c.org_identifier, "policies": list(c.policies)} for c in self.rcps],
        }


@dataclass(frozen=True)
class Statement:
    """A statement that decided a request: its policy's name and kind, effect, Sid and 1-based index."""

    policy: str
    kind: str
    effect: str
    sid: str | None
    index: int

    @property
    def label(self) -> str:
        """`policy#Sid` (or `policy#<index>` for a statement without a Sid)."""
        return f"{self.policy}#{self.sid if self.sid else self.index}"


@dataclass(frozen=True)
class Decision:
    id: str
    result: Result
    deciding: tuple[Statement, ...]
    blocked_by: tuple[str, ...]
    missing: tuple[str, ...]  # for an implicit deny: the layers without a matching Allow

    @property
    def allowed(self) -> bool:
        return self.result == "Allowed"

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(s.label for s in self.deciding)


class EvaluationError(RuntimeError):
    """The driver refused the batch (invalid policy, badly typed context) or crashed."""


def node_binary() -> str:
    """Node 22 from node_modules (the Makefile's PATH), else the first `node` on PATH."""
    local = ROOT / "node_modules" / ".bin" / "node"
    if local.exists():
        return str(local)
    found = shutil.which("node")
    if not found:
        raise EvaluationError("node not found: run `make setup`")
    return found


def evaluate(policies: Iterable[Policy], requests: Sequence[Request], *, timeout: float = 300) -> list[Decision]:
    """Decide `requests` against `policies` in one driver process; decisions in request order."""
    batch = {
        "policies": {p.name: {"kind": p.kind, "document": p.document} for p in policies},
        "requests": [r.as_json() for r in requests],
    }
    if not (ROOT / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        raise EvaluationError("@cloud-copilot/iam-simulate is not installed: run `make setup`")
    proc = subprocess.run(
        [node_binary(), str(DRIVER)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    if proc.returncode != 0:
        raise EvaluationError(proc.stderr.strip() or f"driver exited {proc.returncode}")
    decisions = json.loads(proc.stdout)["decisions"]
    return [
        Decision(
            id=d["id"],
            result=d["result"],
            deciding=tuple(Statement(**s) for s in d["deciding"]),
            blocked_by=tuple(d["blockedBy"]),
            missing=tuple(d["missing"]),
        )
        for d in decisions
    ]
