"""Upload grants' DynamoDB calls: read a user's usage, and take one slot of each counting window atomically.

Items (partition `#usage/<sub>`): `#held` (`bytes`, `objects`: written by the processor, only read here) and one
counter per window (`#minute/<YYYY-MM-DDTHH:MM>`, `#day/<YYYY-MM-DD>`; attribute `grants`, expiring by TTL at the
window's end). A slot is taken by one TransactWriteItems of conditional UpdateItems, one per window (`grants <
allowed`): both windows count the grant or neither does, and two concurrent requests can never both take a window's
last slot (DynamoDB serialises conditional writes on an item). IAM: dynamodb:BatchGetItem and dynamodb:UpdateItem
only on items whose partition key is `#usage/*` (SecureServerlessStack._upload_grants).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from objects_api.store import (
    _THROTTLING_CODES,
    THROTTLED_RETRY_AFTER_SECONDS,
    TIMED_OUT_RETRY_AFTER_SECONDS,
    StoreBusy,
    _client,
    table_name,
    tracer,
)
from objects_api.upload_rules import TTL_ATTRIBUTE, USAGE_HELD_SORT_KEY, Window

GRANTS_ATTRIBUTE = "grants"
# A grant's transaction that meets another on the same counter is cancelled (TransactionConflict): retried briefly.
CONFLICT_ATTEMPTS = 3
CONFLICT_BACKOFF_SECONDS = 0.05
HELD_BYTES_ATTRIBUTE = "bytes"


class WindowFull(Exception):
    """A window had no slot left when the grant tried to take one; `sort_keys` names the full windows."""

    def __init__(self, sort_keys: Sequence[str]) -> None:
        super().__init__(", ".join(sort_keys))
        self.sort_keys = tuple(sort_keys)


def _busy(error: Exception) -> StoreBusy:
    if isinstance(error, ClientError):
        return StoreBusy(error.response.get("Error", {}).get("Code", ""), THROTTLED_RETRY_AFTER_SECONDS)
    return StoreBusy(type(error).__name__, TIMED_OUT_RETRY_AFTER_SECONDS)


def _key(partition: str, sort: str) -> dict[str, Any]:
    return {"object_key": {"S": partition}, "version_id": {"S": sort}}


@tracer.capture_method(capture_response=False)
def read_usage(partition: str, window_sort_keys: Sequence[str]) -> tuple[int, dict[str, int]]:
    """Bytes held and each window's grant count (0 when absent), read consistently in one BatchGetItem."""
    keys = [_key(partition, USAGE_HELD_SORT_KEY), *(_key(partition, sort) for sort in window_sort_keys)]
    request: dict[str, Any] = {
        table_name(): {
            "Keys": keys,
            "ConsistentRead": True,
            "ProjectionExpression": "version_id, #g, #b",
            "ExpressionAttributeNames": {"#g": GRANTS_ATTRIBUTE, "#b": HELD_BYTES_ATTRIBUTE},
        }
    }
    items: list[Mapping[str, Any]] = []
    try:
        for _ in range(3):  # three small items: unprocessed keys only under throttling
            response = _client().batch_get_item(RequestItems=request)
            items += response.get("Responses", {}).get(table_name(), [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise StoreBusy("UnprocessedKeys", THROTTLED_RETRY_AFTER_SECONDS)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code", "") in _THROTTLING_CODES:
            raise _busy(error) from error
        raise
    except (BotocoreConnectionError, ReadTimeoutError) as error:
        raise _busy(error) from error
    held, counts = 0, {}
    for item in items:
        sort = item["version_id"]["S"]
        if sort == USAGE_HELD_SORT_KEY:
            held = int(item.get(HELD_BYTES_ATTRIBUTE, {}).get("N", "0"))
        else:
            counts[sort] = int(item.get(GRANTS_ATTRIBUTE, {}).get("N", "0"))
    return held, counts


@tracer.capture_method(capture_response=False)
def take_slot(partition: str, windows: Sequence[Window]) -> None:
    """Count one grant in every window, all or nothing, each only while under its allowance; WindowFull names the
    windows that had no slot left (nothing is counted then)."""
    updates = [
        {
            "Update": {
                "TableName": table_name(),
                "Key": _key(partition, window.sort_key),
                "UpdateExpression": "ADD #g :one SET #ttl = if_not_exists(#ttl, :ends)",
                "ConditionExpression": "attribute_not_exists(#g) OR #g < :allowed",
                "ExpressionAttributeNames": {"#g": GRANTS_ATTRIBUTE, "#ttl": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {
                    ":one": {"N": "1"},
                    ":allowed": {"N": str(window.allowed)},
                    ":ends": {"N": str(int(window.ends_at.timestamp()))},
                },
            }
        }
        for window in windows
    ]
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            _client().transact_write_items(TransactItems=updates)
            return
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            cancelled = code == "TransactionCanceledException"
            reasons = (error.response.get("CancellationReasons") or []) if cancelled else []
            full = [
                window.sort_key
                for window, reason in zip(windows, reasons, strict=False)
                if reason.get("Code") == "ConditionalCheckFailed"
            ]
            if full:
                raise WindowFull(full) from error
            # Another transaction on the same counter (the same user's concurrent grant): try again, then give up.
            if any(reason.get("Code") == "TransactionConflict" for reason in reasons) and attempt < CONFLICT_ATTEMPTS:
                time.sleep(CONFLICT_BACKOFF_SECONDS * attempt)
                continue
            if reasons or code in (*_THROTTLING_CODES, "TransactionInProgressException"):
                raise _busy(error) from error
            raise
        except (BotocoreConnectionError, ReadTimeoutError) as error:
            raise _busy(error) from error
