"""tools/reconcile.py end to end against moto: the real processor records what the repair re-emits, once."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

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
    # Nothing was modified after the far future: nothing to check, and no record is read (no key in the window).
    assert _run("--since", "2999-01-01T00:00:00Z") == (0, "object versions: 0, records: 0, missing: 0, orphaned: 0\n")


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


def test_since_reads_only_the_windows_keys_never_a_scan(environment, monkeypatch) -> None:
    """Old behaviour: --since still scanned the whole table (consistent reads) and filtered afterwards."""
    version = _upload(environment, "uploads/dana/in-window.txt")
    for n in range(5):  # records of other keys: a scan would read them, a per-key query does not
        environment.dynamodb.put_item(
            TableName="secure-serverless-tooltest-records",
            Item={"object_key": {"S": f"uploads/dana/old-{n}.txt"}, "version_id": {"S": f"v{n}"}},
        )

    def no_scan(*_: Any, **__: Any) -> Any:
        raise AssertionError("reconcile --since must not scan the table")

    monkeypatch.setattr(reconcile, "records", no_scan)
    status, report = _run("--since", "2000-01-01T00:00:00Z")
    assert status == 1
    assert report.splitlines()[0] == "object versions: 1, records: 0, missing: 1, orphaned: 0"
    assert f"missing  uploads/dana/in-window.txt (version {version}) latest" in report


class _Throttled:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def test_throttled_reads_are_a_clear_error_with_exit_status_3(environment, monkeypatch, capsys) -> None:
    """Old behaviour: a throttled read ended in a traceback."""
    _upload(environment, "uploads/erin/a.txt")
    real_session = boto3.Session(region_name="us-east-1")

    def throttle(request: Any, **_: Any) -> AWSResponse:
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow"}'
        return AWSResponse(request.url, 400, {"x-amzn-ErrorType": "ProvisionedThroughputExceededException"},
                           _Throttled(body))  # fmt: skip

    class Session:
        region_name = "us-east-1"

        def client(self, name: str, **kwargs: Any) -> Any:
            made = real_session.client(name, **kwargs)
            if name == "dynamodb":
                made.meta.events.register_first("before-send.dynamodb.*", throttle)
            return made

    monkeypatch.setattr(reconcile, "session", lambda args: Session())
    monkeypatch.setattr(reconcile, "READ_RETRIES", Config(retries={"mode": "standard", "total_max_attempts": 2}))
    for argv in ((), ("--since", "2000-01-01T00:00:00Z")):
        assert _run(*argv)[0] == 3
        error = capsys.readouterr().err
        assert "was throttled (ProvisionedThroughputExceededException) after retrying" in error
        assert "Traceback" not in error


def test_repair_sends_versions_oldest_first_and_invents_no_sequencer(environment) -> None:
    first = _upload(environment, "uploads/fay/doc.txt")
    second = _upload(environment, "uploads/fay/doc.txt")
    third = _upload(environment, "uploads/fay/doc.txt")

    status, report = _run("--repair")

    assert status == 0
    assert f"missing  uploads/fay/doc.txt (version {third}) latest" in report
    assert f"missing  uploads/fay/doc.txt (version {first})\n" in report
    sent = environment.sqs.receive_message(QueueUrl=environment.buffer_url, MaxNumberOfMessages=10)["Messages"]
    objects = [json.loads(m["Body"])["detail"]["object"] for m in sent]
    assert [o["version-id"] for o in objects] == [first, second, third]  # S3's listing, oldest first
    assert all("sequencer" not in o for o in objects)


def test_identity_mapping_items_are_not_records() -> None:
    """The API's identity mappings share the table; a whole-table check (--prefix '') does not call them orphans."""
    from moto import mock_aws

    from stacks import records_schema
    from tools import reconcile

    assert reconcile.IDENTITY_MAPPING_PREFIX == records_schema.IDENTITY_MAPPING_PREFIX
    with mock_aws():
        import boto3

        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**records_schema.create_table_request("records"))
        for key, version in (("#identity/us-east-1:a", "#sub"), ("uploads/us-east-1:a/x", "v1")):
            dynamodb.put_item(TableName="records", Item={"object_key": {"S": key}, "version_id": {"S": version}})
        assert [(k, v) for k, v, _ in reconcile.records(dynamodb, "records", "")] == [("uploads/us-east-1:a/x", "v1")]


def test_tombstones_of_deleted_versions_are_not_records() -> None:
    """A deleted version's record is replaced by a tombstone at the same key: neither the Scan nor the per-key Query
    reports it (it would read as an orphaned record otherwise)."""
    from moto import mock_aws

    from stacks import records_schema
    from tools import reconcile

    assert reconcile.TOMBSTONE_ATTRIBUTE == records_schema.TOMBSTONE_ATTRIBUTE
    with mock_aws():
        import boto3

        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**records_schema.create_table_request("records"))
        key = "uploads/us-east-1:a/x"
        dynamodb.put_item(TableName="records", Item={"object_key": {"S": key}, "version_id": {"S": "v1"}})
        dynamodb.put_item(
            TableName="records",
            Item={"object_key": {"S": key}, "version_id": {"S": "gone"}, "deleted_at": {"N": "1"}},
        )
        assert [(k, v) for k, v, _ in reconcile.records(dynamodb, "records", "uploads/")] == [(key, "v1")]
        assert [(k, v) for k, v, _ in reconcile.records_of_keys(dynamodb, "records", [key])] == [(key, "v1")]
