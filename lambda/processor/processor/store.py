"""The few AWS calls of the processor: HeadObject and a conditional PutItem.

Clients are created lazily, once per execution environment (module-level cache): nothing is built at
import, and tests can reset the cache after starting moto. They are botocore's low-level clients -
exactly what `boto3.client()` returns - made from a botocore session directly: importing boto3 itself
(its resource layer and s3transfer) adds ~20-30 ms of cold start for nothing this function uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from processor.domain import ObjectMetadata

# HeadObject errors that mean "this object (version) no longer exists". HEAD responses carry no
# body, so S3 reports a bare "404"; NoSuchKey/NotFound/NoSuchVersion cover other code paths.
MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
CONDITION_FAILED_CODE = "ConditionalCheckFailedException"
PUT_ONCE_CONDITION = "attribute_not_exists(object_key)"

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=10,
)
_clients: dict[str, Any] = {}
_sessions: list[botocore.session.Session] = []


def client(service: str) -> Any:
    """The cached client of `service` ("s3" or "dynamodb"), created on first use.

    Both clients share one session, so botocore loads its endpoint data once.
    """
    cached = _clients.get(service)
    if cached is None:
        if not _sessions:
            _sessions.append(botocore.session.get_session())
        cached = _clients[service] = _sessions[0].create_client(service, config=_CLIENT_CONFIG)
    return cached


def reset_clients(*, drop_session: bool = False) -> None:
    """Forget the cached clients (tests: between mocks, or after changing region or credentials).

    The botocore session (and the service models it has loaded) is kept unless `drop_session`.
    """
    _clients.clear()
    if drop_session:
        _sessions.clear()


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def head_object(
    bucket: str,
    key: str,
    version_id: str | None,
    *,
    expected_bucket_owner: str,
) -> ObjectMetadata | None:
    """Metadata of the object (version), or None when it no longer exists (404).

    Any other error (403 - including a bucket owned by another account -, throttling, 5xx) raises.
    """
    params: dict[str, str] = {"Bucket": bucket, "Key": key, "ExpectedBucketOwner": expected_bucket_owner}
    if version_id is not None:
        params["VersionId"] = version_id
    try:
        response = client("s3").head_object(**params)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error_code(error) in MISSING_OBJECT_CODES or status == 404:
            return None
        raise
    etag = response.get("ETag")
    return ObjectMetadata(
        content_type=response.get("ContentType"),
        last_modified=response.get("LastModified"),
        etag=etag.strip('"') if isinstance(etag, str) else None,
    )


def find_object(
    bucket: str,
    keys: tuple[str, ...],
    version_id: str | None,
    *,
    expected_bucket_owner: str,
) -> tuple[str, ObjectMetadata] | None:
    """The first of `keys` whose object (version) exists, with its metadata; None when none does.

    With a version id, a hit is that very object version (version ids are unique to their object), so an
    encoded and a decoded key cannot both match.
    """
    for key in keys:
        metadata = head_object(bucket, key, version_id, expected_bucket_owner=expected_bucket_owner)
        if metadata is not None:
            return key, metadata
    return None


def put_record_once(table_name: str, item: Mapping[str, str | int]) -> bool:
    """Put `item` unless an item with its key exists: True if written, False if it already existed."""
    try:
        client("dynamodb").put_item(
            TableName=table_name,
            Item=to_attribute_values(item),
            ConditionExpression=PUT_ONCE_CONDITION,
        )
    except ClientError as error:
        if error_code(error) == CONDITION_FAILED_CODE:
            return False
        raise
    return True


def to_attribute_values(item: Mapping[str, str | int]) -> dict[str, dict[str, str]]:
    """Plain str/int values -> DynamoDB's low-level AttributeValue form (S / N)."""
    converted: dict[str, dict[str, str]] = {}
    for name, value in item.items():
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise TypeError(f"attribute {name!r}: unsupported type {type(value).__name__}")
        converted[name] = {"S": value} if isinstance(value, str) else {"N": str(value)}
    return converted
