"""The processor's DynamoDB calls for deletions (the rules are in `deletions`): read a version's record, delete it and
write its tombstone with the uploader's usage given back in one transaction, write and find tombstones, and replace
a tombstone by a later "null" object's record.

Every call takes the budget that fits the time left (`store.client`, `OutOfTime` below the smallest). Reads are
strongly consistent: a delete must see the record a moment-old "Object Created" wrote. IAM (SecureServerlessStack):
dynamodb:GetItem, dynamodb:PutItem and dynamodb:DeleteItem on records (leading keys uploads/*) and on tombstones
(#deleted/*, where recording a version also needs dynamodb:ConditionCheckItem), and dynamodb:GetItem and
dynamodb:UpdateItem on usage items (#usage/*).
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
    tombstone_key,
    usage_key,
)

# A record changed, or the usage item moved, between our read and our write: read again, at most this often.
MAX_ATTEMPTS = 4
CANCELLED_CODE = "TransactionCanceledException"
CONDITION_FAILED = "ConditionalCheckFailed"
_NAMES = {"#k": "object_key", "#seq": "sequencer", "#del": TOMBSTONE_ATTRIBUTE}
# A tombstone is written where there is none, or over an earlier delete's tombstone (of an earlier "null" object).
NOTHING_OR_EARLIER_TOMBSTONE = "attribute_not_exists(#k) OR #seq < :seq"
# ... and, in the transaction that deletes the record, also over this very delete's own tombstone (written when it
# found no record, before a creation that had committed meanwhile showed up on its second read).
NOTHING_OR_NOT_LATER_TOMBSTONE = "attribute_not_exists(#k) OR #seq <= :seq"
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


def _get(table: str, object_key: str, version_id: str, time_left: store.TimeLeft | None) -> dict[str, Any] | None:
    response = store.client("dynamodb", time_left).get_item(
        TableName=table,
        Key=_key(object_key, version_id),
        ConsistentRead=True,
        ProjectionExpression="#k, #size, #sub, #seq, #del",
        ExpressionAttributeNames={**_NAMES, "#size": "size", "#sub": "sub"},
    )
    item = response.get("Item")
    return _plain(item) if item else None


def read_version(
    table: str, keys: Sequence[str], version_id: str, *, time_left: store.TimeLeft | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The records of `version_id` under each of `keys` that holds one, as (key, plain attributes)."""
    found = []
    for key in keys:
        item = _get(table, key, version_id, time_left)
        if item is not None and not is_tombstone(item):
            found.append((key, item))
    return found


def read_tombstone(
    table: str, object_key: str, version_id: str, *, time_left: store.TimeLeft | None = None
) -> dict[str, Any] | None:
    """The tombstone of `version_id` of `object_key` (at its hashed key), or None."""
    item = _get(table, tombstone_key(object_key), version_id, time_left)
    return item if item is not None and is_tombstone(item) else None


def find_tombstone(
    table: str, keys: Sequence[str], version_id: str, *, time_left: store.TimeLeft | None = None
) -> bool:
    """Whether `version_id` under any of `keys` was deleted (it has a tombstone)."""
    return any(read_tombstone(table, key, version_id, time_left=time_left) is not None for key in keys)


def put_tombstone(table: str, tombstone: Mapping[str, str | int], *, time_left: store.TimeLeft | None = None) -> bool:
    """Write `tombstone` (an item of `build_tombstone`) where its key holds no tombstone or an earlier delete's.
    False when a tombstone of this or a later delete is there already."""
    try:
        store.client("dynamodb", time_left).put_item(
            TableName=table,
            Item=store.to_attribute_values(tombstone),
            ConditionExpression=NOTHING_OR_EARLIER_TOMBSTONE,
            ExpressionAttributeNames={"#k": "object_key", "#seq": "sequencer"},
            ExpressionAttributeValues={":seq": {"S": str(tombstone["sequencer"])}},
        )
    except ClientError as error:
        if store.error_code(error) == store.CONDITION_FAILED_CODE:
            return False
        raise
    return True


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


