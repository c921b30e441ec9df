"""Domain rules of S3 "Object Deleted" events: pure Python, no boto3, no Powertools.

A record is one object version. What happens to it when S3 says a version went:

- "Permanently Deleted" of version v (DeleteObject/DeleteObjects with a version id, a lifecycle's noncurrent expiry):
  v's record is deleted and a **tombstone** of v is written, in one DynamoDB transaction that also gives back the
  record's size to the uploader's `#usage/<sub>`/`#held` counters (when the record carries a sub: what its recording
  counted). The record's delete is conditional on the record as read (a live record, same sequencer), so a
  redelivered or concurrent delete removes it and decrements once, never twice; the counters never go below zero
  (`decremented`).
- "Delete Marker Created": nothing is removed. A delete marker hides the current version but deletes no data: every
  version it hides still exists (noncurrent) and keeps its record, which expires with that version's lifecycle (the
  record's TTL) or goes when S3 deletes the version for good (a "Permanently Deleted" event). Counted, not failed.
- A key outside uploads/ is skipped (no table access), as for "Object Created".

Ordering. EventBridge does not order events: an "Object Created" of v may arrive after v's "Permanently Deleted".
Version ids are never reused in a versioned bucket, so "v was deleted" is final: the tombstone carries the delete's
sequencer and expires by TTL after the pipeline's longest redelivery window (EventPipeline.redelivery_window, plus a
day).

Tombstones name nobody. A tombstone's table key is `#deleted/<SHA-256 hex of the object key>` (`tombstone_key`) and
the version id (a random S3 id, or "null"); its only attributes are the delete's sequencer, `deleted_at` and the
TTL: no owner (never listed), no name, sub, size or etag, and nothing from which the key can be read back. So an
erasure, whose own deletes write tombstones, leaves nothing of the user in the table.

Since a tombstone is another item than the record, what orders them is the transactions that check one against the
other:
- recording a version (store.put_record_once, usage.record_and_count) is one transaction of the record's put-once
  and a ConditionCheck that v has no tombstone (`attribute_not_exists`, returning the tombstone when there is one):
  a late "Object Created" of a deleted version records nothing, even when its HeadObject ran before the delete, and
  is counted as skipped (`skipped_deleted`, told from a duplicate by which item's condition failed);
- a delete that finds no record writes the tombstone first, then reads the record's key again: a creation whose
  transaction committed before the tombstone is seen there and removed as above (one that commits after it is
  refused by its ConditionCheck), so no record outlives its version's delete.
The one key whose version id repeats is the unversioned "null": there the sequencer orders them (S3: a later event
of a key has a greater sequencer, compared after left-padding with zeros); a "null" object created after the
tombstoned delete replaces the tombstone with its record (one transaction: the tombstone as read is deleted, the
record put once), and an earlier delete never removes a later record.

A delete event's key may be delivered URL-encoded (see domain.key_candidates); since the object is gone it cannot
be looked up in S3: the record is looked up under each candidate (at most one holds version v), and a delete that
finds no record writes a tombstone for each candidate (each under its own hashed key).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from processor.domain import (
    MAX_KEY_BYTES,
    MAX_VERSION_ID_BYTES,
    TTL_ATTRIBUTE,
    UNVERSIONED_VERSION_ID,
    InvalidEvent,
    ObjectCreated,
    _optional_text,
    _sequencer,
    parse_envelope,
    parse_event,
    upload_candidates,
)

DELETED_DETAIL_TYPE = "Object Deleted"
PERMANENTLY_DELETED = "Permanently Deleted"
DELETE_MARKER_CREATED = "Delete Marker Created"
DELETION_TYPES = (PERMANENTLY_DELETED, DELETE_MARKER_CREATED)
# = stacks.records_schema.USAGE_PREFIX / USAGE_HELD_SORT_KEY / TOMBSTONE_ATTRIBUTE (a test keeps them equal).
USAGE_PREFIX = "#usage/"
USAGE_HELD_SORT_KEY = "#held"
HELD_BYTES = "bytes"
HELD_OBJECTS = "objects"
# = stacks.records_schema.TOMBSTONE_PREFIX: a tombstone's partition key is this and the SHA-256 of the object key.
TOMBSTONE_PREFIX = "#deleted/"
# What makes an item a tombstone (epoch seconds of the delete's processing).
TOMBSTONE_ATTRIBUTE = "deleted_at"
SEQUENCER_DIGITS = 64  # the widest sequencer accepted (domain._SEQUENCER_RE); stored left-padded to this width
# Without TOMBSTONE_SECONDS: EventPipeline's defaults (6 h EventBridge retries + 14 days in the buffer and its DLQ)
# and one day of margin. The stack always sets it from the pipeline it built.
DEFAULT_TOMBSTONE_SECONDS = int(timedelta(hours=6, days=15).total_seconds())


class DeletionOutcome(StrEnum):
    """What processing one "Object Deleted" event did; every outcome is a success for the delivery (no retry)."""

    RECORD_DELETED = "record_deleted"  # the version's record removed (and its size given back), tombstone written
    TOMBSTONED = "tombstoned"  # no record of the version (deleted before recorded, never recorded): tombstone only
    DUPLICATE_DELETE = "duplicate_delete"  # already tombstoned by this or a later delete: nothing changed
    DELETE_MARKER_IGNORED = "delete_marker_ignored"  # a delete marker: no data deleted, every record stays
    SKIPPED_OUTSIDE_UPLOADS = "delete_skipped_outside_uploads"


@dataclass(frozen=True)
class ObjectDeleted:
    """A validated S3 "Object Deleted" event, as delivered by EventBridge."""

    event_id: str
    event_time: str
    bucket: str
    key: str
    deletion_type: str
    sequencer: str
    version_id: str | None = None
    reason: str | None = None

    @property
    def record_version_id(self) -> str:
        """The version the event is about ("null" for an unversioned object); for "Delete Marker Created", the
        delete marker's own version id."""
        return self.version_id if self.version_id is not None else UNVERSIONED_VERSION_ID


