#!/usr/bin/env python3
"""Hash-locked Python dependencies: `make lock` compiles each requirement file into a `.lock` with uv (pinned in
requirements-lock-tool.txt) for the oldest Python the project supports (Debian 12's 3.11.2), every file's sha256
hashes included; `make setup` installs only from the locks (`pip install --require-hashes --no-deps`), then the local
construct library (`--no-deps`: hash mode refuses an editable requirement).

`python -m tools.locks check` (and tests/layout/test_locks.py) verifies, without the network, that each lock was
compiled from the requirement files as they are now: a fingerprint of every input file in the lock's header, every
pin of the inputs present in the lock at the same version, every entry hashed, nothing editable.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR_PYTHON = "3.11.2"  # Debian 12's python3: the oldest Python the README promises
LOCAL_PACKAGE = "secure-serverless-constructs"  # ./constructs, installed --no-deps after the lock
# lock file -> the requirement file it is compiled from (which may include others with -r)
LOCKS = {"requirements-dev.lock": "requirements-dev.txt", "requirements-checkov.lock": "requirements-checkov.txt"}
REGENERATE = "make lock"
_FINGERPRINT = re.compile(r"^# inputs-sha256: ([0-9a-f]{64})$", re.MULTILINE)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#\\]+)", re.MULTILINE)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def inputs(requirement_file: str) -> list[Path]:
    """The requirement file, every file it includes with -r/-c (recursively), and the local package's pyproject
    (its dependencies enter the resolution through `-e ./constructs`)."""
    found: list[Path] = []

    def visit(path: Path) -> None:
        if path in found:
            return
        found.append(path)
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in ("-r", "-c"):
                visit((path.parent / parts[1]).resolve())
            elif len(parts) == 2 and parts[0] == "-e":
                visit((path.parent / parts[1] / "pyproject.toml").resolve())

    visit((ROOT / requirement_file).resolve())
    return found


def fingerprint(requirement_file: str) -> str:
    digest = hashlib.sha256()
    for path in inputs(requirement_file):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line (requirement file or lock)."""
    return {normalize(name): version for name, version in _PIN.findall(text)}


def compile_lock(lock: str) -> None:
    """Resolve `lock`'s requirement file for FLOOR_PYTHON with hashes (uv, network), then stamp the fingerprint."""
    source = LOCKS[lock]
    command = [
        str(Path(sys.executable).parent / "uv"),
        "pip",
        "compile",
        "--quiet",
        "--python-version",
        FLOOR_PYTHON,
        "--generate-hashes",
        "--no-emit-package",
        LOCAL_PACKAGE,
        "--custom-compile-command",
        REGENERATE,
        source,
        "-o",
        lock,
    ]
    subprocess.run(command, cwd=ROOT, check=True)
    path = ROOT / lock
    path.write_text(f"# inputs-sha256: {fingerprint(source)}\n{path.read_text()}")


def problems(lock: str) -> list[str]:
    """Why `lock` does not match its requirement files (empty when it does)."""
    path = ROOT / lock
    if not path.exists():
        return [f"{lock} is missing"]
    text = path.read_text()
    found: list[str] = []
    stamp = _FINGERPRINT.search(text)
    if not stamp or stamp.group(1) != fingerprint(LOCKS[lock]):
        names = ", ".join(str(p.relative_to(ROOT)) for p in inputs(LOCKS[lock]))
        found.append(f"{lock} was not compiled from the current {names}")
    locked = pins(text)
    for source in inputs(LOCKS[lock]):
        if source.suffix != ".txt":
            continue
        for name, version in pins(source.read_text()).items():
            if locked.get(name) != version:
                found.append(f"{source.name} pins {name}=={version}, {lock} has {locked.get(name)}")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    for entry in entries:
        if _PIN.match(entry) and "--hash=sha256:" not in entry:
            found.append(f"{lock}: {entry.split()[0]} has no hash")
        if entry.startswith("-e "):
            found.append(f"{lock}: editable entry {entry.split()[1]} (hash mode refuses it)")
    return found


def main(argv: list[str] | None = None) -> int:
    command = (argv if argv is not None else sys.argv[1:]) or ["check"]
    if command[0] == "compile":
        for lock in LOCKS:
            compile_lock(lock)
        return 0
    found = [problem for lock in LOCKS for problem in problems(lock)]
    for problem in found:
        print(f"{problem}; run `{REGENERATE}`", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
