"""Domain rules of the processor: pure Python, no boto3, no CDK, no Powertools.

- parse and validate an EventBridge S3 "Object Created" event into an `ObjectCreated`;
- derive the owner/name of uploads (`uploads/<identity-id>/<name>`);
- build the one DynamoDB item recorded per object version.

Object keys: public sources disagree on whether S3 URL-encodes `detail.object.key` in EventBridge events (classic
notifications do; a captured real event shows a raw `:`; LocalStack encodes with `quote()`). `key_candidates` gives the
key as delivered and, when the delivered text could be an encoding, its `unquote_plus` form; the processor records the
first candidate that exists with the event's version id and never a key that does not exist. S3's 1,024-byte limit
applies to the key itself, i.e. to each candidate (the decoded one for an encoded delivery), not to the delivered text:
a 599-byte Japanese name is 1,681 bytes once percent-encoded.

What a record says about the object (size, etag, content type, last modified) comes from HeadObject, never from the
event: an event whose size or etag contradicts S3 is a `MetadataMismatch` (a failed record). The sequencer exists only
in S3's own events; it is kept from the event (hex, at most 64 digits) and cannot be checked against S3.

How long a record lives: exactly as long as its object version's lifecycle, never less (`record_expires_at`), when
the bucket expires objects at all (`Lifecycle`; without object expiry a version may live for ever: no TTL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

EVENT_SOURCE = "aws.s3"
DETAIL_TYPE = "Object Created"
# S3's own version id for objects written while versioning was never enabled (or suspended).
UNVERSIONED_VERSION_ID = "null"
UPLOADS_PREFIX = "uploads/"
# S3 object keys are at most 1024 UTF-8 bytes; a DynamoDB sort key is at most 1024 bytes too.
MAX_KEY_BYTES = 1024
# The delivered text may be a percent-encoding of the key: at most 3 characters per byte.
MAX_DELIVERED_KEY_BYTES = 3 * MAX_KEY_BYTES
KEY_RULE = f"a non-empty string naming a key of at most {MAX_KEY_BYTES} UTF-8 bytes (as delivered or URL-decoded)"
_SEQUENCER_RE = re.compile(r"^[0-9A-Fa-f]{1,64}$")
MAX_VERSION_ID_BYTES = 1024
ONE_DAY = timedelta(days=1)
# The records table's TTL attribute (epoch seconds); stacks/records_schema.py names the same one for the table.
TTL_ATTRIBUTE = "expires_at"

# Legacy us-east-1 bucket names allow upper case and underscores, up to 255 characters.
_BUCKET_RE = re.compile(r"^[A-Za-z0-9._-]{3,255}$")
_BUCKET_RULE = "a bucket name: 3 to 255 characters, letters, digits, '.', '-' and '_'"
_MISSING = object()
# What a URL-encoded key can look like: printable ASCII without spaces, every `%` starting a `%XX` escape.
_ENCODED_KEY_RE = re.compile(r"^(?:[!-$&-~]|%[0-9A-Fa-f]{2})+$")


class InvalidEvent(ValueError):
    """The event broke a shape rule; the message names the field (dotted path) and the rule."""

    def __init__(self, field: str, rule: str, value: object = _MISSING) -> None:
        self.field = field
        self.rule = rule
        if value is _MISSING:
            got = "missing"
        else:
            shown = repr(value)
            got = f"got {shown[:80]}{'...' if len(shown) > 80 else ''}"
        super().__init__(f"invalid event field {field!r}: must be {rule} ({got})")


class Outcome(StrEnum):
    """What processing one event did; every outcome is a success for the delivery (no retry)."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    SKIPPED_MISSING = "skipped_missing"
    SKIPPED_OUTSIDE_UPLOADS = "skipped_outside_uploads"
    SKIPPED_DELETED = "skipped_deleted"  # the version has a tombstone (processor/deletions.py): deleted, not recorded
    REFUSED = "refused"  # over a per-user limit at record time: the version deleted, nothing recorded (usage.py)


