"""tools/redrive.py: end to end against moto (copy mode) and SQS's message move task against a stubbed client."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import boto3
from botocore.stub import Stubber

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
    assert redrive.main([ENV, "--mode", "copy"], out=out) == 0
    assert out.getvalue().splitlines() == [
        "before: dead-letter queue 13, buffer 0",
        "copied 13 message(s)",
        "after: dead-letter queue 0, buffer 13",
    ]
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
