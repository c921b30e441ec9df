"""PrivateNetwork: an isolated VPC (no NAT, no internet route) with the endpoints serverless functions need."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

from aws_cdk import Aws, CustomResource, Duration, Names, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from . import defaults
from .encryption_key import allow_cloudwatch_logs, own_key
from .inputs import KeyLike, key_of
from .log_groups import encrypted_log_group
from .nag import (
    LAMBDA_DLQ_RULES,
    acknowledge,
    acknowledge_guard,
    acknowledge_role_default_policy,
    compliance_rules,
    unscopable_actions_policy,
)
from .naming import log_group_arn, log_group_name, namespace, validate_name_prefix
from .overrides import Guard, merge_props
from .secure_function import SecureFunction

# Actions Lambda needs on the execution role to attach a function to a VPC; EC2 offers no resource-level scoping
# for DescribeNetworkInterfaces, and Lambda creates the interfaces before their ARNs exist.
VPC_GUARDS = {
    "nat_gateways": Guard(lambda value: not value, "must stay 0 (the network has no route to the internet)"),
    "subnet_configuration": Guard(
        lambda subnets: all(subnet.subnet_type is ec2.SubnetType.PRIVATE_ISOLATED for subnet in subnets),
        "must list PRIVATE_ISOLATED subnets only (no internet route)",
    ),
}
VPC_OWNED = {"max_azs": "max_azs", "ip_addresses": "cidr", "cidr": "cidr"}
VPC_ACCESS_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


# What an endpoint allows until the app declares what its functions use there (`allow_through_endpoint`): this
# account's callers, this account's resources, these exact actions. Once anything is declared for an endpoint, its
# policy lists only the declared grants (named principals, exact actions, exact resources).
S3_ENDPOINT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:ListBucket")
DYNAMODB_ENDPOINT_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
)
XRAY_ENDPOINT_ACTIONS = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)
SQS_ENDPOINT_ACTIONS = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:SendMessage",
)
# Interface endpoints this construct knows the callers' actions for, by service short name: (actions, whether the
# resource's account is checked too). X-Ray has no resources to own, so only the caller's account is checked there.
INTERFACE_ENDPOINT_POLICIES: dict[str, tuple[tuple[str, ...], bool]] = {
    "xray": (XRAY_ENDPOINT_ACTIONS, False),
    "sqs": (SQS_ENDPOINT_ACTIONS, True),
}
# The lookup function of the gateway services' prefix lists (inline source: Lambda's limit is 4096 characters).
PREFIX_LIST_LOOKUP_SOURCE = files(__package__).joinpath("handlers", "prefix_list_lookup.py").read_text("utf-8")
PREFIX_LIST_LOOKUP_ACTIONS = ("ec2:DescribeManagedPrefixLists",)
PREFIX_LIST_LOOKUP_PURPOSE = "prefix-list-lookup"
PREFIX_LIST_LOOKUP_TIMEOUT = Duration.seconds(60)
PREFIX_LIST_LOOKUP_SERVICE_TIMEOUT = Duration.seconds(120)


class PrivateNetwork(Construct):
    """An isolated VPC (no NAT, no internet route): functions placed here reach S3/DynamoDB through gateway endpoints
    and other AWS APIs through interface endpoints; flow logs go to an encrypted log group.

    Minimal use: ``PrivateNetwork(self, "Network")``; then pass ``vpc``, ``function_subnets`` and
    ``[function_security_group]`` to SecureFunction and call ``grant_vpc_access(function.role)``; then declare what
    each function does through the S3, DynamoDB and SQS endpoints with ``allow_through_endpoint(...)``, which makes
    each endpoint's policy exactly those grants (until then: this account's callers and resources, default actions).

    Args:
        scope: the parent construct.
        construct_id: the construct id.
        name_prefix: environment prefix of the flow-log group. Default: None (the stack name).
        encryption_key: encrypts the flow-log group. Default: None (a rotating key is created).
        max_azs: availability zones, 2 to 6 (an isolated subnet in each). Default: 2.
        cidr: the VPC address range; give the one your network plan assigns (it must not overlap a network the
            VPC is peered or connected with). Default: ``ec2.Vpc.DEFAULT_CIDR_RANGE`` (``"10.0.0.0/16"``, CDK's).
        interface_endpoints: services the functions call from inside the VPC. Default: X-Ray only.
        flow_log_retention: flow-log retention. Default: ``RetentionDays.ONE_YEAR``.
        s3_prefix_list_id: id (``pl-...``) of the region's AWS-managed S3 prefix list, e.g. from
            ``ec2.PrefixList.from_lookup``; give it together with ``dynamodb_prefix_list_id``. Default: None (both
            are looked up at deploy time by a small custom-resource function, ``prefix_list_lookup``).
        dynamodb_prefix_list_id: id of the region's AWS-managed DynamoDB prefix list. Default: None (looked up).
        vpc_props: further ``ec2.Vpc`` keyword arguments, merged over the defaults. Refused: NAT gateways, subnets
            that are not PRIVATE_ISOLATED; ``max_azs`` and ``ip_addresses`` (set by the arguments above).
            Default: None.

    Removal: the flow-log group is retained; ``RemovalPolicies.of(network)`` changes that.

    Attributes:
        vpc: the VPC.
        function_security_group: for the functions: HTTPS out to the S3 and DynamoDB prefix lists (their gateway
            endpoints) and to the interface endpoints' security group; nothing else.
        endpoint_security_group: for the interface endpoints: HTTPS in from the functions only.
        s3_endpoint: the S3 gateway endpoint (its id feeds SecureBucket's ``aws:SourceVpce`` guard).
        dynamodb_endpoint: the DynamoDB gateway endpoint.
        interface_endpoints: the interface endpoints (private DNS on).
        encryption_key: the key of the flow-log group.
        function_subnets: the isolated subnets functions are placed in.
        prefix_list_lookup: the custom-resource function that reads the prefix list ids (None when both ids are
            given). It runs only during deployments, outside the VPC (the EC2 API has no endpoint here).
    """

    vpc: ec2.Vpc
    function_security_group: ec2.SecurityGroup
    endpoint_security_group: ec2.SecurityGroup
    s3_endpoint: ec2.GatewayVpcEndpoint
    dynamodb_endpoint: ec2.GatewayVpcEndpoint
    interface_endpoints: list[ec2.InterfaceVpcEndpoint]
    encryption_key: kms.IKey
    prefix_list_lookup: SecureFunction | None

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str | None = None,
        encryption_key: KeyLike | None = None,
        max_azs: int = 2,
        cidr: str = ec2.Vpc.DEFAULT_CIDR_RANGE,
        interface_endpoints: Sequence[ec2.InterfaceVpcEndpointAwsService] = (ec2.InterfaceVpcEndpointAwsService.XRAY,),
        flow_log_retention: logs.RetentionDays = defaults.LOG_RETENTION,
        s3_prefix_list_id: str | None = None,
        dynamodb_prefix_list_id: str | None = None,
        vpc_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        encryption_key = key_of(encryption_key)
        if name_prefix is not None:
            validate_name_prefix("name_prefix", name_prefix)
        if not 2 <= max_azs <= 6:
            raise ValueError(f"invalid max_azs {max_azs!r}: must be from 2 to 6")
        if (s3_prefix_list_id is None) != (dynamodb_prefix_list_id is None):
            raise ValueError(
                "invalid s3_prefix_list_id/dynamodb_prefix_list_id: give both (the ids of the region's AWS-managed "
                "prefix lists) or neither (both are looked up at deploy time)"
            )
        flow_log_name = log_group_name(namespace(self, name_prefix), "vpc-flow-logs")
        if encryption_key is None:
            encryption_key = own_key(self)
            allow_cloudwatch_logs(
                encryption_key,
                log_group_arn(self, flow_log_name),
                sid="AllowCloudWatchLogsForFlowLogs",
                name_pattern=flow_log_name,
            )
            # The prefix-list lookup function's log group: its SecureFunction adds the statement for its own name.
        self.encryption_key = encryption_key
        secure_defaults: dict[str, Any] = dict(
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
            ],
            # Closing the default security group needs a custom-resource Lambda; nothing here uses it.
            restrict_default_security_group=False,
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            max_azs=max_azs,
            **merge_props("vpc_props", secure_defaults, vpc_props, guards=VPC_GUARDS, owned=VPC_OWNED, target=ec2.Vpc),
        )
        flow_logs = encrypted_log_group(
            self,
            "FlowLogs",
            name=flow_log_name,
            key=encryption_key,
            retention=flow_log_retention,
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
        )
        # The flow-log service may assume the role only for flow logs of this account (confused deputy).
        flow_log_role = iam.Role(
            self,
            "FlowLogRole",
            assumed_by=iam.ServicePrincipal(
                "vpc-flow-logs.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": Stack.of(self).format_arn(
                            service="ec2", resource="vpc-flow-log", resource_name="*"
                        )
                    },
                },
            ),
            description="VPC flow logs to this network's log group",
        )
        self.vpc.add_flow_log(
            "FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs, flow_log_role)
        )
        acknowledge_role_default_policy(flow_log_role)
        isolated = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[isolated]
        )
        self.dynamodb_endpoint = self.vpc.add_gateway_endpoint(
            "DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[isolated]
        )
        self.function_security_group = ec2.SecurityGroup(
            self,
            "Functions",
            vpc=self.vpc,
            description="Functions: HTTPS out only (the subnets route nowhere but VPC endpoints)",
            allow_all_outbound=False,
        )
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "Endpoints",
            vpc=self.vpc,
            description="Interface endpoints: HTTPS in from the functions only",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(
            self.function_security_group, ec2.Port.tcp(443), "HTTPS from the functions"
        )
        # Out: only to the endpoints. Gateway endpoints are reached at the services' public addresses, which AWS
        # publishes as managed prefix lists; a rule to 0.0.0.0/0 would let a compromised function reach any address
        # the moment someone adds a route (NAT, peering, transit gateway).
        if s3_prefix_list_id is None or dynamodb_prefix_list_id is None:
            s3_prefix_list_id, dynamodb_prefix_list_id = self._look_up_prefix_lists(name_prefix, encryption_key)
        else:
            self.prefix_list_lookup = None
        https = ec2.Port.tcp(443)
        for peer, description in (
            (ec2.Peer.prefix_list(s3_prefix_list_id), "HTTPS to S3 (gateway endpoint prefix list)"),
            (ec2.Peer.prefix_list(dynamodb_prefix_list_id), "HTTPS to DynamoDB (gateway endpoint prefix list)"),
            (self.endpoint_security_group, "HTTPS to the interface endpoints"),
        ):
            self.function_security_group.add_egress_rule(peer, https, description)
        self.interface_endpoints = [
            self.vpc.add_interface_endpoint(
                f"Endpoint{index}",
                service=service,
                subnets=isolated,
                private_dns_enabled=True,
                security_groups=[self.endpoint_security_group],
                open=False,
            )
            for index, service in enumerate(interface_endpoints)
        ]
        self._interface_services = list(interface_endpoints)
        self._limit_endpoints_to_this_account()
        acknowledge(
            self.vpc,
            compliance_rules("VPCDefaultSecurityGroupClosed"),
            "No resource is ever placed in the default security group (functions and endpoints have their own); "
            "closing it would need CDK's Node.js custom-resource provider, one more function for a group never used.",
        )

    def _look_up_prefix_lists(self, name_prefix: str | None, encryption_key: kms.IKey) -> tuple[str, str]:
        """A custom resource whose function reads the ids of the S3 and DynamoDB prefix lists at deploy time."""
        self.prefix_list_lookup = function = SecureFunction(
            self,
            "PrefixListLookup",
            code=lambda_.Code.from_inline(PREFIX_LIST_LOOKUP_SOURCE),
            handler="index.handler",
            name_prefix=name_prefix,
            purpose=PREFIX_LIST_LOOKUP_PURPOSE,
            encryption_key=encryption_key,
            description="Reads the ids of the S3 and DynamoDB prefix lists for the functions' security group",
            memory_size=128,
            timeout=PREFIX_LIST_LOOKUP_TIMEOUT,
            async_dead_letter_queue=False,  # CloudFormation invokes it synchronously: acknowledged below
        )
        lookup_policy = unscopable_actions_policy(
            self,
            "PrefixListLookupPolicy",
            function.role,
            PREFIX_LIST_LOOKUP_ACTIONS,
            "ec2:DescribeManagedPrefixLists supports no resource-level permissions (Describe actions need "
            "Resource '*'); this dedicated policy holds only that read-only action.",
        )
        outside_vpc = (
            "The prefix-list lookup runs only while CloudFormation deploys, and calls the EC2 API, which the "
            "isolated VPC has no endpoint for; it holds one read-only Describe action and handles no data."
        )
        acknowledge(function, compliance_rules("LambdaInsideVPC"), outside_vpc)
        acknowledge_guard(function, "lambda_inside_vpc_check", "CT.LAMBDA.PR.3", outside_vpc)
        acknowledge(
            function,
            ("NIST.800.53.R5-LambdaConcurrency", "HIPAA.Security-LambdaConcurrency"),
            "Invoked once per deployment by CloudFormation; reserving concurrency for it would only take capacity "
            "from the account's other functions.",
        )
        acknowledge(
            function,
            LAMBDA_DLQ_RULES,
            "CloudFormation invokes this custom-resource function and waits for its answer; a failure fails the "
            "deployment with the reason, so a DLQ would never hold anything to act on.",
        )
        lookup = CustomResource(
            self,
            "PrefixLists",
            service_token=function.function.function_arn,
            resource_type="Custom::GatewayPrefixLists",
            # CloudFormation waits this long for an answer, not its default hour: the function answers every
            # outcome itself (its own timer fires before its 60 s timeout), this bounds what it cannot (a crash).
            service_timeout=PREFIX_LIST_LOOKUP_SERVICE_TIMEOUT,
            properties={
                "PrefixListNames": {
                    "S3": ec2.GatewayVpcEndpointAwsService.S3.name,
                    "DynamoDb": ec2.GatewayVpcEndpointAwsService.DYNAMODB.name,
                }
            },
        )
        lookup.node.add_dependency(lookup_policy)
        return lookup.get_att_string("S3"), lookup.get_att_string("DynamoDb")

    def _limit_endpoints_to_this_account(self) -> None:
        """Endpoint policies: a compromised function cannot use the endpoints to reach another account's buckets
        or tables (exfiltration), nor can another account's credentials be used through them. Exact actions only.

        The S3, DynamoDB and SQS policies are rewritten whole at each declaration: the grants declared with
        `allow_through_endpoint` when there are any (exact principals, actions and resources), else this account's
        callers and resources with the default actions. X-Ray has no resources: its policy is fixed here.
        """
        this_account = {"aws:PrincipalAccount": Aws.ACCOUNT_ID}
        own_resources = this_account | {"aws:ResourceAccount": Aws.ACCOUNT_ID}
        self._endpoint_grants: dict[str, list[tuple[str, iam.IRole, tuple[str, ...], tuple[str, ...]]]] = {}
        self._endpoints_by_service: dict[str, ec2.VpcEndpoint] = {}
        self._fallback_statements: dict[str, iam.PolicyStatement] = {}
        for service, endpoint, sid, actions, conditions in (
            ("s3", self.s3_endpoint, "ThisAccountsBuckets", S3_ENDPOINT_ACTIONS, own_resources),
            ("dynamodb", self.dynamodb_endpoint, "ThisAccountsTables", DYNAMODB_ENDPOINT_ACTIONS, own_resources),
            *(
                (
                    aws_service.short_name,
                    endpoint,
                    "ThisAccountsCallers",
                    INTERFACE_ENDPOINT_POLICIES[aws_service.short_name][0],
                    own_resources if INTERFACE_ENDPOINT_POLICIES[aws_service.short_name][1] else this_account,
                )
                for endpoint, aws_service in zip(self.interface_endpoints, self._interface_services, strict=True)
                if aws_service.short_name in INTERFACE_ENDPOINT_POLICIES  # others keep the default (actions unknown)
            ),
        ):
            fallback = iam.PolicyStatement(
                sid=sid,
                principals=[iam.AnyPrincipal()],
                actions=list(actions),
                resources=["*"],  # narrowed by the account conditions
                conditions={"StringEquals": conditions},
            )
            if service not in ENDPOINT_SERVICES_WITH_RESOURCES:
                endpoint.add_to_policy(fallback)
                continue
            self._endpoint_grants[service] = []
            self._endpoints_by_service[service] = endpoint
            self._fallback_statements[service] = fallback
            self._set_endpoint_policy(service)

    def allow_through_endpoint(
        self, service: str, role: iam.IRole, actions: Sequence[str], resources: Sequence[str], *, sid: str
    ) -> None:
        """Let `role` (a function's execution role) call exactly `actions` on `resources` through the endpoint of
        `service` (``"s3"``, ``"dynamodb"``, or an interface endpoint's short name such as ``"sqs"``).

        Once one grant is declared for an endpoint, its policy lists only the declared grants, each as a statement
        `sid` naming the role's ARN as principal: nothing else can be reached through it, and nobody else
        can use it. Without any, the endpoint keeps the account-limited default (see the class docstring).
        """
        if service not in self._endpoint_grants:
            raise ValueError(
                f"invalid service {service!r}: must be one of {sorted(self._endpoint_grants)} (this network's "
                "endpoints with resource-level policies)"
            )
        if not actions or not resources or any("*" in action for action in actions):
            raise ValueError(f"invalid grant {sid!r}: exact actions and resources are required")
        self._endpoint_grants[service].append((sid, role, tuple(actions), tuple(resources)))
        self._set_endpoint_policy(service)

    def _set_endpoint_policy(self, service: str) -> None:
        """The endpoint's whole policy: the declared grants, or the account-limited default without any."""
        cfn = self._endpoints_by_service[service].node.default_child
        assert isinstance(cfn, ec2.CfnVPCEndpoint)
        cfn.policy_document = self._endpoint_policy(service)

    def _endpoint_policy(self, service: str) -> iam.PolicyDocument:
        grants = self._endpoint_grants[service]
        if not grants:
            return iam.PolicyDocument(statements=[self._fallback_statements[service]])
        return iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ArnPrincipal(role.role_arn)],
                    actions=sorted(actions),
                    resources=list(resources),
                )
                for sid, role, actions, resources in grants
            ]
        )

    @property
    def function_subnets(self) -> ec2.SubnetSelection:
        """The isolated subnets functions are placed in."""
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)

    def grant_vpc_access(self, role: iam.IRole) -> None:
        """Give a function's own role the network-interface actions Lambda needs to run it in this VPC.

        The actions go into a dedicated policy (not returned, so nobody adds to it) whose acknowledgment of
        ``Resource: *`` covers only them, never a statement added to the role later.
        """
        unscopable_actions_policy(
            self,
            f"VpcAccess{Names.node_unique_id(role.node)}",
            role,
            VPC_ACCESS_ACTIONS,
            "Lambda's VPC networking needs ec2 network-interface actions that EC2 cannot scope (Describe*) or whose "
            "interfaces do not exist yet; this dedicated policy holds only those actions.",
        )


# Endpoints whose policy the app narrows to exact grants (their services have resource-level permissions).
ENDPOINT_SERVICES_WITH_RESOURCES = ("s3", "dynamodb", "sqs")
