"""The few AWS calls of the processor: HeadObject, the uploader's sub (a GetItem), the record's put-once (a
TransactWriteItems with the check that its version has no tombstone), and delaying failed buffer records.

Clients come from `shared_runtime.clients` (created on first use, one cache per execution environment). Their
timeouts and retry budgets are below. Each data call takes the most generous budget whose worst case fits the time
the invocation has left (`time_left`); when not even the smallest fits, it raises `OutOfTime` instead of calling, so no
call outlives the invocation (a Lambda timeout would return the whole batch with no delay).

Errors are classified once, alike for every dependency (`is_transient`): throttling, 5xx and timeouts are transient
(the record is deferred with a back-off), every other 4xx is permanent (the record fails).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from shared_runtime import clients
from shared_runtime.budget import CallBudget, fitting_budget

from processor.deletions import VersionDeleted, tombstone_key
from processor.domain import ObjectMetadata

# HeadObject errors that mean "this object (version) no longer exists". HEAD responses carry no
# body, so S3 reports a bare "404"; NoSuchKey/NotFound/NoSuchVersion cover other code paths.
MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
CONDITION_FAILED_CODE = "ConditionalCheckFailedException"
CANCELLED_CODE = "TransactionCanceledException"
CONDITION_FAILED_REASON = "ConditionalCheckFailed"
PUT_ONCE_CONDITION = "attribute_not_exists(object_key)"
# Errors by which a dependency says "too many requests": the batch stops starting records (they are deferred).
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "503",
        "429",
        "ServiceUnavailable",
    }
)
# Transient besides throttling (a status >= 500 is transient whatever its code; HEAD errors carry only the status).
TRANSIENT_CODES = THROTTLING_CODES | frozenset(
    {
        "InternalServerError",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionInProgressException",
        # A single write on an item that a transaction is writing at that moment (a tombstone, a record).
        "TransactionConflictException",
    }
)

# HeadObject and PutItem answer in tens of milliseconds; 2 attempts of 1 s connect + 2 s read leave one retry for a
# lost connection while a call that never answers costs at most 7 s (2 x 3 s + 1 s backoff). With less time left a
# call gets one attempt (3 s), then one short attempt (1.5 s); below that it is not made (`OutOfTime`).
DATA_BUDGET = CallBudget(connect_timeout=1, read_timeout=2, total_max_attempts=2)
DATA_BUDGETS = (
    DATA_BUDGET,
    CallBudget(connect_timeout=1, read_timeout=2, total_max_attempts=1),
    CallBudget(connect_timeout=0.5, read_timeout=1, total_max_attempts=1),
)
MIN_CALL_SECONDS = DATA_BUDGETS[-1].worst_case_seconds
# ChangeMessageVisibilityBatch after the loop: best effort (the queue's own visibility timeout is the fallback).
QUEUE_BUDGET = CallBudget(connect_timeout=1, read_timeout=1, total_max_attempts=2)
VISIBILITY_BATCH_MAX = 10  # entries per ChangeMessageVisibilityBatch

TimeLeft = Callable[[], float]


class OutOfTime(Exception):
    """Not even the smallest call budget fits the time left: the call was not made (the record is deferred)."""


class Contention(Exception):
    """A transaction (processor/usage.py, processor/deletion_store.py) was cancelled for a reason other than a failed
    condition: a concurrent transaction on the same items, or throttling. Nothing was written; transient (the record
    is deferred)."""


# The identity id -> user pool sub lookup (a GetItem of the mapping item the API records): one short attempt, and
# cached per execution environment once found (a mapping never changes). Too little time left -> OutOfTime (the
# record is deferred, never recorded without a sub it could have had).
SUB_LOOKUP_BUDGET = CallBudget(connect_timeout=0.5, read_timeout=1, total_max_attempts=1)
IDENTITY_MAPPING_PREFIX = "#identity/"  # = stacks.records_schema.IDENTITY_MAPPING_PREFIX (a test keeps them equal)
IDENTITY_MAPPING_SORT_KEY = "#sub"
MAX_KNOWN_SUBS = 10_000
_known_subs: dict[str, str] = {}


def record_worst_case_seconds(key_candidates: int) -> float:
    """One HeadObject per key candidate (at most 2: as delivered, URL-decoded) and one PutItem (or the usage
    transaction, processor/usage.py), each at its worst with the full budget, and the sub lookup (what a record costs
    when nothing shortens its calls). A refused upload's DeleteObjectVersion is made only with the time then left
    (`time_left`), or deferred."""
    return (key_candidates + 1) * DATA_BUDGET.worst_case_seconds + SUB_LOOKUP_BUDGET.worst_case_seconds


MAX_RECORD_WORST_CASE_SECONDS = record_worst_case_seconds(2)


def client(service: str, time_left: TimeLeft | None = None) -> Any:
    """The cached client of `service` ("s3", "dynamodb" or "sqs") with the most generous budget that fits `time_left`
    (seconds this call may take; None: the full budget). Raises OutOfTime when not even the smallest fits."""
    if service == "sqs":
        return clients.client(service, QUEUE_BUDGET)
    if time_left is None:
        return clients.client(service, DATA_BUDGET)
    seconds = time_left()
    budget = fitting_budget(DATA_BUDGETS, seconds)
    if budget is None:
        raise OutOfTime(f"{seconds:.1f} s left for this call, the shortest budget needs {MIN_CALL_SECONDS:.1f} s")
    return clients.client(service, budget)


def reset_clients(*, drop_session: bool = False) -> None:
    """Forget the cached clients and subs (tests: between mocks, or after changing region or credentials)."""
    clients.reset_clients(drop_session=drop_session)
    _known_subs.clear()


def is_transient(error: BaseException) -> bool:
    """Throttled, a server error (5xx) or a timeout/connection failure, of any dependency, or no time left for the
    call: back-pressure, not a defect of the event. Any other error (a 4xx, a bug) is permanent."""
    if isinstance(error, ClientError):
        return error_code(error) in TRANSIENT_CODES or _status(error) >= 500 or _status(error) == 429
    return isinstance(error, (BotocoreConnectionError, HTTPClientError, OutOfTime, Contention))


def is_throttling(error: BaseException) -> bool:
    """The dependency asked for fewer requests (throttling, 429/503): more calls now would only add load."""
    return isinstance(error, ClientError) and (error_code(error) in THROTTLING_CODES or _status(error) in (429, 503))


is_throttling_or_timeout = is_transient  # the name earlier callers used


def _status(error: ClientError) -> int:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else 0


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def head_object(
    bucket: str,
    key: str,
    version_id: str | None,
    *,
    expected_bucket_owner: str,
    time_left: TimeLeft | None = None,
) -> ObjectMetadata | None:
    """Metadata of the object (version), or None when it no longer exists (404).

    Any other error (403 - including a bucket owned by another account -, throttling, 5xx) raises.
    """
    params: dict[str, str] = {"Bucket": bucket, "Key": key, "ExpectedBucketOwner": expected_bucket_owner}
    if version_id is not None:
        params["VersionId"] = version_id
    try:
        response = client("s3", time_left).head_object(**params)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error_code(error) in MISSING_OBJECT_CODES or status == 404:
            return None
        raise
    etag = response.get("ETag")
    size = response.get("ContentLength")
    return ObjectMetadata(
        content_type=response.get("ContentType"),
        last_modified=response.get("LastModified"),
        etag=etag.strip('"') if isinstance(etag, str) else None,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
    )


def find_object(
    bucket: str,
    keys: tuple[str, ...],
    version_id: str | None,
    *,
    expected_bucket_owner: str,
    time_left: TimeLeft | None = None,
) -> tuple[str, ObjectMetadata] | None:
    """The first of `keys` whose object (version) exists, with its metadata; None when none does.

    With a version id, a hit is that very object version (version ids are unique to their object), so an
    encoded and a decoded key cannot both match.
    """
    for key in keys:
        metadata = head_object(
            bucket, key, version_id, expected_bucket_owner=expected_bucket_owner, time_left=time_left
        )
        if metadata is not None:
            return key, metadata
    return None


def tombstone_check(table_name: str, object_key: str, version_id: str) -> dict[str, Any]:
    """The TransactWriteItems ConditionCheck that version `version_id` of `object_key` has no tombstone (at its
    hashed key, processor/deletions.py); failing, it returns the tombstone (for its sequencer)."""
    return {
        "ConditionCheck": {
            "TableName": table_name,
            "Key": to_attribute_values({"object_key": tombstone_key(object_key), "version_id": version_id}),
            "ConditionExpression": "attribute_not_exists(#k)",
            "ExpressionAttributeNames": {"#k": "object_key"},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def deleted_version(reason: Mapping[str, Any], item: Mapping[str, str | int]) -> VersionDeleted | None:
    """The `VersionDeleted` a cancellation reason of `tombstone_check` tells (its condition failed: the tombstone is
    there), with the tombstone's sequencer when it was returned; None when that check passed."""
    if str(reason.get("Code")) != CONDITION_FAILED_REASON:
        return None
    held = reason.get("Item")
    sequencer = held.get("sequencer", {}).get("S") if isinstance(held, Mapping) else None
    return VersionDeleted(str(item["object_key"]), str(item["version_id"]), sequencer)


