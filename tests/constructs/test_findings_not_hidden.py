"""The library never hides a consumer's findings (issue 19 item 3).

A wildcard a consumer adds to any role a construct exposes or receives (its own roles, a processor or handler passed
in, a grantee of a grant) is reported: each case builds the construct twice, once as is and once with one more
statement added the way a consumer would, and expects AwsSolutions-IAM5 on exactly that addition. A function passed
in keeps its own findings (nothing acknowledged on it), and no construct exposes a policy object (its acknowledgment
of an unscopable `Resource: *` would cover whatever a consumer added to it).
"""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from secure_serverless import (
    ApiGatewayAccountLogging,
    Delivery,
    EventPipeline,
    IdentityPool,
    LoggedApi,
    PrivateNetwork,
    Route,
    SecureBucket,
    SecureFunction,
)
from stacks.app_builder import cdk_json_context
from tests.support.build import INLINE_CODE as CODE
from tests.support.nag import nag_findings


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


def _direct_processor(stack: cdk.Stack) -> iam.IRole:
    function = SecureFunction(stack, "Function", code=CODE, handler="index.handler")
    EventPipeline(
        stack, "Pipeline", bucket=s3.Bucket.from_bucket_name(stack, "B", "uploads"), processor=function.function,
        delivery=Delivery.DIRECT,
    )  # fmt: skip
    return function.role


def _api_handler(stack: cdk.Stack) -> iam.IRole:
    function = SecureFunction(stack, "Function", code=CODE, handler="index.handler")
    LoggedApi(stack, "Api", handler=function.function, routes=[Route("/items"), Route("/items/{key+}")], waf=False)
    return function.role


def _object_reader(stack: cdk.Stack) -> iam.IRole:
    function = SecureFunction(stack, "Function", code=CODE, handler="index.handler")
    SecureBucket(stack, "Data").grant_read_objects(function.function, prefix="in/")
    return function.role


def _api_caller(stack: cdk.Stack) -> iam.IRole:
    function = SecureFunction(stack, "Function", code=CODE, handler="index.handler")
    api = LoggedApi(stack, "Api", handler=function.function, routes=[Route("/items/{key+}")], waf=False)
    identity = IdentityPool(stack, "Identity")
    api.grant_invoke(identity.authenticated_role)
    return identity.authenticated_role


def _uploader(stack: cdk.Stack) -> iam.IRole:
    identity = IdentityPool(stack, "Identity")
    identity.grant_own_uploads(SecureBucket(stack, "Data"), prefix="uploads/")
    return identity.authenticated_role


def _identity(stack: cdk.Stack) -> iam.IRole:
    return IdentityPool(stack, "Identity").authenticated_role


def _account_logging(stack: cdk.Stack) -> iam.IRole:
    return ApiGatewayAccountLogging(stack, "Logging").role


EXPOSED_ROLES: dict[str, Callable[[cdk.Stack], iam.IRole]] = {
    "SecureFunction.role": _function,
    "SecureFunction.role (in PrivateNetwork)": _function_in_network,
    "SecureFunction.role (EventPipeline processor)": _pipeline_processor,
    "SecureFunction.role (EventPipeline DIRECT processor)": _direct_processor,
    "SecureFunction.role (LoggedApi handler)": _api_handler,
    "grantee of SecureBucket.grant_read_objects": _object_reader,
    "grantee of LoggedApi.grant_invoke": _api_caller,
    "grantee of IdentityPool.grant_own_uploads": _uploader,
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
    before, after = _iam5(clean), _iam5(extended)
    # A grant's own object-ARN pattern is reported too (its owner acknowledges it): never hidden by the library.
    assert all(rule.startswith("AwsSolutions-IAM5[Resource::") for rule, _ in before), before
    added = [finding for finding in after if (finding[0], [p.replace("Extended", "Clean") for p in finding[1]])
             not in before]  # fmt: skip
    assert added, f"{role_name}: a consumer's {wildcard} wildcard was hidden"
    assert all("DefaultPolicy" in path for _, paths in added for path in paths), added


def _serverless(stack: cdk.Stack) -> list[str]:
    return [rule for rule, _ in nag_findings(ServerlessChecks().validate_scope(stack))]


RECEIVED_FUNCTIONS: dict[str, Callable[[cdk.Stack, lambda_.IFunction], object]] = {
    "EventPipeline processor (QUEUE)": lambda s, f: EventPipeline(
        s, "Pipeline", bucket=s3.Bucket.from_bucket_name(s, "B", "uploads"), processor=f
    ),
    "EventPipeline processor (DIRECT)": lambda s, f: EventPipeline(
        s, "Pipeline", bucket=s3.Bucket.from_bucket_name(s, "B", "uploads"), processor=f, delivery=Delivery.DIRECT
    ),
    "LoggedApi handler": lambda s, f: LoggedApi(s, "Api", handler=f, routes=[Route("/items")], waf=False),
}


@pytest.mark.parametrize("case", list(RECEIVED_FUNCTIONS))
def test_a_function_passed_in_keeps_its_findings(case: str) -> None:
    app = cdk.App(context=cdk_json_context(), builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Received")
    function = SecureFunction(stack, "Function", code=CODE, handler="index.handler", async_dead_letter_queue=False)
    RECEIVED_FUNCTIONS[case](stack, function.function)
    plain_stack = cdk.Stack(app, "PlainReceived")
    plain = lambda_.Function(
        plain_stack, "Plain", code=CODE, handler="index.handler", runtime=lambda_.Runtime.PYTHON_3_14
    )  # fmt: skip
    RECEIVED_FUNCTIONS[case](plain_stack, plain)
    app.synth()
    assert "Serverless-LambdaDLQ" in _serverless(stack), f"{case}: the caller's missing DLQ was acknowledged away"
    assert {"Serverless-LambdaTracing", "Serverless-LambdaDLQ"} <= set(_serverless(plain_stack))


def test_a_secure_function_alone_is_serverless_clean() -> None:
    stack = cdk.Stack(cdk.App(context=cdk_json_context()), "Alone")
    SecureFunction(stack, "Function", code=CODE, handler="index.handler")
    assert _serverless(stack) == []
    assert _iam5(stack) == []


def test_no_construct_exposes_a_policy_object() -> None:
    stack = cdk.Stack(cdk.App(context=cdk_json_context()), "Exposed")
    network = PrivateNetwork(stack, "Network")
    function = SecureFunction(stack, "Function", code=CODE, handler="index.handler")
    assert network.grant_vpc_access(function.role) is None  # type: ignore[func-returns-value]  # the point
    for construct in (network, function, IdentityPool(stack, "Identity"), ApiGatewayAccountLogging(stack, "Log")):
        exposed = {name: value for name, value in vars(construct).items() if not name.startswith("_")}
        policies = [name for name, value in exposed.items() if isinstance(value, iam.Policy | iam.ManagedPolicy)]
        assert policies == [], f"{type(construct).__name__} exposes {policies}"
