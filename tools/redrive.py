#!/usr/bin/env python3
"""Move the pipeline dead-letter queue's messages back to the buffer, with counts before and after.

    python tools/redrive.py ENV [--dry-run] [--mode move-task|copy] [--rate N] [--no-wait] [--wait-seconds S]

`move-task` (default) starts SQS's own message move task (StartMessageMoveTask: DLQ -> buffer) and waits for it to
finish; `copy` receives, re-sends and deletes batch by batch (for endpoints without message move tasks, e.g. moto),
long-polling until the DLQ is really empty (no visible, in-flight or delayed message left), and fails (exit 1)
naming every message it sent but could not delete. Each redriven event goes through the processor again; recording
is idempotent (conditional put), so redriving an event that was recorded meanwhile (or twice) is harmless.

Rate: both modes move at most --rate messages/s. The default is the environment preset's sustained capacity
(`default_rate`: a provisioned table's maximum write capacity at its target utilisation, or for an on-demand table
what the event source's maximum concurrency sustains), so a large redrive does not throttle the table and send
events back to the DLQ. A higher --rate is the operator's decision.

Fix the cause first (see the runbook in docs/operations.md): an event that failed for a reason still present returns
to the DLQ.
Exit status: 0 done (or dry run), 1 the move failed or left messages behind, 2 usage or lookup error.
Permissions: cloudformation:DescribeStacks; sqs:GetQueueAttributes on both queues; sqs:StartMessageMoveTask and
sqs:ListMessageMoveTasks (move-task) or sqs:ReceiveMessage/DeleteMessage on the DLQ and sqs:SendMessage on the
buffer (copy); kms:Decrypt and kms:GenerateDataKey on the environment key.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the presets (stacks/config.py) live at the repository root
    sys.path.append(str(ROOT))

from stacks.config import EnvironmentConfig, build_config  # noqa: E402

try:
    from tools.stack_outputs import ToolError, resolve, session, tool_parser
except ModuleNotFoundError:  # run as a script: tools/ is on sys.path
    from stack_outputs import ToolError, resolve, session, tool_parser  # type: ignore[no-redef]

TERMINAL = frozenset({"COMPLETED", "CANCELLED", "FAILED"})
# What one concurrent processor invocation sustains, records/s: a conservative figure under the fault benchmark's
# measured per-record cost (docs/benchmarks.md), so the default rate stays at or below the preset's real capacity.
RECORDS_PER_SECOND_PER_INVOCATION = 10
COPY_VISIBILITY_SECONDS = 60  # a message copied but not yet deleted stays hidden this long


class LeftBehind(ToolError):
    """Messages were sent to the buffer but could not be deleted from the DLQ (exit status 1)."""


def default_rate(config: EnvironmentConfig) -> int:
    """Messages/s a redrive may send by default: at most what the preset sustains.

    A provisioned table sustains its maximum write capacity at the target utilisation (one upload is one write to
    the table and one to the by-owner index, which scales alike); an on-demand table is not the bottleneck, the
    event source's maximum concurrency is. Never below 1.
    """
    processing = config.processor_max_concurrency * RECORDS_PER_SECOND_PER_INVOCATION
    if config.table_on_demand:
        return max(1, processing)
    table = math.floor(config.table_write_capacity[1] * config.table_target_utilization_percent / 100)
    return max(1, min(table, processing))


def parser() -> argparse.ArgumentParser:
    result = tool_parser("redrive.py", __doc__)
    result.add_argument(
        "--mode", choices=("move-task", "copy"), default="move-task", help="how to move (default move-task)"
    )
    result.add_argument(
        "--rate", type=int, help="at most this many messages per second (default: the preset's sustained capacity)"
    )
    result.add_argument("--no-wait", action="store_true", help="move-task: start it and return")
    result.add_argument(
        "--wait-seconds", type=int, default=20, help="copy: long-poll wait per receive, 1-20 (default 20)"
    )
    result.add_argument("--dlq-url", dest="dlq_url", help="dead-letter queue URL (default: the stack's output)")
    result.add_argument("--buffer-url", dest="buffer_url", help="buffer queue URL (default: the stack's output)")
    return result


def depth(sqs: Any, url: str) -> int:
    """Visible, in-flight and delayed messages."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
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


