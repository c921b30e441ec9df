"""store: the processor's two AWS calls, against moto (and botocore's Stubber for errors moto can't make)."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from processor import store
from processor.domain import ObjectMetadata

OWNER = "123456789012"


def test_head_object_returns_metadata(events, s3) -> None:
    put = s3.put_object(Bucket=events.bucket, Key="a b+c.txt", Body=b"12345", ContentType="text/csv")

    metadata = store.head_object(events.bucket, "a b+c.txt", put["VersionId"], expected_bucket_owner=OWNER)

    assert isinstance(metadata, ObjectMetadata)
    assert metadata.content_type == "text/csv"
    assert isinstance(metadata.last_modified, datetime) and metadata.last_modified.tzinfo is not None
    assert metadata.etag == put["ETag"].strip('"')


def test_head_object_without_version_reads_the_current_version(events, s3) -> None:
    s3.put_object(Bucket=events.bucket, Key="k", Body=b"1", ContentType="text/a")
    s3.put_object(Bucket=events.bucket, Key="k", Body=b"2", ContentType="text/b")

    assert store.head_object(events.bucket, "k", None, expected_bucket_owner=OWNER).content_type == "text/b"


def test_head_object_missing_key_missing_version_and_missing_bucket_are_none(events, s3) -> None:
    put = s3.put_object(Bucket=events.bucket, Key="k", Body=b"1")
    s3.put_object(Bucket=events.bucket, Key="k", Body=b"2")
    s3.delete_object(Bucket=events.bucket, Key="k", VersionId=put["VersionId"])

    assert store.head_object(events.bucket, "never-written", None, expected_bucket_owner=OWNER) is None
    assert store.head_object(events.bucket, "k", put["VersionId"], expected_bucket_owner=OWNER) is None
    assert store.head_object("no-such-bucket-xyz", "k", None, expected_bucket_owner=OWNER) is None


@pytest.mark.parametrize(("code", "status"), [("403", 403), ("SlowDown", 503), ("InternalError", 500)])
def test_head_object_other_errors_raise(events, code, status) -> None:
    with Stubber(store.client("s3")) as stubber:
        stubber.add_client_error("head_object", service_error_code=code, http_status_code=status)
        with pytest.raises(ClientError) as caught:
            store.head_object(events.bucket, "k", None, expected_bucket_owner=OWNER)
    assert caught.value.response["Error"]["Code"] == code


def test_head_object_sends_expected_bucket_owner_and_version(events) -> None:
    with Stubber(store.client("s3")) as stubber:
        stubber.add_response(
            "head_object",
            {"ContentType": "text/plain", "ETag": '"abc"'},
            expected_params={"Bucket": events.bucket, "Key": "k", "VersionId": "v1", "ExpectedBucketOwner": OWNER},
        )
        metadata = store.head_object(events.bucket, "k", "v1", expected_bucket_owner=OWNER)
        stubber.assert_no_pending_responses()
    assert metadata == ObjectMetadata(content_type="text/plain", last_modified=None, etag="abc")


def test_put_record_once_writes_then_reports_existing(events) -> None:
    item = {"object_key": "k", "version_id": "v1", "size": 3, "bucket": events.bucket}

    assert store.put_record_once(events.table, item) is True
    assert store.put_record_once(events.table, {**item, "size": 99}) is False
    assert events.item("k", "v1")["size"] == {"N": "3"}  # first write kept
    assert store.put_record_once(events.table, {**item, "version_id": "v2"}) is True
    assert len(events.items()) == 2


def test_put_record_once_raises_other_errors(events) -> None:
    with pytest.raises(ClientError) as caught:
        store.put_record_once("no-such-table", {"object_key": "k", "version_id": "v"})
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_put_record_once_sends_the_condition_and_the_tombstone_check(events) -> None:
    """One transaction: the record's put-once, then the check that its version has no tombstone (at the hashed key,
    returning the tombstone when there is one: a deleted version is told from a duplicate)."""
    with Stubber(store.client("dynamodb")) as stubber:
        stubber.add_response(
            "transact_write_items",
            {},
            expected_params={
                "TransactItems": [
                    {
                        "Put": {
                            "TableName": events.table,
                            "Item": {"object_key": {"S": "k"}, "version_id": {"S": "null"}, "size": {"N": "0"}},
                            "ConditionExpression": "attribute_not_exists(object_key)",
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": events.table,
                            "Key": {
                                "object_key": {"S": "#deleted/" + hashlib.sha256(b"k").hexdigest()},
                                "version_id": {"S": "null"},
                            },
                            "ConditionExpression": "attribute_not_exists(#k)",
                            "ExpressionAttributeNames": {"#k": "object_key"},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                ]
            },
        )
        assert store.put_record_once(events.table, {"object_key": "k", "version_id": "null", "size": 0}) is True
        stubber.assert_no_pending_responses()


def test_put_record_once_cancelled_otherwise_is_contention(events) -> None:
    with Stubber(store.client("dynamodb")) as stubber:
        stubber.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            response_meta={"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]},
        )
        with pytest.raises(store.Contention) as raised:
            store.put_record_once(events.table, {"object_key": "k", "version_id": "v1"})
    assert store.is_transient(raised.value)


def test_to_attribute_values_rejects_unsupported_types() -> None:
    assert store.to_attribute_values({"a": "x", "b": 2}) == {"a": {"S": "x"}, "b": {"N": "2"}}
    for value in (True, 1.5, None, b"x"):
        with pytest.raises(TypeError, match="attribute 'a'"):
            store.to_attribute_values({"a": value})


def test_clients_are_created_once_and_reset(aws) -> None:
    first = store.client("s3")

    assert store.client("s3") is first
    assert store.client("dynamodb") is not first
    store.reset_clients()
    assert store.client("s3") is not first