class MetadataMismatch(InvalidEvent):
    """The event's size or etag contradicts what S3 (HeadObject) says about that object version: a forged or
    corrupted event. The record fails (and is counted); nothing is recorded from it."""

    def __init__(self, field: str, event_value: object, s3_value: object) -> None:
        super().__init__(field, f"S3's value for this object version ({s3_value!r})", event_value)


class UnresolvedKey(LookupError):
    """Neither the key as delivered nor its decoded form names an existing object (version).

    Raised instead of "skipped as deleted": the event could name either object, so the record fails (retried, then
    the DLQ) for a human to look at, rather than leaving the queue silently.
    """

    def __init__(self, bucket: str, candidates: tuple[str, ...], version_id: str | None) -> None:
        self.candidates = candidates
        super().__init__(
            f"no object (version {version_id or UNVERSIONED_VERSION_ID!r}) in bucket {bucket!r} under any of the "
            f"keys the event may mean: {list(candidates)!r}"
        )


def key_candidates(key: str) -> tuple[str, ...]:
    """The object keys `detail.object.key` may stand for, the key as delivered first.

    The decoded (`unquote_plus`) form is a second candidate only when the delivered text could be a URL encoding
    (printable ASCII, no space, every `%` an escape) and decoding changes it. A key with a space, non-ASCII text or
    a stray `%` was certainly not encoded, so it has one candidate, and a 404 for it means "deleted". A form longer
    than S3's 1,024-byte limit is no key at all and is left out (an empty result means the event is invalid).
    """
    forms = [key]
    if _ENCODED_KEY_RE.match(key):
        try:
            decoded = unquote_plus(key, errors="strict")
        except UnicodeDecodeError:  # not an encoding of UTF-8 text: not a key S3 would have encoded
            decoded = key
        if decoded != key:
            forms.append(decoded)
    return tuple(form for form in forms if len(form.encode("utf-8")) <= MAX_KEY_BYTES)


def upload_candidates(key: str) -> tuple[str, ...]:
    """The `key_candidates` of a delivered key that lie under `uploads/`, the only keys the processor records (and
    may read: its grant covers `<bucket>/uploads/*` only).

    Decided on the key itself, i.e. on each candidate, not on the delivered text: a fully encoded delivery
    (`uploads%2F<id>%2F...`) is an upload once decoded, and a key outside `uploads/` is never looked up in S3 in any
    form. An empty result means "not an upload": the record is skipped and counted, not failed (docs/operations.md).
    """
    return tuple(form for form in key_candidates(key) if form.startswith(UPLOADS_PREFIX))


@dataclass(frozen=True)
class Ownership:
    """Who uploaded an object under `uploads/<identity-id>/<name>`."""

    owner: str
    name: str


@dataclass(frozen=True)
class ObjectCreated:
    """A validated S3 "Object Created" event, as delivered by EventBridge."""

    event_id: str
    event_time: str
    bucket: str
    key: str
    size: int
    version_id: str | None = None
    etag: str | None = None
    sequencer: str | None = None

    @property
    def record_version_id(self) -> str:
        """Sort key of the record: the version id, or S3's literal "null" for unversioned objects."""
        return self.version_id if self.version_id is not None else UNVERSIONED_VERSION_ID

    @property
    def ownership(self) -> Ownership | None:
        return derive_ownership(self.key)


@dataclass(frozen=True)
class ObjectMetadata:
    """What HeadObject told us about the object (version)."""

    content_type: str | None = None
    last_modified: datetime | None = None
    etag: str | None = None
    size: int | None = None


