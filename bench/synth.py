"""Synth benchmark: whole `cdk synth` processes of dev and of dev+staging+prod against an empty app.

The empty app (bench/_empty_app.py) carries the same validation plugins (CDK's CloudFormation validation, the
cdk-nag packs, cfn-guard with the same Control Tower rule folders), so the ratio is what this app's own constructs
cost. Each measurement is one `cdk synth` process (the pinned CLI from node_modules, into a fresh output folder),
timed with Python's clock around the subprocess; the three apps take turns in every round so a busy machine slows
them alike. Prints the medians in seconds and the ratios (targets: dev <= 1.5x, dev+staging+prod <= 1.8x), with the
load averages before and after (the machine is shared: read the figures with them).
Run: `make bench`, or `python bench/synth.py` with node_modules/.bin and .venv/bin first on PATH;
`python bench/synth.py --update-docs` also rewrites the generated block of docs/benchmarks.md with what it measured
(tests/bench/test_synth_docs.py checks that the block is what `render` makes of the figures recorded in it).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TARGETS = {"dev": 1.5, "dev,staging,prod": 1.8}
EMPTY_APP = f"{Path(sys.executable).name} bench/_empty_app.py"
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- synth-figures:begin -->", "<!-- synth-figures:end -->"


def _cdk() -> str:
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        raise SystemExit("node_modules/.bin/cdk is missing: run `make setup` first")
    return str(cdk)


def synth_seconds(env: str | None) -> tuple[float, float]:
    """Wall time and CPU time (user + system, of the whole process tree: CLI, app, jsii kernel, cfn-guard) of one
    `cdk synth` process: the app for `env`, or the empty app when `env` is None. CPU time depends less on what else
    the shared machine runs; the targets are on wall time."""
    path = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    process_env = {**os.environ, "PATH": path, "CDK_DISABLE_CLI_TELEMETRY": "true", "AWS_EC2_METADATA_DISABLED": "true"}
    outdir = tempfile.mkdtemp(prefix="bench-synth-")
    command = [_cdk(), "synth", "--quiet", "--no-notices", "-o", outdir]
    command += ["--app", EMPTY_APP] if env is None else ["-c", f"env={env}"]
    try:
        cpu, start = _children_cpu(), time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, env=process_env, capture_output=True, text=True)
        elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    if result.returncode != 0:
        raise SystemExit(f"cdk synth ({env or 'empty app'}) failed:\n{result.stdout}{result.stderr}")
    return elapsed, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(runs: int = RUNS) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall and CPU seconds per app ('empty' and each TARGETS key) over `runs` rounds, after one warm-up
    round."""
    apps: list[str | None] = [None, *TARGETS]
    for app in apps:
        synth_seconds(app)  # warm the jsii cache, the unpacked rules and the file system
    samples: dict[str, list[tuple[float, float]]] = {app or "empty": [] for app in apps}
    for _ in range(runs):
        for app in apps:
            samples[app or "empty"].append(synth_seconds(app))
    wall = {name: statistics.median(w for w, _ in values) for name, values in samples.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in samples.items()}
    return wall, cpu


@dataclass(frozen=True)
class Figures:
    """One run of the benchmark: medians in seconds per app ('empty' and each TARGETS key), when, and the machine's
    load averages (1, 5, 15 min) before and after."""

    runs: int
    seconds: dict[str, float]
    when: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # medians of CPU time (recorded since 2026-12-03)


def load_averages() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def run(runs: int = RUNS) -> Figures:
    before = load_averages()
    wall, cpu = measure(runs)
    seconds = {name: round(value, 2) for name, value in wall.items()}
    cpu_seconds = {name: round(value, 2) for name, value in cpu.items()}
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Figures(runs, seconds, when, before, load_averages(), cpu_seconds)


def lines(figures: Figures) -> list[str]:
    """What the benchmark prints: the medians, and each ratio against the empty app with its target."""
    empty = figures.seconds["empty"]
    out = [f"  {'empty app':<18} {empty:6.2f} s"]
    for env, target in TARGETS.items():
        ratio = figures.seconds[env] / empty
        verdict = "ok" if ratio <= target else "OVER TARGET"
        out.append(f"  {env:<18} {figures.seconds[env]:6.2f} s   ratio {ratio:.2f}x (target <= {target}x, {verdict})")
    if figures.cpu_seconds:
        cpu = figures.cpu_seconds
        out.append(
            f"  cpu time (user + system): empty app {cpu['empty']:.2f} s; "
            + "; ".join(f"{env} {cpu[env]:.2f} s, ratio {cpu[env] / cpu['empty']:.2f}x" for env in TARGETS)
        )
    return out


def _recordable(figures: Figures) -> dict[str, object]:
    data = asdict(figures)
    if not data["cpu_seconds"]:
        del data["cpu_seconds"]  # figures recorded before CPU time was
    return data


def render(figures: Figures) -> str:
    """The generated block of docs/benchmarks.md: the figures as recorded (a JSON comment) and as printed."""
    load = f"load average {figures.load_before[0]:.2f} before, {figures.load_after[0]:.2f} after (1 min)"
    return "\n".join(
        [
            f"<!-- {json.dumps(_recordable(figures), sort_keys=True)} -->",
            f"`python bench/synth.py` ({figures.when}, median of {figures.runs} whole `cdk synth` processes each, "
            f"side by side with the empty app; {load}):",
            "",
            "```text",
            *lines(figures),
            "```",
        ]
    )


def recorded(text: str) -> Figures:
    """The figures recorded in a generated block."""
    match = re.search(r"<!-- (\{.*?\}) -->", text)
    assert match, "no recorded figures in the block"
    data = json.loads(match.group(1))
    return Figures(
        runs=data["runs"],
        seconds=data["seconds"],
        when=data["when"],
        load_before=tuple(data["load_before"]),
        load_after=tuple(data["load_after"]),
        cpu_seconds=data.get("cpu_seconds", {}),
    )


def update_docs(figures: Figures, page: Path = DOCS) -> None:
    text = page.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    page.write_text(f"{text[:start]}\n{render(figures)}\n{text[end:]}")


def main() -> None:
    figures = run()
    print(f"cdk synth, whole processes, median of {figures.runs}, beside an empty app carrying the same plugins")
    print("\n".join(lines(figures)))
    print(f"  load average (1, 5, 15 min): before {figures.load_before}, after {figures.load_after}")
    if "--update-docs" in sys.argv[1:]:
        update_docs(figures)
        print(f"  written to {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
