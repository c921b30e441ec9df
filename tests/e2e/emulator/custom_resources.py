"""`Custom::*`: a CloudFormation resource provider that runs custom resources the way CloudFormation does.

Why: LocalStack community has no provider for `AWS::CloudFormation::CustomResource` (the type LocalStack maps every
`Custom::X` to; only Pro has one). Without one it "deploys" the resource as a fallback without running anything: its
physical id and every `Fn::GetAtt` of it come back as "unknown". LocalStack loads CloudFormation resource providers
from a plux plugin manager (`resource_provider.plugin_manager`, looked up at each use); install() adds this one to it
through cfn_providers.py, which keeps every other provider.

What it does, as CloudFormation does: on Create/Update/Delete it invokes the Lambda function named by `ServiceToken`
asynchronously (InvocationType=Event) with the standard request (RequestType, ServiceToken, ResponseURL, StackId,
RequestId, ResourceType, LogicalResourceId, ResourceProperties with ServiceToken in them and scalars as strings,
OldResourceProperties on Update, PhysicalResourceId on Update/Delete). ResponseURL is a presigned S3 PUT URL into a
bucket of the emulator (BUCKET, made on first use); the provider polls for that object until `ServiceTimeout`
(default 300 s here; AWS waits up to an hour). SUCCESS: the response's PhysicalResourceId is the resource's, and every
key of `Data` is readable with `Fn::GetAtt`. FAILED: the resource fails with the response's Reason (the stack rolls
back).

How `Fn::GetAtt` reads Data: LocalStack's v2 engine resolves `Fn::GetAtt [R, Name]` from the deployed resource's
resource model (the model the provider returned: `get_value_from_path(model, "Name")`, dots descend into dicts) and
validates the name against no schema (VALID_GETATT_PROPERTIES in engine/quirks.py is "not in use yet"). So the model
returned here is Data's keys at the top level, plus STATE_KEY: what Update and Delete need later (physical id,
properties), since LocalStack hands the stored model back as the "previous properties". The physical id is read from
STATE_KEY through the schema's primaryIdentifier. Known differences from AWS: `Fn::GetAtt` of a key Data lacks does not
fail (LocalStack falls back to a template property of that name, else null); Data values are not limited to 4 KB; when
an Update returns a new physical id, CloudFormation later sends Delete for the old one, this provider does not; only
Lambda service tokens (not SNS topics).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import cfn_providers

TYPE = "AWS::CloudFormation::CustomResource"
BUCKET = "e2e-cfn-responses"
STATE_KEY = "E2eCustomResourceState"  # in the resource model, beside Data's keys; not a Data key anyone would pick
DEFAULT_TIMEOUT_SECONDS = 300
POLL_SECONDS = 0.25
SCHEMA: dict[str, Any] = {
    "typeName": TYPE,
    "additionalProperties": True,
    "properties": {"ServiceToken": {"type": "string"}, "ServiceTimeout": {"type": ["string", "integer"]}},
    "required": ["ServiceToken"],
    "primaryIdentifier": [f"/properties/{STATE_KEY}/PhysicalResourceId"],
}

LOG = logging.getLogger(__name__)


def install() -> None:
    """Add the provider for `AWS::CloudFormation::CustomResource` to LocalStack's CloudFormation resource-provider
    plugin manager; every other provider stays as the current manager finds it."""
    cfn_providers.add({TYPE: _provider_class})


def _provider_class() -> type:
    from localstack.services.cloudformation.resource_provider import (
        OperationStatus,
        ProgressEvent,
        ResourceProvider,
        ResourceRequest,
    )

    class CustomResourceProvider(ResourceProvider[dict[str, Any]]):
        SCHEMA = globals()["SCHEMA"]

        def create(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
            return self._run("Create", request, properties=request.desired_state, old=None)

        def update(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
            return self._run("Update", request, properties=request.desired_state, old=request.previous_state)

        def delete(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
            old = request.previous_state or request.desired_state
            return self._run("Delete", request, properties=None, old=old)

        def _run(
            self,
            request_type: str,
            request: ResourceRequest[dict[str, Any]],
            properties: dict[str, Any] | None,
            old: dict[str, Any] | None,
        ) -> ProgressEvent[dict[str, Any]]:
            old_state = _state_of(old, request.logical_resource_id) if old is not None else None
            if properties is None:  # Delete: what the resource was created (or last updated) with
                assert old_state is not None
                properties = old_state["ResourceProperties"]
            else:
                properties = _as_cloudformation_sends(_without_state(properties))
            token = properties.get("ServiceToken")

            def failed(reason: str, physical_id: Any = None) -> ProgressEvent[dict[str, Any]]:
                # Keeps what a later Delete needs: CloudFormation sends Delete for a failed Create too, with the
                # physical id the FAILED response gave.
                state = old_state or _state(
                    physical_id if isinstance(physical_id, str) and physical_id else request.logical_resource_id,
                    properties or {},
                )
                return ProgressEvent(OperationStatus.FAILED, resource_model={STATE_KEY: state}, message=reason)

            if request_type == "Delete" and not token:
                LOG.warning("custom resource %s: Delete skipped, no ServiceToken known", request.logical_resource_id)
                return ProgressEvent(OperationStatus.SUCCESS, resource_model={})
            if not isinstance(token, str) or ":lambda:" not in token:
                return failed(f"ServiceToken must be a Lambda function ARN (got {token!r}); SNS is not emulated")
            if old_state is not None and request_type == "Update":
                if old_state["ResourceProperties"].get("ServiceToken") != token:
                    return failed("Modifying service token is not allowed.")
            event: dict[str, Any] = {
                "RequestType": request_type,
                "ServiceToken": token,
                "StackId": request.stack_id,
                "RequestId": str(uuid.uuid4()),
                "ResourceType": request.resource_type,
                "LogicalResourceId": request.logical_resource_id,
                "ResourceProperties": properties,
            }
            if old_state is not None:
                event["PhysicalResourceId"] = old_state["PhysicalResourceId"]
            if request_type == "Update":
                event["OldResourceProperties"] = old_state["ResourceProperties"] if old_state else {}
            timeout = _timeout_of(properties)
            s3 = _s3_client(request.account_id)
            key = f"{request.stack_name}/{request.logical_resource_id}/{event['RequestId']}"
            _ensure_bucket(s3)
            event["ResponseURL"] = s3.generate_presigned_url(
                "put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=timeout + 60
            )

            started = time.monotonic()
            try:
                request.aws_client_factory.lambda_.invoke(
                    FunctionName=token, InvocationType="Event", Payload=json.dumps(event).encode()
                )
            except Exception as error:  # noqa: BLE001 - any failure to invoke is the resource's failure
                if request_type == "Delete" and "ResourceNotFoundException" in str(error):
                    # AWS would wait for a response that never comes (and fail after the timeout); a function that
                    # is already gone cannot answer, so the emulator lets the stack delete go on.
                    LOG.warning("custom resource %s: Delete skipped, %s is gone", request.logical_resource_id, token)
                    return ProgressEvent(OperationStatus.SUCCESS, resource_model={})
                return failed(f"Failed to invoke {token}: {error}")
            LOG.info("custom resource %s: %s sent to %s", request.logical_resource_id, request_type, token)

            response = _wait_for_response(s3, key, timeout)
            if response is None:
                return failed(
                    "CloudFormation did not receive a response from your Custom Resource. Please check your logs "
                    f"for requestId [{event['RequestId']}]. If you are using the Python cfn-response module, you "
                    "may need to update your Lambda function code so that CloudFormation can attach the updated "
                    "version."
                )
            LOG.info(
                "custom resource %s: %s answered %s after %.1f s",
                request.logical_resource_id,
                request_type,
                response.get("Status"),
                time.monotonic() - started,
            )
            status = response.get("Status")
            if status == "FAILED":
                return failed(
                    "Received response status [FAILED] from custom resource. Message returned: "
                    f"{response.get('Reason', '')} (RequestId: {event['RequestId']})",
                    response.get("PhysicalResourceId"),
                )
            if status != "SUCCESS":
                return failed(f"Invalid response status [{status}] from custom resource ({event['RequestId']})")
            physical_id = response.get("PhysicalResourceId")
            if not isinstance(physical_id, str) or not physical_id:
                return failed(f"Invalid PhysicalResourceId from custom resource (RequestId: {event['RequestId']})")
            if request_type == "Delete":
                return ProgressEvent(OperationStatus.SUCCESS, resource_model={})
            data = response.get("Data") or {}
            if not isinstance(data, dict):
                return failed(f"Data of the custom resource's response is not an object: {data!r}")
            model = {**data, STATE_KEY: _state(physical_id, properties)}
            return ProgressEvent(OperationStatus.SUCCESS, resource_model=model)

    return CustomResourceProvider


def _state(physical_id: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"PhysicalResourceId": physical_id, "ResourceProperties": properties}


def _state_of(model: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """What Update/Delete need from the model LocalStack stored; a model without it (the template's properties,
    LocalStack's fallback) gets the logical id as physical id."""
    state = model.get(STATE_KEY)
    if isinstance(state, dict):
        return state
    return _state(logical_id, _as_cloudformation_sends(_without_state(model)))


def _without_state(properties: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in properties.items() if name != STATE_KEY}


def _as_cloudformation_sends(value: Any) -> Any:
    """CloudFormation hands a custom resource every scalar property as a string (true -> "true", 5 -> "5")."""
    if isinstance(value, dict):
        return {name: _as_cloudformation_sends(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_as_cloudformation_sends(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _timeout_of(properties: dict[str, Any]) -> int:
    raw = properties.get("ServiceTimeout")
    try:
        return max(1, int(raw)) if raw is not None else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        return DEFAULT_TIMEOUT_SECONDS


def _s3_client(account_id: str) -> Any:
    """S3 of the emulator on the address the Lambda host workers reach (the gateway's own, loopback here), path-style
    so the presigned URL needs no DNS."""
    from botocore.config import Config
    from localstack import config
    from localstack.aws.connect import connect_to

    listen = config.GATEWAY_LISTEN[0]
    host = listen.host if listen.host not in ("", "0.0.0.0") else "127.0.0.1"  # noqa: S104 - comparing, not binding
    return connect_to(
        region_name="us-east-1",
        endpoint_url=f"http://{host}:{listen.port}",
        aws_access_key_id=account_id,
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    ).s3


def _ensure_bucket(s3: Any) -> None:
    try:
        s3.head_bucket(Bucket=BUCKET)
    except Exception:  # noqa: BLE001 - absent (404) or not yet made: make it
        s3.create_bucket(Bucket=BUCKET)


def _wait_for_response(s3: Any, key: str, timeout: int) -> dict[str, Any] | None:
    """The JSON the function PUT to the ResponseURL (deleted once read), or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            time.sleep(POLL_SECONDS)
            continue
        s3.delete_object(Bucket=BUCKET, Key=key)
        try:
            answer = json.loads(body)
        except ValueError:
            return {"Status": "FAILED", "Reason": f"the response is not JSON: {body[:200]!r}"}
        return answer if isinstance(answer, dict) else {"Status": "FAILED", "Reason": "the response is not an object"}
    return None
