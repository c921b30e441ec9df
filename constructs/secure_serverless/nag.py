"""cdk-nag 3.x acknowledgments: one helper so every acknowledgment carries a rule and a real reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations

from constructs import IConstruct

MIN_REASON_LENGTH = 40


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge cdk-nag finding `rule` on `scope` and everything below it, with a reviewer-grade reason."""
    if "::" in rule:
        raise ValueError(f"nag rule {rule!r}: use the bare id (e.g. 'AwsSolutions-S1'), not the namespaced form")
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"nag rule {rule!r}: reason must be at least {MIN_REASON_LENGTH} characters")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))
