#!/usr/bin/env python3
"""Check that every object version under the uploads prefix has its record, and repair the ones that do not.

    python tools/reconcile.py ENV [--since 2026-11-26T00:00:00Z] [--repair] [--dry-run] [--prefix uploads/]

Lists the bucket's object versions under --prefix (delete markers aside; only those modified at or after --since)
and the table's records, then reports versions with no record ("missing") and records whose version is gone
("orphaned"; expected after a noncurrent-version expiry).
With --since the table is read only for that window: one Query per key that has a version in the window (the keys'
records, nothing else), so orphans are reported only for those keys. Without --since the whole prefix is checked
with one Scan (run it off-peak).

With --repair, each missing version gets an S3 "Object Created" event, shaped as EventBridge delivers it, sent to
the pipeline buffer: the processor records it through its normal path (HeadObject's metadata, its conditional put),
so running a repair twice still records each version once. Event ids are derived from bucket/key/version, so a
repeated repair also repeats the id. A repair event carries no sequencer (S3 puts one only in its own events; none is
invented): its record's place among the key's versions is S3's LastModified, which the processor takes from
HeadObject. Repairs are sent in the order of S3's version listing, oldest first, and each line says whether the
version is the key's latest.

Exit status: 0 nothing missing (or repaired / dry run), 1 missing versions found and not repaired, 2 usage, lookup
or AWS error, 3 throttled (the table or bucket refused reads after botocore's retries: try later, or narrow
--since/--prefix). Permissions: cloudformation:DescribeStacks, s3:ListBucketVersions, dynamodb:Query (with
--since) or dynamodb:Scan (without), and for --repair sqs:SendMessage on the buffer with kms:GenerateDataKey on the
environment key.
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

from botocore.config import Config
from botocore.exceptions import ClientError

try:
    from tools.stack_outputs import ToolError, resolve, session, tool_parser
except ModuleNotFoundError:  # run as a script: tools/ is on sys.path
    from stack_outputs import ToolError, resolve, session, tool_parser  # type: ignore[no-redef]

# The API's identity mapping items in the records table (= stacks.records_schema.IDENTITY_MAPPING_PREFIX; a test
# keeps them equal): no records, never reported.
IDENTITY_MAPPING_PREFIX, IDENTITY_MAPPING_SORT_KEY = "#identity/", "#sub"
# A deleted version's tombstone carries this attribute (= stacks.records_schema.TOMBSTONE_ATTRIBUTE; a test keeps them
# equal): no record, never reported as orphaned. Tombstones live under #deleted/<hash of the key>; those an earlier
# processor wrote at the record's own key stay until their TTL, so both reads still leave them out.
TOMBSTONE_ATTRIBUTE = "deleted_at"
UNVERSIONED = "null"  # S3's version id of objects written while versioning was off; also the record's sort key
_EVENT_NAMESPACE = uuid.UUID("0f3a8f52-6d0e-4a53-9d8e-2a4f2d1c5b71")
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "TooManyRequestsException",
    }
)
# Reads back off and retry a while before the tool gives up on throttling (botocore's adaptive mode, 8 attempts).
READ_RETRIES = Config(retries={"mode": "adaptive", "total_max_attempts": 8})


class Throttled(ToolError):
    """A read was throttled after every retry (exit status 3)."""


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    size: int
    etag: str
    last_modified: datetime
    is_latest: bool = False


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
    """The listed versions (S3's order: by key, newest first within a key), those modified at or after `since`."""
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
                is_latest=bool(item.get("IsLatest")),
            )


