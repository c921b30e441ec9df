"""The few AWS calls of the processor: HeadObject, a conditional PutItem, and delaying failed buffer records.

Clients come from `shared_runtime.clients` (created on first use, one cache per execution environment). Their
timeouts and retry budgets are below; `record_worst_case_seconds` is what one record can cost at worst, so the
batch loop knows when the invocation can no longer afford another record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from shared_runtime import clients
from shared_runtime.budget import CallBudget

from processor.domain import ObjectMetadata

# HeadObject errors that mean "this object (version) no longer exists". HEAD responses carry no
# body, so S3 reports a bare "404"; NoSuchKey/NotFound/NoSuchVersion cover other code paths.
MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
CONDITION_FAILED_CODE = "ConditionalCheckFailedException"
PUT_ONCE_CONDITION = "attribute_not_exists(object_key)"
# Errors that mean "the dependency is busy or slow": the record waits in the buffer and is tried again later.
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
        "SlowDown",
        "503",
        "ServiceUnavailable",
        "InternalServerError",
        "InternalError",
    }
)

# HeadObject and PutItem answer in tens of milliseconds; 2 attempts of 1 s connect + 2 s read leave one retry for a
# lost connection while a call that never answers costs at most 7 s (2 x 3 s + 1 s backoff).
DATA_BUDGET = CallBudget(connect_timeout=1, read_timeout=2, total_max_attempts=2)
# ChangeMessageVisibilityBatch after the loop: best effort (the queue's own visibility timeout is the fallback).
QUEUE_BUDGET = CallBudget(connect_timeout=1, read_timeout=1, total_max_attempts=2)
VISIBILITY_BATCH_MAX = 10  # entries per ChangeMessageVisibilityBatch


def record_worst_case_seconds(key_candidates: int) -> float:
    """One HeadObject per key candidate (at most 2: as delivered, URL-decoded) and one PutItem, each at its worst."""
    return (key_candidates + 1) * DATA_BUDGET.worst_case_seconds


MAX_RECORD_WORST_CASE_SECONDS = record_worst_case_seconds(2)  # 21 s: fits a fresh 30 s invocation with the reserve


def client(service: str) -> Any:
    """The cached client of `service` ("s3", "dynamodb" or "sqs") with its budget."""
    return clients.client(service, QUEUE_BUDGET if service == "sqs" else DATA_BUDGET)


def reset_clients(*, drop_session: bool = False) -> None:
    """Forget the cached clients (tests: between mocks, or after changing region or credentials)."""
    clients.reset_clients(drop_session=drop_session)


def is_throttling_or_timeout(error: BaseException) -> bool:
    """A throttled, unavailable or timed-out call: back-pressure, not a defect of the event."""
    if isinstance(error, ClientError):
        return error_code(error) in THROTTLING_CODES
    return isinstance(error, (BotocoreConnectionError, ReadTimeoutError))


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def head_object(
    bucket: str,
    key: str,
    version_id: str | None,
    *,
    expected_bucket_owner: str,
) -> ObjectMetadata | None:
    """Metadata of the object (version), or None when it no longer exists (404).

    Any other error (403 - including a bucket owned by another account -, throttling, 5xx) raises.
    """
    params: dict[str, str] = {"Bucket": bucket, "Key": key, "ExpectedBucketOwner": expected_bucket_owner}
    if version_id is not None:
        params["VersionId"] = version_id
    try:
        response = client("s3").head_object(**params)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error_code(error) in MISSING_OBJECT_CODES or status == 404:
            return None
        raise
    etag = response.get("ETag")
    return ObjectMetadata(
        content_type=response.get("ContentType"),
        last_modified=response.get("LastModified"),
        etag=etag.strip('"') if isinstance(etag, str) else None,
    )


def find_object(
    bucket: str,
    keys: tuple[str, ...],
    version_id: str | None,
    *,
    expected_bucket_owner: str,
) -> tuple[str, ObjectMetadata] | None:
    """The first of `keys` whose object (version) exists, with its metadata; None when none does.

    With a version id, a hit is that very object version (version ids are unique to their object), so an
    encoded and a decoded key cannot both match.
    """
    for key in keys:
        metadata = head_object(bucket, key, version_id, expected_bucket_owner=expected_bucket_owner)
        if metadata is not None:
            return key, metadata
    return None


def put_record_once(table_name: str, item: Mapping[str, str | int]) -> bool:
    """Put `item` unless an item with its key exists: True if written, False if it already existed."""
    try:
        client("dynamodb").put_item(
            TableName=table_name,
            Item=to_attribute_values(item),
            ConditionExpression=PUT_ONCE_CONDITION,
        )
    except ClientError as error:
        if error_code(error) == CONDITION_FAILED_CODE:
            return False
        raise
    return True


def to_attribute_values(item: Mapping[str, str | int]) -> dict[str, dict[str, str]]:
    """Plain str/int values -> DynamoDB's low-level AttributeValue form (S / N)."""
    converted: dict[str, dict[str, str]] = {}
    for name, value in item.items():
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise TypeError(f"attribute {name!r}: unsupported type {type(value).__name__}")
        converted[name] = {"S": value} if isinstance(value, str) else {"N": str(value)}
    return converted


def queue_url_from_arn(queue_arn: str) -> str:
    """`arn:aws:sqs:<region>:<account>:<name>` -> the queue URL (SQS accepts the URL of any endpoint form)."""
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"invalid eventSourceARN {queue_arn!r}: must be an SQS queue ARN")
    _, partition, _, region, account, name = parts
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


def delay_messages(queue_url: str, delays: Sequence[tuple[str, str, int]]) -> list[str]:
    """ChangeMessageVisibility for (message id, receipt handle, seconds) entries; returns the message ids SQS did not
    take. Never raises: a record whose delay could not be set comes back after the queue's visibility timeout."""
    failed: list[str] = []
    for start in range(0, len(delays), VISIBILITY_BATCH_MAX):
        chunk = {str(n): entry for n, entry in enumerate(delays[start : start + VISIBILITY_BATCH_MAX])}
        request = [
            {"Id": entry_id, "ReceiptHandle": handle, "VisibilityTimeout": seconds}
            for entry_id, (_, handle, seconds) in chunk.items()
        ]
        try:
            response = client("sqs").change_message_visibility_batch(QueueUrl=queue_url, Entries=request)
        except Exception:  # noqa: BLE001 - best effort by design; the caller logs what did not take
            failed.extend(message_id for message_id, _, _ in chunk.values())
            continue
        failed.extend(chunk[item["Id"]][0] for item in response.get("Failed", []) if item.get("Id") in chunk)
    return failed
