"""Synth benchmark: all three presets vs an empty stack, same process settings (CDK validation + nag on).

Prints wall times and their ratio (target: presets / empty <= 1.5). Run: `make bench` or
`PATH=node_modules/.bin:$PATH .venv/bin/python bench/synth.py`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "3"))

# Each measurement is a fresh process, as `cdk synth` runs one: import aws_cdk, build, synthesize.
_EMPTY = """
import aws_cdk as cdk
from stacks.app_builder import add_nag_packs, cdk_json_context
app = cdk.App(outdir={outdir!r}, context=cdk_json_context())
cdk.CfnWaitConditionHandle(cdk.Stack(app, "Empty"), "Placeholder")  # validation rejects a stack with no resource
add_nag_packs(app)
app.synth()
"""
_PRESETS = """
import aws_cdk as cdk
from stacks.app_builder import build_app, cdk_json_context
app = cdk.App(outdir={outdir!r}, context=cdk_json_context(env="dev,staging,prod"))
build_app(app)
app.synth()
"""


def _time(script: str) -> float:
    env = {**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}"}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    with tempfile.TemporaryDirectory() as outdir:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", script.format(outdir=outdir)],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - start


def measure() -> dict[str, float]:
    """Median wall time (s) of an empty-stack synth and of the three presets, interleaved over RUNS runs."""
    _time(_EMPTY)  # warm the jsii cache and the file system
    empty, presets = [], []
    for _ in range(RUNS):
        empty.append(_time(_EMPTY))
        presets.append(_time(_PRESETS))
    return {"empty": statistics.median(empty), "presets": statistics.median(presets)}


def main() -> None:
    figures = measure()
    ratio = figures["presets"] / figures["empty"]
    print(f"synth empty stack:          {figures['empty']:.2f} s (median of {RUNS})")
    print(f"synth dev+staging+prod:     {figures['presets']:.2f} s (median of {RUNS})")
    print(f"synth ratio presets/empty:  {ratio:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
