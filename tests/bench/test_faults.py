"""The fault benchmark's shortened scenarios (seconds, not minutes), through the real handler and botocore.

Every scenario of `make bench-faults`, shrunk in time and volume with the same mechanisms (the outage, the deployed
back-off, maxReceiveCount from the same arithmetic for the shorter outage, pollers, batching window, timeouts): no
valid upload may reach the DLQ. A control run with too few receives must put valid uploads in the DLQ, so the
measurement can fail.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def faults() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_faults", ROOT / "bench" / "faults.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_faults"] = module
    spec.loader.exec_module(module)
    return module


SHORT_NAMES = [
    "burst-600-60s-dev", "burst-600-60s-staging", "burst-600-60s-prod",
    "throttle-45min-0.5per-s", "slow-put-30min-0.5per-s", "throttle-45min-2per-s", "slow-put-30min-2per-s",
    "slow-head-30min", "encoded-keys-throttle-45min", "visibility-change-fails", "long-encoded-keys",
]  # fmt: skip


FULL_NAMES = [
    "burst-10k-60s-dev", "burst-10k-60s-staging", "burst-10k-60s-prod",
    "throttle-45min-0.2per-s", "slow-put-30min-0.2per-s", "throttle-45min-5per-s", "slow-put-30min-5per-s",
    "slow-head-30min", "encoded-keys-throttle-45min", "visibility-change-fails", "long-encoded-keys",
]  # fmt: skip


def test_the_short_set_is_every_scenario_of_the_benchmark(faults: ModuleType) -> None:
    full, short = faults.scenarios(), faults.scenarios(short=True)
    assert [s.name for s in full] == FULL_NAMES
    assert [s.name for s in short] == SHORT_NAMES
    # The same scenarios shrunk: same preset, faulted operations and kinds, key shapes.
    for big, small in zip(full, short, strict=True):
        assert (big.preset, big.keys, [(f.operation, f.kind) for f in big.faults]) == (
            small.preset, small.keys, [(f.operation, f.kind) for f in small.faults]
        )  # fmt: skip
        assert small.uploads <= big.uploads and small.arrival_seconds <= big.arrival_seconds


def _bench(*argv: str) -> dict[str, dict[str, str]]:
    """Run bench/faults.py in its own process (it imports the handler with its own environment); its lines by kind."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "faults.py"), "--short", "--detail", *argv],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-2000:]
    lines: dict[str, dict[str, str]] = {}
    for line in result.stdout.splitlines():
        kind = "detail" if line.startswith("detail ") else "scenario"
        lines[kind] = dict(part.split("=", 1) for part in line.removeprefix("detail ").split())
        lines[kind]["line"] = line
    return lines


@pytest.mark.parametrize("name", SHORT_NAMES)
def test_no_valid_upload_reaches_the_dlq(faults: ModuleType, name: str) -> None:
    scenario = next(s for s in faults.scenarios(short=True) if s.name == name)
    out = _bench("--only", name)
    assert out["scenario"]["line"].startswith(f"scenario={name} uploads={scenario.uploads} valid_in_dlq=0 drained_min=")
    assert int(out["detail"]["recorded"]) == scenario.uploads  # every upload recorded
    if scenario.faults:
        # The fault was real: uploads waited in the buffer, and the last was recorded only after the fault ended.
        assert int(out["detail"]["max_backlog"]) > 0
        assert float(out["scenario"]["drained_min"]) * 60 >= min(f.end for f in scenario.faults) - 60


def test_the_measurement_can_fail_with_too_few_receives(faults: ModuleType) -> None:
    # Two receives survive at least 15 + 30 s of back-off: far less than the 3-minute outage.
    out = _bench("--only", "throttle-45min-2per-s", "--max-receive-count", "2")
    assert int(out["scenario"]["valid_in_dlq"]) > 0


def test_a_picture_per_scenario(tmp_path: Path) -> None:
    _bench("--only", "long-encoded-keys", "--plots", str(tmp_path))
    path = tmp_path / "faults-long-encoded-keys.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_docs_show_what_the_benchmark_printed(faults: ModuleType) -> None:
    """docs/benchmarks.md's block is `markdown()` of a full run: every scenario, none with a valid upload in the DLQ,
    prod's burst within 10 minutes, a picture each, the sustained rate of each preset."""
    text = faults.DOCS.read_text()
    block = text.split(faults.DOCS_BEGIN, 1)[1].split(faults.DOCS_END, 1)[0]
    rows = [line.split("|")[1:-1] for line in block.splitlines() if line.startswith("| `")]
    assert [row[0].strip().strip("`") for row in rows] == FULL_NAMES
    for name, uploads, dead, drained, picture in (map(str.strip, row) for row in rows):
        name = name.strip("`")
        assert dead == "0", name
        assert picture == f"![{name}](img/faults-{name}.png)"
        assert (ROOT / "docs" / "img" / f"faults-{name}.png").is_file(), name
        if name == "burst-10k-60s-prod":
            assert float(drained) <= faults.PROD_BURST_TARGET_MINUTES
        assert int(uploads) == next(s.uploads for s in faults.scenarios() if s.name == name)
    sustained = [line for line in block.splitlines() if line.startswith(("| dev", "| staging", "| prod"))]
    assert len(sustained) == 3 and all("bottleneck" not in row and row.count("|") == 4 for row in sustained)
    # The block is exactly what markdown() makes of the printed lines it shows.
    printed = "\n".join(
        f"scenario={row[0].strip().strip('`')} uploads={row[1].strip()} valid_in_dlq={row[2].strip()} "
        f"drained_min={row[3].strip()}"
        for row in rows
    )
    printed += "\n" + "\n".join(
        "sustained preset={} records_per_s={} first_bottleneck={}".format(*(c.strip() for c in row.split("|")[1:-1]))
        for row in sustained
    )
    assert faults.markdown(printed) == faults.DOCS_BEGIN + block + faults.DOCS_END