def derive_ownership(key: str) -> Ownership | None:
    """`uploads/<identity-id>/<name>` -> Ownership(identity-id, name); None for any other key.

    The identity id is the path segment right after `uploads/`; the name is everything after
    `uploads/<identity-id>/` (it may contain further `/`). Both must be non-empty.
    """
    if not key.startswith(UPLOADS_PREFIX):
        return None
    identity, separator, name = key[len(UPLOADS_PREFIX) :].partition("/")
    if not identity or not separator or not name:
        return None
    return Ownership(owner=identity, name=name)


def parse_json_event(body: object) -> ObjectCreated:
    """Parse the JSON text of an EventBridge event (an SQS message body) and validate it."""
    if not isinstance(body, str):
        raise InvalidEvent("body", "a JSON text (string)", type(body).__name__)
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise InvalidEvent("body", f"a JSON document ({error.__class__.__name__})", body) from None
    return parse_event(raw)


@dataclass(frozen=True)
class S3Envelope:
    """What every EventBridge S3 event of the pipeline carries, validated: its id and time, the bucket, the key as
    delivered, and the `detail` and `detail.object` mappings for the fields of its own detail-type."""

    event_id: str
    event_time: str
    bucket: str
    key: str
    detail: Mapping[str, Any]
    obj: Mapping[str, Any]


def parse_envelope(raw: object, detail_type: str, key_rule: str = KEY_RULE) -> S3Envelope:
    """Validate the parts common to "Object Created" and "Object Deleted" events (processor/deletions.py); a bad
    field raises InvalidEvent naming it (the key's with `key_rule`)."""
    event = _mapping(raw, "event")
    _equals(event, "source", EVENT_SOURCE, "source")
    _equals(event, "detail-type", detail_type, "detail-type")
    event_id = _text(event.get("id", _MISSING), "id")
    event_time = _timestamp(event.get("time", _MISSING), "time")
    detail = _mapping(event.get("detail", _MISSING), "detail")
    bucket = _mapping(detail.get("bucket", _MISSING), "detail.bucket")
    bucket_name = _text(bucket.get("name", _MISSING), "detail.bucket.name")
    if not _BUCKET_RE.match(bucket_name):
        raise InvalidEvent("detail.bucket.name", _BUCKET_RULE, bucket_name)
    obj = _mapping(detail.get("object", _MISSING), "detail.object")
    key = _text(obj.get("key", _MISSING), "detail.object.key", max_bytes=MAX_DELIVERED_KEY_BYTES)
    if not key_candidates(key):
        raise InvalidEvent("detail.object.key", key_rule, key)
    return S3Envelope(event_id, event_time, bucket_name, key, detail, obj)


def parse_event(raw: object) -> ObjectCreated:
    """Validate an EventBridge S3 "Object Created" event (already decoded) into an ObjectCreated."""
    envelope = parse_envelope(raw, DETAIL_TYPE)
    obj = envelope.obj
    size = obj.get("size", _MISSING)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidEvent("detail.object.size", "a non-negative integer", size)
    return ObjectCreated(
        event_id=envelope.event_id,
        event_time=envelope.event_time,
        bucket=envelope.bucket,
        key=envelope.key,
        size=size,
        version_id=_optional_text(obj, "version-id", "detail.object.version-id", MAX_VERSION_ID_BYTES),
        etag=_optional_text(obj, "etag", "detail.object.etag"),
        sequencer=_sequencer(obj),
    )


def _sequencer(obj: Mapping[str, Any]) -> str | None:
    value = _optional_text(obj, "sequencer", "detail.object.sequencer")
    if value is not None and not _SEQUENCER_RE.match(value):
        raise InvalidEvent("detail.object.sequencer", "S3's hexadecimal sequencer (1 to 64 hex digits)", value)
    return value


def check_metadata(event: ObjectCreated, metadata: ObjectMetadata) -> None:
    """Raise MetadataMismatch when the event's size or etag contradicts HeadObject's (absent values are not
    compared; S3's own events always carry both)."""
    if metadata.size is not None and event.size != metadata.size:
        raise MetadataMismatch("detail.object.size", event.size, metadata.size)
    if event.etag is not None and metadata.etag is not None and event.etag.strip('"') != metadata.etag:
        raise MetadataMismatch("detail.object.etag", event.etag, metadata.etag)


