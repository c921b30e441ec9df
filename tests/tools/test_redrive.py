"""tools/redrive.py: end to end against moto (copy mode) and SQS's message move task against a stubbed client."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from stacks.config import build_config
from tests.support.pipeline_sim import Pump, SimClock, count_messages
from tests.tools.conftest import ENV, Environment
from tools import redrive

ROOT = Path(__file__).resolve().parents[2]


def _dead_letters(environment: Environment, count: int) -> list[str]:
    keys = []
    for n in range(count):
        key = f"uploads/carol/redriven-{n}.txt"
        version = environment.s3.put_object(Bucket="secsls-tooltest-data", Key=key, Body=b"x")["VersionId"]
        event = {
            "version": "0", "id": f"event-{n}", "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2026-11-26T12:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {
                "bucket": {"name": "secsls-tooltest-data"}, "object": {"key": key, "size": 1, "version-id": version},
            },
        }  # fmt: skip
        environment.sqs.send_message(QueueUrl=environment.dlq_url, MessageBody=json.dumps(event))
        keys.append(key)
    return keys


def test_copy_moves_every_dead_letter_back_and_the_processor_records_them(environment, processor_handler) -> None:
    keys = _dead_letters(environment, 13)

    out = io.StringIO()
    assert redrive.main([ENV, "--dry-run"], out=out) == 0
    assert out.getvalue().splitlines()[0] == "before: dead-letter queue 13, buffer 0"
    assert count_messages(environment.sqs, environment.dlq_url) == 13

    out = io.StringIO()
    sleeps: list[float] = []
    assert redrive.main([ENV, "--mode", "copy", "--wait-seconds", "0"], out=out, sleep=sleeps.append) == 0
    rate = redrive.default_rate(build_config(ENV))
    assert out.getvalue().splitlines() == [
        "before: dead-letter queue 13, buffer 0",
        f"rate: at most {rate} message(s)/s (the preset sustained capacity)",
        "copied 13 message(s)",
        "after: dead-letter queue 0, buffer 13",
    ]
    # 13 messages at `rate`/s: the copy waited between batches rather than sending them all at once.
    assert sum(sleeps) >= (10 / rate) * 0.9
    pump = Pump(
        environment.sqs, environment.buffer_url, environment.buffer_arn, processor_handler.sqs_handler, SimClock()
    )
    while count_messages(environment.sqs, environment.buffer_url):
        assert pump.step() > 0
    assert [key for key, _ in environment.records()] == sorted(keys)


def test_move_task_starts_sqs_task_from_dlq_to_buffer_and_waits() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    source, destination = "arn:aws:sqs:us-east-1:123456789012:dlq", "arn:aws:sqs:us-east-1:123456789012:buffer"
    sleeps: list[float] = []
    with Stubber(sqs) as stubber:
        stubber.add_response(
            "start_message_move_task",
            {"TaskHandle": "h-1"},
            {"SourceArn": source, "DestinationArn": destination, "MaxNumberOfMessagesPerSecond": 50},
        )
        running = {"TaskHandle": "h-1", "Status": "RUNNING", "SourceArn": source}
        stubber.add_response("list_message_move_tasks", {"Results": [running]}, {"SourceArn": source, "MaxResults": 10})
        done = {**running, "Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 7}
        stubber.add_response("list_message_move_tasks", {"Results": [done]}, {"SourceArn": source, "MaxResults": 10})
        status = redrive.move_task(sqs, source, destination, 50, True, sleeps.append)
        stubber.assert_no_pending_responses()
    assert (status, sleeps) == ("COMPLETED", [2.0])


def test_help_and_missing_stack() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "redrive.py"), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "--dry-run" in result.stdout and "move-task" in result.stdout


def test_copy_long_polls_until_messages_in_flight_come_back(environment) -> None:
    """Old behaviour: the first empty short poll ended the copy, leaving in-flight dead letters behind."""
    _dead_letters(environment, 4)
    held = environment.sqs.receive_message(QueueUrl=environment.dlq_url, MaxNumberOfMessages=2, VisibilityTimeout=1)
    assert len(held["Messages"]) == 2  # someone (an earlier, interrupted run) holds two of them for a second

    moved = redrive.copy(environment.sqs, environment.dlq_url, environment.buffer_url, wait_seconds=1)

    assert moved == 4
    assert count_messages(environment.sqs, environment.dlq_url) == 0
    assert count_messages(environment.sqs, environment.buffer_url) == 4


class _FailingDeletes:
    """The real (moto) SQS client, except that DeleteMessageBatch refuses the entries for `refused` message ids."""

    def __init__(self, sqs: Any, refused: set[str]) -> None:
        self._sqs, self._refused, self.attempts = sqs, refused, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def receive_message(self, **kwargs: Any) -> Any:
        response = self._sqs.receive_message(**kwargs)
        self._handles = {m["ReceiptHandle"]: m["MessageId"] for m in response.get("Messages", [])}
        return response

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:  # noqa: N803 - boto3's names
        self.attempts += 1
        keep = [e for e in Entries if self._handles.get(e["ReceiptHandle"]) not in self._refused]
        if keep:
            self._sqs.delete_message_batch(QueueUrl=QueueUrl, Entries=keep)
        failed = [e for e in Entries if e not in keep]
        return {
            "Successful": [{"Id": e["Id"]} for e in keep],
            "Failed": [{"Id": e["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True, "Message": "no"}
                       for e in failed],
        }  # fmt: skip


def test_copy_reports_failed_deletes_and_main_exits_non_zero(environment, monkeypatch, capsys) -> None:
    """Old behaviour: delete failures were ignored and the copy reported success."""
    _dead_letters(environment, 3)
    peek = environment.sqs.receive_message(QueueUrl=environment.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    failing = _FailingDeletes(environment.sqs, {peek["Messages"][0]["MessageId"]})
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")

    class Session:
        def client(self, name: str) -> Any:
            return failing if name == "sqs" else cloudformation

    monkeypatch.setattr(redrive, "session", lambda args: Session())
    status = redrive.main([ENV, "--mode", "copy", "--wait-seconds", "0"], out=io.StringIO(), sleep=lambda _: None)

    assert status == 1
    assert "1 message(s) were sent to the buffer but could not be deleted from the DLQ" in capsys.readouterr().err
    assert failing.attempts >= 2  # the refused delete was tried once more
    assert count_messages(environment.sqs, environment.dlq_url) == 1  # it stays in the DLQ: nothing is lost
    assert count_messages(environment.sqs, environment.buffer_url) == 3


@pytest.mark.parametrize("preset", ["dev", "staging", "prod"])
def test_default_rate_is_at_most_the_presets_sustained_capacity(preset) -> None:
    config = build_config(preset)
    rate = redrive.default_rate(config)
    assert rate >= 1
    if not config.table_on_demand:
        low, high = config.table_write_capacity
        assert rate <= high * config.table_target_utilization_percent / 100
    assert rate <= config.processor_max_concurrency * redrive.RECORDS_PER_SECOND_PER_INVOCATION


def test_the_runbook_states_the_default_rates_the_tool_uses() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    rates = ", ".join(
        f"{preset} {redrive.default_rate(build_config(preset))}/s" for preset in ("dev", "staging", "prod")
    )
    assert f"default rates:\n{rates})" in text
