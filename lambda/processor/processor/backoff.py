"""How long a failed SQS record waits before its next delivery (pure Python: no boto3, no Powertools).

Every receive is followed by a delay; no record comes back at once:
- deferred (a dependency throttled, failed with a 5xx or timed out; or the record was not tried at all because the
  invocation had no time left or a dependency had just throttled): `retry_delay(receive_count)`, 30 s doubling per
  receive, capped at 15 min, equal jitter (a burst does not come back in lock-step);
- failed (a malformed event, a permanent 4xx, metadata that contradicts S3): `FAILED_RETRY_SECONDS`, so it reaches
  the DLQ (and an operator) within minutes;
- when the ChangeMessageVisibility call itself fails, the record still comes back, after the queue's visibility
  timeout (6 x the function timeout): that is the fallback delay, and the arithmetic below counts it.

The buffer's maxReceiveCount is sized here (`receives_to_survive`) so that a valid event outlives an outage of any
dependency of `OUTAGE_SECONDS` times `OUTAGE_MARGIN` even in the worst case: every jitter at its minimum AND every
visibility change failing (each receive then waits min(back-off, visibility timeout)). docs/operations.md shows the
arithmetic (generated from these functions; a test keeps it in step).
"""

from __future__ import annotations

import random
from collections.abc import Callable

BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 900  # 15 minutes; SQS allows up to 12 hours per ChangeMessageVisibility
OUTAGE_SECONDS = 45 * 60  # a valid event survives an outage of any dependency this long ...
OUTAGE_MARGIN = 1.4  # ... with this margin, in the worst case (minimum jitter, every visibility change failing)
FAILED_RETRY_SECONDS = 5
INVALID_RETRY_SECONDS = FAILED_RETRY_SECONDS  # the name earlier callers used
VISIBILITY_TIMEOUT_FACTOR = 6  # the buffer's visibility timeout is 6 x the function timeout (EventPipeline)


def nominal_delay(receive_count: int) -> int:
    """The un-jittered delay after the `receive_count`-th (1-based) failed receive."""
    exponent = max(receive_count, 1) - 1
    return int(min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** min(exponent, 30)))


def retry_delay(receive_count: int, uniform: Callable[[float, float], float] = random.uniform) -> int:
    """Equal jitter: between half the nominal delay and the nominal delay, in whole seconds (never 0)."""
    nominal = nominal_delay(receive_count)
    return max(1, int(round(nominal / 2 + uniform(0.0, nominal / 2))))


def guaranteed_survival_seconds(max_receive_count: int, visibility_timeout: int | None = None) -> int:
    """The least time (every jitter at its minimum) a record deferred on every receive stays out of the DLQ.

    SQS moves a message to the DLQ on the receive after its `max_receive_count`-th; each of those receives was
    followed by a delay. With `visibility_timeout`, every visibility change is taken to fail as well: the record then
    waits the visibility timeout instead, so each receive counts min(back-off, visibility timeout).
    """
    total = 0
    for n in range(1, max_receive_count + 1):
        least = nominal_delay(n) // 2
        total += least if visibility_timeout is None else min(least, visibility_timeout)
    return total


def receives_to_survive(seconds: float = OUTAGE_SECONDS * OUTAGE_MARGIN, visibility_timeout: int | None = None) -> int:
    """The smallest maxReceiveCount whose guaranteed survival is at least `seconds`."""
    count = 1
    while guaranteed_survival_seconds(count, visibility_timeout) < seconds:
        count += 1
    return count


def visibility_timeout_for(function_timeout_seconds: int) -> int:
    """The buffer's visibility timeout for a function timeout (what EventPipeline sets)."""
    return function_timeout_seconds * VISIBILITY_TIMEOUT_FACTOR


def failed_reaches_dlq_seconds(max_receive_count: int, poll_seconds: float = 5.0) -> float:
    """Upper estimate of how long a failed (malformed) event takes to reach the DLQ (delay plus a batching window)."""
    return max_receive_count * (FAILED_RETRY_SECONDS + poll_seconds)


invalid_reaches_dlq_seconds = failed_reaches_dlq_seconds