def put_record_once(table_name: str, item: Mapping[str, str | int], *, time_left: TimeLeft | None = None) -> bool:
    """Put `item` unless an item with its key exists: True if written, False if it already existed. One transaction,
    in this order (its cancellation reasons are read by position): [the record's put-once, `tombstone_check`]; the
    version has a tombstone (it was deleted, processor/deletions.py) -> `VersionDeleted` (whatever the put says),
    cancelled otherwise -> `Contention`."""
    items = [
        {
            "Put": {
                "TableName": table_name,
                "Item": to_attribute_values(item),
                "ConditionExpression": PUT_ONCE_CONDITION,
            }
        },
        tombstone_check(table_name, str(item["object_key"]), str(item["version_id"])),
    ]
    try:
        client("dynamodb", time_left).transact_write_items(TransactItems=items)
    except ClientError as error:
        if error_code(error) != CANCELLED_CODE:
            raise
        reasons = list(error.response.get("CancellationReasons") or [])
        reasons += [{}] * (2 - len(reasons))
        deleted = deleted_version(reasons[1], item)
        if deleted is not None:
            raise deleted from None
        if str(reasons[0].get("Code")) == CONDITION_FAILED_REASON:
            return False
        codes = [str(reason.get("Code")) for reason in reasons]
        raise Contention(f"record put: transaction cancelled ({', '.join(codes)})") from error
    return True


