"""tools/reconcile.py end to end against moto: the real processor records what the repair re-emits, once."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from tests.support.pipeline_sim import Pump, SimClock, count_messages
from tests.tools.conftest import ENV, Environment
from tools import reconcile

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return reconcile.main([ENV, *argv], out=out), out.getvalue()


def _drain(environment: Environment, handler) -> None:
    pump = Pump(environment.sqs, environment.buffer_url, environment.buffer_arn, handler.sqs_handler, SimClock())
    while count_messages(environment.sqs, environment.buffer_url):
        assert pump.step() > 0


def _upload(environment: Environment, key: str) -> str:
    return environment.s3.put_object(Bucket="secsls-tooltest-data", Key=key, Body=b"data")["VersionId"]


def test_repair_records_a_dropped_event_exactly_once(environment, processor_handler) -> None:
    kept = _upload(environment, "uploads/alice/kept.txt")
    dropped = _upload(environment, "uploads/alice/dropped one+é.txt")
    outside = _upload(environment, "reports/not-checked.csv")
    # Only the first upload's event reached the processor: the second was "lost".
    repair_once = reconcile.object_created_event(
        "secsls-tooltest-data",
        next(
            v
            for v in reconcile.object_versions(environment.s3, "secsls-tooltest-data", "uploads/", None)
            if v.version_id == kept
        ),
        "123456789012",
        "us-east-1",
    )
    environment.sqs.send_message(QueueUrl=environment.buffer_url, MessageBody=json.dumps(repair_once))
    _drain(environment, processor_handler)
    assert environment.records() == [("uploads/alice/kept.txt", kept)]

    status, report = _run()
    assert status == 1
    assert "missing: 1, orphaned: 0" in report
    assert f"missing  uploads/alice/dropped one+é.txt (version {dropped})" in report
    assert outside not in report

    status, report = _run("--repair", "--dry-run")
    assert (status, count_messages(environment.sqs, environment.buffer_url)) == (0, 0)
    assert "dry run: would send 1 repair event(s)" in report

    # Repair twice before the processor runs: two events, one record.
    assert _run("--repair")[0] == 0
    assert _run("--repair")[0] == 0
    assert count_messages(environment.sqs, environment.buffer_url) == 2
    _drain(environment, processor_handler)

    assert environment.records() == sorted(
        [("uploads/alice/kept.txt", kept), ("uploads/alice/dropped one+é.txt", dropped)]
    )
    assert _run() == (0, "object versions: 2, records: 2, missing: 0, orphaned: 0\n")
    assert count_messages(environment.sqs, environment.dlq_url) == 0


def test_orphaned_records_and_since(environment, processor_handler) -> None:
    version = _upload(environment, "uploads/bob/gone.txt")
    environment.dynamodb.put_item(
        TableName="secure-serverless-tooltest-records",
        Item={
            "object_key": {"S": "uploads/bob/gone.txt"},
            "version_id": {"S": "no-such-version"},
            "event_time": {"S": "2026-01-01T00:00:00Z"},
        },
    )
    status, report = _run()
    assert status == 1
    assert "orphaned uploads/bob/gone.txt (version no-such-version)" in report
    assert f"missing  uploads/bob/gone.txt (version {version})" in report
    # Nothing was modified after the far future: nothing to check.
    assert _run("--since", "2999-01-01T00:00:00Z") == (0, "object versions: 0, records: 1, missing: 0, orphaned: 0\n")


def test_help_and_bad_since_are_usage_errors() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "reconcile.py"), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "--repair" in result.stdout and "--since" in result.stdout and "--dry-run" in result.stdout
    bad = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "reconcile.py"), "dev", "--since", "yesterday"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "invalid --since 'yesterday'" in bad.stderr
