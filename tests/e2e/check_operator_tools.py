"""The operator tools against the deployed environment, run as an operator runs them (a subprocess with the
emulator's endpoint and credentials in its environment, nothing injected):

- `tools/redrive.py ENV` in its default mode, SQS's message move task (moto has none; the emulator does): a dry run
  that moves nothing, then the real move of the pipeline DLQ back into the buffer, read back through SQS.
- `tools/reconcile.py ENV --since T [--repair]` over an upload whose event was deliberately dropped (the rule's
  target removed for that upload, then put back as it was): reported missing, repaired, recorded exactly once.

Runs after check_chain.py (tests/e2e/run.sh), on the dev-preset environment, with the key encoding as the chain
leaves it (on).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.check_chain import Environment, eventually, identity, now_ms
from tests.e2e.conftest import PR_SUFFIX, ROOT, Aws, Deployment, aws_environment, report

# A malformed event is retried every ~5 s (processor backoff) up to the buffer's maxReceiveCount before it returns to
# the DLQ: fast_retries lowers it to 3 for the check (24 in every preset, sized for a 45-minute outage, would take
# about 4 minutes with the mapping's polling, which stays the bound).
BACK_IN_DLQ_SECONDS = 420


@dataclass
class ToolRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def number(self, pattern: str) -> tuple[int, ...]:
        """The integers captured by `pattern` in stdout; fails showing the output when the line is absent."""
        match = re.search(pattern, self.stdout)
        assert match, f"no line matching {pattern!r} in the tool's output:\n{self.stdout}\n{self.stderr}"
        return tuple(int(group) for group in match.groups())


def run_tool(script: str, *args: str) -> ToolRun:
    """`python tools/<script> ARGS` in the app's virtualenv, configured only through the environment (endpoint,
    dummy credentials, region), as an operator would run it."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / script), *args],
        cwd=ROOT,
        env={**os.environ, **aws_environment()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return ToolRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


@pytest.fixture(scope="module")
def env(aws: Aws, deployment: Deployment) -> Environment:
    return Environment.read(aws, deployment, PR_SUFFIX)


def queue_arn(env: Environment, url: str) -> str:
    return env.aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def move_tasks(env: Environment, source_arn: str) -> list[dict[str, Any]]:
    return env.aws.sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)["Results"]


def dead_letter_bodies(env: Environment) -> list[str]:
    """The DLQ's message bodies, peeked (visibility 0: they stay available to a move task)."""
    messages = env.aws.sqs.receive_message(
        QueueUrl=env.dead_letter_url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
    ).get("Messages", [])
    return [message["Body"] for message in messages]


