"""The erasure worker's AWS calls, each a small function moto exercises.

IAM (SecureServerlessStack._erasure): s3:ListBucketVersions on the bucket with an `s3:prefix` condition on
uploads/; s3:DeleteObjectVersion on uploads/*; dynamodb:Query on the table (leading keys `#sub/*`, `#usage/*`) and
on the owner index; dynamodb:BatchWriteItem (leading keys `uploads/*`, `#sub/*`, `#usage/*`, `#identity/*`);
dynamodb:GetItem/PutItem/UpdateItem on `#erasure/*` and GetItem on `#identity/*`; sqs:SendMessage on its own queue
(continuations). Every S3 call passes ExpectedBucketOwner.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from shared_runtime import clients, settings
from shared_runtime.budget import CallBudget

from erasure_worker import domain

# A DeleteObjects of 1,000 versions can take seconds: generous read timeouts, few attempts.
S3_BUDGET = CallBudget(connect_timeout=2, read_timeout=20, total_max_attempts=3)
TABLE_BUDGET = CallBudget(connect_timeout=1, read_timeout=5, total_max_attempts=4)
QUEUE_BUDGET = CallBudget(connect_timeout=1, read_timeout=5, total_max_attempts=3)
# The longest one step (a page of versions, or of records, and the job update after it) can take.
STEP_WORST_CASE_SECONDS = 2 * S3_BUDGET.worst_case_seconds + 2 * TABLE_BUDGET.worst_case_seconds
BATCH_WRITE_SIZE = 25  # DynamoDB's BatchWriteItem maximum
UNPROCESSED_ATTEMPTS = 8  # BatchWriteItem rounds for unprocessed items, with exponential back-off
VERSIONS_PER_PAGE = 1000  # ListObjectVersions / DeleteObjects maximum

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class LeaseLost(Exception):
    """Another worker holds (or took over) the job's lease: this one stops without changing anything more."""


class DeleteFailed(Exception):
    """S3 or DynamoDB refused a delete for a reason other than "already gone": the job is retried."""


def _s3() -> Any:
    return clients.client("s3", S3_BUDGET)


def _dynamodb() -> Any:
    return clients.client("dynamodb", TABLE_BUDGET)


def _sqs() -> Any:
    return clients.client("sqs", QUEUE_BUDGET)