def build_item(
    event: ObjectCreated,
    metadata: ObjectMetadata,
    *,
    recorded_at: datetime,
    lifecycle: Lifecycle | None = None,
    sub: str | None = None,
) -> dict[str, str | int]:
    """The DynamoDB item (plain str/int values) recorded once per object version.

    Key: object_key (S) + version_id (S). `owner`/`name` only for uploads (sparse GSI `by-owner`), with `sub` (the
    uploader's user pool sub) when one is known;
    `expires_at` (epoch seconds, the table's TTL) only when the bucket expires objects: the end of the version's
    lifecycle counted from S3's LastModified (its creation; `recorded_at`, which is later, if HeadObject gave none).
    Size and etag are S3's (HeadObject's); the event's are used only where HeadObject gave none.
    """
    item: dict[str, str | int] = {
        "object_key": event.key,
        "version_id": event.record_version_id,
        "bucket": event.bucket,
        "size": metadata.size if metadata.size is not None else event.size,
        "event_time": event.event_time,
        "recorded_at": iso_utc(recorded_at),
    }
    etag = metadata.etag or (event.etag.strip('"') if event.etag else None)
    if etag:
        item["etag"] = etag
    if event.sequencer:
        item["sequencer"] = event.sequencer
    if metadata.content_type:
        item["content_type"] = metadata.content_type
    if metadata.last_modified is not None:
        item["last_modified"] = iso_utc(metadata.last_modified)
    ownership = event.ownership
    if ownership is not None:
        item["owner"] = ownership.owner
        item["name"] = ownership.name
        if sub:
            item["sub"] = sub
    expires_at = record_expires_at(
        metadata.last_modified if metadata.last_modified is not None else recorded_at, lifecycle
    )
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = expires_at
    return item