PipelineEvent = ObjectCreated | ObjectDeleted


class VersionDeleted(Exception):
    """The object version an "Object Created" event names has a tombstone: it was deleted, nothing is recorded.
    `sequencer`: the delete's (padded), to order a later "null" object against it."""

    def __init__(self, object_key: str, version_id: str, sequencer: str | None) -> None:
        super().__init__(f"version {version_id!r} of {object_key!r} was deleted (tombstone)")
        self.object_key = object_key
        self.version_id = version_id
        self.sequencer = sequencer


def parse_pipeline_event(raw: object) -> PipelineEvent:
    """An "Object Created" (domain.parse_event) or "Object Deleted" (parse_deleted_event) event."""
    if isinstance(raw, Mapping) and raw.get("detail-type") == DELETED_DETAIL_TYPE:
        return parse_deleted_event(raw)
    return parse_event(raw)


def parse_json_pipeline_event(body: object) -> PipelineEvent:
    """Parse the JSON text of an EventBridge event (an SQS message body) of either kind and validate it."""
    if not isinstance(body, str):
        raise InvalidEvent("body", "a JSON text (string)", type(body).__name__)
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise InvalidEvent("body", f"a JSON document ({error.__class__.__name__})", body) from None
    return parse_pipeline_event(raw)


def parse_deleted_event(raw: object) -> ObjectDeleted:
    """Validate an EventBridge S3 "Object Deleted" event. The sequencer is required (S3 always sends it): without it
    a tombstone could not be ordered against a later "null" version."""
    envelope = parse_envelope(raw, DELETED_DETAIL_TYPE, f"a key of at most {MAX_KEY_BYTES} UTF-8 bytes")
    detail, obj = envelope.detail, envelope.obj
    deletion_type = detail.get("deletion-type")
    if deletion_type not in DELETION_TYPES:
        raise InvalidEvent("detail.deletion-type", f"one of {list(DELETION_TYPES)!r}", deletion_type)
    sequencer = _sequencer(obj)
    if sequencer is None:
        raise InvalidEvent("detail.object.sequencer", "S3's hexadecimal sequencer (1 to 64 hex digits)")
    reason = detail.get("reason")
    return ObjectDeleted(
        event_id=envelope.event_id,
        event_time=envelope.event_time,
        bucket=envelope.bucket,
        key=envelope.key,
        deletion_type=str(deletion_type),
        sequencer=sequencer,
        version_id=_optional_text(obj, "version-id", "detail.object.version-id", MAX_VERSION_ID_BYTES),
        reason=reason if isinstance(reason, str) else None,
    )


def require_bucket(event: ObjectDeleted, expected_bucket: str) -> None:
    """Raise InvalidEvent unless the event is about `expected_bucket` (as domain.require_bucket for creations)."""
    if event.bucket != expected_bucket:
        raise InvalidEvent("detail.bucket.name", f"this environment's bucket {expected_bucket!r}", event.bucket)


