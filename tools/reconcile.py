#!/usr/bin/env python3
"""Check that every object version under the uploads prefix has its record, and repair the ones that do not.

    python tools/reconcile.py ENV [--since 2026-11-26T00:00:00Z] [--repair] [--dry-run] [--prefix uploads/]

Lists the bucket's object versions under --prefix (delete markers aside; only those modified at or after --since)
and the table's records under the same prefix, then reports versions with no record ("missing") and records whose
version is gone ("orphaned"; expected after a noncurrent-version expiry). With --repair, each missing version gets
an S3 "Object Created" event, shaped as EventBridge delivers it, sent to the pipeline buffer: the processor records
it through its normal path, with its conditional put, so running a repair twice still records each version once.
Event ids are derived from bucket/key/version, so a repeated repair also repeats the id.

Exit status: 0 nothing missing (or repaired / dry run), 1 missing versions found and not repaired, 2 usage or
lookup error. Permissions: cloudformation:DescribeStacks, s3:ListBucketVersions, dynamodb:Scan, and for --repair
sqs:SendMessage on the buffer with kms:GenerateDataKey on the environment key.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

try:
    from tools.stack_outputs import ToolError, resolve, session, tool_parser
except ModuleNotFoundError:  # run as a script: tools/ is on sys.path
    from stack_outputs import ToolError, resolve, session, tool_parser  # type: ignore[no-redef]

UNVERSIONED = "null"  # S3's version id of objects written while versioning was off; also the record's sort key
_EVENT_NAMESPACE = uuid.UUID("0f3a8f52-6d0e-4a53-9d8e-2a4f2d1c5b71")


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    size: int
    etag: str
    last_modified: datetime


def parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid --since {text!r}: must be an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    result = tool_parser("reconcile.py", __doc__)
    result.add_argument("--since", type=parse_time, help="only versions modified at or after this ISO-8601 time")
    result.add_argument("--repair", action="store_true", help="re-emit an event for each missing version")
    result.add_argument("--prefix", default="uploads/", help="key prefix to check (default uploads/)")
    result.add_argument("--bucket", help="bucket name (default: the stack's output)")
    result.add_argument("--table", help="table name (default: the stack's output)")
    result.add_argument("--buffer-url", dest="buffer_url", help="buffer queue URL (default: the stack's output)")
    return result


def object_versions(s3: Any, bucket: str, prefix: str, since: datetime | None) -> Iterator[Version]:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Versions", []):
            if since is not None and item["LastModified"] < since:
                continue
            yield Version(
                key=item["Key"],
                version_id=item.get("VersionId") or UNVERSIONED,
                size=int(item.get("Size", 0)),
                etag=str(item.get("ETag", "")).strip('"'),
                last_modified=item["LastModified"],
            )


def records(dynamodb: Any, table: str, prefix: str) -> Iterator[tuple[str, str, str]]:
    """(object_key, version_id, event_time) of every record under `prefix` (a Scan: run it off-peak)."""
    paginator = dynamodb.get_paginator("scan")
    pages = paginator.paginate(
        TableName=table,
        ProjectionExpression="object_key, version_id, event_time",
        FilterExpression="begins_with(object_key, :prefix)",
        ExpressionAttributeValues={":prefix": {"S": prefix}},
        ConsistentRead=True,
    )
    for page in pages:
        for item in page.get("Items", []):
            yield item["object_key"]["S"], item["version_id"]["S"], item.get("event_time", {}).get("S", "")


def object_created_event(bucket: str, version: Version, account: str, region: str) -> dict[str, Any]:
    """The EventBridge "Object Created" event the processor reads, for one existing version."""
    obj: dict[str, Any] = {"key": version.key, "size": version.size, "etag": version.etag}
    if version.version_id != UNVERSIONED:
        obj["version-id"] = version.version_id
    return {
        "version": "0",
        "id": str(uuid.uuid5(_EVENT_NAMESPACE, f"{bucket}\n{version.key}\n{version.version_id}")),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": version.last_modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": obj, "reason": "Reconcile"},
    }


def send_events(sqs: Any, buffer_url: str, events: list[dict[str, Any]]) -> int:
    sent = 0
    for start in range(0, len(events), 10):
        chunk = events[start : start + 10]
        response = sqs.send_message_batch(
            QueueUrl=buffer_url, Entries=[{"Id": str(n), "MessageBody": json.dumps(e)} for n, e in enumerate(chunk)]
        )
        if response.get("Failed"):
            raise ToolError(f"{len(response['Failed'])} repair event(s) could not be sent: {response['Failed'][:3]}")
        sent += len(response.get("Successful", []))
    return sent


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parser().parse_args(argv)
    try:
        aws = session(args)
        wanted = {"bucket": "BucketName", "table": "TableName"}
        if args.repair:
            wanted["buffer_url"] = "PipelineBufferUrl"
        names = resolve(args, aws.client("cloudformation"), wanted)
        versions = {
            (v.key, v.version_id): v
            for v in object_versions(aws.client("s3"), names["bucket"], args.prefix, args.since)
        }
        since_text = args.since.strftime("%Y-%m-%dT%H:%M:%SZ") if args.since else ""
        stored = {
            (key, version): time for key, version, time in records(aws.client("dynamodb"), names["table"], args.prefix)
        }
        missing = sorted(set(versions) - set(stored))
        orphaned = sorted(
            k for k, time in stored.items() if k not in versions and (not since_text or time >= since_text)
        )
        print(
            f"object versions: {len(versions)}, records: {len(stored)}, "
            f"missing: {len(missing)}, orphaned: {len(orphaned)}",
            file=out,
        )
        for key, version in missing:
            print(f"missing  {key} (version {version})", file=out)
        for key, version in orphaned:
            print(f"orphaned {key} (version {version})", file=out)
        if not missing:
            return 0
        if not args.repair:
            return 1
        identity = aws.client("sts").get_caller_identity()["Account"] if not args.dry_run else "000000000000"
        events = [
            object_created_event(names["bucket"], versions[k], identity, aws.region_name or "us-east-1")
            for k in missing
        ]
        if args.dry_run:
            print(f"dry run: would send {len(events)} repair event(s) to {names['buffer_url']}", file=out)
            return 0
        print(
            f"repair: sent {send_events(aws.client('sqs'), names['buffer_url'], events)} event(s) to the buffer",
            file=out,
        )
        return 0
    except ToolError as error:
        print(f"reconcile: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