def copy(
    sqs: Any,
    source_url: str,
    destination_url: str,
    *,
    rate: int | None = None,
    wait_seconds: int = 20,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Receive from the DLQ, send to the buffer, delete from the DLQ, 10 at a time; returns messages moved.

    Long-polls (`wait_seconds`) until the DLQ is really empty: an empty receive ends the copy only when the queue
    also has no in-flight or delayed message (those become visible later and are copied then). A message sent but
    not deleted is tried once more, then left: it stays in the DLQ (a later redrive sends it again, harmlessly), and
    the copy ends with LeftBehind naming them once nothing else is left.
    """
    moved = 0
    undeleted: dict[str, str] = {}  # message id -> why its delete failed
    started = clock()
    while True:
        messages = sqs.receive_message(
            QueueUrl=source_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=COPY_VISIBILITY_SECONDS, MessageAttributeNames=["All"],
        ).get("Messages", [])  # fmt: skip
        messages = [m for m in messages if m["MessageId"] not in undeleted]
        if not messages:
            remaining = depth(sqs, source_url)
            if remaining == 0:
                break
            if remaining <= len(undeleted):  # only our own undeletable messages are left (hidden by us)
                break
            continue  # in flight or delayed: they become visible again; keep polling
        entries = []
        for n, message in enumerate(messages):
            entry = {"Id": str(n), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=destination_url, Entries=entries)
        ok = {item["Id"] for item in sent.get("Successful", [])}
        done = [m for n, m in enumerate(messages) if str(n) in ok]
        if len(done) < len(messages):
            raise ToolError(
                f"{len(messages) - len(done)} message(s) could not be sent to the buffer; they stay in the DLQ"
                f" ({moved} moved before)"
            )
        failed = _delete(sqs, source_url, done)
        if failed:
            failed = _delete(sqs, source_url, [m for m in done if m["MessageId"] in failed])  # once more
        undeleted.update(failed)
        moved += len(done) - len(failed)
        if rate:
            # Never faster than `rate`: the next batch waits until the average since the start is back under it.
            ahead = (moved + len(undeleted)) / rate - (clock() - started)
            if ahead > 0:
                sleep(ahead)
    if undeleted:
        details = "; ".join(f"{message_id}: {why}" for message_id, why in sorted(undeleted.items()))
        raise LeftBehind(
            f"{len(undeleted)} message(s) were sent to the buffer but could not be deleted from the DLQ, where they "
            f"stay (redriving them again is harmless; recording is idempotent). {moved} moved. {details}"
        )
    return moved


def _delete(sqs: Any, url: str, messages: list[dict[str, Any]]) -> dict[str, str]:
    """DeleteMessageBatch; returns {message id: reason} for the entries SQS did not delete."""
    if not messages:
        return {}
    entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
    try:
        response = sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    except Exception as error:  # noqa: BLE001 - reported per message, the copy goes on
        return {m["MessageId"]: f"{type(error).__name__}: {error}" for m in messages}
    return {
        messages[int(item["Id"])]["MessageId"]: f"{item.get('Code', '?')}: {item.get('Message', '')}".strip()
        for item in response.get("Failed", [])
    }


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
        rate = args.rate if args.rate else default_rate(build_config(args.env))
        print(f"rate: at most {rate} message(s)/s{'' if args.rate else ' (the preset sustained capacity)'}", file=out)
        if args.mode == "copy":
            if not 0 <= args.wait_seconds <= 20:
                raise ToolError(f"invalid --wait-seconds {args.wait_seconds}: must be from 0 to 20")
            moved = copy(
                sqs, urls["dlq_url"], urls["buffer_url"], rate=rate, wait_seconds=args.wait_seconds, sleep=sleep
            )
            print(f"copied {moved} message(s)", file=out)
        else:
            source, destination = queue_arn(sqs, urls["dlq_url"]), queue_arn(sqs, urls["buffer_url"])
            print(
                f"message move task: {move_task(sqs, source, destination, rate, not args.no_wait, sleep)}",
                file=out,
            )
        after = depth(sqs, urls["dlq_url"]), depth(sqs, urls["buffer_url"])
        print(f"after: dead-letter queue {after[0]}, buffer {after[1]}", file=out)
        return 0
    except ToolError as error:
        print(f"redrive: {error}", file=sys.stderr)
        return 1 if isinstance(error, LeftBehind) or "failed" in str(error) or "could not" in str(error) else 2


if __name__ == "__main__":
    sys.exit(main())