def _delete_record(
    table: str,
    object_key: str,
    version_id: str,
    record: Mapping[str, Any],
    tombstone: Mapping[str, str | int] | None,
    *,
    clamp: bool,
    time_left: store.TimeLeft | None,
) -> str | None:
    """One transaction, in this order: [Delete the live record as read (same sequencer), Put its `tombstone` (where
    there is none, or one of an earlier or this same delete; left out when None: a later delete's tombstone is
    there already), Update its sub's `#held` giving back its size]. Returns None when done, else what refused it:
    "record" when the record changed or went meanwhile, "tombstone" when a later delete's tombstone is there, "usage"
    when the counters would go below zero (or moved since read, when `clamp`). Cancellation reasons are read by
    position, the items' order above."""
    recorded_sequencer = record.get("sequencer")
    delete: dict[str, Any] = {
        "TableName": table,
        "Key": _key(object_key, version_id),
        "ExpressionAttributeNames": _NAMES,
    }
    if isinstance(recorded_sequencer, str):
        delete["ConditionExpression"] = f"{_LIVE_RECORD} AND #seq = :seq"
        delete["ExpressionAttributeValues"] = {":seq": {"S": recorded_sequencer}}
    else:
        delete["ConditionExpression"] = f"{_LIVE_RECORD} AND attribute_not_exists(#seq)"
    items: list[dict[str, Any]] = [{"Delete": delete}]
    labels = ["record"]
    if tombstone is not None:
        items.append(
            {
                "Put": {
                    "TableName": table,
                    "Item": store.to_attribute_values(tombstone),
                    "ConditionExpression": NOTHING_OR_NOT_LATER_TOMBSTONE,
                    "ExpressionAttributeNames": {"#k": "object_key", "#seq": "sequencer"},
                    "ExpressionAttributeValues": {":seq": {"S": str(tombstone["sequencer"])}},
                }
            }
        )
        labels.append("tombstone")
    sub = record_sub(record)
    if sub is not None:
        held = _read_held(table, sub, time_left) if clamp else None
        if not (clamp and held is None):  # no #held item at all: nothing to give back
            items.append({"Update": usage_update(table, sub, record_size(record), held)})
            labels.append("usage")
    try:
        store.client("dynamodb", time_left).transact_write_items(TransactItems=items)
    except ClientError as error:
        if store.error_code(error) != CANCELLED_CODE:
            raise
        reasons = _cancellation_reasons(error)
        for label, reason in zip(labels, reasons, strict=False):
            if reason == CONDITION_FAILED:
                return label
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

    A live record the delete applies to (`deletions.delete_applies`) is deleted, its tombstone written and the usage
    given back in one transaction (`_delete_record`). No record: a tombstone for each candidate (where there is none
    or an earlier one), then the candidates are read again: a record that a creation wrote meanwhile (its
    transaction committed before our tombstone, so its check did not see it) is removed as above. A write refused
    because an item changed since read is read again; still contended after MAX_ATTEMPTS: `store.Contention`
    (transient, the event is retried later).
    """
    version_id = event.record_version_id
    clamp = False
    later_tombstone = False
    for _ in range(MAX_ATTEMPTS):
        live = read_version(table, candidates, version_id, time_left=time_left)
        if live:
            key, record = live[0]
            if not delete_applies(record, event):
                return DeletionOutcome.DUPLICATE_DELETE  # an earlier "null" object's delete: the later one stays
            tombstone = build_tombstone(key, event, deleted_at=deleted_at, lifetime_seconds=lifetime_seconds)
            refused = _delete_record(
                table,
                key,
                version_id,
                record,
                None if later_tombstone else tombstone,
                clamp=clamp,
                time_left=time_left,
            )
            if refused is None:
                return DeletionOutcome.RECORD_DELETED
            clamp = clamp or refused == "usage"
            later_tombstone = later_tombstone or refused == "tombstone"
            continue
        written = False
        for key in candidates:
            tombstone = build_tombstone(key, event, deleted_at=deleted_at, lifetime_seconds=lifetime_seconds)
            written = put_tombstone(table, tombstone, time_left=time_left) or written
        appeared = read_version(table, candidates, version_id, time_left=time_left)
        if any(delete_applies(record, event) for _, record in appeared):
            continue  # recorded between our first read and our tombstone: remove it (next attempt)
        return DeletionOutcome.TOMBSTONED if written else DeletionOutcome.DUPLICATE_DELETE
    raise store.Contention(f"record delete of version {version_id!r}: still contended after {MAX_ATTEMPTS} attempts")


def replace_tombstone(
    table: str, item: Mapping[str, str | int], tombstone_sequencer: str, *, time_left: store.TimeLeft | None = None
) -> bool:
    """Record `item` (a later "null" object) in place of the tombstone of an earlier delete, the one read (same
    sequencer): one transaction of [Delete the tombstone as read, Put the record once]. False when either condition
    fails (the tombstone changed or went, or the record is there already); `store.Contention` when cancelled for
    another reason."""
    names = {"#del": TOMBSTONE_ATTRIBUTE, "#seq": "sequencer"}
    items: list[dict[str, Any]] = [
        {
            "Delete": {
                "TableName": table,
                "Key": _key(tombstone_key(str(item["object_key"])), str(item["version_id"])),
                "ConditionExpression": "attribute_exists(#del) AND #seq = :seq",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {":seq": {"S": padded_sequencer(tombstone_sequencer)}},
            }
        },
        {
            "Put": {
                "TableName": table,
                "Item": store.to_attribute_values(item),
                "ConditionExpression": store.PUT_ONCE_CONDITION,
            }
        },
    ]
    try:
        store.client("dynamodb", time_left).transact_write_items(TransactItems=items)
    except ClientError as error:
        if store.error_code(error) != CANCELLED_CODE:
            raise
        reasons = _cancellation_reasons(error)
        if CONDITION_FAILED in reasons:
            return False
        cancelled = ", ".join(reasons) or "no reason"
        raise store.Contention(f"tombstone replace: transaction cancelled ({cancelled})") from error
    return True
