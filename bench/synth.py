"""Synth benchmark: whole `cdk synth` processes of dev and of dev+staging+prod against an empty app.

The empty app (bench/_empty_app.py) carries the same validation plugins (CDK's CloudFormation validation, the
cdk-nag packs, cfn-guard with the same Control Tower rule folders), so the ratio is what this app's own constructs
cost. Each measurement is one `cdk synth` process (the pinned CLI from node_modules, into a fresh output folder),
timed with Python's clock around the subprocess; the three apps take turns in every round so a busy machine slows
them alike. Prints the medians in seconds and the ratios (targets: dev <= 1.5x, dev+staging+prod <= 1.8x).
Run: `make bench`, or `python bench/synth.py` with node_modules/.bin and .venv/bin first on PATH.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TARGETS = {"dev": 1.5, "dev,staging,prod": 1.8}
EMPTY_APP = f"{Path(sys.executable).name} bench/_empty_app.py"


def _cdk() -> str:
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        raise SystemExit("node_modules/.bin/cdk is missing: run `make setup` first")
    return str(cdk)


def synth_seconds(env: str | None) -> float:
    """Wall time of one `cdk synth` process: the app for `env`, or the empty app when `env` is None."""
    path = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    process_env = {**os.environ, "PATH": path, "CDK_DISABLE_CLI_TELEMETRY": "true", "AWS_EC2_METADATA_DISABLED": "true"}
    outdir = tempfile.mkdtemp(prefix="bench-synth-")
    command = [_cdk(), "synth", "--quiet", "--no-notices", "-o", outdir]
    command += ["--app", EMPTY_APP] if env is None else ["-c", f"env={env}"]
    try:
        start = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, env=process_env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    if result.returncode != 0:
        raise SystemExit(f"cdk synth ({env or 'empty app'}) failed:\n{result.stdout}{result.stderr}")
    return elapsed


def measure(runs: int = RUNS) -> dict[str, float]:
    """Median seconds per app ('empty' and each TARGETS key) over `runs` rounds, after one warm-up round."""
    apps: list[str | None] = [None, *TARGETS]
    for app in apps:
        synth_seconds(app)  # warm the jsii cache, the unpacked rules and the file system
    samples: dict[str, list[float]] = {app or "empty": [] for app in apps}
    for _ in range(runs):
        for app in apps:
            samples[app or "empty"].append(synth_seconds(app))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    figures = measure()
    empty = figures["empty"]
    print(f"cdk synth, whole processes, median of {RUNS}, side by side with an empty app carrying the same plugins")
    print(f"  {'empty app':<18} {empty:6.2f} s")
    for env, target in TARGETS.items():
        ratio = figures[env] / empty
        verdict = "ok" if ratio <= target else "OVER TARGET"
        print(f"  {env:<18} {figures[env]:6.2f} s   ratio {ratio:.2f}x (target <= {target}x, {verdict})")


if __name__ == "__main__":
    main()
