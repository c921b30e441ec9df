"""Benchmark of the processor function (a script, not a test: it prints figures, asserts nothing).

Run from the repository root:  .venv/bin/python bench/processor.py [--runs 9] [--records 3000]

(a) Cold import-and-init of `processor.handler` in fresh subprocesses, in a Lambda-like environment
    (LAMBDA_TASK_ROOT and AWS_LAMBDA_FUNCTION_NAME set, tracing ENABLED), against `import boto3` alone
    in fresh subprocesses of the same run (interleaved, median of --runs each, default 11), and their ratio.
    Extra lines give context: the one-off cost of the lazy boto3 clients (paid by the first
    invocation), the same import outside Lambda, and Powertools' default Tracer() for reference.
(b) Records per second through `sqs_handler` against moto in-process (a versioned bucket with real
    objects, a table with the production key schema and GSI), batches of 10, tracing disabled. Two
    reference lines split the time: the same two moto calls without the handler (the ceiling moto
    allows), and the handler with both AWS calls faked in memory (the cost of our own code).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from stacks.records_schema import create_table_request  # noqa: E402  (the table's one schema)

FUNCTION_DIR = ROOT / "lambda" / "processor"
SHARED_DIR = ROOT / "lambda" / "shared" / "python"  # the shared_runtime layer
API_DIR = ROOT / "lambda" / "api"  # the API function's import is measured the same way, for comparison
IMPORT_TARGET_RATIO = 1.5
THROUGHPUT_TARGET = 1_000.0

BASE_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "TABLE_NAME": "bench-objects",
    "OWNER_INDEX_NAME": "by-owner",
    "EXPECTED_BUCKET_NAME": "bench-uploads-bucket",
    "EXPECTED_BUCKET_OWNER": "123456789012",
    "POWERTOOLS_SERVICE_NAME": "processor",
    "POWERTOOLS_METRICS_NAMESPACE": "SecureServerlessBench",
}

# Each snippet prints the seconds spent in the statements after interpreter start-up.
_TIMED = "import time\n_t = time.perf_counter()\n{body}\nprint(time.perf_counter() - _t)\n"
SNIPPETS = {
    "boto3": "import boto3",
    "processor": "import processor.handler",
    "processor+clients": (
        "import processor.handler\n"
        "_t = time.perf_counter()\n"
        "from processor import store\n"
        "store.client('s3'); store.client('dynamodb')"
    ),
    "default-tracer": ("import boto3\nfrom aws_lambda_powertools import Tracer\nTracer()"),
    # The one Tracer set-up of both functions (shared_runtime.tracing); no no-op provider: see its docstring.
    "shared-tracer": "from shared_runtime.tracing import make_tracer\nmake_tracer('processor')",
    "api": "import objects_api.handler",
}


def _env(lambda_like: bool, lambda_task_root: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))}
    env.pop("LAMBDA_TASK_ROOT", None)
    env.update(BASE_ENV)
    env["PYTHONPATH"] = os.pathsep.join([str(FUNCTION_DIR), str(API_DIR), str(SHARED_DIR)])
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if lambda_like:
        # What the Lambda runtime sets: the X-Ray SDK then uses its local sampler (no boto3 client
        # for centralized sampling) and Powertools keeps tracing enabled.
        env["LAMBDA_TASK_ROOT"] = lambda_task_root
        env["AWS_LAMBDA_FUNCTION_NAME"] = "secure-serverless-bench-processor"
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "512"
    return env


def _time_snippet(name: str, env: dict[str, str]) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _TIMED.format(body=SNIPPETS[name])],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def bench_imports(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="lambda-task-root-") as task_root:
        lambda_env = _env(lambda_like=True, lambda_task_root=task_root)
        plain_env = _env(lambda_like=False, lambda_task_root=task_root)
        plans = [
            ("boto3", lambda_env),
            ("processor", lambda_env),
            ("processor+clients", lambda_env),
            ("default-tracer", lambda_env),
            ("shared-tracer", lambda_env),
            ("api", lambda_env),
            ("processor-outside-lambda", plain_env),
        ]
        # Warm-up: byte-compile everything once so no run pays for .pyc writing.
        for name, env in plans:
            _time_snippet(name.replace("-outside-lambda", ""), env)
        samples: dict[str, list[float]] = {name: [] for name, _ in plans}
        for _ in range(runs):  # interleaved, so background load hits every variant alike
            for name, env in plans:
                samples[name].append(_time_snippet(name.replace("-outside-lambda", ""), env))
    median = {name: statistics.median(values) for name, values in samples.items()}
    spread = {name: (min(values), max(values)) for name, values in samples.items()}
    print(f"cold import, fresh subprocess, median of {runs} (min..max):")
    labels = {
        "boto3": "import boto3",
        "processor": "import processor.handler (Lambda-like env, tracing enabled)",
        "processor+clients": "  then lazy s3 + dynamodb clients (first invocation)",
        "default-tracer": "reference: import boto3 + Powertools default Tracer()",
        "shared-tracer": "shared_runtime make_tracer() alone (tracing on, as deployed)",
        "api": "import objects_api.handler (API function, Lambda-like env)",
        "processor-outside-lambda": "import processor.handler outside Lambda (no LAMBDA_TASK_ROOT)",
    }
    for name, _ in plans:
        low, high = spread[name]
        print(f"  {labels[name]:<66} {median[name]:.3f} s ({low:.3f}..{high:.3f})")
    best_ratio = spread["processor"][0] / spread["boto3"][0]
    print(f"  best-of-{runs} ratio (least disturbed by background load): {best_ratio:.2f}")
    ratio = median["processor"] / median["boto3"]
    print(
        f"processor import: {median['processor']:.3f} s vs import boto3: {median['boto3']:.3f} s "
        f"(ratio {ratio:.2f}, target <= {IMPORT_TARGET_RATIO})"
    )
    api_ratio = median["api"] / median["boto3"]
    print(
        f"api import: {median['api']:.3f} s vs import boto3: {median['boto3']:.3f} s "
        f"(ratio {api_ratio:.2f}, target <= {IMPORT_TARGET_RATIO})"
    )


class _Context:
    function_name = "secure-serverless-bench-processor"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:secure-serverless-bench-processor"
    aws_request_id = "bench"


def _event(bucket: str, key: str, version_id: str, size: int, etag: str, sequence: int) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2021-11-12T00:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": etag,
                "version-id": version_id,
                "sequencer": f"{sequence:018X}",
            },
            "request-id": "BENCH",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject",
        },
    }


def _create_table(dynamodb, name: str) -> None:
    """The production schema: object_key + version_id, sparse GSI by-owner (owner + object_key)."""
    dynamodb.create_table(**create_table_request(name))


def _count_items(dynamodb, table: str) -> int:
    pages = dynamodb.get_paginator("scan").paginate(TableName=table, Select="COUNT")
    return sum(page["Count"] for page in pages)


def bench_throughput(records: int, batch_size: int = 10) -> None:
    os.environ.update(BASE_ENV)
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    os.environ.pop("LAMBDA_TASK_ROOT", None)
    # This script is itself named processor.py: make sure `processor` is the function's package.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]
    sys.path.insert(0, str(FUNCTION_DIR))
    sys.path.insert(1, str(SHARED_DIR))

    import boto3
    from moto import mock_aws

    from processor import handler, store
    from processor.domain import ObjectMetadata, build_item, parse_event

    bucket, table, ceiling_table = BASE_ENV["EXPECTED_BUCKET_NAME"], BASE_ENV["TABLE_NAME"], "bench-ceiling"
    owner = BASE_ENV["EXPECTED_BUCKET_OWNER"]
    with mock_aws():
        store.reset_clients(drop_session=True)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(dynamodb, table)
        _create_table(dynamodb, ceiling_table)
        events = []
        for number in range(records):
            # Uploads only (the processor skips other keys without a call): half with characters an encoding changes.
            key = f"uploads/us-east-1:{number % 7:04d}/file {number}+é.txt" if number % 2 else f"uploads/o{number}/f"
            body = f"object {number}".encode()
            put = s3.put_object(Bucket=bucket, Key=key, Body=body)
            events.append(_event(bucket, key, put["VersionId"], len(body), put["ETag"].strip('"'), number))
        batches = [
            {
                "Records": [
                    {"messageId": str(uuid.uuid4()), "body": json.dumps(event), "eventSource": "aws:sqs"}
                    for event in events[start : start + batch_size]
                ]
            }
            for start in range(0, len(events), batch_size)
        ]
        timed_batches = batches[1:]
        timed_records = sum(len(batch["Records"]) for batch in timed_batches)
        context = _Context()

        def run_batches() -> tuple[float, int]:
            failures = 0
            with contextlib.redirect_stdout(io.StringIO()):  # EMF blobs are printed per invocation
                started = time.perf_counter()
                for batch in timed_batches:
                    failures += len(handler.sqs_handler(batch, context)["batchItemFailures"])
                return time.perf_counter() - started, failures

        # (1) The handler against moto: HeadObject + conditional PutItem per record.
        with contextlib.redirect_stdout(io.StringIO()):
            handler.sqs_handler(batches[0], context)  # first invocation creates the clients (untimed)
        elapsed, failures = run_batches()
        stored = _count_items(dynamodb, table)

        # (2) Ceiling: the same two moto calls per record (same clients, same full items, built
        # beforehand), and nothing else.
        s3_client, dynamodb_client = store.client("s3"), store.client("dynamodb")
        now = datetime.now(UTC)
        calls = []
        for event in events[len(batches[0]["Records"]) :]:
            parsed = parse_event(event)
            head = {"Bucket": bucket, "Key": parsed.key, "VersionId": parsed.version_id, "ExpectedBucketOwner": owner}
            meta = ObjectMetadata(content_type="binary/octet-stream", last_modified=now, etag=parsed.etag)
            calls.append((head, store.to_attribute_values(build_item(parsed, meta, recorded_at=now))))
        started = time.perf_counter()
        for head, item in calls:
            s3_client.head_object(**head)
            dynamodb_client.put_item(
                TableName=ceiling_table, Item=item, ConditionExpression="attribute_not_exists(object_key)"
            )
        ceiling_elapsed = time.perf_counter() - started

    # (3) The handler with the two AWS calls replaced by in-memory fakes: what our own code costs.
    written: set[tuple[str, str]] = set()
    metadata = ObjectMetadata(content_type="text/plain", last_modified=None, etag=None)
    original = store.head_object, store.put_record_once, store.find_sub
    store.head_object = lambda *args, **kwargs: metadata
    store.find_sub = lambda *args, **kwargs: None  # the uploader's sub lookup, also in memory
    store.put_record_once = lambda table_name, item: (
        not (
            (item["object_key"], item["version_id"]) in written or written.add((item["object_key"], item["version_id"]))
        )
    )
    try:
        own_elapsed, own_failures = run_batches()
    finally:
        store.head_object, store.put_record_once, store.find_sub = original

    rate = timed_records / elapsed
    print(
        f"throughput: {timed_records} records in {len(timed_batches)} batches of {batch_size}, "
        f"{elapsed:.2f} s, {failures} failures, {stored} items in the table"
    )
    print(
        f"  ceiling, the same HeadObject + conditional PutItem on moto without the handler: "
        f"{timed_records / ceiling_elapsed:,.0f} records/s"
    )
    print(
        f"  handler with both AWS calls faked in memory (Powertools + parsing + item building): "
        f"{timed_records / own_elapsed:,.0f} records/s ({own_failures} failures, "
        f"{own_elapsed / timed_records * 1e6:.0f} us/record)"
    )
    print(
        f"  handler run time / ceiling time: {elapsed / ceiling_elapsed:.2f} "
        f"(1.00 = the handler adds nothing measurable on top of the two moto calls)"
    )
    print(f"processor throughput: {rate:,.0f} records/s (moto in-process, target >= {THROUGHPUT_TARGET:,.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="subprocess runs per import variant (>= 5)")
    parser.add_argument("--records", type=int, default=3000, help="records sent through sqs_handler")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    bench_imports(max(args.runs, 5))
    bench_throughput(args.records)


if __name__ == "__main__":
    main()
