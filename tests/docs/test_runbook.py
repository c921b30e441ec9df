"""Every alarm an environment creates has its runbook entry in docs/operations.md (meaning, first look, the fix)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from tests.support.docs import page, section
from tests.support.template import resources_of

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = section(page("operations.md"), "## Runbook")


def _runbook_patterns() -> list[str]:
    rows = [line for line in RUNBOOK.splitlines() if line.startswith("| `")]
    patterns = []
    for row in rows:
        first_cell = row.split("|")[1]
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 4 and all(cells), f"runbook row needs meaning, first look and fix: {row}"
        patterns += re.findall(r"`([a-z0-9*-]+)`", first_cell)
    return patterns


@pytest.mark.parametrize("suffix", ["dev", "prod"])
def test_every_alarm_has_a_runbook_entry(templates: dict, suffix: str) -> None:
    prefix = f"secure-serverless-{suffix}-"
    names = [a["Properties"]["AlarmName"] for _, a in resources_of(templates[suffix], "AWS::CloudWatch::Alarm")]
    patterns = _runbook_patterns()
    assert names
    missing = [n for n in names if not any(fnmatch.fnmatchcase(n.removeprefix(prefix), p) for p in patterns)]
    assert missing == [], "add a runbook row (docs/operations.md) for these alarms"


def test_runbook_commands_exist() -> None:
    for tool in set(re.findall(r"tools/(\w+\.py)", RUNBOOK)):
        assert (ROOT / "tools" / tool).is_file(), tool
