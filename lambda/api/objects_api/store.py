"""The API's DynamoDB calls: Query shapes, and one transaction that records a caller's identity id <-> user pool sub
mapping (both directions).

IAM: dynamodb:Query on the table (versions of one key) and on its owner index (the caller's records); dynamodb:PutItem
only on mapping items (leading keys `#identity/*`, `#sub/*`). No Scan (upload grants' counters: upload_store).
The client comes from `shared_runtime.clients` (created on first use, reused by later invocations) with
QUERY_BUDGET: one call costs at most QUERY_BUDGET.worst_case_seconds, which fits the function's timeout
(API_FUNCTION_TIMEOUT_SECONDS, set by the stack), itself under API Gateway's 29 s integration timeout. A throttled or
timed-out call becomes StoreBusy (503 with Retry-After), never a 500.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from shared_runtime import clients
from shared_runtime.budget import CallBudget
from shared_runtime.tracing import make_tracer

from objects_api.domain import CURSOR_FIELDS, PROJECTED_ATTRIBUTES

# Queries answer in tens of milliseconds: 3 attempts of 1 s connect + 2 s read, worst case 12 s (backoff included).
QUERY_BUDGET = CallBudget(connect_timeout=1, read_timeout=2, total_max_attempts=3)
API_GATEWAY_TIMEOUT_SECONDS = 29
API_FUNCTION_TIMEOUT_SECONDS = 15  # the stack sets the function's timeout to this: worst case + margin, < 29 s
THROTTLED_RETRY_AFTER_SECONDS = 1
TIMED_OUT_RETRY_AFTER_SECONDS = 5
_THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# Every attribute is aliased: `name`, `owner` and `size` are DynamoDB reserved words.
_NAMES = {f"#a{i}": attribute for i, attribute in enumerate(PROJECTED_ATTRIBUTES)}
_ALIAS = {attribute: alias for alias, attribute in _NAMES.items()}
_PROJECTION = ", ".join(_NAMES)
# A deleted version's tombstone (lambda/processor's deletions.py) now lives under `#deleted/<hash of the key>`, never
# under a record's key, so these reads cannot meet one. The filter stays for the tombstones an earlier processor wrote
# at the record's own key: they live until their TTL (TOMBSTONE_SECONDS, about 15 days after the delete), and a read
# of one key's versions must leave them out until then. It costs nothing when there is none.
TOMBSTONE_ATTRIBUTE = "deleted_at"  # = stacks.records_schema.TOMBSTONE_ATTRIBUTE (a test keeps them equal)
_NOT_TOMBSTONE = {"FilterExpression": "attribute_not_exists(#tombstone)"}
_WITH_TOMBSTONE_NAME = {**_NAMES, "#tombstone": TOMBSTONE_ATTRIBUTE}

tracer = make_tracer("api")
# identity id -> (sub, when) already recorded (or found recorded) by this execution environment: one write per identity
# and environment per KNOWN_IDENTITY_SECONDS, not per request. Bounded in size (cleared when full) and in time: an
# erasure deletes the mapping items, and a warm environment that still believed them recorded would let the user's
# next uploads be recorded without their sub (uncounted, and out of reach of an erasure by sub) for its whole life.
_KNOWN_IDENTITIES: dict[str, tuple[str, float]] = {}
MAX_KNOWN_IDENTITIES = 10_000
KNOWN_IDENTITY_SECONDS = 60.0
_MAPPING_CONDITION = "attribute_not_exists(object_key) OR #sub = :sub"
# Partition key of the items listing a sub's identity ids (stacks/records_schema.py: SUB_IDENTITIES_PREFIX).
SUB_IDENTITIES_PREFIX = "#sub/"
_deserializer = TypeDeserializer()


class StoreBusy(Exception):
    """DynamoDB throttled the read, or did not answer in time, even after the client's retries: retry later."""

    def __init__(self, reason: str, retry_after_seconds: int) -> None:
        super().__init__(reason)
        self.retry_after_seconds = retry_after_seconds


class InvalidStartKey(Exception):
    """DynamoDB refused the ExclusiveStartKey taken from a cursor."""


def _client() -> Any:
    return clients.client("dynamodb", QUERY_BUDGET)


def reset_client() -> None:
    """Forget the cached client and the identities known to be recorded (tests start a new mocked AWS per test)."""
    clients.reset_clients()
    _KNOWN_IDENTITIES.clear()


def table_name() -> str:
    return os.environ["TABLE_NAME"]


def owner_index_name() -> str:
    # Required like TABLE_NAME: silently querying a default index would hide a broken deployment.
    return os.environ["OWNER_INDEX_NAME"]


def _plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _query(params: dict[str, Any]) -> dict[str, Any]:
    try:
        page: dict[str, Any] = _client().query(**params)
        return page
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in _THROTTLING_CODES:
            raise StoreBusy(code, THROTTLED_RETRY_AFTER_SECONDS) from error
        if code == "ValidationException" and "ExclusiveStartKey" in params:
            raise InvalidStartKey(code) from error
        raise
    except (BotocoreConnectionError, ReadTimeoutError) as error:
        raise StoreBusy(type(error).__name__, TIMED_OUT_RETRY_AFTER_SECONDS) from error


