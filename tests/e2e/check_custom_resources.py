"""The emulator's custom-resource shim (tests/e2e/emulator/custom_resources.py) runs a `Custom::*` resource as
CloudFormation does: a hand-written stack (no CDK, a few seconds) with an inline Python Lambda that answers through
the `cfnresponse` module with the VPC-endpoint prefix lists of S3 and DynamoDB, read back with `Fn::GetAtt`.

- Create: the outputs are the real `pl-` ids (as EC2 lists them), Ref is the physical id the function chose, and the
  function got the standard request (ResourceType as in the template, ServiceToken in ResourceProperties, scalars
  as strings).
- Update: the function gets the old properties and the physical id; Delete: the function is invoked.
- A FAILED response fails the resource with the function's reason and the stack with it.

Each function records the request it got (without the presigned URL) in an SSM parameter the test reads.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import REGION, Aws, report

RECORDS = "/e2e-custom-resources"
STACK_SECONDS = 120  # a stack here takes a few seconds; the custom resource's own timeout (ServiceTimeout) is 60 s

HANDLER = """
import json

import boto3
import cfnresponse


def handler(event, context):
    request = {name: value for name, value in event.items() if name != "ResponseURL"}
    boto3.client("ssm").put_parameter(
        Name=f"{event['ResourceProperties']['RecordPath']}/{event['RequestType']}",
        Value=json.dumps(request), Type="String", Overwrite=True,
    )
    if event["RequestType"] == "Delete":
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {}, event["PhysicalResourceId"])
    elif event["ResourceProperties"].get("Refuse") == "true":
        cfnresponse.send(event, context, cfnresponse.FAILED, {}, reason="refused on purpose")
    else:
        ec2 = boto3.client("ec2")
        region = boto3.session.Session().region_name
        data = {}
        for key, service in (("S3", "s3"), ("DynamoDb", "dynamodb")):
            name = f"com.amazonaws.{region}.{service}"
            found = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [name]}])
            data[key] = found["PrefixLists"][0]["PrefixListId"]
        cfnresponse.send(event, context, cfnresponse.SUCCESS, data, f"gateway-prefix-lists-{region}")
"""


def template(record_path: str, *, refuse: bool = False, retries: int = 1) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    trust = {"Version": "2012-10-17", "Statement": [statement]}
    resources: dict[str, Any] = {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}},
        "Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.13",
                "Handler": "index.handler",
                "Timeout": 30,
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": HANDLER},
            },
        },
        "PrefixLists": {
            "Type": "Custom::GatewayPrefixLists",
            "Properties": {
                "ServiceToken": {"Fn::GetAtt": ["Function", "Arn"]},
                "ServiceTimeout": 60,
                "RecordPath": record_path,
                "Refuse": refuse,
                "Retries": retries,
            },
        },
    }
    outputs = {
        "S3": {"Value": {"Fn::GetAtt": ["PrefixLists", "S3"]}},
        "DynamoDb": {"Value": {"Fn::GetAtt": ["PrefixLists", "DynamoDb"]}},
        "PhysicalId": {"Value": {"Ref": "PrefixLists"}},
    }
    return json.dumps({"Resources": resources, "Outputs": {} if refuse else outputs})


def settle(aws: Aws, stack: str) -> tuple[dict[str, Any] | None, float]:
    """The stack once no longer IN_PROGRESS (None once deleted), and the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < STACK_SECONDS:
        stacks = aws.cloudformation.describe_stacks()["Stacks"]
        found = next((s for s in stacks if s["StackName"] == stack), None)
        if found is None or found["StackStatus"] == "DELETE_COMPLETE":
            return None, time.monotonic() - started
        if not found["StackStatus"].endswith("_IN_PROGRESS"):
            return found, time.monotonic() - started
        time.sleep(0.25)
    pytest.fail(f"stack {stack} still in progress after {STACK_SECONDS} s")


def recorded(aws: Aws, path: str, request_type: str) -> dict[str, Any]:
    value = aws.ssm.get_parameter(Name=f"{path}/{request_type}")["Parameter"]["Value"]
    return json.loads(value)  # type: ignore[no-any-return]


def outputs_of(described: dict[str, Any]) -> dict[str, str]:
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


