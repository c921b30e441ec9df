"""Local end-to-end run of the data path: the REAL handlers make their REAL boto3 calls against moto in server mode.

    PutObject (S3) -> "Object Created" event (as S3 sends it to EventBridge) -> the stack's rule -> buffer queue (SQS)
    -> event source mapping (ReportBatchItemFailures) -> processor.handler.sqs_handler -> HeadObject + PutItem
    -> objects_api.handler.lambda_handler (GET /objects, GET /objects/{key+}) -> Query on the table's owner index

The table, the bucket, the queues and the functions' variables come from the synthesized `dev` template (see
conftest.py for what is and is not reproduced). Nothing but 127.0.0.1:<moto port> is ever contacted.
"""

from __future__ import annotations

import os
from typing import Any

ALICE = "us-east-1:11111111-2222-3333-4444-555555555555"
BOB = "us-east-1:66666666-7777-4888-9999-aaaaaaaaaaaa"
NAME = "reports/q3 summary+final é.txt"  # space, '+' and non-ASCII: must reach the table exactly as uploaded
BODY = "Q3: up and to the right ✓\n".encode()


def _api_items(stack: Any, identity: str) -> list[dict[str, Any]]:
    response = stack.get(identity)
    assert response.status == 200, response.body
    assert response.body["next_cursor"] is None, response.body
    return response.body["items"]


def test_template_wires_the_functions_the_way_this_test_runs_them(blueprint: Any) -> None:
    """A renamed variable, a lost index or a mapping without partial batch responses breaks this test."""
    processor = blueprint.function_variables["processor.handler.sqs_handler"]
    api = blueprint.function_variables["objects_api.handler.lambda_handler"]
    # Exactly the variables the handlers read.
    assert {k for k in processor if not k.startswith("POWERTOOLS_")} == {
        "TABLE_NAME",
        "EXPECTED_BUCKET_NAME",
        "EXPECTED_BUCKET_OWNER",
    }
    assert {k for k in api if not k.startswith("POWERTOOLS_")} == {"TABLE_NAME", "OWNER_INDEX_NAME", "IDENTITY_POOL_ID"}
    assert api["IDENTITY_POOL_ID"] == {"Ref": blueprint.identity_pool_id}
    assert processor["TABLE_NAME"] == api["TABLE_NAME"] == {"Ref": blueprint.table_id}
    assert processor["EXPECTED_BUCKET_OWNER"] == {"Ref": "AWS::AccountId"}
    assert processor["EXPECTED_BUCKET_NAME"] == {"Ref": blueprint.bucket_id}
    assert api["OWNER_INDEX_NAME"] in blueprint.index_names
    for handler in ("processor.handler.sqs_handler", "objects_api.handler.lambda_handler"):
        env = blueprint.function_env(handler)
        assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(env)
        assert set(env) == set(blueprint.function_variables[handler]) | {"POWERTOOLS_TRACE_DISABLED"}
    # Without ReportBatchItemFailures, the failures the processor returns would be ignored and deleted with the batch.
    assert "ReportBatchItemFailures" in blueprint.mapping.get("FunctionResponseTypes", [])
    # S3 only sends "Object Created" events to EventBridge when the bucket says so.
    assert blueprint.bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    assert blueprint.bucket["VersioningConfiguration"]["Status"] == "Enabled"


