"""Readable cdk-nag findings for assertion messages."""

from __future__ import annotations

import aws_cdk as cdk


def nag_findings(report: cdk.PolicyValidationPluginReport) -> list[tuple[str, list[str]]]:
    """(rule, construct paths) for every violation in a pack's `validate_scope` report."""
    return [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations]
