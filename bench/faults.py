"""Fault benchmark: the real processor handler, on simulated time, through a simulated SQS event source.

    .venv/bin/python bench/faults.py [--only NAME ...] [--plots DIR] [--short]      (make bench-faults)

Prints one line per scenario, `scenario=<name> uploads=<n> valid_in_dlq=<n> drained_min=<x>` (target: no valid
upload in the DLQ; prod's burst drained within 10 minutes), then the sustained rate per preset with its first
bottleneck. With --plots DIR it draws, per scenario, the buffer backlog, the oldest message's age, records recorded
and the DLQ depth over simulated time (DIR/faults-<name>.png).

What is real and what is simulated:
- Real: `processor.handler.sqs_handler` and everything under it (parsing, the start budget, per-call budgets, error
  classification, back-off, the closing ChangeMessageVisibilityBatch), botocore's whole request path (serialising,
  signing, the standard retry mode with its retry quota and back-off sleeps, response parsing). Faults and answers
  are injected at botocore's HTTP layer (`before-send`): a throttle is a real 400 body, a hang advances the clock by
  the client's read timeout and raises botocore's ReadTimeoutError, exactly where urllib3 would.
- Simulated, in simulated seconds (nothing sleeps): S3 (HeadObject), DynamoDB (the record's write: a TransactWriteItems
  of its conditional put and its tombstone check, no version here being deleted; with a
  provisioned table's capacity as a token bucket where the preset is provisioned), the SQS buffer and its DLQ
  (visibility timeout = 6 x the function timeout, receive counts, redrive after the preset's maxReceiveCount,
  ChangeMessageVisibility), and Lambda's SQS event source: up to the preset's maximum concurrency pollers, each
  filling a batch of up to 10 within the 5 s batching window, the function timeout (an invocation that overruns
  it has its batch return only after the visibility timeout; nothing of it after the deadline takes effect).
- Per-call latency (healthy): HeadObject 20 ms, the record's TransactWriteItems 10 ms, ChangeMessageVisibilityBatch
  15 ms (LATENCY).
- CPU: the handler's own CPU time per invocation is measured here (time.process_time, the simulator's own work
  subtracted) and stretched by the function's CPU share (memory / 1,769 MB: Lambda gives one vCPU at 1,769 MB), so
  a 256 MB function takes ~6.9x as long as this machine's core.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import io
import json
import os
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "lambda" / "processor", ROOT / "lambda" / "shared" / "python"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from stacks.config import EnvironmentConfig, build_config  # noqa: E402

BUCKET, TABLE, ACCOUNT, REGION = "bench-faults-uploads", "bench-faults-records", "123456789012", "us-east-1"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:bench-faults-buffer"
# The record's write: a TransactWriteItems of its conditional put and the check that its version has no tombstone.
RECORD_WRITE = "TransactWriteItems"
LATENCY = {"HeadObject": 0.020, "GetItem": 0.005, RECORD_WRITE: 0.010, "ChangeMessageVisibilityBatch": 0.015}
FULL_VCPU_MB = 1769
BATCHING_WINDOW_SECONDS = 5.0
SAMPLE_SECONDS = 30.0
PROD_BURST_TARGET_MINUTES = 10.0


# ------------------------------------------------------------------------------------------------ simulated time
class Clock:
    """Simulated epoch seconds: set to an invocation's start, moved by calls (latency, hangs, retry sleeps)."""

    def __init__(self) -> None:
        self.now = 1_780_000_000.0
        self.start = self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, float(seconds))

    @property
    def elapsed(self) -> float:
        return self.now - self.start


@dataclass
class Context:
    clock: Clock
    deadline: float
    function_name: str = "bench-faults-processor"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench-faults-processor"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - self.clock.now) * 1000)


# ------------------------------------------------------------------------------------------------- the scenarios
@dataclass(frozen=True)
class Fault:
    """During [start, end) simulated seconds, `operation` answers `kind` (throttle | hang | error)."""

    operation: str
    kind: str
    start: float
    end: float


@dataclass(frozen=True)
class Scenario:
    name: str
    preset: str
    uploads: int
    arrival_seconds: float
    faults: tuple[Fault, ...] = ()
    keys: str = "plain"  # plain | encoded (a ':' delivered URL-encoded) | long-encoded (599-byte non-ASCII, encoded)
    provisioned_capacity: bool = False  # model the preset's provisioned table (token bucket) if it has one
    capacity_at_max: bool = False  # the provisioned table already scaled to its maximum, no burst credits (steady)
    max_receive_count: int | None = None  # None: the preset's


