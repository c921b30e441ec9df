"""The library never hides a consumer's findings: a wildcard a consumer adds to a role a construct exposes is flagged.

Each case builds a construct zero-config (nag-clean on its own), then adds one statement to the role the construct
exposes, the way a consumer would, and expects AwsSolutions-IAM5 on exactly that addition.
"""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from secure_serverless import ApiGatewayAccountLogging, EventPipeline, IdentityPool, PrivateNetwork, SecureFunction
from stacks.app_builder import cdk_json_context
from tests.support.nag import nag_findings

CODE = lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")


def _function(stack: cdk.Stack) -> iam.IRole:
    return SecureFunction(stack, "Function", code=CODE, handler="index.handler").role


def _function_in_network(stack: cdk.Stack) -> iam.IRole:
    network = PrivateNetwork(stack, "Network")
    function = SecureFunction(
        stack, "Function", code=CODE, handler="index.handler", vpc=network.vpc,
        vpc_subnets=network.function_subnets, security_groups=[network.function_security_group],
    )  # fmt: skip
    network.grant_vpc_access(function.role)
    return function.role


def _pipeline_processor(stack: cdk.Stack) -> iam.IRole:
    function = SecureFunction(stack, "Function", code=CODE, handler="index.handler")
    EventPipeline(
        stack, "Pipeline", bucket=s3.Bucket.from_bucket_name(stack, "B", "uploads"), processor=function.function
    )
    return function.role


def _identity(stack: cdk.Stack) -> iam.IRole:
    return IdentityPool(stack, "Identity").authenticated_role


def _account_logging(stack: cdk.Stack) -> iam.IRole:
    return ApiGatewayAccountLogging(stack, "Logging").role


EXPOSED_ROLES: dict[str, Callable[[cdk.Stack], iam.IRole]] = {
    "SecureFunction.role": _function,
    "SecureFunction.role (in PrivateNetwork)": _function_in_network,
    "SecureFunction.role (EventPipeline processor)": _pipeline_processor,
    "IdentityPool.authenticated_role": _identity,
    "ApiGatewayAccountLogging.role": _account_logging,
}
WILDCARDS = {
    "resource": iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]),
    "action": iam.PolicyStatement(actions=["s3:*"], resources=["arn:aws:s3:::some-bucket/*"]),
}


def _iam5(stack: cdk.Stack) -> list[tuple[str, list[str]]]:
    return [f for f in nag_findings(AwsSolutionsChecks().validate_scope(stack)) if f[0].startswith("AwsSolutions-IAM5")]


@pytest.mark.parametrize("wildcard", list(WILDCARDS))
@pytest.mark.parametrize("role_name", list(EXPOSED_ROLES))
def test_a_wildcard_added_to_an_exposed_role_fails_awssolutions(role_name: str, wildcard: str) -> None:
    app = cdk.App(context=cdk_json_context(), builtin_cloud_formation_validation=False)
    clean, extended = cdk.Stack(app, "Clean"), cdk.Stack(app, "Extended")
    EXPOSED_ROLES[role_name](clean)
    EXPOSED_ROLES[role_name](extended).add_to_principal_policy(WILDCARDS[wildcard])
    app.synth()
    assert _iam5(clean) == []  # the construct alone is clean: its own Resource '*' is acknowledged narrowly
    findings = _iam5(extended)
    assert findings, f"{role_name}: a consumer's {wildcard} wildcard was hidden"
    assert all("DefaultPolicy" in path for _, paths in findings for path in paths), findings
