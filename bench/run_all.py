"""Run every benchmark script in bench/ and print their figures (no assertions: targets are printed beside them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> int:
    status = 0
    for script in sorted(BENCH.glob("*.py")):
        if script.name in {"run_all.py"} or script.name.startswith("_"):
            continue
        print(f"== {script.name}", flush=True)
        status |= subprocess.run([sys.executable, str(script)], cwd=BENCH.parent).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