@pytest.fixture(scope="module")
def created(aws: Aws) -> Iterator[tuple[str, str, dict[str, Any]]]:
    stack = f"e2e-custom-resource-{uuid.uuid4().hex[:8]}"
    path = f"{RECORDS}/{stack}"
    aws.cloudformation.create_stack(StackName=stack, TemplateBody=template(path), Capabilities=["CAPABILITY_IAM"])
    described, seconds = settle(aws, stack)
    report(f"custom resource stack (role, inline function, Custom::GatewayPrefixLists) created in {seconds:.1f} s")
    assert described is not None
    yield stack, path, described
    aws.cloudformation.delete_stack(StackName=stack)  # a no-op once the test below has deleted it
    settle(aws, stack)


def test_create_serves_the_functions_data_to_getatt(aws: Aws, created: tuple[str, str, dict[str, Any]]) -> None:
    stack, path, described = created
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    managed = {p["PrefixListName"]: p["PrefixListId"] for p in aws.ec2.describe_managed_prefix_lists()["PrefixLists"]}
    assert outputs_of(described) == {
        "S3": managed[f"com.amazonaws.{REGION}.s3"],
        "DynamoDb": managed[f"com.amazonaws.{REGION}.dynamodb"],
        "PhysicalId": f"gateway-prefix-lists-{REGION}",
    }
    assert outputs_of(described)["S3"].startswith("pl-")
    resource = aws.cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId="PrefixLists")
    assert resource["StackResourceDetail"]["PhysicalResourceId"] == f"gateway-prefix-lists-{REGION}"

    request = recorded(aws, path, "Create")
    function_arn = aws.lambda_.get_function(
        FunctionName=aws.cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId="Function")[
            "StackResourceDetail"
        ]["PhysicalResourceId"]
    )["Configuration"]["FunctionArn"]
    assert request["ResourceType"] == "Custom::GatewayPrefixLists"
    assert request["LogicalResourceId"] == "PrefixLists"
    assert request["StackId"] == described["StackId"]
    assert request["ServiceToken"] == function_arn
    uuid.UUID(request["RequestId"])
    assert "PhysicalResourceId" not in request and "OldResourceProperties" not in request
    assert request["ResourceProperties"] == {
        "ServiceToken": function_arn,
        "ServiceTimeout": "60",
        "RecordPath": path,
        "Refuse": "false",
        "Retries": "1",
    }


def test_update_sends_old_properties_and_delete_invokes_the_function(
    aws: Aws, created: tuple[str, str, dict[str, Any]]
) -> None:
    stack, path, _ = created
    aws.cloudformation.update_stack(
        StackName=stack, TemplateBody=template(path, retries=2), Capabilities=["CAPABILITY_IAM"]
    )
    described, _ = settle(aws, stack)
    assert described is not None and described["StackStatus"] == "UPDATE_COMPLETE", described
    update = recorded(aws, path, "Update")
    assert update["PhysicalResourceId"] == f"gateway-prefix-lists-{REGION}"
    assert update["ResourceProperties"]["Retries"] == "2"
    assert update["OldResourceProperties"]["Retries"] == "1"

    aws.cloudformation.delete_stack(StackName=stack)
    described, seconds = settle(aws, stack)
    assert described is None, described
    delete = recorded(aws, path, "Delete")
    assert delete["PhysicalResourceId"] == f"gateway-prefix-lists-{REGION}"
    assert delete["ResourceProperties"]["Retries"] == "2"
    report(f"custom resource stack deleted in {seconds:.1f} s; the function got the Delete")


def test_a_failed_response_fails_the_stack_with_the_functions_reason(aws: Aws) -> None:
    stack = f"e2e-custom-resource-failed-{uuid.uuid4().hex[:8]}"
    path = f"{RECORDS}/{stack}"
    aws.cloudformation.create_stack(
        StackName=stack, TemplateBody=template(path, refuse=True), Capabilities=["CAPABILITY_IAM"]
    )
    try:
        described, _ = settle(aws, stack)
        assert described is not None and described["StackStatus"] in ("CREATE_FAILED", "ROLLBACK_COMPLETE")
        # (LocalStack's DescribeStackResource knows only resources that were created: the list has the failed one)
        resources = aws.cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
        detail = next(r for r in resources if r["LogicalResourceId"] == "PrefixLists")
        assert detail["ResourceStatus"] == "CREATE_FAILED"
        assert "Message returned: refused on purpose" in detail["ResourceStatusReason"]
    finally:
        aws.cloudformation.delete_stack(StackName=stack)
        settle(aws, stack)
    # As CloudFormation does, the failed resource gets a Delete too, with the physical id the FAILED response gave
    # (cfnresponse's default: the function's log stream name).
    assert recorded(aws, path, "Delete")["PhysicalResourceId"]