def scenarios(short: bool = False) -> list[Scenario]:
    """The scenarios of issue 18; `short` shrinks time and volume (the tests) but keeps every mechanism."""
    m = 60.0
    outage45, outage30 = (3 * m, 2 * m) if short else (45 * m, 30 * m)
    slow, fast = (0.5, 2.0) if short else (0.2, 5.0)
    burst = 600 if short else 10_000
    result = [
        Scenario(f"burst-{burst // 1000 or burst}{'k' if burst >= 1000 else ''}-60s-{preset}", preset, burst, 60,
                 provisioned_capacity=True)
        for preset in ("dev", "staging", "prod")
    ]  # fmt: skip
    for rate in (slow, fast):
        result.append(
            Scenario(
                f"throttle-45min-{rate:g}per-s",
                "dev",
                int(rate * outage45),
                outage45,
                (Fault(RECORD_WRITE, "throttle", 0, outage45),),
            )  # fmt: skip
        )
        result.append(
            Scenario(
                f"slow-put-30min-{rate:g}per-s",
                "dev",
                int(rate * outage30),
                outage30,
                (Fault(RECORD_WRITE, "hang", 0, outage30),),
            )  # fmt: skip
        )
    result += [
        Scenario("slow-head-30min", "dev", int(1.0 * outage30), outage30, (Fault("HeadObject", "hang", 0, outage30),)),
        Scenario("encoded-keys-throttle-45min", "dev", int(1.0 * outage45), outage45,
                 (Fault(RECORD_WRITE, "throttle", 0, outage45),), keys="encoded"),
        Scenario("visibility-change-fails", "dev", int(1.0 * outage45), outage45,
                 (Fault(RECORD_WRITE, "throttle", 0, outage45),
                  Fault("ChangeMessageVisibilityBatch", "error", 0, outage45))),
        Scenario("long-encoded-keys", "dev", 300 if not short else 60, 300 if not short else 60, keys="long-encoded"),
    ]  # fmt: skip
    if short:
        from processor import backoff

        # The same arithmetic as the deployed maxReceiveCount, for the shortened outage: the test proves the
        # mechanism (survive an outage with margin, even with visibility changes failing) in seconds.
        count = backoff.receives_to_survive(
            outage45 * backoff.OUTAGE_MARGIN, visibility_timeout=6 * build_config("dev").processor_timeout_seconds
        )
        result = [
            s if s.name.startswith("burst") else Scenario(**{**s.__dict__, "max_receive_count": count}) for s in result
        ]
    return result


# --------------------------------------------------------------------------------------------- simulated queue
@dataclass
class Message:
    id: str
    body: str
    sent_at: float
    visible_at: float
    receives: int = 0
    handle: str = ""


class Queue:
    """An SQS standard queue with a redrive policy (exact counts: no sampling)."""

    def __init__(self, visibility_timeout: float, max_receive_count: int) -> None:
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self.messages: dict[str, Message] = {}
        self.dead: list[Message] = []
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0

    def send(self, body: str, at: float) -> None:
        message = Message(str(uuid.uuid4()), body, at, at)
        self.messages[message.id] = message
        self._push(message)

    def _push(self, message: Message) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (message.visible_at, self._seq, message.id))

    def next_visible(self) -> float | None:
        while self._heap:
            at, _, message_id = self._heap[0]
            message = self.messages.get(message_id)
            if message is None or message.visible_at != at:
                heapq.heappop(self._heap)
                continue
            return at
        return None

    def receive(self, at: float, limit: int) -> list[Message]:
        taken: list[Message] = []
        while len(taken) < limit:
            visible = self.next_visible()
            if visible is None or visible > at:
                break
            _, _, message_id = heapq.heappop(self._heap)
            message = self.messages[message_id]
            if message.receives >= self.max_receive_count:  # SQS: moved on the receive after the last allowed one
                del self.messages[message_id]
                self.dead.append(message)
                continue
            message.receives += 1
            message.handle = f"{message.id}#{message.receives}"
            message.visible_at = at + self.visibility_timeout
            self._push(message)
            taken.append(message)
        return taken

    def change_visibility(self, handle: str, seconds: float, at: float) -> bool:
        message = self.messages.get(handle.split("#")[0])
        if message is None or message.handle != handle:
            return False
        message.visible_at = at + seconds
        self._push(message)
        return True

    def delete(self, handle: str) -> None:
        message = self.messages.get(handle.split("#")[0])
        if message is not None and message.handle == handle:
            del self.messages[message.id]


