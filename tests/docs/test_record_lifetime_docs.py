"""How long records live, in docs/operations.md, is generated from the presets and the processor's TTL rule
(lambda/processor/processor/domain.py); this test fails when they drift. Print the current text:
`python -m tests.docs.test_record_lifetime_docs`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stacks.config import PRESETS, build_config
from tests.support.docs import generated_block

BEGIN, END = "<!-- record-lifetime:begin -->", "<!-- record-lifetime:end -->"
DAY = 86_400


def _days(seconds: float) -> str:
    return f"{seconds / DAY:g}"


def lifetime() -> str:
    """One row per preset, and the bound, from the code: the extremes of a record's life are measured on the TTL
    rule itself, for objects created just after a midnight UTC and exactly at one."""
    from processor.domain import MAX_RECORD_OVERHANG, Lifecycle, record_expires_at

    lines = [
        "| preset | current objects expire | noncurrent versions expire | a record's `expires_at` (TTL) |",
        "|---|---|---|---|",
    ]
    for preset in PRESETS:
        config = build_config(preset)
        noncurrent = f"{config.noncurrent_version_expiration_days} days after they become noncurrent"
        if config.object_expiration_days is None:
            lines.append(f"| {preset} | never (kept until deleted) | {noncurrent} | none: records do not expire |")
            continue
        lifecycle = Lifecycle(config.object_expiration_days, config.noncurrent_version_expiration_days)
        midnight = datetime(2026, 12, 3, tzinfo=UTC)
        lives = [
            expires - created.timestamp()
            for created in (midnight - timedelta(seconds=1), midnight)  # the shortest life, the longest
            if (expires := record_expires_at(created, lifecycle)) is not None
        ]
        shortest_days, shortest_seconds = divmod(int(min(lives)), DAY)
        lines.append(
            f"| {preset}{' (and every other suffix)' if preset == 'dev' else ''} "
            f"| {config.object_expiration_days} days after creation | {noncurrent} "
            f"| {shortest_days} days + {shortest_seconds} s to {_days(max(lives))} days after its object's creation |"
        )
    bound = MAX_RECORD_OVERHANG.total_seconds()
    lines += [
        "",
        f"A record's `expires_at` is never before S3's scheduled end of its object version and at most "
        f"{_days(bound)} days after it (`MAX_RECORD_OVERHANG`: one day of rounding at each of the two lifecycle "
        "steps).",
    ]
    return "\n".join(lines)


def test_the_operations_page_shows_how_long_records_live() -> None:
    assert generated_block("operations.md", BEGIN, END) == lifetime(), (
        "regenerate with: python -m tests.docs.test_record_lifetime_docs"
    )


if __name__ == "__main__":
    print(lifetime())
