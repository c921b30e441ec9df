"""A simulated clock and a small SQS event source mapping, to run the real processor handler against moto's SQS
for hours of simulated time without sleeping (used by tests/lambda/processor and bench/capacity.py).

The clock drives moto's SQS (visibility timeouts, receive counts, redrive to the DLQ), botocore's retry sleeps and
the Lambda context's remaining time. The pump does what Lambda's SQS event source does: receive up to a batch,
invoke the handler, delete the records it did not report in `batchItemFailures`.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.endpoint
import moto.sqs.models


class SimClock:
    """Epoch seconds that move only when told to (or when code under test sleeps)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self.start = self.now

    def advance(self, seconds: float) -> None:
        self.now += max(0.0, float(seconds))

    @property
    def elapsed(self) -> float:
        return self.now - self.start

    def install(self, monkeypatch: Any) -> None:
        """moto's SQS and botocore's retry sleeps follow this clock."""
        monkeypatch.setattr(moto.sqs.models, "unix_time", lambda *_: self.now)
        monkeypatch.setattr(moto.sqs.models, "unix_time_millis", lambda *_: self.now * 1000.0)
        fake_time = types.SimpleNamespace(
            **{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
        )
        fake_time.sleep = self.advance
        monkeypatch.setattr(botocore.endpoint, "time", fake_time)


@dataclass
class SimContext:
    """A Lambda context whose remaining time follows the simulated clock."""

    clock: SimClock
    timeout_seconds: float
    deadline: float = 0.0
    function_name: str = "secure-serverless-sim-processor"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:secure-serverless-sim-processor"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def start(self) -> SimContext:
        self.deadline = self.clock.now + self.timeout_seconds
        return self

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - self.clock.now) * 1000)


@dataclass
class Pump:
    """Lambda's SQS event source mapping, one poller, on the simulated clock."""

    sqs: Any
    queue_url: str
    queue_arn: str
    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    clock: SimClock
    batch_size: int = 10
    timeout_seconds: float = 30.0
    poll_seconds: float = 5.0
    invocations: int = 0
    failures_reported: int = 0
    log: list[tuple[float, int, int]] = field(default_factory=list)  # (elapsed, received, failed)

    def step(self) -> int:
        """One receive + invoke + delete; then the clock moves by the poll interval. Returns records received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.batch_size, 10),
            AttributeNames=["All"],
        ).get("Messages", [])
        if messages:
            event = {"Records": [self._record(message) for message in messages]}
            response = self.handler(event, SimContext(self.clock, self.timeout_seconds).start())
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            for start in range(0, len(done), 10):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(done[start : start + 10])
                    ],
                )
            self.invocations += 1
            self.failures_reported += len(failed)
            self.log.append((self.clock.elapsed, len(messages), len(failed)))
        self.clock.advance(self.poll_seconds)
        return len(messages)

    def run(self, seconds: float) -> None:
        """Pump until `seconds` of simulated time have passed."""
        end = self.clock.now + seconds
        while self.clock.now < end:
            self.step()

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.queue_arn.split(":")[3],
        }


def count_messages(sqs: Any, queue_url: str) -> int:
    """Visible + in flight + delayed messages of a queue (moto answers exactly)."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    names = (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    )
    return sum(int(attributes.get(name, 0)) for name in names)
