"""Time budgets: what one AWS call can cost at worst, and how much of the invocation is left.

botocore's `standard` retry mode counts `max_attempts` as *retries* (3 means 4 attempts); `total_max_attempts`
counts attempts, so the numbers here mean what they say. An attempt costs at most connect + read timeout (a server
that accepts and then never answers costs the read timeout), and standard mode sleeps up to min(20, 2**(n-1)) s
(full jitter) before retry n.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

MAX_STANDARD_BACKOFF_SECONDS = 20.0


@dataclass(frozen=True)
class CallBudget:
    """Timeouts and attempts of one client, and the worst case they allow for one call."""

    connect_timeout: float
    read_timeout: float
    total_max_attempts: int

    def __post_init__(self) -> None:
        if self.total_max_attempts < 1:
            raise ValueError(f"invalid total_max_attempts {self.total_max_attempts!r}: must be at least 1")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("invalid timeouts: connect_timeout and read_timeout must be positive")

    @property
    def worst_case_seconds(self) -> float:
        """Every attempt times out (connect + read), and every retry sleeps its longest backoff."""
        attempts = self.total_max_attempts * (self.connect_timeout + self.read_timeout)
        backoff = sum(min(MAX_STANDARD_BACKOFF_SECONDS, 2.0**n) for n in range(self.total_max_attempts - 1))
        return attempts + backoff

    def config(self, **extra: Any) -> Config:
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.total_max_attempts},
            **extra,
        )


class Deadline:
    """The invocation's remaining time, read from the Lambda context (or a clock, for callers without one)."""

    def __init__(self, remaining_ms: Callable[[], int]) -> None:
        self._remaining_ms = remaining_ms

    @classmethod
    def of(cls, context: Any, *, default_seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """From `context.get_remaining_time_in_millis`; contexts without it get `default_seconds` from now."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining):
            return cls(remaining)
        end = clock() + default_seconds
        return cls(lambda: int((end - clock()) * 1000))

    @property
    def remaining_seconds(self) -> float:
        return self._remaining_ms() / 1000.0

    def covers(self, seconds: float) -> bool:
        """True when at least `seconds` remain."""
        return self.remaining_seconds >= seconds


def fitting_budget(budgets: tuple[CallBudget, ...], seconds: float) -> CallBudget | None:
    """The first of `budgets` (most generous first) whose worst case fits in `seconds`; None when none does.

    A call made with it cannot outlive the time it was given, so the invocation never runs into its own timeout
    (a Lambda timeout would return the whole batch to the queue with no delay).
    """
    return next((budget for budget in budgets if budget.worst_case_seconds <= seconds), None)


class RecentCost:
    """What a unit of work (one record) has really cost lately in this execution environment, with a margin.

    Starting work on its measured cost, rather than on every call's worst case, lets an invocation try most of its
    batch; the per-call budgets (`fitting_budget`) still keep each call within the time left.
    `estimate()` = max(`floor`, `factor` x the largest of the last `window` costs); `floor` until one is measured.
    """

    def __init__(self, *, floor: float, factor: float = 3.0, window: int = 32) -> None:
        if floor <= 0 or factor < 1 or window < 1:
            raise ValueError("invalid RecentCost: floor > 0, factor >= 1 and window >= 1 required")
        self.floor = floor
        self.factor = factor
        self._window = window
        self._costs: list[float] = []

    def observe(self, seconds: float) -> None:
        self._costs.append(max(0.0, seconds))
        del self._costs[: -self._window]

    def estimate(self) -> float:
        return max(self.floor, self.factor * max(self._costs, default=0.0))
