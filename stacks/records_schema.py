"""The records table's keys, defined once for the stack, the handler tests and the benchmarks (no CDK here)."""

from __future__ import annotations

from typing import Any

# Users' objects live under uploads/<identity id>/ (their grant); the processor reads and records nothing else
# (lambda/processor's domain.UPLOADS_PREFIX is the same string: a test compares them).
UPLOADS_PREFIX = "uploads/"
PARTITION_KEY = "object_key"  # the full S3 key
SORT_KEY = "version_id"  # one item per object version ("null" for unversioned objects)
OWNER_INDEX = "by-owner"  # sparse GSI: only uploads under uploads/<identity id>/ carry an owner
OWNER_KEY = "owner"
# Items mapping an identity id to its user pool sub share the table: partition key `#identity/<identity id>`, sort
# key `#sub` (no S3 version id is `#sub`; no `owner`, so they never enter the owner index). lambda/api's domain
# writes them (IDENTITY_MAPPING_PREFIX there; a test keeps the two equal).
IDENTITY_MAPPING_PREFIX = "#identity/"
# Per-user items also share the table, under partition keys no S3 key can take (users' keys start with uploads/);
# none carries `owner`, so none lists as a record. Erasure and the limits work by the user pool `sub`, so a replaced
# identity pool neither orphans a user nor resets their limits:
# - `#sub/<sub>`, sort key = an identity id: every identity id the sub has signed in with (written beside the
#   `#identity/<identity id>` item, at grant issuance and at the first API call).
SUB_IDENTITIES_PREFIX = "#sub/"
# - `#usage/<sub>`: sort key `#held` (attributes `bytes`, `objects`: what the sub holds now) and time-window
#   counters (`#minute/<YYYY-MM-DDTHH:MM>`, `#day/<YYYY-MM-DD>`, expiring by TTL_ATTRIBUTE).
USAGE_PREFIX = "#usage/"
USAGE_HELD_SORT_KEY = "#held"
# The processor's own count of the uploads it recorded per day (sort key `#recorded-day/<YYYY-MM-DD>`, attribute
# `uploads`, expiring by TTL_ATTRIBUTE), apart from the API's issuance windows: a grant replayed until it expires is
# counted here (lambda/processor's usage.py names the same keys; a test keeps them equal).
USAGE_RECORDED_DAY_SORT_PREFIX = "#recorded-day/"
# - `#erasure/<sub>`: sort key `#job` (the current erasure job and its status) and `#report/<job id>` (the report,
#   kept after the data is gone: counts and times, no object names).
ERASURE_PREFIX = "#erasure/"
ERASURE_JOB_SORT_KEY = "#job"
ERASURE_REPORT_SORT_PREFIX = "#report/"
# A deleted object version's record is deleted and a tombstone written (lambda/processor's deletions.py), under a
# partition key that names nobody: TOMBSTONE_PREFIX and the SHA-256 (hex) of the object key, sort key = the version id
# (lambda/processor's deletions.TOMBSTONE_PREFIX; a test keeps the two equal). It carries TOMBSTONE_ATTRIBUTE (epoch
# seconds of the delete), the delete's sequencer and the TTL below, nothing else (no owner: never listed; no name,
# sub or size; not the key), and expires after the pipeline's longest redelivery window. Recording a version checks
# in the same transaction that it has none: a late "Object Created" of a deleted version is a no-op.
TOMBSTONE_PREFIX = "#deleted/"
TOMBSTONE_ATTRIBUTE = "deleted_at"
# TTL (epoch seconds): the end of the object version's lifecycle, set only where the bucket expires objects
# (lambda/processor's domain.TTL_ATTRIBUTE is the same name: a test compares them).
TTL_ATTRIBUTE = "expires_at"


def create_table_request(table_name: str, owner_index: str = OWNER_INDEX) -> dict[str, Any]:
    """boto3 `create_table` arguments for a table with this schema (on demand: for emulators and tests)."""
    string = "S"
    return {
        "TableName": table_name,
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": string} for name in (PARTITION_KEY, SORT_KEY, OWNER_KEY)
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": owner_index,
                "KeySchema": [
                    {"AttributeName": OWNER_KEY, "KeyType": "HASH"},
                    {"AttributeName": PARTITION_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
