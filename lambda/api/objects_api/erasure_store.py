"""The erasure routes' AWS calls: the caller's job item and report (`#erasure/<sub>` items of the records table)
and the message that starts the erasure worker.

IAM: dynamodb:GetItem, PutItem and UpdateItem on the table only for leading keys `#erasure/*`; sqs:SendMessage on
the erasure queue (and the key's kms:GenerateDataKey/Decrypt). Same client budget as the API's reads (store).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from shared_runtime import clients

from objects_api import store

ERASURE_PREFIX = "#erasure/"
ERASURE_JOB_SORT_KEY = "#job"
ERASURE_REPORT_SORT_PREFIX = "#report/"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _dynamodb() -> Any:
    return clients.client("dynamodb", store.QUERY_BUDGET)


def _sqs() -> Any:
    return clients.client("sqs", store.QUERY_BUDGET)


def _typed(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def job_key(sub: str) -> dict[str, str]:
    return {"object_key": f"{ERASURE_PREFIX}{sub}", "version_id": ERASURE_JOB_SORT_KEY}


def report_key(sub: str, job_id: str) -> dict[str, str]:
    return {"object_key": f"{ERASURE_PREFIX}{sub}", "version_id": f"{ERASURE_REPORT_SORT_PREFIX}{job_id}"}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def get_item(key: Mapping[str, str]) -> dict[str, Any] | None:
    try:
        response = _dynamodb().get_item(TableName=store.table_name(), Key=_typed(key), ConsistentRead=True)
    except ClientError as error:
        if _code(error) in store._THROTTLING_CODES:
            raise store.StoreBusy(_code(error), store.THROTTLED_RETRY_AFTER_SECONDS) from error
        raise
    item = response.get("Item")
    return _plain(item) if item else None


def start_job(
    sub: str, identity_id: str, job_id: str, requested_at: str, requested_by: str
) -> tuple[dict[str, Any], bool]:
    """The sub's job: a new pending one (`job_id`) unless one is pending or running, which is returned instead
    (the caller's identity id added to it). A conditional put, so two requests at once start one job. Returns
    (job, created)."""
    item: dict[str, Any] = {
        **job_key(sub),
        "job_id": job_id,
        "status": "pending",
        "requested_at": requested_at,
        "requested_by": requested_by,
        "enqueued_at": requested_at,
    }
    if identity_id:
        item["identity_ids"] = {identity_id}
    for _ in range(3):  # a job that finishes between the two calls: try again
        try:
            _dynamodb().put_item(
                TableName=store.table_name(),
                Item=_typed(item),
                ConditionExpression="attribute_not_exists(object_key) OR #status = :done",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":done": {"S": "done"}},
            )
            return item, True
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise
        try:
            update = "ADD identity_ids :ids" if identity_id else "SET job_id = job_id"
            values = _typed({":done": "done", **({":ids": {identity_id}} if identity_id else {})})
            response = _dynamodb().update_item(
                TableName=store.table_name(),
                Key=_typed(job_key(sub)),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(object_key) AND #status <> :done",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
            return _plain(response["Attributes"]), False
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise
    raise store.StoreBusy("erasure job contended", store.THROTTLED_RETRY_AFTER_SECONDS)


def mark_enqueued(sub: str, job_id: str, previous: str, enqueued_at: str) -> bool:
    """Claim the re-send of a stale pending job (only one request wins); False when another already did."""
    try:
        _dynamodb().update_item(
            TableName=store.table_name(),
            Key=_typed(job_key(sub)),
            UpdateExpression="SET enqueued_at = :now",
            ConditionExpression="job_id = :job AND #status = :pending AND enqueued_at = :previous",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_typed(
                {":now": enqueued_at, ":job": job_id, ":pending": "pending", ":previous": previous}
            ),
        )
    except ClientError as error:
        if _code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def send_job(sub: str, job_id: str) -> None:
    """Start the erasure worker on the job (its queue; the worker is idempotent, a duplicate is harmless)."""
    queue_url = os.environ.get("ERASURE_QUEUE_URL", "")
    if not queue_url:
        raise RuntimeError("ERASURE_QUEUE_URL is not set")  # a broken deployment: 500, and the alarm on it
    _sqs().send_message(QueueUrl=queue_url, MessageBody=json.dumps({"job_id": job_id, "sub": sub}, sort_keys=True))
