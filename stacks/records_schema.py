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