# ------------------------------------------------------------------------------------------ simulated S3/DynamoDB
class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class TokenBucket:
    """A provisioned table's writes/s (auto scaling steps every 2 minutes to consumed/target) plus 300 s of burst."""

    def __init__(self, config: EnvironmentConfig, clock: Clock, *, at_max: bool = False) -> None:
        self.config, self.clock, self.at_max = config, clock, at_max
        low, _ = config.table_write_capacity
        self.tokens = 0.0 if at_max else 300.0 * low
        self.last = clock.start

    def rate(self, elapsed: float) -> float:
        low, high = self.config.table_write_capacity
        if self.at_max:
            return float(high)
        steps = int(elapsed // 120)
        return min(float(high), low * (100 / self.config.table_target_utilization_percent) ** steps)

    def take(self) -> bool:
        now = self.clock.now
        if now > self.last:
            self.tokens = min(self.tokens + (now - self.last) * self.rate(now - self.clock.start), 300.0 * 1e6)
            self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class World:
    """S3, DynamoDB and the buffer as botocore sees them, answered at its HTTP layer, with the scenario's faults."""

    clock: Clock
    queue: Queue
    faults: tuple[Fault, ...]
    capacity: TokenBucket | None = None
    objects: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    records: dict[tuple[str, str], float] = field(default_factory=dict)
    deadline: float = float("inf")
    pending_visibility: list[tuple[float, str, float]] = field(default_factory=list)
    sim_cpu: float = 0.0  # process time spent in this simulator's own code during the current invocation
    own_cpu_total: float = 0.0  # the handler's own CPU, summed over invocations
    throttled_writes: int = 0  # record writes the table's capacity refused

    def fault(self, operation: str) -> str | None:
        elapsed = self.clock.elapsed
        return next((f.kind for f in self.faults if f.operation == operation and f.start <= elapsed < f.end), None)

    def answer(self, read_timeout: float, request: Any, event_name: str, **_: Any) -> Any:
        started = time.process_time()
        try:
            return self._answer(read_timeout, request, event_name.rsplit(".", 1)[-1])
        finally:
            self.sim_cpu += time.process_time() - started

    def _answer(self, read_timeout: float, request: Any, operation: str) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.exceptions import ReadTimeoutError

        kind = self.fault(operation)
        if kind == "hang":
            self.clock.sleep(read_timeout)
            raise ReadTimeoutError(endpoint_url=request.url)
        self.clock.sleep(LATENCY.get(operation, 0.01))
        if kind == "error":
            body = json.dumps({"__type": "InternalError", "message": "We encountered an internal error."}).encode()
            return AWSResponse(request.url, 500, {"x-amzn-query-error": "InternalError;Receiver"}, _Raw(body))
        if operation == "HeadObject":
            if kind == "throttle":
                return AWSResponse(request.url, 503, {}, _Raw(b""))
            parts = urlsplit(request.url)
            key = unquote(parts.path.lstrip("/").split("/", 1)[1] if parts.netloc.startswith("s3.") else
                          parts.path.lstrip("/"))  # fmt: skip
            version = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("versionId", "null")
            found = self.objects.get((key, unquote(version)))
            if found is None:
                return AWSResponse(request.url, 404, {}, _Raw(b""))
            size, etag = found
            headers = {
                "content-length": str(size), "etag": f'"{etag}"', "content-type": "application/octet-stream",
                "last-modified": formatdate(self.clock.start, usegmt=True), "x-amz-version-id": unquote(version),
            }  # fmt: skip
            return AWSResponse(request.url, 200, headers, _Raw(b""))
        if operation == RECORD_WRITE:
            throttled = kind == "throttle" or (self.capacity is not None and not self.capacity.take())
            if throttled:
                self.throttled_writes += 1
                body = json.dumps({
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "The level of configured provisioned throughput for the table was exceeded.",
                }).encode()  # fmt: skip
                return AWSResponse(request.url, 400, {}, _Raw(body))
            item = json.loads(request.body)["TransactItems"][0]["Put"]["Item"]
            key = (item["object_key"]["S"], item["version_id"]["S"])
            if key in self.records:  # [the put's condition failed, the tombstone check passed]: a duplicate
                body = json.dumps({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                    "CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "None"}],
                }).encode()  # fmt: skip
                return AWSResponse(request.url, 400, {}, _Raw(body))
            self.records[key] = self.clock.elapsed
            return AWSResponse(request.url, 200, {}, _Raw(b"{}"))
        if operation == "GetItem":  # the uploader's identity mapping: every simulated identity has one
            identity = json.loads(request.body)["Key"]["object_key"]["S"].removeprefix("#identity/")
            body = json.dumps({"Item": {"sub": {"S": str(uuid.uuid5(uuid.NAMESPACE_URL, identity))}}}).encode()
            return AWSResponse(request.url, 200, {}, _Raw(body))
        if operation == "ChangeMessageVisibilityBatch":
            entries = json.loads(request.body)["Entries"]
            for entry in entries:
                self.pending_visibility.append((self.clock.now, entry["ReceiptHandle"], entry["VisibilityTimeout"]))
            body = json.dumps({"Successful": [{"Id": e["Id"]} for e in entries], "Failed": []}).encode()
            return AWSResponse(request.url, 200, {}, _Raw(body))
        raise RuntimeError(f"the simulator does not answer {operation}")


# --------------------------------------------------------------------------------------------------- the driver
@dataclass
class Result:
    scenario: Scenario
    uploads: int
    valid_in_dlq: int
    drained_min: float
    first_dead_min: float | None
    invocations: int
    busy_seconds: float  # sum of invocation durations (simulated)
    cpu_seconds: float  # the handler's own CPU on this machine (before stretching by the CPU share)
    records_handled: int  # records given to invocations (receives)
    throttled_writes: int  # record writes refused by the table (fault or capacity)
    samples: list[tuple[float, int, float, int, int]]  # (minute, backlog, oldest age s, recorded, dlq depth)

    def line(self) -> str:
        return (
            f"scenario={self.scenario.name} uploads={self.uploads} valid_in_dlq={self.valid_in_dlq} "
            f"drained_min={self.drained_min:.1f}"
        )


def _key(scenario: Scenario, n: int) -> tuple[str, str]:
    """(the object's key, the key as the event delivers it)."""
    identity = f"us-east-1:{uuid.UUID(int=n % 97):}"
    if scenario.keys == "long-encoded":
        key = f"uploads/{identity}/" + "日本語" * 60 + f"-{n}.txt"
        return key, quote(key)
    key = f"uploads/{identity}/file {n}.bin"
    return key, (quote(key) if scenario.keys == "encoded" else key)


def _event(delivered_key: str, size: int, version: str, etag: str, n: int) -> str:
    return json.dumps({
        "version": "0", "id": str(uuid.UUID(int=n + 1)), "detail-type": "Object Created", "source": "aws.s3",
        "account": ACCOUNT, "time": "2026-12-03T10:00:00Z", "region": REGION, "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {"version": "0", "bucket": {"name": BUCKET}, "reason": "PostObject",
                   "object": {"key": delivered_key, "size": size, "etag": etag, "version-id": version,
                              "sequencer": f"{n + 1:018X}"}},
    })  # fmt: skip


