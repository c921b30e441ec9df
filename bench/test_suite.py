"""Wall time of the whole test suite, warm (run it twice: the first run may pay the jsii cache and layer build).

Run: `make bench` or `PATH=node_modules/.bin:$PATH .venv/bin/python bench/test_suite.py`. Target: < 60 s warm on
2 cores. Prints; asserts nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_suite() -> tuple[float, str]:
    """Run pytest once; return (wall seconds, its summary line)."""
    env = {**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    lines = [line for line in result.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    return elapsed, (lines[-1].strip("= ") if lines else f"pytest exited {result.returncode}")


def main() -> None:
    run_suite()  # warm-up: caches, the layer, .pyc files
    elapsed, summary = run_suite()
    print(f"test suite (warm): {elapsed:.1f} s wall, {os.cpu_count()} cores - {summary} (target < 60 s)")


if __name__ == "__main__":
    main()
