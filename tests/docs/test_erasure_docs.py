"""What erasure cannot reach at once, and how long it keeps traces, in docs/operations.md, is generated from the
presets (stacks/config.py) and the constructs' retention constants; this test fails when they drift. Print the
current text: `python -m tests.docs.test_erasure_docs`."""

from __future__ import annotations

from secure_serverless.queues import DEAD_LETTER_RETENTION
from stacks.config import PRESETS, build_config
from tests.support.docs import generated_block, page, section

BEGIN, END = "<!-- erasure-traces:begin -->", "<!-- erasure-traces:end -->"
# DynamoDB's continuous backups keep 35 days unless RecoveryPeriodInDays says otherwise; ScaledTable sets none
# (tests/stacks/test_erasure.py::test_point_in_time_recovery_keeps_the_default_window checks the templates).
PITR_DAYS = 35


def traces() -> str:
    days = f"{DEAD_LETTER_RETENTION.to_days():g}"
    lines = [
        "| preset | S3 server access logs | CloudWatch log groups | DynamoDB point-in-time recovery | "
        "pipeline buffer and DLQs | noncurrent object versions |",
        "|---|---|---|---|---|---|",
    ]
    for preset in PRESETS:
        config = build_config(preset)
        lines.append(
            f"| {preset}{' (and every other suffix)' if preset == 'dev' else ''} "
            f"| {config.access_log_retention_days} days | {config.log_retention_days} days | {PITR_DAYS} days "
            f"| up to {days} days | none: erasure deletes every version by id (without it, an older version "
            f"stays {config.noncurrent_version_expiration_days} days after it stops being current) |"
        )
    return "\n".join(lines)


def test_the_operations_page_says_how_long_traces_stay() -> None:
    assert generated_block("operations.md", BEGIN, END) == traces(), (
        "regenerate with: python -m tests.docs.test_erasure_docs"
    )


def test_the_runbook_covers_each_step_and_the_readme_links_it() -> None:
    runbook = section(page("operations.md"), "## Erasure")
    for needed in (
        "POST /erasure",
        "GET /erasure",
        "tools/erase_user.py",
        "--dry-run",
        "--confirm",
        "--status",
        "erasure-dead-letters",
        "ErasureDeadLetterQueueUrl",
        "report",
    ):
        assert needed in runbook, needed
    from tests.support.docs import ROOT

    readme = (ROOT / "README.md").read_text()
    assert "docs/operations.md#erasure" in readme
    assert len(readme.splitlines()) <= 150


def test_the_runbook_figures_are_the_codes() -> None:
    """The receives before the erasure DLQ, the worker's timeout and the stale-pending re-send, as the runbook
    states them."""
    import importlib

    from stacks.secure_serverless_stack import ERASURE_MAX_RECEIVE_COUNT, ERASURE_TIMEOUT

    stale = importlib.import_module("objects_api.erasure").STALE_PENDING
    runbook = section(page("operations.md"), "## Erasure")
    assert f"after {ERASURE_MAX_RECEIVE_COUNT} receives" in runbook
    assert f"one invocation ({ERASURE_TIMEOUT.to_minutes():g} minutes)" in runbook
    assert f"after {stale.total_seconds() / 60:g} minutes" in runbook


if __name__ == "__main__":
    print(traces())