def deleted_candidates(event: ObjectDeleted) -> tuple[str, ...]:
    """The keys under uploads/ the event may name (empty: not an upload, skipped)."""
    return upload_candidates(event.key)


# --- ordering -----------------------------------------------------------------------------------------------------


def padded_sequencer(sequencer: str) -> str:
    """S3's sequencer in a form whose string order is its numeric order (upper case, left-padded with zeros)."""
    return sequencer.upper().rjust(SEQUENCER_DIGITS, "0")


def is_later(sequencer: str | None, than: str | None) -> bool:
    """True when event sequencer `sequencer` is strictly later than `than`; an absent one is never later, and
    anything is later than an absent one."""
    if sequencer is None:
        return False
    if than is None:
        return True
    return padded_sequencer(sequencer) > padded_sequencer(than)


def delete_applies(record: Mapping[str, Any], event: ObjectDeleted) -> bool:
    """Whether a "Permanently Deleted" event removes `record` (the record of the same key and version id). Always
    for a real version id (never reused); for the "null" version, unless the record is of a later "null" object than
    the one deleted (its sequencer is later than the delete's)."""
    if event.record_version_id != UNVERSIONED_VERSION_ID:
        return True
    recorded = record.get("sequencer")
    return not is_later(recorded if isinstance(recorded, str) else None, event.sequencer)


# --- items ----------------------------------------------------------------------------------------------------


def is_tombstone(item: Mapping[str, Any]) -> bool:
    """Whether a table item (plain or DynamoDB-typed attributes) is a tombstone rather than a record."""
    return TOMBSTONE_ATTRIBUTE in item


def tombstone_key(object_key: str) -> str:
    """The partition key of the tombstones of `object_key`'s versions: TOMBSTONE_PREFIX and the SHA-256 (hex) of the
    key's UTF-8 bytes. It names neither the user nor the object, and cannot be taken for a record's key."""
    return TOMBSTONE_PREFIX + hashlib.sha256(object_key.encode("utf-8")).hexdigest()


def build_tombstone(
    object_key: str, event: ObjectDeleted, *, deleted_at: datetime, lifetime_seconds: int
) -> dict[str, str | int]:
    """The tombstone item of version `event.record_version_id` of record key `object_key`: at the hashed key
    (`tombstone_key`), the delete's padded sequencer, when it was processed, its TTL. Nothing of the record (no
    owner: never listed; no name, sub, size or etag) and not the object key itself."""
    return {
        "object_key": tombstone_key(object_key),
        "version_id": event.record_version_id,
        "sequencer": padded_sequencer(event.sequencer),
        TOMBSTONE_ATTRIBUTE: int(deleted_at.timestamp()),
        TTL_ATTRIBUTE: int(deleted_at.timestamp()) + lifetime_seconds,
    }


def creation_replaces_tombstone(
    version_id: str, created_sequencer: str | None, tombstone_sequencer: str | None
) -> bool:
    """Whether an "Object Created" event replaces a tombstone of its key and version: only for the "null" version,
    and only when the creation is later than the tombstoned delete (a new "null" object of the key)."""
    return version_id == UNVERSIONED_VERSION_ID and is_later(created_sequencer, tombstone_sequencer)


def usage_key(sub: str) -> dict[str, str]:
    """The table key of what `sub` holds now (`bytes`, `objects`)."""
    return {"object_key": f"{USAGE_PREFIX}{sub}", "version_id": USAGE_HELD_SORT_KEY}


def record_sub(record: Mapping[str, Any]) -> str | None:
    """The uploader's sub the record carries (what its recording counted under), or None."""
    sub = record.get("sub")
    return sub if isinstance(sub, str) and sub else None


def record_size(record: Mapping[str, Any]) -> int:
    """The record's size in bytes (0 when absent or not a whole number: nothing to give back)."""
    size = record.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0


def decremented(held_bytes: int, held_objects: int, size: int) -> tuple[int, int]:
    """What `#held` holds once one object of `size` bytes is gone: each counter less, never below zero."""
    return max(0, held_bytes - max(0, size)), max(0, held_objects - 1)


def parse_tombstone_seconds(raw: str | None) -> int:
    """TOMBSTONE_SECONDS: absent or blank -> DEFAULT_TOMBSTONE_SECONDS; else a whole number of seconds >= 1 hour.
    Raises ValueError naming the variable."""
    if raw is None or not raw.strip():
        return DEFAULT_TOMBSTONE_SECONDS
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and int(text) >= 3600):
        raise ValueError(f"invalid TOMBSTONE_SECONDS {raw!r}: must be a whole number of seconds >= 3600")
    return int(text)