def test_upload_is_recorded_once_and_listed_only_to_its_uploader(stack: Any, emf: Any) -> None:
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    key = f"uploads/{ALICE}/{NAME}"
    put, event = stack.upload(key, BODY)
    assert put.get("VersionId"), "the bucket is versioned (template): PutObject must return a version id"
    assert event["detail"]["object"]["key"] == key  # EventBridge keys are not URL-encoded
    message_id = stack.publish(event)

    emf()
    messages = stack.receive()
    assert [m["MessageId"] for m in messages] == [message_id]
    assert stack.deliver(messages) == set()  # no batchItemFailures
    assert stack.queue_depth(stack.buffer_url) == (0, 0)  # the mapping deleted the processed message
    assert emf().get("ObjectsRecorded") == 1

    # The record, as the processor wrote it: key exactly as uploaded, metadata from the real HeadObject.
    [item] = stack.items()
    assert item["object_key"] == {"S": key}
    assert item["version_id"] == {"S": put["VersionId"]}
    assert item["owner"] == {"S": ALICE} and item["name"] == {"S": NAME}
    assert item["size"] == {"N": str(len(BODY))}
    assert item["content_type"] == {"S": "text/plain"}

    # GET /objects as the uploader.
    [listed] = _api_items(stack, ALICE)
    assert listed["name"] == NAME
    assert listed["key"] == key
    assert listed["size"] == len(BODY)
    assert listed["version_id"] == put["VersionId"]
    assert listed["etag"] == put["ETag"].strip('"')
    assert listed["content_type"] == "text/plain"
    assert isinstance(listed["last_modified"], str) and listed["last_modified"].endswith("Z")

    # GET /objects/{key+} as the uploader: path percent-encoded, pathParameters.key decoded (as API Gateway sends it).
    one = stack.get(ALICE, NAME)
    assert one.status == 200, one.body
    assert one.body["name"] == NAME and one.body["key"] == key and one.body["truncated"] is False
    assert [v["version_id"] for v in one.body["versions"]] == [put["VersionId"]]
    assert one.headers["cache-control"] == "no-store"

    # Another signed-in identity sees nothing: not in the list, not by name, not by the uploader's full key.
    assert _api_items(stack, BOB) == []
    for name in (NAME, key):
        other = stack.get(BOB, name)
        assert other.status == 404, other.body
        assert other.body["error"]["code"] == "not_found"

    # The same SQS record delivered again (at-least-once): still one record, reported as a duplicate, no failure.
    emf()
    assert stack.invoke_processor(stack.sqs_event(messages)) == {"batchItemFailures": []}
    assert emf().get("DuplicatesIgnored") == 1
    assert len(stack.items()) == 1
    assert len(_api_items(stack, ALICE)) == 1


def test_unavailable_table_fails_the_records_then_redelivery_recovers(stack: Any, emf: Any) -> None:
    keys = [f"uploads/{BOB}/fault/first.csv", f"uploads/{BOB}/fault/second.csv"]
    uploads = [stack.upload(key, f"row {i}\n".encode(), content_type="text/csv") for i, key in enumerate(keys)]
    sent = {stack.publish(event) for _, event in uploads}
    assert len(sent) == 2

    # Fault: the table is gone (ResourceNotFoundException on PutItem) while both events are in the buffer.
    stack.delete_table()
    emf()
    messages = stack.receive()
    assert {m["MessageId"] for m in messages} == sent  # one batch with both records
    failed = stack.deliver(messages)  # raises nothing: the failures are reported per record
    assert failed == sent, "every record that could not be recorded must be in batchItemFailures"
    assert emf().get("RecordsFailed") == 2
    # Nothing was dropped: both messages are still in the queue (in flight), none went to the dead-letter queue.
    assert stack.queue_depth(stack.buffer_url) == (0, 2)
    assert stack.queue_depth(stack.dead_letter_url) == (0, 0)
    assert stack.receive() == []  # not redelivered before the visibility timeout

    # Recovery: the table is back (same definition), then SQS redelivers after the visibility timeout.
    stack.create_table()
    assert stack.items() == []
    stack.expire_visibility(messages)
    again = stack.receive()
    assert {m["MessageId"] for m in again} == sent  # the same messages, not new ones
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in again} == {"2"}
    max_receives = int(stack.blueprint.buffer["RedrivePolicy"]["maxReceiveCount"])
    assert max_receives > 2, "the redrive policy would move the messages to the dead-letter queue before the retry"
    assert stack.deliver(again) == set()
    assert emf().get("ObjectsRecorded") == 2
    assert stack.queue_depth(stack.buffer_url) == (0, 0)
    assert stack.queue_depth(stack.dead_letter_url) == (0, 0)

    # The API finds both objects, with the versions S3 returned.
    listed = {item["key"]: item for item in _api_items(stack, BOB)}
    assert sorted(listed) == sorted(keys)
    for key, (put, _) in zip(keys, uploads, strict=True):
        assert listed[key]["version_id"] == put["VersionId"]
        assert listed[key]["content_type"] == "text/csv"
        one = stack.get(BOB, key.split("/", 2)[2])
        assert one.status == 200, one.body
        assert [v["version_id"] for v in one.body["versions"]] == [put["VersionId"]]
    assert _api_items(stack, ALICE) == []
