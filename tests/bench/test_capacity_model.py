"""The capacity model of bench/capacity.py behaves as docs/benchmarks.md and docs/operations.md say.

Benchmarks print; this checks the model.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import sys
from pathlib import Path

from stacks.config import build_config

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_capacity", ROOT / "bench" / "capacity.py")
assert _spec is not None and _spec.loader is not None
capacity = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = capacity  # dataclasses look their module up
_spec.loader.exec_module(capacity)

PER_RECORD = 0.025


def test_prod_drains_ten_thousand_uploads_in_a_minute_within_its_survival() -> None:
    prod = build_config("prod")
    drained = capacity.drain(prod, 10_000, 60, PER_RECORD)
    assert drained <= 600
    assert drained <= capacity.survival_seconds(prod)


def test_provisioned_prod_would_miss_the_target_on_auto_scaling_alone() -> None:
    provisioned = dataclasses.replace(build_config("prod"), table_on_demand=False)
    assert capacity.drain(provisioned, 10_000, 60, PER_RECORD) > 600


def test_drain_grows_with_the_burst_and_burst_credits_count() -> None:
    dev = build_config("dev")
    times = [capacity.drain(dev, n, 60, PER_RECORD) for n in (60, 300, 600, 3_000)]
    assert times == sorted(times)
    assert times[0] == 60  # 1/s for 60 s: within the resting 1 WCU
    assert times[1] == 60  # 5/s: the 300 s of burst credits absorb it as it arrives
    absorbed = capacity.absorbed_in_60s(dev, PER_RECORD)
    assert capacity.drain(dev, absorbed, 60, PER_RECORD) <= capacity.survival_seconds(dev)
    assert capacity.drain(dev, absorbed * 2, 60, PER_RECORD) > capacity.survival_seconds(dev)


def test_processing_rate_is_capped_by_the_event_source_and_reserved_concurrency() -> None:
    prod = build_config("prod")
    assert capacity.processing_rate(prod, 3600, PER_RECORD) == min(10, 20) / PER_RECORD
    assert not math.isinf(capacity.sustained(prod, PER_RECORD))
