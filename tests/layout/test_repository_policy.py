"""What teams expect of a repository like this: Dependabot for pip, npm and Actions (valid against its schema,
offline), CODEOWNERS over everything that decides who reaches AWS, and a SECURITY.md that says how to report."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_dependabot_watches_pip_npm_and_actions_and_is_valid() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert {(u["package-ecosystem"], u["directory"]) for u in config["updates"]} == {
        ("pip", "/"),
        ("npm", "/"),
        ("github-actions", "/"),
    }
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _owners(path: str) -> list[str]:
    """The owners of `path` by CODEOWNERS (the last matching rule wins)."""
    owners: list[str] = []
    for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pattern, *names = line.split()
        anchored = pattern.lstrip("/")
        if anchored.endswith("/"):
            matched = path.startswith(anchored)
        else:
            matched = fnmatch.fnmatch(path, anchored)
        if matched:
            owners = names
    return owners


@pytest.mark.parametrize(
    "path",
    [
        ".github/workflows/main.yml",
        ".github/workflows/pull-request.yml",
        ".github/workflows/sweep-previews.yml",
        ".github/CODEOWNERS",
        "stacks/ci_stack.py",
        "cdk.json",
        "Makefile",
        "bootstrap/permissions-boundary.json",
        "bootstrap/cfn-execution-policy.json",
        "requirements-dev.lock",
        "package-lock.json",
    ],
)
def test_codeowners_cover_the_delivery_path(path: str) -> None:
    assert (ROOT / path).exists(), path
    assert _owners(path), path


def test_a_path_outside_the_delivery_path_has_no_required_owner() -> None:
    assert _owners("lambda/api/app.py") == []


def test_security_policy_says_how_to_report() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    assert "Report a vulnerability" in text and "not in a public issue" in text
    for link in ("docs/security.md", "docs/deploying.md", ".github/CODEOWNERS", ".github/dependabot.yml"):
        assert f"]({link})" in text and (ROOT / link).exists(), link
