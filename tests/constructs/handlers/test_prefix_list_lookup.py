"""The prefix-list lookup (PrivateNetwork's custom-resource function): the lookup against moto's EC2, which holds
the AWS-managed prefix lists as AWS does, and the handler's answers to CloudFormation through `cfnresponse`."""

from __future__ import annotations

import sys
import types
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


@pytest.fixture
def responses(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A stand-in for the `cfnresponse` module Lambda provides to inline code: records each answer."""
    sent: list[dict[str, Any]] = []
    module = types.ModuleType("cfnresponse")
    module.SUCCESS, module.FAILED = "SUCCESS", "FAILED"  # type: ignore[attr-defined]  # a bare ModuleType

    def send(event: dict, context: object, status: str, data: dict, physical_id: str | None = None,
             no_echo: bool = False, reason: str | None = None) -> None:  # fmt: skip
        sent.append({"status": status, "data": data, "physical_id": physical_id, "reason": reason})

    module.send = send  # type: ignore[attr-defined]  # a bare ModuleType
    monkeypatch.setitem(sys.modules, "cfnresponse", module)
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
    event = {"RequestType": request_type, "ResourceProperties": {"ServiceToken": "arn", "PrefixListNames": NAMES}}
    prefix_list_lookup.handler(event, object())
    ids = _ids(ec2)
    assert responses == [
        {
            "status": "SUCCESS",
            "data": {"S3": ids[NAMES["S3"]], "DynamoDb": ids[NAMES["DynamoDb"]]},
            "physical_id": prefix_list_lookup.PHYSICAL_ID,
            "reason": None,
        }
    ]


def test_a_failed_lookup_fails_the_deployment_with_the_reason(ec2: Any, responses: list[dict[str, Any]]) -> None:
    event = {"RequestType": "Create", "ResourceProperties": {"PrefixListNames": {"S3": "com.amazonaws.mars-1.s3"}}}
    prefix_list_lookup.handler(event, object())
    (answer,) = responses
    assert answer["status"] == "FAILED"
    assert "com.amazonaws.mars-1.s3" in answer["reason"]


def test_a_malformed_request_is_answered_failed_not_left_waiting(responses: list[dict[str, Any]]) -> None:
    prefix_list_lookup.handler({"RequestType": "Create", "ResourceProperties": {}}, object())
    (answer,) = responses
    assert answer["status"] == "FAILED"
    assert "PrefixListNames" in answer["reason"]


def test_delete_answers_success_without_calling_ec2(responses: list[dict[str, Any]]) -> None:
    # No moto here: any EC2 call would fail for want of credentials/endpoint and turn the answer into FAILED.
    event = {"RequestType": "Delete", "PhysicalResourceId": "aws-managed-prefix-lists", "ResourceProperties": {}}
    prefix_list_lookup.handler(event, object())
    assert responses == [{"status": "SUCCESS", "data": {}, "physical_id": "aws-managed-prefix-lists", "reason": None}]
