"""Alerting, recommended alarms and PrivateNetwork on their own."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
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
from tests.support.template import as_list, resources_of, single


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
    template = built.templates["Alerting"]
    topic_id, _ = single(template, "AWS::SNS::Topic")
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"] for _, a in resources_of(template, "AWS::CloudWatch::Alarm")
    }
    assert set(alarms) == {"unit-ops-things", "unit-ops-alerts-undeliverable"}
    things = alarms["unit-ops-things"]
    assert (things["Threshold"], things["EvaluationPeriods"], things["Period"]) == (3, 2, 120)
    assert things["AlarmActions"] == things["OKActions"] == [{"Ref": topic_id}]
    assert things["TreatMissingData"] == "notBreaching"
    assert alarms["unit-ops-alerts-undeliverable"]["Period"] == 120  # thresholds.period applies


def test_dashboard_has_a_graph_per_alarm_and_a_status_widget(built: Built) -> None:
    _, dashboard = single(built.templates["Alerting"], "AWS::CloudWatch::Dashboard")
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = "".join(part for part in parts if isinstance(part, str))
    assert body.count('"type":"metric"') == 2  # one graph per alarm
    assert body.count('"type":"alarm"') == 1
    assert dashboard["Properties"]["DashboardName"] == "unit-ops-operations"


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match="evaluation_periods"):
        AlarmThresholds(evaluation_periods=0)
    with pytest.raises(ValueError, match="duration_fraction_of_timeout"):
        AlarmThresholds(duration_fraction_of_timeout=1.5)


def test_network_spans_requested_azs_with_requested_endpoints(built: Built) -> None:
    template = built.templates["Network"]
    assert len(list(resources_of(template, "AWS::EC2::Subnet"))) == 2
    interface = [
        e["Properties"] for _, e in resources_of(template, "AWS::EC2::VPCEndpoint")
        if e["Properties"].get("VpcEndpointType") == "Interface"
    ]  # fmt: skip
    names = sorted(str(e["ServiceName"]) for e in interface)
    assert len(names) == 2 and any(".kms" in n for n in names) and any(".xray" in n for n in names)
    assert all(len(e["SubnetIds"]) == 2 and e["PrivateDnsEnabled"] for e in interface)


def test_vpc_access_grant_is_exact(built: Built) -> None:
    _, policy = single(
        built.templates["Network"], "AWS::IAM::Policy", lambda r: "FunctionRole" in str(r["Properties"]["Roles"])
    )
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(as_list(statement["Action"])) == sorted(VPC_ACCESS_ACTIONS)
    assert statement["Resource"] == "*"


def test_network_rejects_a_single_az() -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    with pytest.raises(ValueError, match="max_azs"):
        PrivateNetwork(stack, "N", name_prefix="bad", encryption_key=kms.Key(stack, "K"), max_azs=1)


@pytest.mark.parametrize("name", ["Alerting", "Network"])
def test_operations_constructs_pass_nag(built: Built, name: str) -> None:
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        result = pack.validate_scope(built.stacks[name])
        assert result.success, nag_findings(result)