def _settings() -> dict[str, str]:
    return settings.required("TABLE_NAME", "OWNER_INDEX_NAME", "BUCKET_NAME", "EXPECTED_BUCKET_OWNER", "QUEUE_URL")


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _typed(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def _key(key: Mapping[str, str]) -> dict[str, Any]:
    return {name: {"S": value} for name, value in key.items()}


# ---------------------------------------------------------------- the job item
def get_item(key: Mapping[str, str]) -> dict[str, Any] | None:
    response = _dynamodb().get_item(TableName=_settings()["TABLE_NAME"], Key=_key(key), ConsistentRead=True)
    item = response.get("Item")
    return _plain(item) if item else None


def acquire_lease(sub: str, job_id: str, owner: str, now: float, lease_seconds: float, started_at: str) -> bool:
    """Take the job's lease (status running) when the job is this one, not done, and its lease is free, expired or
    already `owner`'s (a redelivered message keeps its message id). False when another worker holds it or the job
    is done or replaced."""
    try:
        _dynamodb().update_item(
            TableName=_settings()["TABLE_NAME"],
            Key=_key(domain.job_key(sub)),
            UpdateExpression="SET #status = :running, lease_owner = :owner, lease_until = :until, "
            "started_at = if_not_exists(started_at, :started), updated_at = :started",
            ConditionExpression="job_id = :job AND #status <> :done AND (attribute_not_exists(lease_until) "
            "OR lease_until < :now OR lease_owner = :owner)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_typed(
                {
                    ":running": domain.RUNNING,
                    ":done": domain.DONE,
                    ":owner": owner,
                    ":until": int(now + lease_seconds),
                    ":now": int(now),
                    ":job": job_id,
                    ":started": started_at,
                }
            ),
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def record_progress(
    sub: str, owner: str, counts: Mapping[str, int], now: float, lease_seconds: float, updated_at: str
) -> None:
    """Add a step's counts to the job and renew the lease, only while `owner` holds it (else LeaseLost)."""
    names = {"#status": "status"}
    values: dict[str, Any] = {
        ":owner": owner,
        ":until": int(now + lease_seconds),
        ":updated": updated_at,
        ":running": domain.RUNNING,
    }
    additions = []
    for index, (kind, amount) in enumerate(sorted(counts.items())):
        if amount:
            names[f"#c{index}"] = domain.count_attribute(kind)
            values[f":c{index}"] = amount
            additions.append(f"#c{index} :c{index}")
    expression = "SET lease_until = :until, updated_at = :updated"
    if additions:
        expression += " ADD " + ", ".join(additions)
    _conditional_update(sub, expression, "lease_owner = :owner AND #status = :running", names, values)


def release_lease(sub: str, owner: str) -> None:
    """Give the lease up (before a continuation message, so the continuation can take it at once)."""
    _conditional_update(
        sub,
        "REMOVE lease_owner, lease_until",
        "lease_owner = :owner AND #status = :running",
        {"#status": "status"},
        {":owner": owner, ":running": domain.RUNNING},
    )


def finish(sub: str, owner: str, report: Mapping[str, Any]) -> None:
    """Write the report, then mark the job done (and forget its identity ids and lease), while `owner` holds it."""
    _dynamodb().put_item(TableName=_settings()["TABLE_NAME"], Item=_typed(report))
    _conditional_update(
        sub,
        "SET #status = :done, finished_at = :finished REMOVE lease_owner, lease_until, identity_ids",
        "lease_owner = :owner AND #status = :running",
        {"#status": "status"},
        {":owner": owner, ":running": domain.RUNNING, ":done": domain.DONE, ":finished": report["finished_at"]},
    )


def _conditional_update(
    sub: str, expression: str, condition: str, names: Mapping[str, str], values: Mapping[str, Any]
) -> None:
    try:
        _dynamodb().update_item(
            TableName=_settings()["TABLE_NAME"],
            Key=_key(domain.job_key(sub)),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=dict(names),
            ExpressionAttributeValues=_typed(values),
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise LeaseLost(sub) from error
        raise


def continue_later(message: domain.JobMessage) -> None:
    """Send the job's continuation to the worker's own queue (work larger than one invocation)."""
    _sqs().send_message(QueueUrl=_settings()["QUEUE_URL"], MessageBody=message.body())


# ---------------------------------------------------------------- finding what the sub holds
def _query_keys(params: dict[str, Any]) -> Iterator[dict[str, str]]:
    """The keys (object_key, version_id) of a Query's items, page by page."""
    params = {**params, "TableName": _settings()["TABLE_NAME"], "ProjectionExpression": "object_key, version_id"}
    while True:
        response = _dynamodb().query(**params)
        for item in response.get("Items", []):
            yield {"object_key": item["object_key"]["S"], "version_id": item["version_id"]["S"]}
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        params["ExclusiveStartKey"] = last


def partition_keys(partition: str) -> list[dict[str, str]]:
    """Every item key under one partition key (`#sub/<sub>`, `#usage/<sub>`)."""
    return list(
        _query_keys(
            {
                "KeyConditionExpression": "object_key = :key",
                "ExpressionAttributeValues": {":key": {"S": partition}},
                "ConsistentRead": True,
            }
        )
    )


def owner_record_keys(identity_id: str, limit: int) -> list[dict[str, str]]:
    """Up to `limit` keys of the identity's records, from the owner index."""
    found: list[dict[str, str]] = []
    params = {
        "IndexName": _settings()["OWNER_INDEX_NAME"],
        "KeyConditionExpression": "#owner = :owner",
        "ExpressionAttributeNames": {"#owner": "owner"},
        "ExpressionAttributeValues": {":owner": {"S": identity_id}},
    }
    for key in _query_keys(params):
        found.append(key)
        if len(found) >= limit:
            break
    return found


def mapped_sub(identity_id: str) -> str | None:
    """The sub the identity id's mapping item names (None: no mapping item)."""
    item = get_item(domain.identity_mapping_key(identity_id))
    return str(item["sub"]) if item and "sub" in item else None


# ---------------------------------------------------------------- deleting
def delete_items(keys: Sequence[Mapping[str, str]], sleep: Any = time.sleep) -> int:
    """Delete items by key (BatchWriteItem, 25 a call, unprocessed items retried with back-off); deleting an item
    already gone is no error. Returns how many keys were deleted; DeleteFailed when some stay unprocessed."""
    table = _settings()["TABLE_NAME"]
    for start in range(0, len(keys), BATCH_WRITE_SIZE):
        pending = [{"DeleteRequest": {"Key": _key(key)}} for key in keys[start : start + BATCH_WRITE_SIZE]]
        for attempt in range(UNPROCESSED_ATTEMPTS):
            response = _dynamodb().batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
            sleep(min(2.0, 0.05 * 2**attempt))
        else:
            raise DeleteFailed(f"{len(pending)} item(s) stayed unprocessed after {UNPROCESSED_ATTEMPTS} attempts")
    return len(keys)


def version_page(prefix: str) -> dict[str, Any]:
    """The first page (up to 1,000) of versions and delete markers left under `prefix`."""
    config = _settings()
    page: dict[str, Any] = _s3().list_object_versions(
        Bucket=config["BUCKET_NAME"],
        Prefix=prefix,
        MaxKeys=VERSIONS_PER_PAGE,
        ExpectedBucketOwner=config["EXPECTED_BUCKET_OWNER"],
    )
    return page


def delete_versions(entries: Sequence[Mapping[str, str]]) -> int:
    """Delete exact versions and delete markers (DeleteObjects, up to 1,000, quiet); a version already gone is fine.
    Returns how many were deleted; DeleteFailed naming the first real error."""
    if not entries:
        return 0
    config = _settings()
    body = {"Objects": [dict(entry) for entry in entries], "Quiet": True}
    response = _s3().delete_objects(
        Bucket=config["BUCKET_NAME"],
        Delete=body,
        ExpectedBucketOwner=config["EXPECTED_BUCKET_OWNER"],
        # DeleteObjects requires an integrity checksum; botocore adds one (CRC32 or MD5) by itself.
    )
    errors = response.get("Errors", [])
    failed = domain.failed_deletes(errors)
    if failed:
        first = failed[0]
        raise DeleteFailed(f"S3 refused {len(failed)} delete(s), first: {first.get('Code')}: {first.get('Message')}")
    return len(entries) - len(errors)
