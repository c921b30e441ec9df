#!/usr/bin/env python3
"""Erase everything a user pool user holds (an operator's answer to an erasure request), or show what would go.

    python tools/erase_user.py ENV --sub SUB --dry-run            counts per kind of what the erasure would remove
    python tools/erase_user.py ENV --sub SUB --confirm SUB        start the erasure job (the same one POST /erasure
                                                                  starts; a pending or running one is returned)
    python tools/erase_user.py ENV --sub SUB --status             the job's status and, once done, its report

The user is named by their user pool `sub` (Cognito console, or `aws cognito-idp admin-get-user`); the job covers
every identity id the sub has signed in with (its `#sub/<sub>` items; --identity adds ids known from elsewhere).
Without --dry-run or --status the tool refuses unless --confirm repeats the sub exactly. The job runs in the
erasure worker (lambda/erasure); follow it with --status. Runbook: docs/operations.md, "Erasure".

Exit status: 0 done (job started or returned, dry run, status shown), 2 usage, refusal, lookup or AWS error.
Permissions: cloudformation:DescribeStacks; dynamodb:GetItem, PutItem, UpdateItem and Query on the records table
(and its owner index); s3:ListBucketVersions (dry run); sqs:SendMessage on the erasure queue with
kms:GenerateDataKey on the environment key.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the records schema (stacks/records_schema.py) lives at the root
    sys.path.append(str(ROOT))

from stacks import records_schema as schema  # noqa: E402

try:
    from tools.stack_outputs import ToolError, resolve, session, tool_parser
except ModuleNotFoundError:  # run as a script: tools/ is on sys.path
    from stack_outputs import ToolError, resolve, session, tool_parser  # type: ignore[no-redef]

SUB_RE = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")
IDENTITY_RE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d:[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")
KINDS = ("identities", "object_versions", "delete_markers", "records", "usage_items", "mapping_items")


def parser() -> argparse.ArgumentParser:
    result = tool_parser("erase_user.py", __doc__)
    result.add_argument("--sub", required=True, help="the user pool sub of the user to erase")
    result.add_argument("--confirm", metavar="SUB", help="repeat the sub: required to start the erasure")
    result.add_argument("--status", action="store_true", help="show the job's status and report; change nothing")
    result.add_argument(
        "--identity", action="append", default=[], metavar="ID", help="an identity id of the user known from elsewhere"
    )
    result.add_argument("--bucket", help="data bucket (default: the stack's BucketName output)")
    result.add_argument("--table", help="records table (default: the stack's TableName output)")
    result.add_argument("--queue-url", help="erasure job queue (default: the stack's ErasureQueueUrl output)")
    return result


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args, out)
    except ToolError as error:
        print(f"erase_user: {error}", file=sys.stderr)
        return 2
    except ClientError as error:
        details = error.response.get("Error", {})
        print(
            f"erase_user: {error.operation_name} failed: {details.get('Code')}: {details.get('Message')}",
            file=sys.stderr,
        )
        return 2


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse, in one line, before any AWS call: a malformed sub or identity, or an erasure not confirmed."""
    if not SUB_RE.fullmatch(args.sub):
        raise ToolError(f"invalid --sub {args.sub!r}: must be a user pool sub (a lowercase UUID)")
    bad = [value for value in args.identity if not IDENTITY_RE.fullmatch(value)]
    if bad:
        raise ToolError(f"invalid --identity {bad[0]!r}: must be an identity id (<region>:<uuid>)")
    if not (args.dry_run or args.status) and args.confirm != args.sub:
        raise ToolError(f"refusing to erase {args.sub}: repeat the sub with --confirm {args.sub} (or use --dry-run)")


def _run(args: argparse.Namespace, out: TextIO) -> int:
    check_arguments(args)
    aws = session(args)
    wanted = {"table": "TableName"}
    if args.dry_run:
        wanted["bucket"] = "BucketName"
    elif not args.status:
        wanted["queue_url"] = "ErasureQueueUrl"
    names = resolve(args, aws.client("cloudformation"), wanted)
    dynamodb = aws.client("dynamodb")
    if args.status:
        return show_status(dynamodb, names["table"], args.sub, out)
    if args.dry_run:
        counts = count_holdings(aws.client("s3"), dynamodb, names["bucket"], names["table"], args.sub, args.identity)
        print(f"dry run: erasing {args.sub} would remove " + ", ".join(f"{k} {counts[k]}" for k in KINDS), file=out)
        return 0
    job, created = start_job(dynamodb, names["table"], args.sub, args.identity)
    if created:
        aws.client("sqs").send_message(
            QueueUrl=names["queue_url"],
            MessageBody=json.dumps({"job_id": job["job_id"], "sub": args.sub}, sort_keys=True),
        )
        print(f"erasure job {job['job_id']} started for {args.sub}; follow it with --status", file=out)
    else:
        print(
            f"erasure job {job['job_id']} is already {job['status']} for {args.sub}; follow it with --status", file=out
        )
    return 0


