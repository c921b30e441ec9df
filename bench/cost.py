"""Cost per million uploads (full batches and a trickle, every term with its source) and the fixed monthly cost of an
idle environment per preset, from the synthesized templates and bench/prices.json.

Run: `make bench` or `PATH=node_modules/.bin:$PATH .venv/bin/python bench/cost.py`. Prints the tables; no
assertions (tests/bench/test_cost_model.py checks the model, tests/docs the figures in docs/benchmarks.md). What a new
`pr-123` environment costs before you deploy it is its preset's (dev) line.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRICES = json.loads((ROOT / "bench" / "prices.json").read_text())
PER = PRICES["per_request"]
ASSUME = PRICES["assumptions"]
SOURCES = PRICES["sources"]
MILLION = 1_000_000
MONTH_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Term:
    name: str
    usd: float
    how: str
    source: str


def xray_traced_fraction(invocations_per_second: float) -> float:
    """Lambda active tracing records the first invocation each second and 5% of the rest (SOURCES xray_lambda_sampling):
    spread-out traffic (under one invocation a second) is traced in full."""
    if invocations_per_second <= 1:
        return 1.0
    return (1 + 0.05 * (invocations_per_second - 1)) / invocations_per_second


def record_write_units() -> int:
    """Write request units of recording one upload (items < 1 KB): every item of the processor's own record
    transaction (`processor.usage.transaction`: the record's put, the check that its version has no tombstone, the
    bytes-held and the day's counters) costs 2, as a transactional write (a ConditionCheck is billed as one), plus 1
    for the by-owner index entry the record's put adds (index writes are not transactional)."""
    # The processor's own package (run as a script, bench/ comes first on sys.path, and bench/processor.py would
    # shadow it), so that the model follows what the processor writes.
    bench = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != bench]
    for folder in (ROOT / "lambda" / "shared" / "python", ROOT / "lambda" / "processor"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    if not hasattr(sys.modules.get("processor"), "__path__"):
        sys.modules.pop("processor", None)  # bench/processor.py, imported as `processor` by a script run
    from processor import usage

    record: dict[str, str | int] = {"object_key": "uploads/identity/name", "version_id": "v", "owner": "identity"}
    limits = usage.Limits(max_bytes_held=1, uploads_per_day=1)
    items = usage.transaction("records", record, sub="sub", size=1, day="2026-01-01", limits=limits)
    return 2 * len(items) + 1


def per_million(
    mode: str, *, batch_size: int = 10, memory_mb: int = 256, data_key_reuse_seconds: int = 3600
) -> list[Term]:
    """USD per million uploads through the pipeline, term by term. `mode`: "full" (every batch full, at
    ASSUME full_batch_uploads_per_second) or "trickle" (uploads spread out: ASSUME trickle_records_per_batch each)."""
    if mode not in ("full", "trickle"):
        raise ValueError(f"invalid mode {mode!r}: must be 'full' or 'trickle'")
    per_batch = float(batch_size) if mode == "full" else ASSUME["trickle_records_per_batch"]
    invocations = MILLION / per_batch
    rate = ASSUME["full_batch_uploads_per_second"] / per_batch if mode == "full" else 0.5
    traced = xray_traced_fraction(rate)
    sqs_per_upload = 1 + 2 / per_batch  # EventBridge's SendMessage; one receive and one delete per batch
    record_ms = ASSUME["aws_call_latency_ms_per_record"] + ASSUME["own_code_ms_per_record"]
    invocation_ms = per_batch * record_ms + ASSUME["invocation_overhead_ms"]
    gb_seconds = invocations * invocation_ms / 1000 * memory_mb / 1024
    kms_requests = (
        2 * MONTH_SECONDS / data_key_reuse_seconds + MILLION * ASSUME["s3_bucket_key_kms_requests_per_upload"]
    )
    log_bytes = ASSUME["emf_log_bytes_per_invocation"] + ASSUME["platform_log_bytes_per_invocation"]
    write_units = record_write_units()
    return [
        Term("EventBridge (S3 events, default bus)", MILLION * PER["eventbridge_aws_service_event"] / MILLION,
             "AWS service event: free (see the line 'if EventBridge charges')", SOURCES["eventbridge"]),
        Term("SQS requests", sqs_per_upload * PER["sqs_request_per_million"],
             f"{sqs_per_upload:.2f} per upload (send; receive and delete per batch of {per_batch:g})", SOURCES["sqs"]),
        Term("Lambda requests", invocations / MILLION * PER["lambda_request_per_million"],
             f"{invocations:,.0f} invocations", SOURCES["lambda"]),
        Term("Lambda duration (Arm)", gb_seconds * PER["lambda_arm_gb_second"],
             f"{invocation_ms:.0f} ms per invocation ({per_batch:g} x {record_ms:g} ms + "
             f"{ASSUME['invocation_overhead_ms']:g} ms) at {memory_mb} MB", SOURCES["lambda"]),
        Term("DynamoDB writes (on demand)", write_units * PER["dynamodb_on_demand_write_per_million"],
             f"{write_units} write units per upload (the record's transaction of {(write_units - 1) // 2} items at 2 "
             "each, + 1 for the by-owner index; items < 1 KB)", SOURCES["dynamodb"]),
        Term("S3 HeadObject", MILLION / 1000 * PER["s3_head_per_thousand"], "1 per upload (2 when a key is "
             "delivered encoded and tried as delivered first)", SOURCES["s3"]),
        Term("KMS requests", kms_requests / 10_000 * PER["kms_request_per_ten_thousand"],
             f"SQS data keys reused {data_key_reuse_seconds} s (template), a month of traffic; S3 Bucket Key",
             SOURCES["sqs_kms"]),
        Term("CloudWatch Logs ingestion", invocations * log_bytes / 1e9 * PER["cloudwatch_logs_ingest_per_gb"],
             f"{log_bytes} B per invocation (EMF metrics + START/END/REPORT)", SOURCES["logs"]),
        Term("X-Ray traces", invocations * traced / MILLION * PER["xray_trace_recorded_per_million"],
             f"{traced:.0%} of invocations traced at {rate:g} invocations/s", SOURCES["xray_lambda_sampling"]),
    ]  # fmt: skip


def storage_per_million_records_month() -> float:
    """USD per month for a million records held (table + by-owner index projecting all, storage + PITR)."""
    gigabytes = MILLION * ASSUME["item_bytes"] * 2 / 1e9
    return gigabytes * (PER["dynamodb_storage_gb_month"] + PER["dynamodb_pitr_gb_month"])


def markdown_table(memory_mb: int = 256, batch_size: int = 10, data_key_reuse_seconds: int = 3600) -> str:
    """The per-million table of docs/benchmarks.md (checked there by tests/bench/test_cost_model.py)."""
    kwargs = {"memory_mb": memory_mb, "batch_size": batch_size, "data_key_reuse_seconds": data_key_reuse_seconds}
    full, trickle = per_million("full", **kwargs), per_million("trickle", **kwargs)
    lines = ["| term | full batches | trickle | how (full batches) | source |", "|---|---|---|---|---|"]
    for a, b in zip(full, trickle, strict=True):
        lines.append(f"| {a.name} | {a.usd:.3f} | {b.usd:.3f} | {a.how} | {a.source} |")
    totals = [sum(t.usd for t in terms) for terms in (full, trickle)]
    shares = [
        next(t.usd for t in terms if t.name == "X-Ray traces") / total
        for terms, total in zip((full, trickle), totals, strict=True)
    ]
    lines.append(
        f"| **total** | **{totals[0]:.2f}** | **{totals[1]:.2f}** "
        f"| X-Ray's share: {shares[0]:.0%} / {shares[1]:.0%} | |"
    )
    extra = PER["eventbridge_custom_event_per_million"]
    lines.append(
        f"| total if EventBridge charges S3 events | {totals[0] + extra:.2f} | {totals[1] + extra:.2f} | "
        f"{extra:.2f} USD per million custom events (unverified for S3) | {SOURCES['eventbridge']} |"
    )
    return "\n".join(lines)


def print_per_million(memory_mb: int, batch_size: int, data_key_reuse_seconds: int) -> None:
    print(f"cost per million uploads, prod settings, USD ({PRICES['region']} list prices as of {PER['as_of']})")
    for mode in ("full", "trickle"):
        terms = per_million(
            mode, batch_size=batch_size, memory_mb=memory_mb, data_key_reuse_seconds=data_key_reuse_seconds
        )
        total = sum(term.usd for term in terms)
        xray = next(term.usd for term in terms if term.name == "X-Ray traces")
        print(f"  {mode}:")
        for term in terms:
            print(f"    {term.name:<38} {term.usd:>7.3f}  {term.how}  [{term.source.split(' ')[0]}]")
        print(f"    {'total':<38} {total:>7.3f}  (X-Ray {xray / total:.0%} of it)")
        print(
            f"    {'if EventBridge charges S3 events':<38} {total + PER['eventbridge_custom_event_per_million']:>7.3f}"
        )
        print(f"cost-per-million mode={mode} total={total:.2f} xray_share={xray / total:.2f}")
    print(f"  not in the totals: the upload's own PutObject {MILLION / 1000 * PER['s3_put_per_thousand']:.2f}; "
          f"records held {storage_per_million_records_month():.2f} per million per month (storage + PITR)")  # fmt: skip


def idle_cost(template: dict) -> dict[str, float]:
    """Monthly USD of each fixed cost item in `template`."""
    hours = PRICES["hours_per_month"]
    resources = list(template["Resources"].values())

    def of(rtype: str) -> list[dict]:
        return [r for r in resources if r["Type"] == rtype]

    interface_azs = sum(
        len(r["Properties"].get("SubnetIds", []))
        for r in of("AWS::EC2::VPCEndpoint")
        if r["Properties"].get("VpcEndpointType") == "Interface"
    )
    capacity = 0.0
    for target in of("AWS::ApplicationAutoScaling::ScalableTarget"):
        dimension = target["Properties"]["ScalableDimension"]
        unit = PRICES["dynamodb_rcu_hour"] if dimension.endswith("ReadCapacityUnits") else PRICES["dynamodb_wcu_hour"]
        capacity += target["Properties"]["MinCapacity"] * unit * hours
    acls = of("AWS::WAFv2::WebACL")
    # An idle SQS event source still long-polls (at least `idle_pollers` pollers, 20 s each).
    polls = ASSUME["idle_pollers"] * MONTH_SECONDS / ASSUME["long_poll_seconds"]
    rotating = [k for k in of("AWS::KMS::Key") if k["Properties"].get("EnableKeyRotation")]
    return {
        "kms keys": len(of("AWS::KMS::Key")) * PRICES["kms_key_month"],
        # The first two yearly rotations add 1 USD/month each: the steady state from the third year.
        "kms rotations (year 3 on)": len(rotating) * 2 * PER["kms_rotation_month_per_rotation"],
        "idle sqs pollers": len(of("AWS::Lambda::EventSourceMapping"))
        * polls
        / MILLION
        * PER["sqs_request_per_million"],
        "interface endpoints": interface_azs * PRICES["interface_endpoint_hour_per_az"] * hours,
        "alarms": len(of("AWS::CloudWatch::Alarm")) * PRICES["cloudwatch_alarm_month"],
        "dashboards": len(of("AWS::CloudWatch::Dashboard")) * PRICES["cloudwatch_dashboard_month"],
        "dynamodb minimum capacity": capacity,
        "waf": len(acls) * PRICES["waf_web_acl_month"]
        + sum(len(a["Properties"]["Rules"]) for a in acls) * PRICES["waf_rule_month"],
    }


def main() -> None:
    from stacks.app_builder import synthesize

    suffixes = ["dev", "staging", "prod"]
    with tempfile.TemporaryDirectory() as outdir:
        assembly = synthesize(suffixes, outdir, validation=False)
        templates = {s: assembly.get_stack_by_name(f"SecureServerless-{s}").template for s in suffixes}
        costs = {s: idle_cost(templates[s]) for s in suffixes}
    from stacks.config import build_config

    prod = build_config("prod")
    reuse = [
        r["Properties"]["KmsDataKeyReusePeriodSeconds"]
        for r in templates["prod"]["Resources"].values()
        if r["Type"] == "AWS::SQS::Queue" and "KmsDataKeyReusePeriodSeconds" in r["Properties"]
    ]
    print_per_million(prod.processor_memory_mb, prod.processor_batch_size, max(reuse, default=300))
    items = list(next(iter(costs.values())))
    print(f"idle monthly cost per environment, USD ({PRICES['region']} list prices as of {PRICES['as_of']})")
    print(f"{'item':28}" + "".join(f"{s:>10}" for s in suffixes))
    for item in items:
        print(f"{item:28}" + "".join(f"{costs[s][item]:>10.2f}" for s in suffixes))
    print(f"{'total':28}" + "".join(f"{sum(costs[s].values()):>10.2f}" for s in suffixes))
    print("an extra pr-<n> environment uses the dev preset: "
          f"{sum(costs['dev'].values()):.2f} USD/month idle")  # fmt: skip
    print(f"plus, in every environment, WAF's {PRICES['waf_request_per_million']:.2f} USD per million API requests")


if __name__ == "__main__":
    main()
