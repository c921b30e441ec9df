"""No app-specific leakage (issue 19 item 8): a consumer who runs only AwsSolutions and Serverless carries no NIST,
HIPAA, PCI or cfn-guard acknowledgment; `acknowledge_opt_in_packs` writes them where the consumer opts in; and
every reason the library writes stands on its own (no test names, nothing about this project's uploads)."""

from __future__ import annotations

import re

import aws_cdk as cdk
from constructs import Construct

from secure_serverless import acknowledge_opt_in_packs
from secure_serverless.nag import COMPLIANCE_PACKS, GUARD_PLUGIN
from tests.constructs.test_composition import compose

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"


def acknowledgments(app: cdk.App) -> dict[str, str]:
    """Every acknowledged rule id in the app (as CDK records it, e.g. 'Annotation::AwsSolutions-S1') -> its reason."""
    found: dict[str, str] = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ACKNOWLEDGED:
                found.update(entry.data)
    return found


def _is_opt_in(rule: str) -> bool:
    bare = rule.split("::", 1)[-1]
    return bare.startswith(COMPLIANCE_PACKS) or GUARD_PLUGIN in rule


def _composed_app(opt_in: bool) -> cdk.App:
    app = cdk.App()
    compose(Construct(cdk.Stack(app, "Consumer"), "Team"))
    if opt_in:
        acknowledge_opt_in_packs(app)
    return app


def test_a_consumer_without_the_opt_in_packs_carries_none_of_their_acknowledgments() -> None:
    rules = acknowledgments(_composed_app(opt_in=False))
    assert rules, "the library still acknowledges its own AwsSolutions/Serverless findings"
    assert [rule for rule in rules if _is_opt_in(rule)] == []


def test_opting_in_writes_them_and_later_constructs_acknowledge_at_once() -> None:
    app = _composed_app(opt_in=True)
    opted = [rule for rule in acknowledgments(app) if _is_opt_in(rule)]
    assert any("S3BucketLoggingEnabled" in rule for rule in opted)
    assert any("sqs_dlq_check" in rule for rule in opted)
    compose(Construct(cdk.Stack(app, "Later"), "Team"))
    later = [c for c in app.node.find_all() if c.node.path.startswith("Later/")]
    assert any(_is_opt_in(rule) for c in later for e in c.node.metadata if e.type == ACKNOWLEDGED for rule in e.data)


def test_every_reason_stands_on_its_own() -> None:
    reasons = acknowledgments(_composed_app(opt_in=True))
    leaking = {rule: reason for rule, reason in reasons.items() if re.search(r"\btest_\w+|upload", reason, re.I)}
    assert leaking == {}
