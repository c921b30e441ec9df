"""LoggedApi, IdentityPool and ApiGatewayAccountLogging on their own: options, overrides and validation."""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from secure_serverless import (
    ApiAuthorization,
    ApiGatewayAccountLogging,
    IdentityPool,
    LoggedApi,
    Route,
)
from tests.support.build import INLINE_CODE as CODE
from tests.support.build import StackSet
from tests.support.nag import nag_findings
from tests.support.template import logical_id


def _handler(stack: cdk.Stack) -> lambda_.Function:
    return lambda_.Function(stack, "Handler", code=CODE, handler="index.handler", runtime=lambda_.Runtime.PYTHON_3_14)


class Built(StackSet):
    def __init__(self) -> None:
        super().__init__()

        stack = self._stack("Cognito")
        key = kms.Key(stack, "Key", enable_key_rotation=True)
        self.identity = IdentityPool(stack, "Identity", name_prefix="unit-cog", mfa=cognito.Mfa.OFF, self_sign_up=True)
        self.cognito_api = LoggedApi(
            stack,
            "Api",
            name_prefix="unit-cog",
            stage_name="unit",
            handler=_handler(stack),
            routes=[
                Route("/things", query_parameters=("q",)),
                Route("/things", method="POST", throttle_rate_limit=1, throttle_burst_limit=1),
                Route("/things/{id}", method="DELETE"),
            ],
            encryption_key=key,
            authorization=ApiAuthorization.COGNITO,
            user_pool=self.identity.user_pool,
            execution_log_level=apigw.MethodLoggingLevel.INFO,
            throttle_rate_limit=5,
            throttle_burst_limit=2,
        )

        stack = self._stack("Existing")
        existing = cognito.UserPool.from_user_pool_id(stack, "Pool", "us-east-1_abcdefghi")
        self.existing = IdentityPool(stack, "Identity", name_prefix="unit-ex", existing_user_pool=existing)

        # The grantee's wildcard ({id} as /*) is the grantee's own finding: a stack of its own, not nag-checked here.
        stack = self._stack("Caller")
        self.caller = iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal())
        self.cognito_api.grant_invoke(self.caller)

        stack = self._stack("Account")
        self.account = ApiGatewayAccountLogging(stack, "Logging")
        self.synth()


@pytest.fixture(scope="module")
def built() -> Built:
    return Built()


def test_cognito_option_puts_a_user_pool_authorizer_on_every_method(built: Built) -> None:
    template = built.template("Cognito")
    authorizer_id = logical_id(template, "AWS::ApiGateway::Authorizer", {"Type": "COGNITO_USER_POOLS"})
    assert template.find_resources("AWS::ApiGateway::Method")  # not vacuous
    template.all_resources_properties(
        "AWS::ApiGateway::Method",
        {"AuthorizationType": "COGNITO_USER_POOLS", "AuthorizerId": Match.exact({"Ref": authorizer_id})},
    )


def test_stage_overrides_apply(built: Built) -> None:
    template = built.template("Cognito")
    template.resource_count_is("AWS::ApiGateway::Stage", 1)
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "unit",
            "MethodSettings": Match.array_with(
                [Match.object_like({"LoggingLevel": "INFO", "ThrottlingRateLimit": 5, "ThrottlingBurstLimit": 2})]
            ),
        },
    )


def test_each_route_has_its_own_method_and_optional_throttling(built: Built) -> None:
    template = built.template("Cognito")
    methods = sorted(m["Properties"]["HttpMethod"] for m in template.find_resources("AWS::ApiGateway::Method").values())
    assert methods == ["DELETE", "GET", "POST"]
    settings = template.find_resources("AWS::ApiGateway::Stage")
    (stage,) = settings.values()
    per_method = {
        (s["HttpMethod"], s["ResourcePath"]): s for s in stage["Properties"]["MethodSettings"] if s["HttpMethod"] != "*"
    }
    assert set(per_method) == {("POST", "/~1things")}
    (every_method,) = [s for s in stage["Properties"]["MethodSettings"] if s["HttpMethod"] == "*"]
    # A method's own settings replace the stage's for it: logging, data trace and metrics are repeated, not lost.
    assert per_method["POST", "/~1things"] == {
        "HttpMethod": "POST",
        "ResourcePath": "/~1things",
        "ThrottlingRateLimit": 1,
        "ThrottlingBurstLimit": 1,
        "LoggingLevel": every_method["LoggingLevel"],
        "DataTraceEnabled": False,
        "MetricsEnabled": True,
    }


