"""The back-off arithmetic in docs/operations.md is generated from lambda/processor/processor/backoff.py and the
presets; this test fails when they drift. Print the current text: `python -m tests.docs.test_backoff_docs`."""

from __future__ import annotations

from stacks.config import build_config
from tests.support.docs import generated_block

BEGIN, END = "<!-- backoff-arithmetic:begin -->", "<!-- backoff-arithmetic:end -->"


def _minutes(seconds: float) -> str:
    return f"{seconds:,.0f} s = {seconds / 60:.1f} min"


def arithmetic() -> str:
    """The table and the sentence under it, from the code (every preset must agree on the figures)."""
    from processor import backoff

    configs = [build_config(preset) for preset in ("dev", "staging", "prod")]
    counts = {config.processor_max_receive_count for config in configs}
    timeouts = {config.processor_timeout_seconds for config in configs}
    assert len(counts) == 1 and len(timeouts) == 1, "the presets differ: the docs would need one table per preset"
    count, timeout = counts.pop(), timeouts.pop()
    visibility = backoff.visibility_timeout_for(timeout)
    target = backoff.OUTAGE_SECONDS * backoff.OUTAGE_MARGIN
    rows: list[tuple[int, int, tuple[int, int, int]]] = []
    for n in range(1, count + 1):
        least = backoff.nominal_delay(n) // 2
        values = (backoff.nominal_delay(n), least, min(least, visibility))
        if rows and rows[-1][2] == values:
            rows[-1] = (rows[-1][0], n, values)
        else:
            rows.append((n, n, values))
    lines = [
        "| receive | back-off (nominal) | least wait (jitter at its minimum) "
        f"| least wait if the visibility change fails ({visibility} s visibility timeout) |",
        "|---|---|---|---|",
    ]
    for first, last, (nominal, least, failing) in rows:
        label = str(first) if first == last else f"{first}–{last} (each)"
        lines.append(f"| {label} | {nominal} s | {least} s | {failing} s |")
    usual = backoff.guaranteed_survival_seconds(count)
    worst = backoff.guaranteed_survival_seconds(count, visibility)
    lines.append(f"| total over {count} receives | | {_minutes(usual)} | {_minutes(worst)} |")
    needed = backoff.receives_to_survive(target, visibility_timeout=visibility)
    lines += [
        "",
        f"Target: an outage of any dependency of {backoff.OUTAGE_SECONDS // 60} min × {backoff.OUTAGE_MARGIN} margin "
        f"= {_minutes(target)}, in the worst case (every jitter at its minimum and every visibility change failing). "
        f"The smallest `maxReceiveCount` that survives it is {needed} "
        f"(`backoff.receives_to_survive`); every preset uses {count}: {_minutes(worst)} in that worst case, "
        f"{_minutes(usual)} when the visibility changes work. Processing time and polling come on top (not counted). "
        f"A failed record (malformed, permanent 4xx, metadata mismatch) comes back after "
        f"{backoff.FAILED_RETRY_SECONDS} s and reaches the DLQ in about "
        f"{backoff.failed_reaches_dlq_seconds(count) / 60:.0f} min ({count} × ({backoff.FAILED_RETRY_SECONDS} s + "
        "a 5 s batching window)).",
    ]
    return "\n".join(lines)


def test_the_operations_page_shows_the_back_off_arithmetic_of_the_code() -> None:
    assert generated_block("operations.md", BEGIN, END) == arithmetic(), (
        "regenerate with: python -m tests.docs.test_backoff_docs"
    )


if __name__ == "__main__":
    print(arithmetic())
