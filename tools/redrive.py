#!/usr/bin/env python3
"""Move the pipeline dead-letter queue's messages back to the buffer, with counts before and after.

    python tools/redrive.py ENV [--dry-run] [--mode move-task|copy] [--rate N] [--no-wait]

`move-task` (default) starts SQS's own message move task (StartMessageMoveTask: DLQ -> buffer, at most --rate
messages/s if given) and waits for it to finish; `copy` receives, re-sends and deletes batch by batch (for endpoints
without message move tasks, e.g. moto). Each redriven event goes through the processor again; recording is
idempotent (conditional put), so redriving an event that was recorded meanwhile is harmless.

Fix the cause first (see the runbook in docs/operations.md): an event that failed for a reason still present returns
to the DLQ.
Exit status: 0 done (or dry run), 1 the move failed, 2 usage or lookup error.
Permissions: cloudformation:DescribeStacks; sqs:GetQueueAttributes on both queues; sqs:StartMessageMoveTask and
sqs:ListMessageMoveTasks (move-task) or sqs:ReceiveMessage/DeleteMessage on the DLQ and sqs:SendMessage on the
buffer (copy); kms:Decrypt and kms:GenerateDataKey on the environment key.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

try:
    from tools.stack_outputs import ToolError, resolve, session, tool_parser
except ModuleNotFoundError:  # run as a script: tools/ is on sys.path
    from stack_outputs import ToolError, resolve, session, tool_parser  # type: ignore[no-redef]

TERMINAL = frozenset({"COMPLETED", "CANCELLED", "FAILED"})


def parser() -> argparse.ArgumentParser:
    result = tool_parser("redrive.py", __doc__)
    result.add_argument(
        "--mode", choices=("move-task", "copy"), default="move-task", help="how to move (default move-task)"
    )
    result.add_argument("--rate", type=int, help="move-task: at most this many messages per second")
    result.add_argument("--no-wait", action="store_true", help="move-task: start it and return")
    result.add_argument("--dlq-url", dest="dlq_url", help="dead-letter queue URL (default: the stack's output)")
    result.add_argument("--buffer-url", dest="buffer_url", help="buffer queue URL (default: the stack's output)")
    return result


def depth(sqs: Any, url: str) -> int:
    """Visible plus in-flight messages."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def move_task(
    sqs: Any, source_arn: str, destination_arn: str, rate: int | None, wait: bool, sleep: Callable[[float], None]
) -> str:
    """Start SQS's message move task; with `wait`, poll until it ends. Returns its final (or current) status."""
    params: dict[str, Any] = {"SourceArn": source_arn, "DestinationArn": destination_arn}
    if rate:
        params["MaxNumberOfMessagesPerSecond"] = rate
    handle = sqs.start_message_move_task(**params)["TaskHandle"]
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)["Results"]
        task = next((t for t in tasks if t.get("TaskHandle") == handle), tasks[0] if tasks else {})
        status = task.get("Status", "UNKNOWN")
        if not wait or status in TERMINAL:
            if status == "FAILED":
                raise ToolError(f"message move task failed: {task.get('FailureReason', 'no reason given')}")
            return status
        sleep(2.0)


def copy(sqs: Any, source_url: str, destination_url: str) -> int:
    """Receive from the DLQ, send to the buffer, delete from the DLQ, 10 at a time; returns messages moved."""
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=source_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])  # fmt: skip
        if not messages:
            return moved
        entries = []
        for n, message in enumerate(messages):
            entry = {"Id": str(n), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=destination_url, Entries=entries)
        ok = {item["Id"] for item in sent.get("Successful", [])}
        done = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages) if str(n) in ok]
        if done:
            sqs.delete_message_batch(QueueUrl=source_url, Entries=done)
        moved += len(done)
        if len(done) < len(messages):
            raise ToolError(
                f"{len(messages) - len(done)} message(s) could not be sent to the buffer; they stay in the DLQ"
            )


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, sleep: Callable[[float], None] = time.sleep
) -> int:
    args = parser().parse_args(argv)
    try:
        aws = session(args)
        urls = resolve(
            args,
            aws.client("cloudformation"),
            {"dlq_url": "PipelineDeadLetterQueueUrl", "buffer_url": "PipelineBufferUrl"},
        )
        sqs = aws.client("sqs")
        before = depth(sqs, urls["dlq_url"]), depth(sqs, urls["buffer_url"])
        print(f"before: dead-letter queue {before[0]}, buffer {before[1]}", file=out)
        if args.dry_run:
            print(
                f"dry run: would move {before[0]} message(s) from {urls['dlq_url']} "
                f"to {urls['buffer_url']} ({args.mode})",
                file=out,
            )
            return 0
        if before[0] == 0:
            print("nothing to redrive", file=out)
            return 0
        if args.mode == "copy":
            print(f"copied {copy(sqs, urls['dlq_url'], urls['buffer_url'])} message(s)", file=out)
        else:
            source, destination = queue_arn(sqs, urls["dlq_url"]), queue_arn(sqs, urls["buffer_url"])
            print(
                f"message move task: {move_task(sqs, source, destination, args.rate, not args.no_wait, sleep)}",
                file=out,
            )
        after = depth(sqs, urls["dlq_url"]), depth(sqs, urls["buffer_url"])
        print(f"after: dead-letter queue {after[0]}, buffer {after[1]}", file=out)
        return 0
    except ToolError as error:
        print(f"redrive: {error}", file=sys.stderr)
        return 1 if "failed" in str(error) or "could not" in str(error) else 2


if __name__ == "__main__":
    sys.exit(main())
