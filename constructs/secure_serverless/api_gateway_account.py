"""ApiGatewayAccountLogging: the account-and-region-wide CloudWatch Logs role setting of API Gateway, set once.

`AWS::ApiGateway::Account` is a singleton per account and region: every `RestApi(cloud_watch_role=True)` overwrites
it, and deleting the stack that set it last leaves every API in the account without execution logs. This construct
belongs in one account-level stack that environments depend on but never own; both resources are retained, so
deleting that stack (or any environment) never breaks another API's logging.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from .nag import acknowledge


class ApiGatewayAccountLogging(Construct):
    """Sets API Gateway's account-level CloudWatch Logs role (retained, shared by every API in the account).

    Minimal use: ``ApiGatewayAccountLogging(self, "ApiGatewayLogging")`` in one account-level stack.

    Args:
        scope: the parent construct.
        construct_id: the construct id.

    Attributes:
        role: the role API Gateway assumes to write execution and access logs (AWS managed policy
            AmazonAPIGatewayPushToCloudWatchLogs).
        account: the ``AWS::ApiGateway::Account`` setting.
    """

    role: iam.Role
    account: apigw.CfnAccount

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "CloudWatchRole",
            # Only API Gateway acting for this account may assume it (confused deputy); the role serves every API
            # of the account, so no narrower aws:SourceArn applies.
            assumed_by=iam.ServicePrincipal(
                "apigateway.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="API Gateway account-wide CloudWatch Logs role (shared by every API in this account/region)",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
            ],
        )
        self.role.apply_removal_policy(RemovalPolicy.RETAIN)
        self.account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        self.account.apply_removal_policy(RemovalPolicy.RETAIN)
        acknowledge(
            self.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "This is API Gateway's single account-wide logging role: it must write the execution logs of every API "
            "in the account, whatever their log-group names; AWS maintains AmazonAPIGatewayPushToCloudWatchLogs for "
            "exactly this purpose.",
        )