def find_sub(table_name: str, identity_id: str, *, time_left: TimeLeft | None = None) -> str | None:
    """The user pool sub the API recorded for `identity_id` (its mapping item), or None when none is recorded yet
    (the user uploaded before any API call). Found subs are cached; an absent one is asked again next time."""
    cached = _known_subs.get(identity_id)
    if cached is not None:
        return cached
    if time_left is not None and time_left() < SUB_LOOKUP_BUDGET.worst_case_seconds:
        raise OutOfTime(f"{time_left():.1f} s left, the sub lookup needs {SUB_LOOKUP_BUDGET.worst_case_seconds:.1f} s")
    response = clients.client("dynamodb", SUB_LOOKUP_BUDGET).get_item(
        TableName=table_name,
        Key={
            "object_key": {"S": f"{IDENTITY_MAPPING_PREFIX}{identity_id}"},
            "version_id": {"S": IDENTITY_MAPPING_SORT_KEY},
        },
        ProjectionExpression="#sub",
        ExpressionAttributeNames={"#sub": "sub"},
    )
    sub = response.get("Item", {}).get("sub", {}).get("S")
    if not isinstance(sub, str) or not sub:
        return None
    if len(_known_subs) >= MAX_KNOWN_SUBS:
        _known_subs.clear()
    _known_subs[identity_id] = sub
    return sub


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
