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


def test_every_flag_the_operations_page_gives_a_tool_exists() -> None:
    import subprocess
    import sys

    used: dict[str, set[str]] = {}
    for line in page("operations.md").splitlines():
        tools = set(re.findall(r"(redrive|reconcile)\.py", line))
        if len(tools) == 1:  # a line about one tool: every flag on it is that tool's
            used.setdefault(f"{tools.pop()}.py", set()).update(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", line))
    assert {"--rate", "--dry-run"} <= used["redrive.py"] and {"--since", "--repair"} <= used["reconcile.py"], used
    for tool, flags in used.items():
        shown = subprocess.run(
            [sys.executable, str(ROOT / "tools" / tool), "--help"], capture_output=True, text=True, check=True
        ).stdout
        assert [flag for flag in sorted(flags) if flag not in shown] == [], tool
