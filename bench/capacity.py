"""Capacity per preset, a throttled 10x burst through the real handler, and the cost per million uploads.

Run from the repository root:  .venv/bin/python bench/capacity.py [--burst-preset dev] [--burst-factor 10]

(a) Capacity table, from each preset's config (stacks/config.py), the processor's backoff (receive count -> the
    time a valid event survives throttling) and AWS's documented behaviour, with the constants in
    bench/prices.json "assumptions": DynamoDB keeps up to 300 s of unused capacity as burst; target tracking scales
    out after 2 consecutive minutes above target, to consumed/target (throttled consumption ~ provisioned, so about
    x1/target per 2-minute step); a new on-demand table serves 4,000 writes/s at once and doubles its previous peak;
    the SQS event source adds up to 300 concurrent invocations per minute up to its maximum concurrency. Each
    upload is one write to the table and one to the by-owner index (both scale alike). A burst is absorbed when the
    model drains it within the guaranteed survival of a throttled event (no valid event can reach the DLQ).
(b) Load run: a burst of --burst-factor x the preset's resting write capacity (its minimum WCU), for 60 s, pushed
    through the real `sqs_handler` against moto's S3/DynamoDB/SQS (buffer + DLQ with the preset's maxReceiveCount),
    with the record writes (TransactWriteItems) throttled by a token bucket that follows the capacity model above, on
    a simulated clock (no sleeping). Prints uploads recorded, valid events in the DLQ (target 0), time to drain,
    receives used.
(c) Cost per million uploads at list prices (bench/prices.json, dated), every term printed, Lambda GB-s at the
    measured own-code duration per record plus the assumed AWS call latency.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "lambda" / "processor", ROOT / "lambda" / "shared" / "python"):
    sys.path.insert(0, str(entry))

from stacks.config import EnvironmentConfig, build_config  # noqa: E402

PRICES = json.loads((ROOT / "bench" / "prices.json").read_text())
ASSUME = PRICES["assumptions"]
PER = PRICES["per_request"]
PRESETS = ("dev", "staging", "prod")
THROTTLED_BODY = b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}'
TARGET_BURST, TARGET_BURST_SECONDS, TARGET_DRAIN_SECONDS = 10_000, 60, 600


# ------------------------------------------------------------------------------------------------ (a) the model
@dataclass
class WriteCapacity:
    """Writes/s the table accepts at time t of a burst that starts on an idle table at its resting capacity."""

    config: EnvironmentConfig

    def __post_init__(self) -> None:
        low, _ = self.config.table_write_capacity
        self.credits = float(ASSUME["dynamodb_burst_capacity_seconds"] * low)

    def rate(self, t: float, peak_demand: float) -> float:
        if self.config.table_on_demand:
            return max(float(ASSUME["dynamodb_on_demand_initial_writes_per_second"]), 2 * peak_demand)
        low, high = self.config.table_write_capacity
        steps = int(t // ASSUME["dynamodb_target_tracking_step_seconds"])
        return min(float(high), low * (100 / self.config.table_target_utilization_percent) ** steps)


def processing_rate(config: EnvironmentConfig, t: float, per_record_seconds: float) -> float:
    """Records/s the event source can push: concurrency (ramping) x records per invocation-second."""
    ceiling = config.processor_max_concurrency
    if config.processor_reserved_concurrency is not None:
        ceiling = min(ceiling, config.processor_reserved_concurrency)
    concurrency = min(ceiling, 5 + ASSUME["event_source_scale_up_per_minute"] * t / 60)
    return concurrency / per_record_seconds


def drain(config: EnvironmentConfig, uploads: int, seconds: float, per_record_seconds: float) -> float:
    """Seconds from the first upload until every upload is recorded (1 s steps); inf if not within 6 hours."""
    capacity = WriteCapacity(config)
    arrival, backlog, t = uploads / seconds, 0.0, 0
    while t < 6 * 3600:
        if t < seconds:
            backlog += arrival
        writable = capacity.rate(t, arrival) + (capacity.credits if not config.table_on_demand else 0.0)
        done = min(backlog, processing_rate(config, t, per_record_seconds), writable)
        if not config.table_on_demand:
            capacity.credits = max(0.0, capacity.credits - max(0.0, done - capacity.rate(t, arrival)))
        backlog -= done
        t += 1
        if t >= seconds and backlog <= 1e-9:
            return float(t)
    return math.inf


def survival_seconds(config: EnvironmentConfig) -> int:
    from processor import backoff

    return backoff.guaranteed_survival_seconds(config.processor_max_receive_count)


def sustained(config: EnvironmentConfig, per_record_seconds: float) -> float:
    high = math.inf if config.table_on_demand else config.table_write_capacity[1]
    return min(high, processing_rate(config, 3600, per_record_seconds))


def absorbed_in_60s(config: EnvironmentConfig, per_record_seconds: float) -> int:
    """Largest burst (uploads in 60 s) drained within the guaranteed survival: none reaches the DLQ."""
    limit = survival_seconds(config)
    low, high = 0, 1
    while drain(config, high, 60, per_record_seconds) <= limit and high < 10_000_000:
        low, high = high, high * 2
    while high - low > max(1, low // 200):
        middle = (low + high) // 2
        low, high = (middle, high) if drain(config, middle, 60, per_record_seconds) <= limit else (low, middle)
    return low


def capacity_table(per_record_seconds: float) -> None:
    print(f"capacity per preset (model: config + AWS documented behaviour; {per_record_seconds * 1000:.0f} ms/record)")
    header = ("preset", "table writes", "ESM conc", "recv", "survives", "sustained/s", "absorbs in 60 s",
              "drain 10k/60s")  # fmt: skip
    print("  " + "".join(f"{h:>16}" for h in header))
    for preset in PRESETS:
        config = build_config(preset)
        low, high = config.table_write_capacity
        mode = "on-demand" if config.table_on_demand else f"{low}-{high} WCU@{config.table_target_utilization_percent}%"
        ten_k = drain(config, TARGET_BURST, TARGET_BURST_SECONDS, per_record_seconds)
        absorbed = absorbed_in_60s(config, per_record_seconds)
        row = (
            preset, mode, str(config.processor_max_concurrency), str(config.processor_max_receive_count),
            f"{survival_seconds(config) / 60:.0f} min", f"{sustained(config, per_record_seconds):.0f}",
            f"{absorbed:,}" if absorbed < 9_000_000 else ">= 9M",
            "never" if math.isinf(ten_k) else f"{ten_k / 60:.1f} min",
        )  # fmt: skip
        print("  " + "".join(f"{cell:>16}" for cell in row))
    prod = build_config("prod")
    ten_k = drain(prod, TARGET_BURST, TARGET_BURST_SECONDS, per_record_seconds)
    ok = ten_k <= min(TARGET_DRAIN_SECONDS, survival_seconds(prod))
    print(
        f"prod target: {TARGET_BURST:,} uploads in {TARGET_BURST_SECONDS} s, 0 valid in the DLQ, drained in "
        f"<= {TARGET_DRAIN_SECONDS // 60} min: model drains in {ten_k:.0f} s -> {'MET' if ok else 'NOT MET'}"
    )
    rate = TARGET_BURST / TARGET_BURST_SECONDS
    with_burst = math.ceil(TARGET_BURST / (TARGET_BURST_SECONDS + ASSUME["dynamodb_burst_capacity_seconds"]))
    month = 730 * PRICES["dynamodb_wcu_hour"] * 2  # table + index
    print(
        f"provisioned instead: no write throttled needs a minimum of {math.ceil(rate)} WCU on the table and the index "
        f"({math.ceil(rate) * month:.0f} USD/month), or {with_burst} WCU ({with_burst * month:.0f} USD/month) if the "
        f"{ASSUME['dynamodb_burst_capacity_seconds']} s burst capacity is there (AWS does not guarantee it)"
    )


# ------------------------------------------------------------------------------------------ (b) the load run
class TokenBucket:
    """Record-write capacity on the simulated clock: WriteCapacity's rate plus the burst credits."""

    def __init__(self, config: EnvironmentConfig, clock: Any, demand: float) -> None:
        self.capacity, self.clock, self.demand = WriteCapacity(config), clock, demand
        self.tokens = self.capacity.credits
        self.last = clock.now
        self.throttled = 0

    def take(self) -> bool:
        elapsed = self.clock.now - self.last
        rate = self.capacity.rate(self.clock.elapsed, self.demand)
        self.tokens = min(self.tokens + elapsed * rate, rate * ASSUME["dynamodb_burst_capacity_seconds"])
        self.last = self.clock.now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.throttled += 1
        return False


