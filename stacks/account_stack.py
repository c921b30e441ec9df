"""The account-level stack: settings that exist once per account and region, shared by every environment."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack, Tags
from constructs import Construct

from secure_serverless import ApiGatewayAccountLogging
from stacks.config import APP_NAME

ACCOUNT_STACK_NAME = "SecureServerless-account"


class AccountStack(Stack):
    """API Gateway's CloudWatch Logs role setting, owned by no environment and retained on deletion."""

    def __init__(self, scope: Construct, construct_id: str = ACCOUNT_STACK_NAME, **kwargs: Any) -> None:
        # One per account/region the app deploys to; every one is named SecureServerless-account in its account.
        super().__init__(
            scope,
            construct_id,
            stack_name=ACCOUNT_STACK_NAME,
            description="secure-serverless account-level settings (API Gateway CloudWatch Logs role), shared",
            **kwargs,
        )
        Tags.of(self).add("app", APP_NAME)
        self.api_gateway_logging = ApiGatewayAccountLogging(self, "ApiGatewayLogging")
