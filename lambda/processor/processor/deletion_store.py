"""The processor's DynamoDB calls for deletions (the rules are in `deletions`): read what a version's key holds (record
or tombstone), replace a record by its tombstone with the uploader's usage given back in one transaction, write and
find tombstones.

Every call takes the budget that fits the time left (`store.client`, `OutOfTime` below the smallest). Reads are
strongly consistent: a delete must see the record a moment-old "Object Created" wrote. IAM (SecureServerlessStack):
dynamodb:GetItem and dynamodb:PutItem on records (leading keys uploads/*; the tombstone replaces the record), and
dynamodb:GetItem and dynamodb:UpdateItem on usage items (#usage/*). No DeleteItem: a tombstone takes the record's place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from processor import store
from processor.deletions import (
    HELD_BYTES,
    HELD_OBJECTS,
    TOMBSTONE_ATTRIBUTE,
    DeletionOutcome,
    ObjectDeleted,
    build_tombstone,
    decremented,
    delete_applies,
    is_tombstone,
    padded_sequencer,
    record_size,
    record_sub,
    usage_key,
)

# A record changed, or the usage item moved, between our read and our write: read again, at most this often.
MAX_ATTEMPTS = 4
CANCELLED_CODE = "TransactionCanceledException"
CONDITION_FAILED = "ConditionalCheckFailed"
_NAMES = {"#k": "object_key", "#seq": "sequencer", "#del": TOMBSTONE_ATTRIBUTE}
# A tombstone is written where there is nothing, or over an earlier delete's tombstone (a later "null" object's).
NOTHING_OR_EARLIER_TOMBSTONE = "attribute_not_exists(#k) OR (attribute_exists(#del) AND #seq < :seq)"
_LIVE_RECORD = "attribute_exists(#k) AND attribute_not_exists(#del)"


def _key(object_key: str, version_id: str) -> dict[str, dict[str, str]]:
    return {"object_key": {"S": object_key}, "version_id": {"S": version_id}}


def _plain(item: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """Low-level attribute values -> plain str/int (other types are not read here)."""
    values: dict[str, Any] = {}
    for name, value in item.items():
        if "N" in value and value["N"].lstrip("-").isdigit():
            values[name] = int(value["N"])
        elif "S" in value:
            values[name] = value["S"]
    return values


def read_version(
    table: str, keys: Sequence[str], version_id: str, *, time_left: store.TimeLeft | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """What each of `keys` holds at `version_id` (a record or a tombstone), as (key, plain attributes)."""
    found = []
    for key in keys:
        response = store.client("dynamodb", time_left).get_item(
            TableName=table,
            Key=_key(key, version_id),
            ConsistentRead=True,
            ProjectionExpression="#k, #size, #sub, #seq, #del",
            ExpressionAttributeNames={**_NAMES, "#size": "size", "#sub": "sub"},
        )
        item = response.get("Item")
        if item:
            found.append((key, _plain(item)))
    return found


def find_tombstone(
    table: str, keys: Sequence[str], version_id: str, *, time_left: store.TimeLeft | None = None
) -> bool:
    """Whether `version_id` under any of `keys` was deleted (a tombstone holds its key)."""
    return any(is_tombstone(item) for _, item in read_version(table, keys, version_id, time_left=time_left))


def put_tombstone(
    table: str, tombstone: Mapping[str, str | int], *, time_left: store.TimeLeft | None = None
) -> tuple[bool, dict[str, Any] | None]:
    """Write `tombstone` where its key holds nothing or an earlier delete's tombstone. Returns (written, what the key
    held when it was not written: a tombstone of this or a later delete, or a record that appeared meanwhile)."""
    try:
        store.client("dynamodb", time_left).put_item(
            TableName=table,
            Item=store.to_attribute_values(tombstone),
            ConditionExpression=NOTHING_OR_EARLIER_TOMBSTONE,
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={":seq": {"S": str(tombstone["sequencer"])}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if store.error_code(error) == store.CONDITION_FAILED_CODE:
            return False, _plain(store.refused_item(error))
        raise
    return True, None


def _cancellation_reasons(error: ClientError) -> list[str]:
    return [str(reason.get("Code") or "None") for reason in error.response.get("CancellationReasons", [])]


def _read_held(table: str, sub: str, time_left: store.TimeLeft | None) -> tuple[int, int] | None:
    key = usage_key(sub)
    response = store.client("dynamodb", time_left).get_item(
        TableName=table,
        Key=_key(key["object_key"], key["version_id"]),
        ConsistentRead=True,
        ProjectionExpression="#b, #o",
        ExpressionAttributeNames={"#b": HELD_BYTES, "#o": HELD_OBJECTS},
    )
    item = response.get("Item")
    if not item:
        return None
    held = _plain(item)
    return max(0, int(held.get(HELD_BYTES) or 0)), max(0, int(held.get(HELD_OBJECTS) or 0))


def usage_update(table: str, sub: str, size: int, held: tuple[int, int] | None) -> dict[str, Any]:
    """The `#held` update giving back one object of `size` bytes. `held` None (the common case, nothing read): ADD
    the negative amounts, conditional on both counters covering them. Else SET the clamped values computed from
    `held` (what was read), conditional on the counters still holding exactly that."""
    key = usage_key(sub)
    update: dict[str, Any] = {
        "TableName": table,
        "Key": _key(key["object_key"], key["version_id"]),
        "ExpressionAttributeNames": {"#b": HELD_BYTES, "#o": HELD_OBJECTS},
    }
    if held is None:
        update["UpdateExpression"] = "ADD #b :minus_size, #o :minus_one"
        update["ConditionExpression"] = "#b >= :size AND #o >= :one"
        update["ExpressionAttributeValues"] = {
            ":minus_size": {"N": str(-size)},
            ":minus_one": {"N": "-1"},
            ":size": {"N": str(size)},
            ":one": {"N": "1"},
        }
        return update
    new_bytes, new_objects = decremented(held[0], held[1], size)
    update["UpdateExpression"] = "SET #b = :new_bytes, #o = :new_objects"
    update["ConditionExpression"] = "#b = :old_bytes AND #o = :old_objects"
    update["ExpressionAttributeValues"] = {
        ":new_bytes": {"N": str(new_bytes)},
        ":new_objects": {"N": str(new_objects)},
        ":old_bytes": {"N": str(held[0])},
        ":old_objects": {"N": str(held[1])},
    }
    return update


def _replace_record(
    table: str,
    record: Mapping[str, Any],
    tombstone: Mapping[str, str | int],
    *,
    clamp: bool,
    time_left: store.TimeLeft | None,
) -> str | None:
    """One transaction: the tombstone replaces the live record as read (same sequencer), and its sub's `#held` gives
    back its size. Returns None when done, "record" when the record changed or went meanwhile, "usage" when the
    counters would go below zero (or moved since read, when `clamp`)."""
    recorded_sequencer = record.get("sequencer")
    put: dict[str, Any] = {
        "TableName": table,
        "Item": store.to_attribute_values(tombstone),
        "ExpressionAttributeNames": _NAMES,
    }
    if isinstance(recorded_sequencer, str):
        put["ConditionExpression"] = f"{_LIVE_RECORD} AND #seq = :seq"
        put["ExpressionAttributeValues"] = {":seq": {"S": recorded_sequencer}}
    else:
        put["ConditionExpression"] = f"{_LIVE_RECORD} AND attribute_not_exists(#seq)"
    items: list[dict[str, Any]] = [{"Put": put}]
    sub = record_sub(record)
    if sub is not None:
        held = _read_held(table, sub, time_left) if clamp else None
        if not (clamp and held is None):  # no #held item at all: nothing to give back
            items.append({"Update": usage_update(table, sub, record_size(record), held)})
    try:
        store.client("dynamodb", time_left).transact_write_items(TransactItems=items)
    except ClientError as error:
        if store.error_code(error) != CANCELLED_CODE:
            raise
        reasons = _cancellation_reasons(error)
        if reasons[:1] == [CONDITION_FAILED]:
            return "record"
        if reasons[1:2] == [CONDITION_FAILED]:
            return "usage"
        # TransactionConflict, throttling: busy, not a defect of the event (deferred with a back-off).
        raise store.Contention(f"record delete: transaction cancelled ({', '.join(reasons) or 'no reason'})") from error
    return None


def forget_version(
    table: str,
    candidates: Sequence[str],
    event: ObjectDeleted,
    *,
    deleted_at: datetime,
    lifetime_seconds: int,
    time_left: store.TimeLeft | None = None,
) -> DeletionOutcome:
    """Apply a "Permanently Deleted" of `event.record_version_id` under one of `candidates` (keys under uploads/).

    A live record the delete applies to (`deletions.delete_applies`) is replaced by the tombstone in one transaction
    with the usage given back (see `_replace_record`); no record: a tombstone under each candidate (where there is
    nothing or an earlier tombstone). A write refused because the item changed since read is read again; still
    contended after MAX_ATTEMPTS: `store.Contention` (transient, the event is retried later).
    """
    version_id = event.record_version_id
    clamp = False
    for _ in range(MAX_ATTEMPTS):
        held_items = read_version(table, candidates, version_id, time_left=time_left)
        live = [(key, item) for key, item in held_items if not is_tombstone(item)]
        if live:
            key, record = live[0]
            if not delete_applies(record, event):
                return DeletionOutcome.DUPLICATE_DELETE  # an earlier "null" object's delete: the later one stays
            tombstone = build_tombstone(key, event, deleted_at=deleted_at, lifetime_seconds=lifetime_seconds)
            refused = _replace_record(table, record, tombstone, clamp=clamp, time_left=time_left)
            if refused is None:
                return DeletionOutcome.RECORD_DELETED
            clamp = clamp or refused == "usage"
            continue
        written, appeared = False, False
        for key in candidates:
            tombstone = build_tombstone(key, event, deleted_at=deleted_at, lifetime_seconds=lifetime_seconds)
            done, held = put_tombstone(table, tombstone, time_left=time_left)
            written = written or done
            appeared = appeared or (held is not None and bool(held) and not is_tombstone(held))
        if appeared:  # a record was written between our read and our tombstone: remove it
            continue
        return DeletionOutcome.TOMBSTONED if written else DeletionOutcome.DUPLICATE_DELETE
    raise store.Contention(f"record delete of version {version_id!r}: still contended after {MAX_ATTEMPTS} attempts")


def replace_tombstone(
    table: str, item: Mapping[str, str | int], tombstone_sequencer: str, *, time_left: store.TimeLeft | None = None
) -> bool:
    """Record `item` (a later "null" object) in place of the tombstone of an earlier delete, the one read (same
    sequencer). False when the key holds anything else by now."""
    try:
        store.client("dynamodb", time_left).put_item(
            TableName=table,
            Item=store.to_attribute_values(item),
            ConditionExpression="attribute_exists(#del) AND #seq = :seq",
            ExpressionAttributeNames={"#del": TOMBSTONE_ATTRIBUTE, "#seq": "sequencer"},
            ExpressionAttributeValues={":seq": {"S": padded_sequencer(tombstone_sequencer)}},
        )
    except ClientError as error:
        if store.error_code(error) == store.CONDITION_FAILED_CODE:
            return False
        raise
    return True
