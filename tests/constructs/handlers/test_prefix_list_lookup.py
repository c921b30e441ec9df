"""The prefix-list lookup (PrivateNetwork's custom-resource function): the lookup against moto's EC2, which holds
the AWS-managed prefix lists as AWS does, and the handler's answers to CloudFormation (a PUT to the pre-signed
ResponseURL): exactly one for every outcome, including a failed import and the function's own timeout."""

from __future__ import annotations

import json
import sys
import time
import types
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from secure_serverless.handlers import prefix_list_lookup

REGION = "eu-west-1"
NAMES = {"S3": f"com.amazonaws.{REGION}.s3", "DynamoDb": f"com.amazonaws.{REGION}.dynamodb"}


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


class Context:
    """The Lambda context: only the remaining time matters to the handler."""

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


EVENT = {
    "ResponseURL": "https://cloudformation-custom-resource-response.example/presigned",
    "StackId": "arn:aws:cloudformation:eu-west-1:111122223333:stack/s/1",
    "RequestId": "r-1",
    "LogicalResourceId": "PrefixLists",
}


@pytest.fixture
def responses(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every answer PUT to the pre-signed ResponseURL (urllib, as the handler sends it), decoded."""
    sent: list[dict[str, Any]] = []

    class Response:
        def close(self) -> None:
            pass

    def urlopen(request: urllib.request.Request, timeout: float) -> Response:
        assert request.get_method() == "PUT" and request.full_url == EVENT["ResponseURL"]
        body = json.loads(request.data)  # type: ignore[arg-type]  # bytes
        assert {body["StackId"], body["RequestId"], body["LogicalResourceId"]} == {
            "r-1",
            "PrefixLists",
            EVENT["StackId"],
        }
        sent.append(
            {"status": body["Status"], "data": body["Data"], "physical_id": body["PhysicalResourceId"],
             "reason": body["Reason"]}
        )  # fmt: skip
        return Response()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return sent


def _ids(ec2: Any) -> dict[str, str]:
    lists = ec2.describe_managed_prefix_lists()["PrefixLists"]
    return {item["PrefixListName"]: item["PrefixListId"] for item in lists}


def test_ids_are_read_by_name_in_the_region(ec2: Any) -> None:
    ids = _ids(ec2)
    assert prefix_list_lookup.prefix_list_ids(ec2, NAMES) == {
        "S3": ids[NAMES["S3"]],
        "DynamoDb": ids[NAMES["DynamoDb"]],
    }
    assert ids[NAMES["S3"]] != ids[NAMES["DynamoDb"]]
    assert all(value.startswith("pl-") for value in ids.values())


def test_a_name_without_a_list_is_named_in_the_error(ec2: Any) -> None:
    with pytest.raises(LookupError, match=r"com\.amazonaws\.eu-west-1\.nosuch"):
        prefix_list_lookup.prefix_list_ids(ec2, {**NAMES, "Other": "com.amazonaws.eu-west-1.nosuch"})


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_answer_success_with_the_ids(
    ec2: Any, responses: list[dict[str, Any]], request_type: str
) -> None:
    event = {
        **EVENT,
        "RequestType": request_type,
        "ResourceProperties": {"ServiceToken": "arn", "PrefixListNames": NAMES},
    }
    prefix_list_lookup.handler(event, Context())
    ids = _ids(ec2)
    assert responses == [
        {
            "status": "SUCCESS",
            "data": {"S3": ids[NAMES["S3"]], "DynamoDb": ids[NAMES["DynamoDb"]]},
            "physical_id": prefix_list_lookup.PHYSICAL_ID,
            "reason": "SUCCESS: see the function's log",
        }
    ]


def test_a_failed_lookup_fails_the_deployment_with_the_reason(ec2: Any, responses: list[dict[str, Any]]) -> None:
    event = {
        **EVENT,
        "RequestType": "Create",
        "ResourceProperties": {"PrefixListNames": {"S3": "com.amazonaws.mars-1.s3"}},
    }
    prefix_list_lookup.handler(event, Context())
    (answer,) = responses
    assert answer["status"] == "FAILED"
    assert "com.amazonaws.mars-1.s3" in answer["reason"]


def test_a_malformed_request_is_answered_failed_not_left_waiting(responses: list[dict[str, Any]]) -> None:
    prefix_list_lookup.handler({**EVENT, "RequestType": "Create", "ResourceProperties": {}}, Context())
    (answer,) = responses
    assert answer["status"] == "FAILED"
    assert "PrefixListNames" in answer["reason"]


def test_delete_answers_success_without_calling_ec2(responses: list[dict[str, Any]]) -> None:
    # No moto here: any EC2 call would fail for want of credentials/endpoint and turn the answer into FAILED.
    event = {
        **EVENT,
        "RequestType": "Delete",
        "PhysicalResourceId": "aws-managed-prefix-lists",
        "ResourceProperties": {},
    }
    prefix_list_lookup.handler(event, Context())
    assert responses == [
        {
            "status": "SUCCESS",
            "data": {},
            "physical_id": "aws-managed-prefix-lists",
            "reason": "SUCCESS: see the function's log",
        }
    ]


def test_a_failed_import_is_answered_failed(responses: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """An import that fails (a broken runtime) is inside the try: CloudFormation hears FAILED, not an hour of
    silence."""
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` now raises ImportError
    event = {**EVENT, "RequestType": "Create", "ResourceProperties": {"PrefixListNames": NAMES}}
    prefix_list_lookup.handler(event, Context())
    (answer,) = responses
    assert answer["status"] == "FAILED" and "boto3" in answer["reason"]


def test_running_out_of_time_is_answered_before_lambda_stops_the_function(
    responses: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup that hangs: the timer answers FAILED before the function's own timeout, and the late result is
    not sent a second time (CloudFormation takes the first answer only)."""

    def hang(ec2: Any, names: Any) -> dict[str, str]:
        time.sleep(0.5)
        return {"S3": "pl-late"}

    monkeypatch.setattr(prefix_list_lookup, "prefix_list_ids", hang)
    monkeypatch.setitem(sys.modules, "boto3", types.SimpleNamespace(client=lambda service: object()))
    event = {**EVENT, "RequestType": "Create", "ResourceProperties": {"PrefixListNames": NAMES}}
    remaining_ms = int(prefix_list_lookup.MARGIN_S * 1000) + 50  # the timer fires after 50 ms
    prefix_list_lookup.handler(event, Context(remaining_ms))
    (answer,) = responses
    assert answer["status"] == "FAILED" and "timed out" in answer["reason"]