def run(scenario: Scenario, *, time_limit_seconds: float = 6 * 3600) -> Result:
    """Drive the scenario to the end (buffer empty after every upload arrived) and return what happened.

    The process's environment, botocore's clock, the processor's client cache and the modules first imported here
    are restored afterwards (tests run this in the same process as other tests)."""
    saved, modules = dict(os.environ), set(sys.modules)
    try:
        return _run(scenario, time_limit_seconds)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        # Modules first imported here read this run's environment at import (Powertools' namespace, the handler's
        # Metrics/Logger): forget them, so a later import in the same process reads its own environment.
        for name in set(sys.modules) - modules:
            if name.split(".")[0] in ("processor", "shared_runtime"):
                del sys.modules[name]


def _run(scenario: Scenario, time_limit_seconds: float) -> Result:
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench", "TABLE_NAME": TABLE, "EXPECTED_BUCKET_NAME": BUCKET,
            "EXPECTED_BUCKET_OWNER": ACCOUNT, "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "processor", "POWERTOOLS_METRICS_NAMESPACE": "BenchFaults",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )  # fmt: skip
    for name in ("LAMBDA_TASK_ROOT", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    import botocore.endpoint
    from shared_runtime import clients

    from processor import handler, store

    config = build_config(scenario.preset)
    clock = Clock()
    queue = Queue(
        6 * config.processor_timeout_seconds, scenario.max_receive_count or config.processor_max_receive_count
    )
    capacity = (
        TokenBucket(config, clock, at_max=scenario.capacity_at_max)
        if scenario.provisioned_capacity and not config.table_on_demand
        else None
    )
    world = World(clock, queue, scenario.faults, capacity)

    original_client, original_time = clients.client, botocore.endpoint.time
    hooked: set[int] = set()

    def client(service: str, budget: Any) -> Any:
        made = original_client(service, budget)
        if id(made) not in hooked:
            hooked.add(id(made))
            prefix = made.meta.service_model.endpoint_prefix
            made.meta.events.register_first(
                f"before-send.{prefix}", lambda **kw: world.answer(float(budget.read_timeout), **kw)
            )
        return made

    class _Time:  # botocore's retry back-off sleeps in simulated time
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        sleep = staticmethod(clock.sleep)

    clients.client = client
    botocore.endpoint.time = _Time()  # type: ignore[assignment] # module attribute swapped for the run
    store.reset_clients(drop_session=True)
    cost = getattr(handler, "RECORD_COST", None)
    if cost is not None:
        cost._costs.clear()  # a fresh execution environment: nothing measured yet
    try:
        return _drive(scenario, config, clock, queue, world, handler.sqs_handler, time_limit_seconds)
    finally:
        clients.client = original_client
        botocore.endpoint.time = original_time
        store.reset_clients(drop_session=True)


def _drive(
    scenario: Scenario,
    config: EnvironmentConfig,
    clock: Clock,
    queue: Queue,
    world: World,
    sqs_handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    time_limit_seconds: float,
) -> Result:
    interval = scenario.arrival_seconds / scenario.uploads
    arrived, invocations = 0, 0
    totals = [0.0, 0.0, 0]
    samples: list[tuple[float, int, float, int, int]] = []
    next_sample = 0.0
    first_dead: float | None = None
    cpu_share = min(1.0, config.processor_memory_mb / FULL_VCPU_MB)
    pollers = [(clock.start, n) for n in range(config.processor_max_concurrency)]
    heapq.heapify(pollers)

    def arrive_until(elapsed: float) -> None:
        nonlocal arrived
        while arrived < scenario.uploads and arrived * interval <= elapsed + 1e-6:
            key, delivered = _key(scenario, arrived)
            version, etag = uuid.UUID(int=arrived + 7).hex, f"{arrived:032x}"
            world.objects[(key, version)] = (1024, etag)
            queue.send(_event(delivered, 1024, version, etag, arrived), clock.start + arrived * interval)
            arrived += 1

    def sample(upto: float) -> None:
        nonlocal next_sample
        while next_sample <= upto:
            now = clock.start + next_sample
            oldest = min((m.sent_at for m in queue.messages.values()), default=now)
            samples.append((next_sample / 60, len(queue.messages), max(0.0, now - oldest), len(world.records),
                            len(queue.dead)))  # fmt: skip
            next_sample += SAMPLE_SECONDS

    while True:
        start, poller = heapq.heappop(pollers)
        elapsed = start - clock.start
        if elapsed > time_limit_seconds:
            break
        arrive_until(elapsed)
        sample(elapsed)
        if arrived >= scenario.uploads and not queue.messages:
            break
        batch = queue.receive(start, config.processor_batch_size)
        if not batch:
            upcoming = [t for t in (queue.next_visible(),) if t is not None]
            if arrived < scenario.uploads:
                upcoming.append(clock.start + arrived * interval)
            heapq.heappush(pollers, (max(start + 0.001, min(upcoming, default=start + 1.0)), poller))
            continue
        window_end = start + BATCHING_WINDOW_SECONDS
        begin = start
        while len(batch) < config.processor_batch_size:
            upcoming = [t for t in (queue.next_visible(),) if t is not None]
            if arrived < scenario.uploads:
                upcoming.append(clock.start + arrived * interval)
            nearest = min(upcoming, default=None)
            if nearest is None or nearest > window_end:
                begin = window_end
                break
            begin = max(begin, nearest)
            arrive_until(begin - clock.start)
            batch += queue.receive(begin, config.processor_batch_size - len(batch))
        if first_dead is None and queue.dead:
            first_dead = queue.dead[0].visible_at - clock.start
        cpu_before = world.own_cpu_total
        end = _invoke(batch, begin, config, clock, queue, world, sqs_handler, cpu_share)
        invocations += 1
        totals[0] += end - begin
        totals[1] += world.own_cpu_total - cpu_before
        totals[2] += len(batch)
        heapq.heappush(pollers, (end, poller))
    drained = max(world.records.values(), default=0.0)
    valid_dead = len(queue.dead)  # every upload of these scenarios is valid
    sample(drained)
    samples.append((drained / 60, len(queue.messages), 0.0, len(world.records), len(queue.dead)))
    return Result(scenario, scenario.uploads, valid_dead, drained / 60, None if first_dead is None else first_dead / 60,
                  invocations, totals[0], totals[1], totals[2], world.throttled_writes, samples)  # fmt: skip


def _invoke(
    batch: list[Message],
    begin: float,
    config: EnvironmentConfig,
    clock: Clock,
    queue: Queue,
    world: World,
    sqs_handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    cpu_share: float,
) -> float:
    """One invocation on simulated time; returns when the poller is free again."""
    clock.now = begin
    deadline = begin + config.processor_timeout_seconds
    world.pending_visibility.clear()
    world.sim_cpu = 0.0
    records = [
        {
            "messageId": m.id, "receiptHandle": m.handle, "body": m.body,
            "attributes": {"ApproximateReceiveCount": str(m.receives), "SentTimestamp": str(int(m.sent_at * 1000))},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": QUEUE_ARN,
            "awsRegion": REGION,
        }
        for m in batch
    ]  # fmt: skip
    cpu_started = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # EMF metrics, logs, warnings
        warnings.simplefilter("ignore")
        response = sqs_handler({"Records": records}, Context(clock, deadline))
    own_cpu = max(0.0, time.process_time() - cpu_started - world.sim_cpu)
    world.own_cpu_total += own_cpu
    end = clock.now + own_cpu / cpu_share
    for called_at, handle, seconds in world.pending_visibility:
        if called_at <= deadline:
            queue.change_visibility(handle, seconds, called_at)
    if end > deadline:  # timed out: nothing is deleted; the batch returns after the visibility timeout
        return deadline
    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    for message in batch:
        if message.id not in failed:
            queue.delete(message.handle)
    return end


# ------------------------------------------------------------------------------------------------------ output
def plot(result: Result, directory: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s[0] for s in result.samples]
    figure, axes = plt.subplots(4, 1, figsize=(8, 8), sharex=True)
    series = (
        ("buffer backlog (messages)", 1), ("oldest message age (s)", 2), ("records recorded", 3), ("DLQ depth", 4),
    )  # fmt: skip
    for axis, (label, index) in zip(axes, series, strict=True):
        axis.plot(minutes, [s[index] for s in result.samples], drawstyle="steps-post")
        axis.set_ylabel(label, fontsize=8)
        axis.grid(alpha=0.3)
    for fault in result.scenario.faults:
        for axis in axes:
            axis.axvspan(fault.start / 60, fault.end / 60, color="tab:red", alpha=0.08)
    axes[-1].set_xlabel("simulated minutes (shaded: the fault)")
    figure.suptitle(result.line(), fontsize=9)
    figure.tight_layout()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"faults-{result.scenario.name}.png"
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def sustained(preset: str, uploads: int = 3000) -> tuple[float, str, Result]:
    """(records/s, first bottleneck, the run) for a preset at saturation: `uploads` queued at once, no fault, a
    provisioned table already at its maximum capacity without burst credits (what it can keep up for hours)."""
    config = build_config(preset)
    scenario = Scenario(f"sustained-{preset}", preset, uploads, 0.001, provisioned_capacity=True, capacity_at_max=True)
    result = run(scenario)
    rate = uploads / max(result.drained_min * 60, 1e-9)
    per_record_ms = 1000 * result.busy_seconds / max(result.records_handled, 1)
    cpu_ms = (
        1000 * result.cpu_seconds / max(result.records_handled, 1) / min(1.0, config.processor_memory_mb / FULL_VCPU_MB)
    )
    concurrency = (
        f"event-source maximum concurrency {config.processor_max_concurrency} x {per_record_ms:.0f} ms per record "
        f"({cpu_ms:.0f} ms of it the handler's CPU at {config.processor_memory_mb} MB)"
    )
    if not config.table_on_demand and result.throttled_writes > 0:  # the table refused writes: it is the limit
        return rate, f"table write capacity ({config.table_write_capacity[1]} WCU at its maximum)", result
    return rate, concurrency, result


DOCS = ROOT / "docs" / "benchmarks.md"
DOCS_BEGIN, DOCS_END = "<!-- faults:begin -->", "<!-- faults:end -->"


def markdown(printed: str) -> str:
    """The docs block for what `main` printed: the scenario table (with each PNG) and the sustained rates."""
    rows, sustained_rows = [], []
    for line in printed.splitlines():
        if line.startswith("scenario="):
            fields = dict(part.split("=", 1) for part in line.split())
            name = fields["scenario"]
            rows.append(
                f"| `{name}` | {fields['uploads']} | {fields['valid_in_dlq']} | {fields['drained_min']} | "
                f"![{name}](img/faults-{name}.png) |"
            )
        elif line.startswith("sustained "):
            head, bottleneck = line.split(" first_bottleneck=", 1)
            fields = dict(part.split("=", 1) for part in head.split()[1:])
            sustained_rows.append(f"| {fields['preset']} | {fields['records_per_s']} | {bottleneck} |")
    return "\n".join(
        [
            DOCS_BEGIN,
            "Printed by `make bench-faults` (`bench/faults.py`); this block is generated from its output",
            "(`python bench/faults.py --docs-from <saved output>`) and checked by `tests/bench/test_faults.py`.",
            "",
            "| scenario | uploads | valid in DLQ | drained (simulated min) | backlog, oldest age, recorded, DLQ |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "| preset | sustained records/s | first bottleneck |",
            "|---|---|---|",
            *sustained_rows,
            DOCS_END,
        ]
    )


def update_docs(printed: str, path: Path = DOCS) -> None:
    text = path.read_text()
    block = markdown(printed)
    if DOCS_BEGIN in text:
        before, rest = text.split(DOCS_BEGIN, 1)
        text = before + block + rest.split(DOCS_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Fault scenarios (`make bench-faults`)\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="run only these scenarios (names as printed)")
    parser.add_argument("--plots", type=Path, help="write one PNG per scenario into this folder")
    parser.add_argument("--short", action="store_true", help="the shortened scenarios the tests run")
    parser.add_argument("--docs-from", type=Path, help="write docs/benchmarks.md's block from a saved output; no run")
    parser.add_argument("--sustained-only", action="store_true", help="only the sustained rate per preset")
    parser.add_argument("--max-receive-count", type=int, help="override the buffer's maxReceiveCount (a control run)")
    parser.add_argument("--detail", action="store_true", help="also print recorded uploads and the largest backlog")
    args = parser.parse_args(argv)
    if args.docs_from:
        update_docs(args.docs_from.read_text())
        return 0
    failed = False
    for scenario in scenarios(short=args.short):
        if args.sustained_only or (args.only and scenario.name not in args.only):
            continue
        if args.max_receive_count:
            scenario = Scenario(**{**scenario.__dict__, "max_receive_count": args.max_receive_count})
        result = run(scenario)
        print(result.line(), flush=True)
        if args.detail:
            recorded, backlog = result.samples[-1][3], max(sample[1] for sample in result.samples)
            print(f"detail scenario={scenario.name} recorded={recorded} max_backlog={backlog}", flush=True)
        failed |= result.valid_in_dlq > 0
        if scenario.name.endswith("-prod") and scenario.name.startswith("burst") and not args.short:
            failed |= result.drained_min > PROD_BURST_TARGET_MINUTES
        if args.plots:
            plot(result, args.plots)
    if not args.only and not args.max_receive_count:
        for preset in ("dev", "staging", "prod"):
            rate, bottleneck, _ = sustained(preset, 300 if args.short else 3000)
            print(f"sustained preset={preset} records_per_s={rate:.0f} first_bottleneck={bottleneck}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
