"""PrivateNetwork: an isolated VPC (no NAT, no internet route) with the endpoints serverless functions need."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Names
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from . import defaults
from .encryption_key import allow_cloudwatch_logs, own_key
from .log_groups import encrypted_log_group
from .nag import (
    INLINE_POLICY_REASON,
    INLINE_POLICY_RULES,
    acknowledge,
    acknowledge_role_default_policy,
    compliance_rules,
)
from .naming import log_group_arn, log_group_name, namespace, validate_name_prefix

# Actions Lambda needs on the execution role to attach a function to a VPC; EC2 offers no resource-level scoping
# for DescribeNetworkInterfaces, and Lambda creates the interfaces before their ARNs exist.
VPC_ACCESS_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


class PrivateNetwork(Construct):
    """Functions placed here reach S3/DynamoDB through gateway endpoints and other AWS APIs through interface ones."""

    vpc: ec2.Vpc  # the VPC
    function_security_group: ec2.SecurityGroup  # for the functions: egress 443 only
    endpoint_security_group: ec2.SecurityGroup  # for interface endpoints: ingress 443 from functions only
    s3_endpoint: ec2.GatewayVpcEndpoint  # S3 gateway endpoint (its id feeds the bucket's aws:SourceVpce guard)
    dynamodb_endpoint: ec2.GatewayVpcEndpoint  # DynamoDB gateway endpoint
    interface_endpoints: list[ec2.InterfaceVpcEndpoint]  # interface endpoints, private DNS on
    encryption_key: kms.IKey  # encrypts the flow-log group (created when not given)

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str | None = None,
        encryption_key: kms.IKey | None = None,
        max_azs: int = 2,
        cidr: str = "10.64.0.0/16",
        interface_endpoints: Sequence[ec2.InterfaceVpcEndpointAwsService] = (ec2.InterfaceVpcEndpointAwsService.XRAY,),
        flow_log_retention: logs.RetentionDays = defaults.LOG_RETENTION,
    ) -> None:
        super().__init__(scope, construct_id)
        if name_prefix is not None:
            validate_name_prefix("name_prefix", name_prefix)
        if not 2 <= max_azs <= 6:
            raise ValueError(f"invalid max_azs {max_azs!r}: must be from 2 to 6")
        flow_log_name = log_group_name(namespace(self, name_prefix), "vpc-flow-logs")
        if encryption_key is None:
            encryption_key = own_key(self)
            allow_cloudwatch_logs(
                encryption_key, log_group_arn(self, flow_log_name), sid="AllowCloudWatchLogsForFlowLogs"
            )
        self.encryption_key = encryption_key
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            max_azs=max_azs,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
            ],
            # Closing the default security group needs a custom-resource Lambda; nothing here uses it.
            restrict_default_security_group=False,
        )
        flow_logs = encrypted_log_group(
            self,
            "FlowLogs",
            name=flow_log_name,
            key=encryption_key,
            retention=flow_log_retention,
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
        )
        flow_log = self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        acknowledge_role_default_policy(flow_log)
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
        # Gateway endpoints are reached through AWS prefix lists; with no internet route, 443 out reaches only them.
        self.function_security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to VPC endpoints")
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
        acknowledge(
            self.vpc,
            compliance_rules("VPCDefaultSecurityGroupClosed"),
            "No resource is ever placed in the default security group (functions and endpoints have their own); "
            "closing it would need CDK's custom-resource Lambda, which this project keeps out of its templates.",
        )

    @property
    def function_subnets(self) -> ec2.SubnetSelection:
        """The isolated subnets functions are placed in."""
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)

    def grant_vpc_access(self, role: iam.IRole) -> iam.Policy:
        """Give a function's own role the network-interface actions Lambda needs to run it in this VPC.

        The actions go into a dedicated policy (returned) whose acknowledgment of ``Resource: *`` covers only them,
        never a statement added to the role later.
        """
        policy = iam.Policy(
            self,
            f"VpcAccess{Names.node_unique_id(role.node)}",
            roles=[role],
            statements=[iam.PolicyStatement(actions=list(VPC_ACCESS_ACTIONS), resources=["*"])],
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Lambda's VPC networking needs ec2 network-interface actions that EC2 cannot scope (Describe*) or whose "
            "interfaces do not exist yet; this dedicated policy holds only those actions.",
        )
        acknowledge(policy, INLINE_POLICY_RULES, INLINE_POLICY_REASON)
        return policy
