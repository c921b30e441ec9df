"""Synthesis helpers shared by tests and benchmarks (no assertions here)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.account_stack import ACCOUNT_STACK_NAME
from stacks.app_builder import synthesize


@dataclass(frozen=True)
class Synthesized:
    """One synthesized app: its output folder, and per environment suffix the template and the stack artifact."""

    outdir: Path
    templates: dict[str, dict[str, Any]]
    artifacts: dict[str, cdk.cx_api.CloudFormationStackArtifact]
    account_template: dict[str, Any] | None  # the account-level stack (API Gateway logging role), if synthesized

    def template(self, suffix: str) -> Template:
        """An aws_cdk.assertions Template over an already synthesized template (no second synth)."""
        return Template.from_json(self.templates[suffix])


def synthesize_environments(suffixes: Iterable[str], outdir: Path) -> Synthesized:
    """Build the real app for `suffixes` (nag packs and CDK validation on) and synthesize it once."""
    suffixes = list(suffixes)
    assembly = synthesize(suffixes, str(outdir))
    artifacts = {s: assembly.get_stack_by_name(f"SecureServerless-{s}") for s in suffixes}
    templates = {s: json.loads(Path(a.template_full_path).read_text()) for s, a in artifacts.items()}
    account = [a for a in assembly.stacks if a.stack_name == ACCOUNT_STACK_NAME]
    account_template = json.loads(Path(account[0].template_full_path).read_text()) if account else None
    return Synthesized(outdir=outdir, templates=templates, artifacts=artifacts, account_template=account_template)