# ---------------------------------------------------------------- reading
def _keys(dynamodb: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("query").paginate(**params):
        items += page["Items"]
    return items


def _partition(dynamodb: Any, table: str, partition: str) -> list[dict[str, Any]]:
    return _keys(
        dynamodb,
        {
            "TableName": table,
            "KeyConditionExpression": "object_key = :k",
            "ExpressionAttributeValues": {":k": {"S": partition}},
            "ConsistentRead": True,
        },
    )


def _mapped_sub(dynamodb: Any, table: str, identity: str) -> str | None:
    item = dynamodb.get_item(
        TableName=table,
        Key={"object_key": {"S": f"{schema.IDENTITY_MAPPING_PREFIX}{identity}"}, "version_id": {"S": "#sub"}},
        ConsistentRead=True,
    ).get("Item")
    return item["sub"]["S"] if item and "sub" in item else None


def count_holdings(
    s3: Any, dynamodb: Any, bucket: str, table: str, sub: str, extra_identities: Sequence[str] = ()
) -> dict[str, int]:
    """What the erasure of `sub` would remove, per kind, found as the worker finds it (nothing is changed)."""
    sub_items = _partition(dynamodb, table, f"{schema.SUB_IDENTITIES_PREFIX}{sub}")
    candidates = sorted({item["version_id"]["S"] for item in sub_items} | set(extra_identities))
    counts = dict.fromkeys(KINDS, 0)
    counts["mapping_items"] = len(sub_items)
    for identity in candidates:
        owner = _mapped_sub(dynamodb, table, identity)
        if owner is not None and owner != sub:
            continue  # another user's identity: the worker never erases it either
        counts["mapping_items"] += owner is not None
        counts["identities"] += 1
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=f"{schema.UPLOADS_PREFIX}{identity}/"
        )
        for page in pages:
            counts["object_versions"] += len(page.get("Versions", []))
            counts["delete_markers"] += len(page.get("DeleteMarkers", []))
        counts["records"] += sum(
            page["Count"]
            for page in dynamodb.get_paginator("query").paginate(
                TableName=table,
                IndexName=schema.OWNER_INDEX,
                KeyConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": schema.OWNER_KEY},
                ExpressionAttributeValues={":o": {"S": identity}},
                Select="COUNT",
            )
        )
    counts["usage_items"] = len(_partition(dynamodb, table, f"{schema.USAGE_PREFIX}{sub}"))
    return counts


def show_status(dynamodb: Any, table: str, sub: str, out: TextIO) -> int:
    items = {item["version_id"]["S"]: item for item in _partition(dynamodb, table, f"{schema.ERASURE_PREFIX}{sub}")}
    job = items.get(schema.ERASURE_JOB_SORT_KEY)
    if job is None:
        print(f"no erasure was requested for {sub}", file=out)
        return 0
    fields = {
        name: job[name]["S"]
        for name in ("job_id", "status", "requested_by", "requested_at", "finished_at")
        if name in job
    }
    print("job " + " ".join(f"{name}={value}" for name, value in fields.items()), file=out)
    report = items.get(f"{schema.ERASURE_REPORT_SORT_PREFIX}{fields['job_id']}")
    if report is not None:
        counts = {kind: int(value["N"]) for kind, value in report["counts"]["M"].items()}
        print("report " + ", ".join(f"{kind} {counts.get(kind, 0)}" for kind in KINDS), file=out)
    return 0


# ---------------------------------------------------------------- starting
def start_job(dynamodb: Any, table: str, sub: str, identities: Sequence[str]) -> tuple[dict[str, str], bool]:
    """The same conditional put as POST /erasure: a new pending job unless one is pending or running."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    job = {"job_id": uuid.uuid4().hex, "status": "pending"}
    item: dict[str, Any] = {
        "object_key": {"S": f"{schema.ERASURE_PREFIX}{sub}"},
        "version_id": {"S": schema.ERASURE_JOB_SORT_KEY},
        **{name: {"S": value} for name, value in job.items()},
        "requested_at": {"S": now},
        "requested_by": {"S": "operator"},
        "enqueued_at": {"S": now},
    }
    if identities:
        item["identity_ids"] = {"SS": sorted(set(identities))}
    try:
        dynamodb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(object_key) OR #s = :done",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":done": {"S": "done"}},
        )
        return job, True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
    current = dynamodb.get_item(
        TableName=table, Key={k: item[k] for k in ("object_key", "version_id")}, ConsistentRead=True
    )
    existing = current.get("Item", {})
    return {"job_id": existing["job_id"]["S"], "status": existing["status"]["S"]}, False


if __name__ == "__main__":
    sys.exit(main())