def load_run(preset: str, factor: int, uploads: int | None = None) -> float:
    """Returns the measured own-code seconds per record (handler against moto, calls faked) for the cost model."""
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "TABLE_NAME": "bench-burst", "EXPECTED_BUCKET_NAME": "bench-burst-uploads",
            "EXPECTED_BUCKET_OWNER": "123456789012", "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "processor", "POWERTOOLS_METRICS_NAMESPACE": "Bench",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        }
    )  # fmt: skip
    os.environ.pop("LAMBDA_TASK_ROOT", None)
    import boto3
    from botocore.awsrequest import AWSResponse
    from moto import mock_aws

    from processor import handler, store
    from stacks.records_schema import create_table_request
    from tests.support.pipeline_sim import Pump, SimClock, count_messages

    config = build_config(preset)
    label = f"{factor}x its resting {config.table_write_capacity[0]} WCU for 60 s"
    if uploads is None:
        uploads = factor * config.table_write_capacity[0] * 60
    else:
        label = f"the target, {uploads:,} in 60 s"
    clock = SimClock()

    class _Patch:  # the pieces of pytest's monkeypatch SimClock.install needs
        def __init__(self) -> None:
            self.undo: list[tuple[Any, str, Any]] = []

        def setattr(self, target: Any, name: str, value: Any) -> None:
            self.undo.append((target, name, getattr(target, name)))
            setattr(target, name, value)

    patch = _Patch()
    clock.install(patch)
    try:
        with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
            store.reset_clients(drop_session=True)
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="bench-burst-uploads")
            s3.put_bucket_versioning(Bucket="bench-burst-uploads", VersioningConfiguration={"Status": "Enabled"})
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            dynamodb.create_table(**create_table_request("bench-burst"))
            sqs = boto3.client("sqs", region_name="us-east-1")
            dlq = sqs.create_queue(QueueName="bench-dlq")["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            policy = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(config.processor_max_receive_count)}
            )
            attributes = {"VisibilityTimeout": str(6 * config.processor_timeout_seconds), "RedrivePolicy": policy}
            buffer = sqs.create_queue(QueueName="bench-buffer", Attributes=attributes)["QueueUrl"]
            buffer_arn = sqs.get_queue_attributes(QueueUrl=buffer, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            bucket = TokenBucket(config, clock, uploads / 60)

            def throttle(request: Any, **_: Any) -> Any:
                if bucket.take():
                    return None
                body = THROTTLED_BODY
                return AWSResponse(request.url, 400, {}, _Raw(body))

            store.client("dynamodb").meta.events.register_first("before-send.dynamodb.TransactWriteItems", throttle)
            pump = Pump(sqs, buffer, buffer_arn, handler.sqs_handler, clock, batch_size=config.processor_batch_size,
                        timeout_seconds=config.processor_timeout_seconds,
                        poll_seconds=1.0 / config.processor_max_concurrency)  # fmt: skip
            started = time.perf_counter()
            sent, per_tick = 0, uploads / 60
            while sent < uploads or count_messages(sqs, buffer):
                due = min(uploads, int(per_tick * (clock.elapsed + 1)))
                while sent < due:
                    key = f"uploads/bench-{sent % 13}/burst {sent}.bin"
                    put = s3.put_object(Bucket="bench-burst-uploads", Key=key, Body=b"x")
                    event = {
                        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
                        "account": "123456789012", "time": "2026-11-26T12:00:00Z", "region": "us-east-1",
                        "resources": [], "detail": {"bucket": {"name": "bench-burst-uploads"},
                                                    "object": {"key": key, "size": 1, "version-id": put["VersionId"]}},
                    }  # fmt: skip
                    sqs.send_message(QueueUrl=buffer, MessageBody=json.dumps(event))
                    sent += 1
                pump.step()
                if clock.elapsed > 6 * 3600:
                    break
            wall = time.perf_counter() - started
            pages = dynamodb.get_paginator("scan").paginate(TableName="bench-burst", Select="COUNT")
            recorded = sum(page["Count"] for page in pages)
            in_dlq = count_messages(sqs, dlq)
            receives = [int(r) for _, r, _ in pump.log]
    finally:
        for target, name, value in reversed(patch.undo):
            setattr(target, name, value)
        store.reset_clients(drop_session=True)
    drained = pump.log[-1][0] if pump.log else 0.0
    print(
        f"burst load run ({preset}: {label} = {uploads:,} uploads, real handler against moto, "
        f"record writes throttled by the capacity model{' (on demand: never)' if config.table_on_demand else ''}):"
    )
    print(f"  recorded {recorded:,}/{uploads:,}; valid events in the DLQ: {in_dlq} (target 0); "
          f"record writes throttled {bucket.throttled:,} times; drained after {drained / 60:.1f} simulated min "
          f"(survival {survival_seconds(config) / 60:.0f} min); {pump.invocations:,} invocations, "
          f"{sum(receives):,} records received; {wall:.1f} s wall")  # fmt: skip
    return own_code_seconds_per_record()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def own_code_seconds_per_record(batches: int = 60) -> float:
    """The handler's own time per record with its AWS calls answered in memory (median of batches of 10)."""
    from processor import handler, store
    from processor.domain import ObjectMetadata
    from tests.support.pipeline_sim import SimClock, SimContext

    context = SimContext(SimClock(), timeout_seconds=30).start()
    real = store.head_object, store.put_record_once, store.find_sub
    store.head_object = lambda *a, **k: ObjectMetadata(content_type="text/plain", etag="e")  # type: ignore[assignment]
    store.put_record_once = lambda *a, **k: True  # type: ignore[assignment]
    store.find_sub = lambda *a, **k: "sub"  # type: ignore[assignment]  # the uploader's sub lookup, also in memory
    event = {
        "version": "0", "id": "x", "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2026-11-26T12:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"bucket": {"name": "bench-burst-uploads"}, "object": {"key": "uploads/a/b.txt", "size": 1}},
    }  # fmt: skip
    batch = {"Records": [{"messageId": str(n), "body": json.dumps(event)} for n in range(10)]}
    samples = []
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for _ in range(batches):
                started = time.perf_counter()
                handler.sqs_handler(batch, context)
                samples.append((time.perf_counter() - started) / 10)
    finally:
        store.head_object, store.put_record_once, store.find_sub = real
    return statistics.median(samples)


# --------------------------------------------------------------------------------------- (c) cost per million
def cost_per_million(own_seconds: float) -> None:
    million = 1_000_000
    config = build_config("prod")
    per_record = own_seconds + ASSUME["aws_call_latency_ms_per_record"] / 1000
    invocations = million / config.processor_batch_size  # full batches (a burst fills them; a trickle does not)
    gb = config.processor_memory_mb / 1024
    write_units = 2  # base table + by-owner index, items < 1 KB
    sqs_requests = 1 + 2 / config.processor_batch_size  # SendMessage by EventBridge; receive + delete per batch
    kms_windows = 2 * 12 * 24 * 30  # producer + consumer data key per reuse period, a month of steady traffic
    terms = [
        ("EventBridge (S3 events on the default bus)", PER["eventbridge_aws_service_event"] * million,
         PER["eventbridge_note"]),
        ("SQS requests", sqs_requests * PER["sqs_request_per_million"],
         f"{sqs_requests:.2f} requests/upload (send, 1/{config.processor_batch_size} receive and delete)"),
        ("Lambda requests", invocations / million * PER["lambda_request_per_million"],
         f"{invocations:,.0f} invocations of {config.processor_batch_size}"),
        ("Lambda GB-s (arm64)", million * per_record * gb * PER["lambda_arm_gb_second"],
         f"{per_record * 1000:.1f} ms/record = {own_seconds * 1000:.2f} ms measured + "
         f"{ASSUME['aws_call_latency_ms_per_record']} ms AWS calls, {config.processor_memory_mb} MB"),
        ("DynamoDB writes (on demand)", write_units * PER["dynamodb_on_demand_write_per_million"],
         f"{write_units} write units/upload (table + by-owner index)"),
        ("S3 HEAD", million / 1000 * PER["s3_head_per_thousand"], "one HeadObject per upload"),
        ("KMS requests", (million * ASSUME["s3_bucket_key_kms_requests_per_upload"] + kms_windows)
         / 10_000 * PER["kms_request_per_ten_thousand"],
         "S3 Bucket Key (~1 per 1,000 uploads) + SQS data keys reused 300 s"),
        ("CloudWatch Logs (EMF per invocation)",
         invocations * ASSUME["emf_log_bytes_per_invocation"] / 1e9 * PER["cloudwatch_logs_ingest_per_gb"],
         f"{ASSUME['emf_log_bytes_per_invocation']} B per invocation"),
        ("X-Ray traces",
         invocations * ASSUME["xray_sampled_fraction"] / million * PER["xray_trace_recorded_per_million"],
         f"{ASSUME['xray_sampled_fraction']:.0%} of invocations sampled"),
    ]  # fmt: skip
    print(f"cost per million uploads, prod settings, USD ({PRICES['region']} list prices as of "
          f"{PER['as_of']}; assumptions as of {ASSUME['as_of']}):")  # fmt: skip
    for name, usd, how in terms:
        print(f"  {name:<44} {usd:>8.3f}   {how}")
    print(f"  {'total':<44} {sum(usd for _, usd, _ in terms):>8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst-preset", default="dev", choices=PRESETS)
    parser.add_argument("--burst-factor", type=int, default=10)
    parser.add_argument("--prod-target", action="store_true", help="also push 10,000 uploads in 60 s through prod")
    args = parser.parse_args()
    own = load_run(args.burst_preset, args.burst_factor)
    if args.prod_target:
        load_run("prod", args.burst_factor, uploads=TARGET_BURST)
    per_record = own + ASSUME["aws_call_latency_ms_per_record"] / 1000
    capacity_table(per_record)
    cost_per_million(own)


if __name__ == "__main__":
    main()
