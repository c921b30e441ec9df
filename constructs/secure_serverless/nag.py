"""cdk-nag 3.x acknowledgments: one helper so every acknowledgment carries a rule and a real reason."""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

MIN_REASON_LENGTH = 40
COMPLIANCE_PACKS = ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")  # rule-id prefixes of the packs tests run


# Acknowledgments of the opt-in packs (NIST 800-53 R5, HIPAA, PCI DSS 3.2.1; cfn-guard's Control Tower rules), per
# app: recorded where they are decided and written only when the app opts in (`acknowledge_opt_in_packs`), so a
# consumer who runs only AwsSolutions and Serverless carries none of them.
_OPT_IN: weakref.WeakKeyDictionary[IConstruct, list[tuple[IConstruct, str, Acknowledgment]]] = (
    weakref.WeakKeyDictionary()
)
_APPLIED: weakref.WeakKeyDictionary[IConstruct, set[str]] = weakref.WeakKeyDictionary()
_COMPLIANCE, _GUARD = "compliance", "guard"


def acknowledge(scope: IConstruct, rules: str | Sequence[str], reason: str) -> None:
    """Acknowledge cdk-nag finding(s) `rules` on `scope` and everything below it, with a reviewer-grade reason.

    Rules of the compliance packs (NIST.800.53.R5-, HIPAA.Security-, PCI.DSS.321-) take effect once the app opts in
    with `acknowledge_opt_in_packs`."""
    rule_ids = [rules] if isinstance(rules, str) else list(rules)
    for rule in rule_ids:
        if "::" in rule.split("[", 1)[0]:
            raise ValueError(f"nag rule {rule!r}: use the bare id (e.g. 'AwsSolutions-S1'), not the namespaced form")
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"nag rule {rule_ids!r}: reason must be at least {MIN_REASON_LENGTH} characters")
    now = [rule for rule in rule_ids if not rule.startswith(COMPLIANCE_PACKS)]
    if now:
        Validations.of(scope).acknowledge(*(Acknowledgment(id=rule, reason=reason) for rule in now))
    later = [Acknowledgment(id=rule, reason=reason) for rule in rule_ids if rule.startswith(COMPLIANCE_PACKS)]
    if later:
        _opt_in(scope, _COMPLIANCE, later)


def _opt_in(scope: IConstruct, kind: str, acknowledgments: Sequence[Acknowledgment]) -> None:
    root = scope.node.root
    if kind in _APPLIED.get(root, set()):  # the app already opted in: take effect at once
        Validations.of(scope).acknowledge(*acknowledgments)
        return
    _OPT_IN.setdefault(root, []).extend((scope, kind, acknowledgment) for acknowledgment in acknowledgments)


def acknowledge_opt_in_packs(scope: IConstruct, *, compliance: bool = True, guard: bool = True) -> None:
    """Write the reviewed acknowledgments this library (and `acknowledge` callers) decided for the opt-in packs:
    the compliance packs NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1 (`compliance`) and cfn-guard's Control Tower
    rules (`guard`). Call it on the app where you add those packs; later constructs then acknowledge at once."""
    root = scope.node.root
    kinds = {kind for kind, wanted in ((_COMPLIANCE, compliance), (_GUARD, guard)) if wanted}
    _APPLIED.setdefault(root, set()).update(kinds)
    pending = _OPT_IN.get(root, [])
    by_target: dict[int, tuple[IConstruct, list[Acknowledgment]]] = {}  # one call per construct, not per rule
    for target, _kind, acknowledgment in [entry for entry in pending if entry[1] in kinds]:
        by_target.setdefault(id(target), (target, []))[1].append(acknowledgment)
    for target, acknowledgments in by_target.values():
        Validations.of(target).acknowledge(*acknowledgments)
    _OPT_IN[root] = [entry for entry in pending if entry[1] not in kinds]


def compliance_rules(rule: str, packs: Sequence[str] = COMPLIANCE_PACKS) -> tuple[str, ...]:
    """The ids of one rule in several compliance packs, e.g. S3BucketLoggingEnabled in NIST, HIPAA and PCI."""
    return tuple(f"{pack}-{rule}" for pack in packs)


def finding_text(scope: IConstruct, value: object) -> str:
    """`value` (a string with tokens) as cdk-nag prints it inside a finding id, e.g. `<Bucket1234.Arn>/data/*`.

    Lets an acknowledgment name the exact resource of an `AwsSolutions-IAM5[Resource::...]` finding instead of
    covering every wildcard finding of the scope.
    """
    return _render(Stack.of(scope).resolve(value))