def records_of_keys(dynamodb: Any, table: str, keys: Iterator[str] | list[str]) -> Iterator[tuple[str, str, str]]:
    """(object_key, version_id, event_time) of the records of `keys` (tombstones left out): one Query per key."""
    paginator = dynamodb.get_paginator("query")
    for key in keys:
        pages = paginator.paginate(
            TableName=table,
            ProjectionExpression="object_key, version_id, event_time",
            KeyConditionExpression="object_key = :key",
            FilterExpression=f"attribute_not_exists({TOMBSTONE_ATTRIBUTE})",
            ExpressionAttributeValues={":key": {"S": key}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                yield item["object_key"]["S"], item["version_id"]["S"], item.get("event_time", {}).get("S", "")


def records(dynamodb: Any, table: str, prefix: str) -> Iterator[tuple[str, str, str]]:
    """(object_key, version_id, event_time) of every record under `prefix` (a Scan: run it off-peak). The API's
    identity mapping items (`#identity/<identity id>`, `#sub`) share the table and are no records: left out, as are
    the tombstones of deleted versions."""
    paginator = dynamodb.get_paginator("scan")
    pages = paginator.paginate(
        TableName=table,
        ProjectionExpression="object_key, version_id, event_time",
        FilterExpression=f"begins_with(object_key, :prefix) AND attribute_not_exists({TOMBSTONE_ATTRIBUTE})",
        ExpressionAttributeValues={":prefix": {"S": prefix}},
        ConsistentRead=True,
    )
    for page in pages:
        for item in page.get("Items", []):
            key, version = item["object_key"]["S"], item["version_id"]["S"]
            if key.startswith(IDENTITY_MAPPING_PREFIX) and version == IDENTITY_MAPPING_SORT_KEY:
                continue
            yield key, version, item.get("event_time", {}).get("S", "")


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


def repair_order(versions: dict[tuple[str, str], Version], missing: list[tuple[str, str]]) -> list[Version]:
    """The missing versions in S3's real order: by key, and within a key oldest first (the listing reversed)."""
    rank = {k: n for n, k in enumerate(versions)}  # the listing's order: newest first within a key
    return [versions[k] for k in sorted(missing, key=lambda k: (k[0], -rank[k]))]


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parser().parse_args(argv)
    try:
        return _reconcile(args, out)
    except Throttled as error:
        print(f"reconcile: {error}", file=sys.stderr)
        return 3
    except ToolError as error:
        print(f"reconcile: {error}", file=sys.stderr)
        return 2


def _aws_error(error: ClientError) -> ToolError:
    code = str(error.response.get("Error", {}).get("Code", ""))
    operation = getattr(error, "operation_name", "a call")
    if code in THROTTLING_CODES:
        return Throttled(
            f"{operation} was throttled ({code}) after retrying; nothing was repaired by this run. Try again later, "
            "or narrow the window (--since) or the prefix (--prefix)"
        )
    return ToolError(f"{operation} failed: {code or 'error'}: {error.response.get('Error', {}).get('Message', '')}")


def _reconcile(args: argparse.Namespace, out: TextIO) -> int:
    try:
        return _compare_and_repair(args, out)
    except ClientError as error:
        raise _aws_error(error) from error


def _compare_and_repair(args: argparse.Namespace, out: TextIO) -> int:
    aws = session(args)
    wanted = {"bucket": "BucketName", "table": "TableName"}
    if args.repair:
        wanted["buffer_url"] = "PipelineBufferUrl"
    names = resolve(args, aws.client("cloudformation"), wanted)
    s3 = aws.client("s3", config=READ_RETRIES)
    dynamodb = aws.client("dynamodb", config=READ_RETRIES)
    listed = {(v.key, v.version_id): v for v in object_versions(s3, names["bucket"], args.prefix, None)}
    if args.since is None:
        versions = listed
        stored_rows = records(dynamodb, names["table"], args.prefix)
    else:
        versions = {k: v for k, v in listed.items() if v.last_modified >= args.since}
        stored_rows = records_of_keys(dynamodb, names["table"], sorted({key for key, _ in versions}))
    since_text = args.since.strftime("%Y-%m-%dT%H:%M:%SZ") if args.since else ""
    stored = {(key, version): time for key, version, time in stored_rows}
    missing = sorted(set(versions) - set(stored))
    orphaned = sorted(k for k, time in stored.items() if k not in listed and (not since_text or time >= since_text))
    print(
        f"object versions: {len(versions)}, records: {len(stored)}, missing: {len(missing)}, orphaned: {len(orphaned)}",
        file=out,
    )
    for key, version in missing:
        latest = " latest" if versions[(key, version)].is_latest else ""
        print(f"missing  {key} (version {version}){latest}", file=out)
    for key, version in orphaned:
        print(f"orphaned {key} (version {version})", file=out)
    if not missing:
        return 0
    if not args.repair:
        return 1
    identity = aws.client("sts").get_caller_identity()["Account"] if not args.dry_run else "000000000000"
    events = [
        object_created_event(names["bucket"], version, identity, aws.region_name or "us-east-1")
        for version in repair_order(versions, missing)
    ]
    if args.dry_run:
        print(f"dry run: would send {len(events)} repair event(s) to {names['buffer_url']}", file=out)
        return 0
    print(
        f"repair: sent {send_events(aws.client('sqs'), names['buffer_url'], events)} event(s) to the buffer",
        file=out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
