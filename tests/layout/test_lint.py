"""The repository passes its own linter (ruff, configured in ruff.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", [("check", "--no-cache"), ("format", "--check", "--no-cache")], ids=" ".join)
def test_ruff_is_clean(command: tuple[str, ...]) -> None:
    """Lint rules and formatting: `make lint` runs both, so a drift fails here before it reaches a diff."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), *command, "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean_over_the_library_and_the_lambda_code() -> None:
    """mypy.ini: strict over constructs/secure_serverless and lambda/ (the library ships py.typed: a promise)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_every_type_ignore_says_why_on_the_same_line() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("constructs/secure_serverless", "lambda")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "type: ignore" in line and "#" not in line.split("type: ignore", 1)[1]
    ]
    assert bare == [], "add the reason after the ignore, e.g. `# type: ignore[attr-defined]  # jsii proxy`"
