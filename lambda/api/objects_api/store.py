"""The API's DynamoDB reads: two Query shapes, nothing else.

IAM: dynamodb:Query on the table (versions of one key) and on its owner index (the caller's records).
No Scan, no writes. The client is created on first use and reused by later invocations.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Tracer
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config
from botocore.exceptions import ClientError

from objects_api.domain import CURSOR_FIELDS, PROJECTED_ATTRIBUTES

# Fail fast enough to answer inside API Gateway's 29 s integration timeout, retries included.
_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
_THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# Every attribute is aliased: `name`, `owner` and `size` are DynamoDB reserved words.
_NAMES = {f"#a{i}": attribute for i, attribute in enumerate(PROJECTED_ATTRIBUTES)}
_ALIAS = {attribute: alias for alias, attribute in _NAMES.items()}
_PROJECTION = ", ".join(_NAMES)

tracer = Tracer(auto_patch=False)
_deserializer = TypeDeserializer()


class StoreBusy(Exception):
    """DynamoDB throttled the read even after the client's retries: the caller should retry later."""


class InvalidStartKey(Exception):
    """DynamoDB refused the ExclusiveStartKey taken from a cursor."""


@functools.cache
def _client() -> Any:
    return boto3.client("dynamodb", config=_CLIENT_CONFIG)


def reset_client() -> None:
    """Forget the cached client (tests start a new mocked AWS per test)."""
    _client.cache_clear()


def table_name() -> str:
    return os.environ["TABLE_NAME"]


def owner_index_name() -> str:
    # Required like TABLE_NAME: silently querying a default index would hide a broken deployment.
    return os.environ["OWNER_INDEX_NAME"]


def _plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _query(params: dict[str, Any]) -> dict[str, Any]:
    try:
        return _client().query(**params)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in _THROTTLING_CODES:
            raise StoreBusy(code) from error
        if code == "ValidationException" and "ExclusiveStartKey" in params:
            raise InvalidStartKey(code) from error
        raise


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
    """Up to `limit` stored versions of `object_key`; the flag says whether more exist."""
    key_alias = _ALIAS["object_key"]
    response = _query(
        {
            "TableName": table_name(),
            "KeyConditionExpression": f"{key_alias} = :key",
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": {":key": {"S": object_key}},
            "ProjectionExpression": _PROJECTION,
            "Limit": limit,
        }
    )
    items = [_plain_item(item) for item in response.get("Items", [])]
    return items, "LastEvaluatedKey" in response