def test_grant_invoke_names_each_routes_own_method(built: Built) -> None:
    template = built.template("Caller")
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    tails = sorted(json.dumps(arn)[-40:] for arn in statement["Resource"])
    assert len(tails) == 3
    assert any("/GET/things" in t for t in tails)
    assert any("/POST/things" in t for t in tails)
    assert any("/DELETE/things/*" in t for t in tails)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"method": "get"}, "Route method 'get': must be one of GET, POST, PUT, PATCH, DELETE"),
        ({"throttle_rate_limit": 0}, "Route throttle_rate_limit 0: must be a positive number or None"),
        ({"throttle_burst_limit": True}, "Route throttle_burst_limit True: must be a positive number or None"),
    ],
)
def test_bad_route_is_refused_naming_the_field(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        Route("/x", **kwargs)


def test_mfa_off_and_self_sign_up_overrides(built: Built) -> None:
    template = built.template("Cognito")
    template.resource_count_is("AWS::Cognito::UserPool", 1)
    template.has_resource(
        "AWS::Cognito::UserPool",
        {
            "DeletionPolicy": "Retain",  # secure default
            "Properties": {"MfaConfiguration": "OFF", "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False}},
        },
    )
    # The identity pool mints the identity ids that name every user's prefix: retained like the user pool.
    template.resource_count_is("AWS::Cognito::IdentityPool", 1)
    template.has_resource("AWS::Cognito::IdentityPool", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


def test_existing_user_pool_is_used_not_created(built: Built) -> None:
    template = built.template("Existing")
    template.resource_count_is("AWS::Cognito::UserPool", 0)
    template.resource_count_is("AWS::Cognito::UserPoolClient", 1)
    template.has_resource_properties("AWS::Cognito::UserPoolClient", {"UserPoolId": "us-east-1_abcdefghi"})
    template.resource_count_is("AWS::Cognito::IdentityPool", 1)
    template.has_resource_properties(
        "AWS::Cognito::IdentityPool",
        {
            "CognitoIdentityProviders": Match.array_with(
                [Match.object_like({"ProviderName": {"Fn::Join": ["", Match.array_with(["/us-east-1_abcdefghi"])]}})]
            )
        },
    )


def test_account_logging_is_retained(built: Built) -> None:
    template = built.template("Account")
    template.resource_count_is("AWS::ApiGateway::Account", 1)
    template.has_resource("AWS::ApiGateway::Account", {"DeletionPolicy": "Retain"})


# The "Cognito" stack turns MFA off: that is the consumer's choice, so its finding must reach the consumer.
EXPECTED_FINDINGS = {
    "Cognito": [("AwsSolutions-COG2", ["Cognito/Identity/Users/Resource"])],
    "Existing": [],
    "Account": [],
}


@pytest.mark.parametrize("name", ["Cognito", "Existing", "Account"])
def test_construct_stacks_pass_nag_except_for_the_callers_own_choices(built: Built, name: str) -> None:
    violations = []
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        result = pack.validate_scope(built.stacks[name])
        # The bare inline handler of this test is not one of the constructs under test.
        violations += [v for v in nag_findings(result) if not all(p.startswith(f"{name}/Handler") for p in v[1])]
    assert violations == EXPECTED_FINDINGS[name]


@pytest.mark.parametrize(
    "override,field",
    [
        ({"authorization": ApiAuthorization.COGNITO}, "user_pool"),  # Cognito auth needs a user pool
        ({"execution_log_level": apigw.MethodLoggingLevel.OFF}, "execution_log_level"),  # logging cannot be off
    ],
)
def test_invalid_api_props_are_rejected_naming_the_field(override: dict, field: str) -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    with pytest.raises(ValueError, match=field):
        LoggedApi(
            stack,
            "Api",
            name_prefix="bad",
            stage_name="bad",
            handler=_handler(stack),
            routes=[Route("/x")],
            encryption_key=kms.Key(stack, "Key"),
            **override,
        )


def test_weak_password_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="password_min_length"):
        IdentityPool(cdk.Stack(cdk.App(), "Bad"), "Id", name_prefix="bad", password_min_length=8)
