"""How long a failed SQS record waits before its next delivery (pure Python: no boto3, no Powertools).

Throttling and timeouts are back-pressure, not failure: such a record goes back to the buffer with a delay that
doubles with each receive (equal jitter, so a burst does not come back in lock-step), capped. The buffer's
maxReceiveCount is sized from this schedule (`receives_to_survive`) so that a valid event outlives a throttling
episode of at least SURVIVE_SECONDS before its redrive to the DLQ. A malformed event is retried quickly
(INVALID_RETRY_SECONDS) and so reaches the DLQ within minutes; an untried record (deadline) comes back at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable

BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 900  # 15 minutes; SQS allows up to 12 hours in all per message
SURVIVE_SECONDS = 30 * 60  # a valid event survives at least this much throttling
INVALID_RETRY_SECONDS = 5
UNTRIED_RETRY_SECONDS = 0


def nominal_delay(receive_count: int) -> int:
    """The un-jittered delay after the `receive_count`-th (1-based) failed receive."""
    exponent = max(receive_count, 1) - 1
    return int(min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** min(exponent, 30)))


def retry_delay(receive_count: int, uniform: Callable[[float, float], float] = random.uniform) -> int:
    """Equal jitter: between half the nominal delay and the nominal delay, in whole seconds."""
    nominal = nominal_delay(receive_count)
    return int(round(nominal / 2 + uniform(0.0, nominal / 2)))


def guaranteed_survival_seconds(max_receive_count: int) -> int:
    """The least time (every jitter at its minimum) a record failing every receive stays out of the DLQ.

    SQS moves a message to the DLQ on the receive after its `max_receive_count`-th; each of those receives was
    followed by a delay.
    """
    return sum(nominal_delay(n) // 2 for n in range(1, max_receive_count + 1))


def receives_to_survive(seconds: int = SURVIVE_SECONDS) -> int:
    """The smallest maxReceiveCount whose guaranteed survival is at least `seconds`."""
    count = 1
    while guaranteed_survival_seconds(count) < seconds:
        count += 1
    return count


def invalid_reaches_dlq_seconds(max_receive_count: int, poll_seconds: float = 5.0) -> float:
    """Upper estimate of how long a malformed event takes to reach the DLQ (delay plus a batching window each)."""
    return max_receive_count * (INVALID_RETRY_SECONDS + poll_seconds)