def acknowledge_wildcard_resource(scope: IConstruct, resource: object, reason: str) -> None:
    """Acknowledge AwsSolutions-IAM5 for exactly one wildcard resource ARN granted to `scope`."""
    acknowledge(scope, f"AwsSolutions-IAM5[Resource::{finding_text(scope, resource)}]", reason)


def acknowledge_grant_wildcards(grantee: iam.IGrantable, grant: iam.Grant, reason: str) -> None:
    """Acknowledge AwsSolutions-IAM5 on `grantee` for exactly the wildcard resources `grant` gave it (e.g. the
    object ARN pattern of ``SecureBucket.grant_read_objects``), for the grantee's owner's `reason`.

    The constructs never do this themselves: the acknowledgment lands on the grantee's role, which belongs to the
    caller, so only the caller may decide it. Another wildcard on that role is still reported.
    """
    principal = grantee.grant_principal
    if not isinstance(principal, Construct):
        raise ValueError(f"invalid grantee {principal!r}: must be a role or construct of this app")
    for statement in grant.principal_statements:
        for resource in statement.resources:
            if "*" in finding_text(principal, resource):
                acknowledge_wildcard_resource(principal, resource, reason)


def _render(node: object) -> str:
    if isinstance(node, str):
        return re.sub(r"\$\{([^}]*)\}", r"<\1>", node)
    if isinstance(node, dict) and len(node) == 1:
        ((function, argument),) = node.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_render(part) for part in parts)
    raise ValueError(f"cannot render {node!r} as a cdk-nag finding id")


# The "function has no DLQ" rules of the packs, acknowledged together where a DLQ would stay unused.
LAMBDA_DLQ_RULES = ("Serverless-LambdaDLQ", "NIST.800.53.R5-LambdaDLQ", "HIPAA.Security-LambdaDLQ")

INLINE_POLICY_RULES = compliance_rules("IAMNoInlinePolicy")


INLINE_POLICY_REASON = (
    "The role's policy is CDK's per-role default policy holding only this role's exact grants; it is "
    "deliberately not a managed policy, so no other principal can ever be given the same permissions."
)


def unscopable_actions_policy(
    scope: Construct, construct_id: str, role: iam.IRole, actions: Sequence[str], reason: str
) -> iam.Policy:
    """A policy of its own on `role` holding only `actions` on Resource '*' (actions AWS offers no resource-level
    scope for), with AwsSolutions-IAM5[Resource::*] acknowledged on this policy alone for `reason`: a statement
    someone later adds to the role is still checked."""
    policy = iam.Policy(
        scope, construct_id, roles=[role], statements=[iam.PolicyStatement(actions=list(actions), resources=["*"])]
    )
    acknowledge(policy, "AwsSolutions-IAM5[Resource::*]", reason)
    acknowledge(policy, INLINE_POLICY_RULES, INLINE_POLICY_REASON)
    return policy


def acknowledge_role_default_policy(role: IConstruct) -> None:
    """Acknowledge the compliance packs' no-inline-policy rule for a role's own CDK default policy.

    The rule concerns the policy's kind (inline, not managed), never its statements: a statement added to the role
    is still checked by every other rule (AwsSolutions-IAM5 included).
    """
    acknowledge(role, INLINE_POLICY_RULES, INLINE_POLICY_REASON)


# cfn-guard (cdklabs.cdk-validator-cfnguard, Control Tower rules): findings print as `[CT.X.PR.n] <rule name>` and
# are acknowledged as `cdk-validator-cfnguard::<rule name>`, exactly like a nag finding.
GUARD_PLUGIN = "cdk-validator-cfnguard"


def acknowledge_guard(scope: IConstruct, rule: str, control: str, reason: str) -> None:
    """Acknowledge the cfn-guard rule `rule` (Control Tower control `control`, e.g. CT.S3.PR.9) on `scope` and
    everything below it, with a reviewer-grade reason that names the control."""
    if "::" in rule or not re.fullmatch(r"[a-z0-9_]+", rule):
        raise ValueError(f"cfn-guard rule {rule!r}: use the bare rule name, e.g. 'sqs_dlq_check'")
    if not re.fullmatch(r"CT\.[A-Z0-9]+\.PR\.\d+", control):
        raise ValueError(f"cfn-guard control {control!r}: must look like CT.S3.PR.9")
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"cfn-guard rule {rule!r}: reason must be at least {MIN_REASON_LENGTH} characters")
    _opt_in(scope, _GUARD, [Acknowledgment(id=f"{GUARD_PLUGIN}::{rule}", reason=f"[{control}] {reason}")])