@dataclass(frozen=True)
class Lifecycle:
    """The bucket's lifecycle expiration, the very values of its rules (the stack passes them to both).

    `current_days`: S3 expires the current version this many days after its creation (in a versioned bucket it adds
    a delete marker; the version becomes noncurrent). `noncurrent_days`: S3 then deletes the noncurrent version for
    good this many days after it became noncurrent.
    """

    current_days: int
    noncurrent_days: int

    def __post_init__(self) -> None:
        for name in ("current_days", "noncurrent_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"invalid Lifecycle.{name} {value!r}: must be a whole number of days >= 1")


def after_next_midnight(moment: datetime) -> datetime:
    """The first midnight UTC strictly after `moment`.

    S3 runs a lifecycle action at "the next day's midnight UTC" after creation + N days (Amazon S3 User Guide,
    "Lifecycle rules: based on an object's age"). For a moment that is not midnight this is that midnight; for a
    moment exactly at midnight it takes the later of the two readings (the day after), so a record can only err
    towards outliving its object, never towards predeceasing it.
    """
    utc = _as_utc(moment)
    return datetime(utc.year, utc.month, utc.day, tzinfo=UTC) + ONE_DAY


def lifecycle_end(created: datetime, lifecycle: Lifecycle) -> datetime:
    """The latest moment S3's lifecycle schedule deletes an object version created at `created` for good.

    Current expiry: the midnight after created + current_days (the delete marker; the version becomes noncurrent).
    Then the noncurrent expiry counts from the delete marker's creation: the midnight after it + noncurrent_days.
    Taking the midnight strictly after (`after_next_midnight`) for that second step also covers a delete marker that
    S3, which runs lifecycle actions asynchronously, writes up to 24 hours after its scheduled midnight.
    """
    noncurrent_from = after_next_midnight(_as_utc(created) + timedelta(days=lifecycle.current_days))
    return after_next_midnight(noncurrent_from + timedelta(days=lifecycle.noncurrent_days))


# How far a record's expires_at may lie beyond S3's own scheduled end of its version: one day of rounding at each of
# the two lifecycle steps (both only where S3 reads an exact midnight as "that midnight"). A test checks the bound
# against both readings at the boundaries; docs/operations.md quotes it.
MAX_RECORD_OVERHANG = 2 * ONE_DAY


def record_expires_at(created: datetime, lifecycle: Lifecycle | None) -> int | None:
    """The record's TTL (epoch seconds): the end of its version's lifecycle, so DynamoDB's TTL (which deletes an item
    only once its time has passed) never removes a record before S3 removes its object. None without object expiry
    (the version may live for ever)."""
    if lifecycle is None:
        return None
    return int(lifecycle_end(created, lifecycle).timestamp())


def parse_lifecycle(current: str | None, noncurrent: str | None) -> Lifecycle | None:
    """OBJECT_EXPIRATION_DAYS and NONCURRENT_VERSION_EXPIRATION_DAYS, as the stack sets them from the bucket's rules:
    both absent means no object expiry (no TTL); anything else must be two whole numbers of days >= 1.

    Raises ValueError naming the variable: a record without the TTL it should have would outlive its object for
    ever, so a wrong value fails the invocation (configuration error) rather than being ignored."""
    values = {"OBJECT_EXPIRATION_DAYS": current, "NONCURRENT_VERSION_EXPIRATION_DAYS": noncurrent}
    if all(value is None or not value.strip() for value in values.values()):
        return None
    days: dict[str, int] = {}
    for name, value in values.items():
        text = (value or "").strip()
        if not (text.isascii() and text.isdigit() and int(text) >= 1):
            raise ValueError(f"invalid {name} {value!r}: must be a whole number of days >= 1 (both set, or neither)")
        days[name] = int(text)
    return Lifecycle(days["OBJECT_EXPIRATION_DAYS"], days["NONCURRENT_VERSION_EXPIRATION_DAYS"])


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z` suffix, millisecond precision (naive datetimes are taken as UTC)."""
    return _as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if value is _MISSING:
        raise InvalidEvent(field, "a JSON object")
    if not isinstance(value, Mapping):
        raise InvalidEvent(field, "a JSON object", type(value).__name__)
    return value


def _equals(event: Mapping[str, Any], name: str, expected: str, field: str) -> None:
    value = event.get(name, _MISSING)
    if value != expected:
        raise InvalidEvent(field, f"{expected!r}", value)


def _text(value: object, field: str, *, max_bytes: int | None = None) -> str:
    rule = "a non-empty string" + (f" of at most {max_bytes} UTF-8 bytes" if max_bytes else "")
    if value is _MISSING:
        raise InvalidEvent(field, rule)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(field, rule, value)
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidEvent(field, f"{rule} (valid Unicode, no lone surrogates)", value) from None
    if max_bytes is not None and size > max_bytes:
        raise InvalidEvent(field, rule, value)
    return value


def _optional_text(obj: Mapping[str, Any], name: str, field: str, max_bytes: int | None = None) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    return _text(value, field, max_bytes=max_bytes)


def _timestamp(value: object, field: str) -> str:
    rule = "an ISO-8601 timestamp"
    text = _text(value, field)
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise InvalidEvent(field, rule, value) from None
    return text


def require_bucket(event: ObjectCreated, expected_bucket: str) -> None:
    """Raise InvalidEvent unless the event is about `expected_bucket` (this environment's bucket).

    S3 answers HeadObject on a missing *bucket* with the same bare 404 as on a missing object; without this check
    an event naming another bucket would be "skipped as deleted" instead of failing into the DLQ.
    """
    if event.bucket != expected_bucket:
        raise InvalidEvent("detail.bucket.name", f"this environment's bucket {expected_bucket!r}", event.bucket)
