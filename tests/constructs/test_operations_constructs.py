"""Alerting, recommended alarms and PrivateNetwork on their own."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Capture, Match
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from secure_serverless import (
    AlarmSpec,
    AlarmThresholds,
    Alerting,
    PrivateNetwork,
)
from secure_serverless.private_network import VPC_ACCESS_ACTIONS
from tests.support.build import StackSet
from tests.support.nag import nag_findings
from tests.support.template import logical_id


class Built(StackSet):
    def __init__(self) -> None:
        super().__init__()

        stack = self._stack("Alerting")
        key = kms.Key(stack, "Key", enable_key_rotation=True)
        self.alerting = Alerting(stack, "Alerting", name_prefix="unit-ops", encryption_key=key, email="ops@example.com")
        metric = cloudwatch.Metric(namespace="Unit", metric_name="Things", period=cdk.Duration.minutes(2))
        self.alerting.add_alarms(
            [AlarmSpec(name="things", metric=metric, threshold=3, description="Too many things", evaluation_periods=2)]
        )
        self.alerting.add_alarms(self.alerting.recommended_alarms(AlarmThresholds(period=cdk.Duration.minutes(2))))
        self.alerting.add_status_widget()

        stack = self._stack("Network")
        key = kms.Key(stack, "Key", enable_key_rotation=True)
        self.network = PrivateNetwork(
            stack,
            "Network",
            name_prefix="unit-net",
            encryption_key=key,
            max_azs=2,
            interface_endpoints=[
                ec2.InterfaceVpcEndpointAwsService.XRAY,
                ec2.InterfaceVpcEndpointAwsService.KMS,
            ],
        )
        self.role = iam.Role(stack, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.network.grant_vpc_access(self.role)
        self.synth()


@pytest.fixture(scope="module")
def built() -> Built:
    return Built()


def test_alarm_from_spec(built: Built) -> None:
    template = built.template("Alerting")
    topic = [{"Ref": logical_id(template, "AWS::SNS::Topic")}]
    template.resource_count_is("AWS::CloudWatch::Alarm", 2)  # the spec's and the recommended one, by name below
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "unit-ops-things",
            "Threshold": 3,
            "EvaluationPeriods": 2,
            "Period": 120,
            "AlarmActions": Match.exact(topic),
            "OKActions": Match.exact(topic),
            "TreatMissingData": "notBreaching",
        },
    )
    # thresholds.period applies
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"AlarmName": "unit-ops-alerts-undeliverable", "Period": 120}
    )


def test_dashboard_has_a_graph_per_alarm_and_a_status_widget(built: Built) -> None:
    template = built.template("Alerting")
    parts = Capture()
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    template.has_resource_properties(
        "AWS::CloudWatch::Dashboard",
        {"DashboardName": "unit-ops-operations", "DashboardBody": {"Fn::Join": ["", parts]}},
    )
    body = "".join(part for part in parts.as_array() if isinstance(part, str))  # the body is JSON text: count widgets
    assert body.count('"type":"metric"') == 2  # one graph per alarm
    assert body.count('"type":"alarm"') == 1


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match="evaluation_periods"):
        AlarmThresholds(evaluation_periods=0)
    with pytest.raises(ValueError, match="duration_fraction_of_timeout"):
        AlarmThresholds(duration_fraction_of_timeout=1.5)


def test_network_spans_requested_azs_with_requested_endpoints(built: Built) -> None:
    template = built.template("Network")
    template.resource_count_is("AWS::EC2::Subnet", 2)
    interface = {"VpcEndpointType": "Interface"}
    assert len(template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": interface})) == 2
    for service in (".kms", ".xray"):
        template.has_resource_properties(
            "AWS::EC2::VPCEndpoint", {**interface, "ServiceName": {"Fn::Join": ["", Match.array_with([service])]}}
        )
    # Both interface endpoints: in both subnets, with private DNS.
    in_both_subnets = {**interface, "PrivateDnsEnabled": True, "SubnetIds": [Match.any_value(), Match.any_value()]}
    assert len(template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": in_both_subnets})) == 2


def test_vpc_access_grant_is_exact(built: Built) -> None:
    template = built.template("Network")
    function_role = [{"Ref": Match.string_like_regexp("^FunctionRole")}]
    logical_id(template, "AWS::IAM::Policy", {"Roles": function_role})  # exactly one policy on the role
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": function_role,
            "PolicyDocument": {
                "Statement": Match.exact([{"Action": sorted(VPC_ACCESS_ACTIONS), "Effect": "Allow", "Resource": "*"}])
            },
        },
    )


def test_network_rejects_a_single_az() -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    with pytest.raises(ValueError, match="max_azs"):
        PrivateNetwork(stack, "N", name_prefix="bad", encryption_key=kms.Key(stack, "K"), max_azs=1)


@pytest.mark.parametrize("name", ["Alerting", "Network"])
def test_operations_constructs_pass_nag(built: Built, name: str) -> None:
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        result = pack.validate_scope(built.stacks[name])
        assert result.success, nag_findings(result)