@tracer.capture_method(capture_response=False)
def query_owner_records(
    owner: str, limit: int, start_key: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
    """Up to `limit` records of `owner` from the owner index, after `start_key` if given.

    Returns the records and DynamoDB's LastEvaluatedKey (owner, object_key, version_id) or None.
    """
    owner_alias = _ALIAS["owner"]
    params: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": owner_index_name(),
        "KeyConditionExpression": f"{owner_alias} = :owner",
        "ExpressionAttributeNames": _NAMES,
        "ExpressionAttributeValues": {":owner": {"S": owner}},
        "ProjectionExpression": _PROJECTION,
        "Limit": limit,
    }
    if start_key is not None:
        params["ExclusiveStartKey"] = {field: {"S": start_key[field]} for field in CURSOR_FIELDS}
    response = _query(params)
    items = [_plain_item(item) for item in response.get("Items", [])]
    last = response.get("LastEvaluatedKey")
    last_key = {field: _deserializer.deserialize(last[field]) for field in CURSOR_FIELDS} if last else None
    return items, last_key


@tracer.capture_method(capture_response=False)
def query_versions(object_key: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` stored versions of `object_key` (tombstones left out: the Limit counts them, so a page can hold
    fewer); the flag says whether more exist."""
    key_alias = _ALIAS["object_key"]
    response = _query(
        {
            "TableName": table_name(),
            "KeyConditionExpression": f"{key_alias} = :key",
            **_NOT_TOMBSTONE,
            "ExpressionAttributeNames": _WITH_TOMBSTONE_NAME,
            "ExpressionAttributeValues": {":key": {"S": object_key}},
            "ProjectionExpression": _PROJECTION,
            "Limit": limit,
        }
    )
    items = [_plain_item(item) for item in response.get("Items", [])]
    return items, "LastEvaluatedKey" in response


# Pages of versions read to find the newest one of a key (a page holds up to 1 MB of projected records: thousands).
MAX_VERSION_PAGES = 5


@tracer.capture_method(capture_response=False)
def query_all_versions(object_key: str, version_id: str | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Every stored version of `object_key` (only `version_id`'s record when given), up to MAX_VERSION_PAGES pages;
    the flag says whether that was all of them."""
    condition = f"{_ALIAS['object_key']} = :key"
    values = {":key": {"S": object_key}}
    if version_id is not None:
        condition += f" AND {_ALIAS['version_id']} = :version"
        values[":version"] = {"S": version_id}
    params: dict[str, Any] = {
        "TableName": table_name(),
        "KeyConditionExpression": condition,
        **_NOT_TOMBSTONE,
        "ExpressionAttributeNames": _WITH_TOMBSTONE_NAME,
        "ExpressionAttributeValues": values,
        "ProjectionExpression": _PROJECTION,
    }
    items: list[dict[str, Any]] = []
    for _ in range(MAX_VERSION_PAGES):
        response = _query(params)
        items += [_plain_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        if not last:
            return items, True
        params["ExclusiveStartKey"] = last
    return items, False


class MappingConflict(Exception):
    """The identity id is recorded for another sub."""


@tracer.capture_method(capture_response=False)
def record_identity(identity_id: str, sub: str, key: Mapping[str, str], seen_at: str) -> None:
    """Record that `identity_id` belongs to the user pool user `sub`, once: in one transaction, a conditional PutItem
    at `key` (the `#identity/<identity id>` mapping item, identity id -> sub) and a PutItem of the `#sub/<sub>` item
    whose sort key is the identity id (sub -> its identity ids, what erasure and the limits start from). Neither has
    an owner attribute, so neither lists as a record. Recorded for another sub -> MappingConflict (nothing is
    written). A repeat rewrites the same values: idempotent. IAM: dynamodb:PutItem on the table only for leading keys
    `#identity/*` and `#sub/*` (SecureServerlessStack)."""
    known = _KNOWN_IDENTITIES.get(identity_id)
    if known is not None and known[0] == sub and time.monotonic() - known[1] < KNOWN_IDENTITY_SECONDS:
        return
    item = {
        **{name: {"S": value} for name, value in key.items()},
        "identity_id": {"S": identity_id},
        "sub": {"S": sub},
        "first_seen": {"S": seen_at},
    }
    reverse = {
        "object_key": {"S": f"{SUB_IDENTITIES_PREFIX}{sub}"},
        "version_id": {"S": identity_id},
        "identity_id": {"S": identity_id},
        "sub": {"S": sub},
    }
    try:
        _client().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table_name(),
                        "Item": item,
                        "ConditionExpression": _MAPPING_CONDITION,
                        "ExpressionAttributeNames": {"#sub": "sub"},
                        "ExpressionAttributeValues": {":sub": {"S": sub}},
                    }
                },
                {"Put": {"TableName": table_name(), "Item": reverse}},
            ]
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        reasons = error.response.get("CancellationReasons") or []
        if code == "TransactionCanceledException" and reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            raise MappingConflict(identity_id) from error
        if code in _THROTTLING_CODES or code in ("TransactionCanceledException", "TransactionInProgressException"):
            raise StoreBusy(code, THROTTLED_RETRY_AFTER_SECONDS) from error
        raise
    except (BotocoreConnectionError, ReadTimeoutError) as error:
        raise StoreBusy(type(error).__name__, TIMED_OUT_RETRY_AFTER_SECONDS) from error
    if len(_KNOWN_IDENTITIES) >= MAX_KNOWN_IDENTITIES:
        _KNOWN_IDENTITIES.clear()
    _KNOWN_IDENTITIES[identity_id] = (sub, time.monotonic())