def test_redrive_moves_the_dead_letters_back_with_the_message_move_task(env: Environment) -> None:
    body = f"not an event (redrive check {uuid.uuid4().hex[:8]})"
    with env.fast_retries():
        before_poison = env.depth(env.dead_letter_url)
        env.aws.sqs.send_message(QueueUrl=env.buffer_url, MessageBody=body)
        eventually(lambda: env.depth(env.dead_letter_url) > before_poison, "the poison message in the DLQ", timeout=120)
        eventually(env.drained, "the buffer queue to drain")
        dead = env.depth(env.dead_letter_url)
        dlq_arn = queue_arn(env, env.dead_letter_url)
        tasks_before = move_tasks(env, dlq_arn)

        dry = run_tool("redrive.py", env.suffix, "--dry-run")
        assert dry.returncode == 0, dry
        assert dry.number(r"before: dead-letter queue (\d+), buffer (\d+)") == (dead, 0)
        assert dry.number(r"dry run: would move (\d+) message\(s\)") == (dead,)
        assert env.depth(env.dead_letter_url) == dead, "the dry run moved messages"
        assert move_tasks(env, dlq_arn) == tasks_before, "the dry run started a message move task"

        since = now_ms()
        real = run_tool("redrive.py", env.suffix)
        assert real.returncode == 0, real
        assert real.number(r"before: dead-letter queue (\d+), buffer (\d+)") == (dead, 0)
        assert "message move task: COMPLETED" in real.stdout, real.stdout
        # The moved messages are in the buffer, visible or in flight (the processor is already failing them).
        assert real.number(r"after: dead-letter queue (\d+), buffer (\d+)") == (0, dead)
        # Read back through SQS: the task as SQS reports it, and the DLQ empty (they need ~10 receives to return).
        [task] = [t for t in move_tasks(env, dlq_arn) if t not in tasks_before]
        assert task["Status"] == "COMPLETED", task
        assert task["DestinationArn"] == queue_arn(env, env.buffer_url), task
        assert task["ApproximateNumberOfMessagesToMove"] == dead, task
        assert task["ApproximateNumberOfMessagesMoved"] == dead, task
        assert env.depth(env.dead_letter_url) == 0, "the DLQ right after the move"

        # Back in the buffer means back in the processor: it fails each one again (RecordsFailed in its EMF log),
        # and after maxReceiveCount receives SQS moves them to the DLQ once more, this check's message among them.
        def failed_again() -> float:
            count = env.processor_metrics(since).get("RecordsFailed", 0.0)
            return count if count >= dead else 0.0

        eventually(
            failed_again,
            f"the processor to fail the {dead} redriven message(s) again",
            timeout=BACK_IN_DLQ_SECONDS,
        )
        eventually(
            lambda: env.depth(env.dead_letter_url) == dead,
            f"the {dead} redriven message(s) back in the DLQ",
            timeout=BACK_IN_DLQ_SECONDS,
        )
        returned_after = (now_ms() - since) / 1000
        policy = env.aws.sqs.get_queue_attributes(QueueUrl=env.buffer_url, AttributeNames=["RedrivePolicy"])
        max_receives = json.loads(policy["Attributes"]["RedrivePolicy"])["maxReceiveCount"]
        failures = env.processor_metrics(since).get("RecordsFailed", 0.0)
        assert body in dead_letter_bodies(env), "this check's message back in the DLQ"
    report(
        f"redrive (message move task): dry run moved nothing (DLQ {dead}, no task started); move task COMPLETED, "
        f"moved {task['ApproximateNumberOfMessagesMoved']}/{task['ApproximateNumberOfMessagesToMove']} in "
        f"{real.seconds:.1f} s (tool run); DLQ {dead} -> 0, buffer 0 -> {dead} (printed and read back)"
    )
    report(
        f"redrive: the processor failed them again (RecordsFailed {failures:.0f} since the redrive; buffer "
        f"maxReceiveCount {max_receives}); all {dead} back in the DLQ "
        f"{returned_after:.0f} s after the redrive"
    )


def pipeline_rule(env: Environment) -> tuple[str, list[dict[str, Any]]]:
    """The EventBridge rule that feeds the buffer, and its targets as deployed."""
    names = env.aws.events.list_rule_names_by_target(TargetArn=queue_arn(env, env.buffer_url))["RuleNames"]
    assert len(names) == 1, f"one rule targets the buffer: {names}"
    return names[0], env.aws.events.list_targets_by_rule(Rule=names[0])["Targets"]


