"""Per-user usage counted when an upload is recorded, and the limits enforced there.

Users upload through grants the API issues (POST /uploads), which it counts at issuance; but a grant can be replayed
until it expires, each replay a new object version. So the processor counts again, for good, when it records a
version under `uploads/<identity id>/`: in the SAME DynamoDB transaction (TransactWriteItems) as the record's
conditional put and the check that the version has no tombstone (store.tombstone_check), it adds the version's size
and one object to the uploader's `#usage/<sub>` / `#held` item (`bytes`, `objects`) and one upload to `#usage/<sub>`
/ `#recorded-day/<YYYY-MM-DD>` (`uploads`, expiring by TTL).
All or nothing:

- a redelivered event finds its record already there: the put's condition fails, the transaction writes nothing, the
  event is a duplicate (never counted twice, never refused after being recorded);
- a version that would take the sub's bytes held over `upload_max_bytes_held`, or the day's recorded uploads over
  `uploads_per_day`, fails that item's condition: nothing is written, and the processor refuses the version (deletes
  that exact version, records nothing, counts `UploadsRefused` with the limit's name, logs the sub);
- two versions racing for the last slot: DynamoDB serializes the transactions on the counter item; one passes, the
  other fails its condition (refused) or is cancelled for the conflict (deferred and retried, then decided).

Counting is by user pool `sub` (the mapping the API records at grant issuance), so a replaced identity pool neither
resets nor escapes a user's limits. A version whose uploader has no recorded `sub` (not uploaded through a grant: an
administrator's or a tool's upload) is recorded uncounted, as before. Without limits in the environment
(`UPLOAD_MAX_BYTES_HELD` and `UPLOADS_PER_DAY` both unset) nothing is counted.

The day is the version's upload day (S3's LastModified, UTC): a backlog drained after midnight still counts in the day
the uploads happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from processor.store import (
    Contention,
    TimeLeft,
    client,
    deleted_version,
    error_code,
    to_attribute_values,
    tombstone_check,
)

# = stacks/records_schema.py (a test keeps them equal): the sub's usage items share the records table.
USAGE_PREFIX = "#usage/"
USAGE_HELD_SORT_KEY = "#held"
RECORDED_DAY_SORT_PREFIX = "#recorded-day/"
TTL_ATTRIBUTE = "expires_at"
# A day's counter outlives its day by one more (TTL deletes items some time after their time has passed).
DAY_COUNTER_KEPT = timedelta(days=2)

PUT_ONCE_CONDITION = "attribute_not_exists(object_key)"
CANCELLED_CODE = "TransactionCanceledException"
CONDITION_FAILED_REASON = "ConditionalCheckFailed"
MISSING_VERSION_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})


class Limit(StrEnum):
    """The per-user limits enforced at record time, named as the configuration (and the API's errors) name them."""

    BYTES_HELD = "upload_max_bytes_held"
    UPLOADS_PER_DAY = "uploads_per_day"


class Counted(StrEnum):
    """What recording one version did to the uploader's usage."""

    RECORDED = "recorded"  # the record is written and counted
    DUPLICATE = "duplicate"  # the record was already there: nothing written, nothing counted
    DELETED = "deleted"  # the version has a tombstone: nothing written (record_and_count raises VersionDeleted)


@dataclass(frozen=True)
class Limits:
    """The per-user limits of this environment (the stack passes its config's values)."""

    max_bytes_held: int
    uploads_per_day: int

    def __post_init__(self) -> None:
        for name in ("max_bytes_held", "uploads_per_day"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"invalid Limits.{name} {value!r}: must be a whole number >= 1")


class Refused(Exception):
    """Recording the version would exceed `limit`: nothing was written."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        super().__init__(f"recording this version would exceed {limit.value}")


def parse_limits(max_bytes_held: str | None, uploads_per_day: str | None) -> Limits | None:
    """UPLOAD_MAX_BYTES_HELD and UPLOADS_PER_DAY: both unset means no counting; anything else must be two whole
    numbers >= 1. Raises ValueError naming the variable (a configuration error fails the invocation)."""
    values = {"UPLOAD_MAX_BYTES_HELD": max_bytes_held, "UPLOADS_PER_DAY": uploads_per_day}
    if all(value is None or not value.strip() for value in values.values()):
        return None
    numbers: dict[str, int] = {}
    for name, value in values.items():
        text = (value or "").strip()
        if not (text.isascii() and text.isdigit() and int(text) >= 1):
            raise ValueError(f"invalid {name} {value!r}: must be a whole number >= 1 (both set, or neither)")
        numbers[name] = int(text)
    return Limits(numbers["UPLOAD_MAX_BYTES_HELD"], numbers["UPLOADS_PER_DAY"])


def day_of(moment: datetime) -> str:
    """The UTC day of `moment` (naive datetimes are taken as UTC), as the counter's sort key names it."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.date().isoformat()


def usage_key(sub: str, sort_key: str) -> dict[str, str]:
    return {"object_key": f"{USAGE_PREFIX}{sub}", "version_id": sort_key}


def transaction(
    table_name: str,
    record: Mapping[str, str | int],
    *,
    sub: str,
    size: int,
    day: str,
    limits: Limits,
) -> list[dict[str, Any]]:
    """TransactWriteItems for one version: [the record's conditional put, the check that the version has no
    tombstone, the bytes-held update, the day's count]. The order is fixed: `refusal` reads the cancellation reasons
    by position."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"invalid size {size!r}: must be a non-negative integer")
    room = limits.max_bytes_held - size  # what the sub may hold before this version
    held_condition = "attribute_not_exists(#bytes) OR #bytes <= :room" if room >= 0 else "#bytes <= :room"
    day_ends = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)
    return [
        {
            "Put": {
                "TableName": table_name,
                "Item": to_attribute_values(record),
                "ConditionExpression": PUT_ONCE_CONDITION,
            }
        },
        # A deleted version's tombstone (at its hashed key) cancels the transaction: told from a duplicate.
        tombstone_check(table_name, str(record["object_key"]), str(record["version_id"])),
        {
            "Update": {
                "TableName": table_name,
                "Key": to_attribute_values(usage_key(sub, USAGE_HELD_SORT_KEY)),
                "UpdateExpression": "ADD #bytes :size, #objects :one",
                "ConditionExpression": held_condition,
                "ExpressionAttributeNames": {"#bytes": "bytes", "#objects": "objects"},
                "ExpressionAttributeValues": to_attribute_values({":size": size, ":one": 1, ":room": room}),
            }
        },
        {
            "Update": {
                "TableName": table_name,
                "Key": to_attribute_values(usage_key(sub, f"{RECORDED_DAY_SORT_PREFIX}{day}")),
                "UpdateExpression": "SET #ttl = if_not_exists(#ttl, :expires) ADD #uploads :one",
                "ConditionExpression": "attribute_not_exists(#uploads) OR #uploads < :limit",
                "ExpressionAttributeNames": {"#uploads": "uploads", "#ttl": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": to_attribute_values(
                    {
                        ":one": 1,
                        ":limit": limits.uploads_per_day,
                        ":expires": int((day_ends + DAY_COUNTER_KEPT).timestamp()),
                    }
                ),
            }
        },
    ]


def refusal(reasons: Sequence[Mapping[str, Any]]) -> Counted | Limit | None:
    """Read a cancelled transaction's reasons by position, in `transaction`'s order [record put, tombstone check,
    bytes held, day's count]: DELETED when the version has a tombstone (whatever else failed: a deleted version is
    never recorded), else DUPLICATE when the record already exists (whatever the counters say: a recorded version is
    never refused afterwards), else the first limit whose condition failed, else None (cancelled for another reason:
    contention, throttling)."""
    codes = [str(reason.get("Code") or "None") for reason in reasons]
    codes += ["None"] * (4 - len(codes))
    if codes[1] == CONDITION_FAILED_REASON:
        return Counted.DELETED
    if codes[0] == CONDITION_FAILED_REASON:
        return Counted.DUPLICATE
    if codes[2] == CONDITION_FAILED_REASON:
        return Limit.BYTES_HELD
    if codes[3] == CONDITION_FAILED_REASON:
        return Limit.UPLOADS_PER_DAY
    return None


# ---------------------------------------------------------------------------------------------- AWS calls


def record_and_count(
    table_name: str,
    record: Mapping[str, str | int],
    *,
    sub: str,
    size: int,
    day: str,
    limits: Limits,
    time_left: TimeLeft | None = None,
) -> Counted:
    """Write the record and count it in one transaction. Returns RECORDED or DUPLICATE; raises VersionDeleted when
    the version has a tombstone, Refused(limit) when a limit would be exceeded (nothing written), Contention when
    cancelled otherwise, and any other error as is."""
    items = transaction(table_name, record, sub=sub, size=size, day=day, limits=limits)
    try:
        client("dynamodb", time_left).transact_write_items(TransactItems=items)
    except ClientError as error:
        if error_code(error) != CANCELLED_CODE:
            raise
        reasons = error.response.get("CancellationReasons") or []
        decided = refusal(reasons)
        if decided is Counted.DELETED:
            deleted = deleted_version(reasons[1], record)
            assert deleted is not None  # refusal: the tombstone check's condition failed
            raise deleted from None
        if decided is Counted.DUPLICATE:
            return Counted.DUPLICATE
        if isinstance(decided, Limit):
            raise Refused(decided) from None
        codes = [str(reason.get("Code")) for reason in reasons]
        raise Contention(f"transaction cancelled: {codes or error}") from error
    return Counted.RECORDED


def delete_version(
    bucket: str, key: str, version_id: str, *, expected_bucket_owner: str, time_left: TimeLeft | None = None
) -> bool:
    """Delete exactly this object version (never a delete marker). True if deleted, False if it was already gone."""
    try:
        client("s3", time_left).delete_object(
            Bucket=bucket, Key=key, VersionId=version_id, ExpectedBucketOwner=expected_bucket_owner
        )
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error_code(error) in MISSING_VERSION_CODES or status == 404:
            return False
        raise
    return True
