"""One small snapshot per construct (zero-config, in a stack of its own), instead of one whole-template snapshot.

Each file under __snapshots__/test_snapshots/ is one construct's CloudFormation, short enough to review in a diff;
the fine-grained tests beside this module say which properties matter and why. After reading the diff, update with
`python -m pytest tests/constructs/test_snapshots.py --snapshot-update -n 0`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from syrupy.extensions.json import JSONSnapshotExtension

from secure_serverless import (
    Alerting,
    ApiGatewayAccountLogging,
    EnvironmentKey,
    EventPipeline,
    IdentityPool,
    LoggedApi,
    PrivateNetwork,
    Route,
    ScaledTable,
    SecureBucket,
    SecureFunction,
)
from stacks.app_builder import cdk_json_context
from tests.support.build import INLINE_CODE as CODE

ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def _function(stack: cdk.Stack) -> lambda_.Function:
    """A plain L2 function: collaborators of the construct under test stay out of its snapshot's way."""
    return lambda_.Function(stack, "Plain", code=CODE, handler="index.handler", runtime=lambda_.Runtime.PYTHON_3_14)


BUILDERS: dict[str, Callable[[cdk.Stack], object]] = {
    "EnvironmentKey": lambda s: EnvironmentKey(s, "Key"),
    "SecureBucket": lambda s: SecureBucket(s, "Bucket"),
    "ScaledTable": lambda s: ScaledTable(
        s, "Table", partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)
    ),
    "SecureFunction": lambda s: SecureFunction(s, "Function", code=CODE, handler="index.handler"),
    "EventPipeline": lambda s: EventPipeline(
        s, "Pipeline", bucket=s3.Bucket.from_bucket_name(s, "Uploads", "uploads-bucket"), processor=_function(s)
    ),
    "LoggedApi": lambda s: LoggedApi(s, "Api", handler=_function(s), routes=[Route("/items")]),
    "IdentityPool": lambda s: IdentityPool(s, "Identity"),
    "Alerting": lambda s: Alerting(s, "Alerting", email="ops@example.com"),
    "PrivateNetwork": lambda s: PrivateNetwork(s, "Network"),
    "ApiGatewayAccountLogging": lambda s: ApiGatewayAccountLogging(s, "ApiGatewayLogging"),
}


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    app = cdk.App(context=cdk_json_context(), builtin_cloud_formation_validation=False)
    stacks = {}
    for name, build in BUILDERS.items():
        stacks[name] = cdk.Stack(app, name, env=cdk.Environment(account="111122223333", region="eu-west-1"))
        build(stacks[name])
    app.synth()
    return {name: Template.from_stack(stack).to_json() for name, stack in stacks.items()}


def _normalised(template: dict[str, Any]) -> dict[str, Any]:
    """Without asset hashes (they change with the toolchain, not with the construct) and CDK's bootstrap boilerplate."""
    template = {k: v for k, v in template.items() if k not in ("Parameters", "Rules")}
    loaded: dict[str, Any] = json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))
    return loaded


@pytest.fixture
def snapshot_json(snapshot: Any) -> Any:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_construct_snapshot(templates: dict[str, dict[str, Any]], snapshot_json: Any, name: str) -> None:
    assert _normalised(templates[name]) == snapshot_json