def test_reconcile_reports_a_dropped_event_and_repairs_it_once(env: Environment) -> None:
    rule, targets = pipeline_rule(env)
    key = f"uploads/{identity()}/dropped event {uuid.uuid4().hex[:6]}.txt"
    # S3's LastModified has whole seconds: --since a second before the upload takes exactly this check's uploads.
    since = (datetime.now(UTC) - timedelta(seconds=1)).replace(microsecond=0)
    since_arg = since.strftime("%Y-%m-%dT%H:%M:%SZ")

    # Drop the event: no target on the rule for this upload (LocalStack 2026.3.0's EventBridge delivers to a
    # DISABLED rule's targets, so disabling the rule would not drop it), then the targets put back as they were.
    env.aws.events.remove_targets(Rule=rule, Ids=[target["Id"] for target in targets])
    try:
        put = env.upload(key)
        time.sleep(5)  # S3 notifies and EventBridge matches on background threads; let them find no target
        assert env.depth(env.buffer_url) == 0, "the event reached the buffer with the rule's target removed"
    finally:
        env.aws.events.put_targets(Rule=rule, Targets=targets)
    assert env.aws.events.list_targets_by_rule(Rule=rule)["Targets"] == targets
    version = put["VersionId"]
    control_key = f"uploads/{identity()}/control.txt"
    control = env.upload(control_key)
    eventually(lambda: env.record(control_key, control["VersionId"]), "the control upload's record (target back)")
    eventually(env.drained, "the buffer queue to drain")
    assert env.items_under(key) == [], "the dropped event was recorded anyway"

    found = run_tool("reconcile.py", env.suffix, "--since", since_arg)
    assert found.returncode == 1, found  # documented: missing versions found and not repaired
    versions, records, missing, orphaned = found.number(
        r"object versions: (\d+), records: (\d+), missing: (\d+), orphaned: (\d+)"
    )
    assert (versions, missing, orphaned) == (2, 1, 0), found.stdout
    assert f"missing  {key} (version {version})" in found.stdout, found.stdout

    dry = run_tool("reconcile.py", env.suffix, "--since", since_arg, "--repair", "--dry-run")
    assert dry.returncode == 0, dry
    assert dry.number(r"dry run: would send (\d+) repair event") == (1,)
    assert env.depth(env.buffer_url) == 0 and env.items_under(key) == [], "the dry run sent an event"

    # Two repairs while the mapping holds the buffer: both see the version missing and send its event, so the
    # processor gets it twice and must record it once (conditional put; same derived event id).
    started = now_ms()
    env.set_mapping(enabled=False)
    try:
        # A disabled mapping still hands over what a long poll it had started receives (the first run of this
        # check recorded the first repair before the second one ran): wait such a poll out.
        env.wait_out_polls()
        for run in (1, 2):
            repair = run_tool("reconcile.py", env.suffix, "--since", since_arg, "--repair")
            assert repair.returncode == 0, (run, repair)
            assert repair.number(r"missing: (\d+)") == (1,), (run, repair.stdout)
            assert repair.number(r"repair: sent (\d+) event") == (1,), (run, repair.stdout)
        eventually(lambda: env.depth(env.buffer_url) == 2, "both repair events in the buffer")
    finally:
        env.set_mapping(enabled=True)
    item = eventually(lambda: env.record(key, version), "the repaired record")
    eventually(env.drained, "the repair events to be consumed")
    duplicates = eventually(
        lambda: env.processor_metrics(started).get("DuplicatesIgnored"), "DuplicatesIgnored for the second repair"
    )
    assert [i["version_id"]["S"] for i in env.items_under(key)] == [version], "recorded exactly once"
    repaired_after = (now_ms() - started) / 1000

    again = run_tool("reconcile.py", env.suffix, "--since", since_arg, "--repair")
    assert again.returncode == 0, again
    assert again.number(r"missing: (\d+), orphaned: (\d+)") == (0, 0), again.stdout
    assert "repair: sent" not in again.stdout, again.stdout
    eventually(env.drained, "the buffer queue to stay drained")
    assert [i["version_id"]["S"] for i in env.items_under(key)] == [version], "still exactly once"
    assert item["object_key"]["S"] == key
    report(
        f"reconcile: dropped event (rule target removed for the upload) reported missing (exit 1, "
        f"{versions} versions since {since_arg}, {records} records in all); --repair --dry-run sent nothing"
    )
    report(
        f"reconcile --repair: run twice with the buffer held, recorded once (DuplicatesIgnored {duplicates:.0f}) "
        f"{repaired_after:.1f} s after the first repair; a third --repair finds nothing missing, still one record"
    )
