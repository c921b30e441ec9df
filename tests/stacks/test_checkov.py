"""checkov over every synthesized template: each failing check is skipped by exactly one reasoned row
(tests/support/checkov_skips.py), and no row outlives its finding."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stacks.account_stack import ACCOUNT_STACK_NAME
from stacks.config import preset_for
from tests.support.checkov_skips import CHECKOV_SKIPS
from tests.support.docs import page, section
from tests.support.synth import Synthesized

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _preset(template_file: str) -> str:
    stack = Path(template_file).name.removesuffix(".template.json")
    return "account" if stack == ACCOUNT_STACK_NAME else preset_for(stack.removeprefix("SecureServerless-"))


@pytest.fixture(scope="module")
def checkov_findings(synthesized: Synthesized) -> set[tuple[str, str, str]]:
    """(check id, logical id, preset) of every failed check over every template (all environments + account)."""
    assert CHECKOV.is_file(), "checkov is installed by `make setup` into .venv-checkov (requirements-checkov.txt)"
    files = sorted(synthesized.outdir.glob("*.template.json"))
    command = [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--compact", "--quiet"]
    for path in files:
        command += ["--file", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode in (0, 1), result.stderr  # 1: some check failed (compared below)
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert sum(r["summary"]["resource_count"] for r in reports) > 100  # it really read the templates
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    return {
        (failed["check_id"], failed["resource"].split(".", 1)[1], _preset(failed["file_path"]))
        for report in reports
        for failed in report["results"]["failed_checks"]
    }


def test_every_checkov_finding_is_skipped_with_a_reason(checkov_findings: set[tuple[str, str, str]]) -> None:
    unexplained = sorted(f for f in checkov_findings if not any(skip.covers(*f) for skip in CHECKOV_SKIPS))
    assert unexplained == [], "fix these, or add a reasoned row to tests/support/checkov_skips.py"


def test_every_checkov_skip_still_matches_a_finding(checkov_findings: set[tuple[str, str, str]]) -> None:
    stale = [skip for skip in CHECKOV_SKIPS if not any(skip.covers(*f) for f in checkov_findings)]
    assert stale == []


def test_checkov_skip_reasons_are_reviewer_grade() -> None:
    assert all(len(skip.reason) >= 80 for skip in CHECKOV_SKIPS)
    assert len({(s.check, s.resource) for s in CHECKOV_SKIPS}) == len(CHECKOV_SKIPS)  # one row per finding kind


def test_checks_page_lists_every_checkov_skip() -> None:
    checkov = section(page("checks.md"), "## checkov")
    rows = [line for line in checkov.splitlines() if line.startswith("| CKV_")]
    assert {row.split("|")[1].strip() for row in rows} == {skip.check for skip in CHECKOV_SKIPS}
