"""Alerting, recommended alarms and PrivateNetwork on their own."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Capture, Match, Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from secure_serverless import (
    AlarmSpec,
    AlarmThresholds,
    Alerting,
    PrivateNetwork,
)
from secure_serverless.private_network import PREFIX_LIST_LOOKUP_SOURCE, VPC_ACCESS_ACTIONS
from tests.e2e.graph import check_graph
from tests.support.build import StackSet
from tests.support.nag import nag_findings
from tests.support.template import as_destinations, egress_destinations, logical_id


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

        stack = self._stack("NetworkGivenPrefixLists")  # zero-config key, prefix lists known (no lookup)
        self.given = PrivateNetwork(
            stack, "Network", s3_prefix_list_id="pl-63a5400a", dynamodb_prefix_list_id="pl-02cd2c6b"
        )
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


def _functions_egress_is_https_in_rules_of_its_own(template: cdk.assertions.Template) -> None:
    """The functions' group embeds no egress rule; every standalone one is its own, tcp/443."""
    functions = logical_id(template, "AWS::EC2::SecurityGroup", {"GroupDescription": Match.string_like_regexp("^Func")})
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {"GroupDescription": Match.string_like_regexp("^Func"), "SecurityGroupEgress": Match.absent()},
    )
    template.all_resources_properties(
        "AWS::EC2::SecurityGroupEgress",
        {"GroupId": {"Fn::GetAtt": [functions, "GroupId"]}, "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443},
    )


def test_functions_reach_only_the_gateway_prefix_lists_and_the_endpoints(built: Built) -> None:
    template = built.template("Network")
    lookup = logical_id(template, "Custom::GatewayPrefixLists")
    endpoints = logical_id(template, "AWS::EC2::SecurityGroup", {"GroupDescription": Match.string_like_regexp("^Int")})
    _functions_egress_is_https_in_rules_of_its_own(template)
    assert egress_destinations(template) == as_destinations(
        (
            {"DestinationPrefixListId": {"Fn::GetAtt": [lookup, "S3"]}},
            {"DestinationPrefixListId": {"Fn::GetAtt": [lookup, "DynamoDb"]}},
            {"DestinationSecurityGroupId": {"Fn::GetAtt": [endpoints, "GroupId"]}},
        )
    )


def test_prefix_list_lookup_is_a_least_privilege_function_outside_the_vpc(built: Built) -> None:
    template = built.template("Network")
    function = logical_id(template, "AWS::Lambda::Function")
    template.has_resource_properties(
        "Custom::GatewayPrefixLists",
        {
            "ServiceToken": {"Fn::GetAtt": [function, "Arn"]},
            # CloudFormation's wait for an answer is bounded (default: an hour), beyond the function's 60 s.
            "ServiceTimeout": "120",  # CDK renders it as a string; CloudFormation reads it as seconds
            "PrefixListNames": Match.exact(
                {
                    "S3": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]},
                    "DynamoDb": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".dynamodb"]]},
                }
            ),
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "index.handler",
            "Code": {"ZipFile": PREFIX_LIST_LOOKUP_SOURCE},
            "Timeout": 60,
            "VpcConfig": Match.absent(),
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": {"LogGroup": {"Ref": Match.string_like_regexp("^NetworkPrefixListLookupLogs")}},
        },
    )
    role = [{"Ref": Match.string_like_regexp("^NetworkPrefixListLookupRole")}]
    lookup_policy = Match.exact([{"Action": "ec2:DescribeManagedPrefixLists", "Effect": "Allow", "Resource": "*"}])
    logical_id(template, "AWS::IAM::Policy", {"Roles": role, "PolicyDocument": {"Statement": lookup_policy}})
    # Its other statements: its own log group and X-Ray (no other action on '*').
    for policy in template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": role}}).values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if statement["Resource"] == "*":
                assert set(actions) <= {"ec2:DescribeManagedPrefixLists", "xray:PutTraceSegments",
                                        "xray:PutTelemetryRecords"}  # fmt: skip
    # Lambda accepts at most 4096 characters of inline source.
    assert len(PREFIX_LIST_LOOKUP_SOURCE) < 4096


def test_given_prefix_lists_need_no_lookup(built: Built) -> None:
    template = built.template("NetworkGivenPrefixLists")
    template.resource_count_is("Custom::GatewayPrefixLists", 0)
    template.resource_count_is("AWS::Lambda::Function", 0)
    assert built.given.prefix_list_lookup is None
    endpoints = logical_id(template, "AWS::EC2::SecurityGroup", {"GroupDescription": Match.string_like_regexp("^Int")})
    _functions_egress_is_https_in_rules_of_its_own(template)
    assert egress_destinations(template) == as_destinations(
        (
            {"DestinationPrefixListId": "pl-63a5400a"},
            {"DestinationPrefixListId": "pl-02cd2c6b"},
            {"DestinationSecurityGroupId": {"Fn::GetAtt": [endpoints, "GroupId"]}},
        )
    )
    # The own key admits CloudWatch Logs for the flow logs only (there is no lookup log group).
    template.has_resource_properties(
        "AWS::KMS::Key",
        {"KeyPolicy": {"Statement": Match.not_(Match.array_with([Match.object_like(
            {"Sid": "AllowCloudWatchLogsForPrefixListLookup"})]))}},
    )  # fmt: skip


@pytest.mark.parametrize("given", ["s3_prefix_list_id", "dynamodb_prefix_list_id"])
def test_a_single_prefix_list_id_is_refused(given: str) -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    with pytest.raises(ValueError, match=r"s3_prefix_list_id/dynamodb_prefix_list_id: give both"):
        PrivateNetwork(stack, "N", **{given: "pl-12345678"})


def test_network_rejects_a_single_az() -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    with pytest.raises(ValueError, match="max_azs"):
        PrivateNetwork(stack, "N", name_prefix="bad", encryption_key=kms.Key(stack, "K"), max_azs=1)


@pytest.mark.parametrize("name", ["Alerting", "Network", "NetworkGivenPrefixLists"])
def test_operations_constructs_pass_nag(built: Built, name: str) -> None:
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        result = pack.validate_scope(built.stacks[name])
        assert result.success, nag_findings(result)


def _endpoint_policies(template: cdk.assertions.Template) -> dict[str, list[dict]]:
    """Endpoint policy statements by the service name's last part (s3, dynamodb, sqs, ...)."""
    out = {}
    for endpoint in template.find_resources("AWS::EC2::VPCEndpoint").values():
        service = endpoint["Properties"]["ServiceName"]  # gateway: a Join with the region; interface: a string
        name = service if isinstance(service, str) else service["Fn::Join"][1][-1]
        out[name.rsplit(".", 1)[-1]] = endpoint["Properties"].get("PolicyDocument", {}).get("Statement")
    return out


def _network_with_grants(declare: bool) -> tuple[cdk.Stack, PrivateNetwork, iam.Role]:
    stack = cdk.Stack(cdk.App(), "Grants", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    network = PrivateNetwork(
        stack, "Network", s3_prefix_list_id="pl-1", dynamodb_prefix_list_id="pl-2",
        interface_endpoints=[ec2.InterfaceVpcEndpointAwsService.SQS, ec2.InterfaceVpcEndpointAwsService.XRAY],
    )  # fmt: skip
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    if declare:
        network.allow_through_endpoint("s3", role, ["s3:GetObject"], ["arn:aws:s3:::b/*"], sid="ReadB")
        network.allow_through_endpoint("s3", role, ["s3:ListBucket"], ["arn:aws:s3:::b"], sid="ListB")
    return stack, network, role


def test_declared_endpoint_grants_replace_the_account_wide_default() -> None:
    """Without declarations an endpoint allows this account's callers on this account's resources; once the app
    declares what its functions do, the policy is exactly those grants (role principal, exact actions, resources)."""
    stack, _, _ = _network_with_grants(declare=False)
    before = _endpoint_policies(cdk.assertions.Template.from_stack(stack))
    assert [s["Sid"] for s in before["s3"]] == ["ThisAccountsBuckets"]
    this_account = {"Ref": "AWS::AccountId"}
    assert before["s3"][0]["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": this_account, "aws:ResourceAccount": this_account}
    }
    stack, network, role = _network_with_grants(declare=True)
    with pytest.raises(ValueError, match="invalid service 'kms'"):
        network.allow_through_endpoint("kms", role, ["kms:Decrypt"], ["*"], sid="Nope")
    with pytest.raises(ValueError, match="exact actions"):
        network.allow_through_endpoint("s3", role, ["s3:Get*"], ["arn:aws:s3:::b/*"], sid="Wild")
    after = _endpoint_policies(cdk.assertions.Template.from_stack(stack))
    principal = {"AWS": {"Fn::GetAtt": [stack.get_logical_id(role.node.default_child), "Arn"]}}  # type: ignore[arg-type]  # CfnRole
    assert after["s3"] == [
        {"Sid": "ReadB", "Effect": "Allow", "Principal": principal, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::b/*"},
        {"Sid": "ListB", "Effect": "Allow", "Principal": principal, "Action": "s3:ListBucket",
         "Resource": "arn:aws:s3:::b"},
    ]  # fmt: skip
    # Endpoints without declarations keep their defaults; X-Ray (no resources) always has its fixed policy.
    assert [s["Sid"] for s in after["dynamodb"]] == ["ThisAccountsTables"]
    assert [s["Sid"] for s in after["sqs"]] == ["ThisAccountsCallers"]
    assert [s["Sid"] for s in after["xray"]] == ["ThisAccountsCallers"]


# ------------------------------------------------------------------- an existing topic encrypted with the same key
def _alerting_on_existing_topic(topic_kwargs: dict[str, object], same_key: bool) -> dict:
    stack = cdk.Stack(cdk.App(), "Team", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    key = kms.Key(stack, "TeamKey", enable_key_rotation=True)
    topic_key = key if same_key else kms.Key(stack, "OtherKey", enable_key_rotation=True)
    topic = sns.Topic(stack, "TeamAlerts", master_key=topic_key, enforce_ssl=True, **topic_kwargs)  # type: ignore[arg-type]
    Alerting(stack, "Alerting", existing_topic=topic, encryption_key=key, email="ops@example.com")
    return Template.from_stack(stack).to_json()


def test_a_named_existing_topic_on_the_same_key_is_named_in_the_key_policy_without_a_cycle() -> None:
    """Found by deploying the composed consumer app: the key policy named the topic's generated ARN (a Ref), the
    topic refers to the key, and CloudFormation refuses the cycle."""
    template = _alerting_on_existing_topic({"topic_name": "team-a-alerts"}, same_key=True)
    assert check_graph(template) == []
    key = next(r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key")
    (statement,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowAlertTopicDeadLetters"
    ]
    assert "team-a-alerts" in str(statement["Condition"]["ArnLike"]["aws:SourceArn"])


def test_an_unnamed_existing_topic_on_the_same_key_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError) as raised:
        _alerting_on_existing_topic({}, same_key=True)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("invalid existing_topic of Team/Alerting:")
    assert "topic_name" in message


def test_an_unnamed_existing_topic_on_another_key_keeps_its_arn_and_no_cycle() -> None:
    template = _alerting_on_existing_topic({}, same_key=False)
    assert check_graph(template) == []
    assert check_graph(_with_cycle(template)) != []  # the graph check sees the cycle the refusal prevents


def _with_cycle(template: dict) -> dict:
    """The same template with the topic encrypted by the key whose policy names it: the graph check must see it."""
    import copy

    changed = copy.deepcopy(template)
    keys = [k for k, r in changed["Resources"].items() if r["Type"] == "AWS::KMS::Key"]
    (topic,) = [r for r in changed["Resources"].values() if r["Type"] == "AWS::SNS::Topic"]
    named = next(k for k in keys if "TeamAlerts" in str(changed["Resources"][k]["Properties"]["KeyPolicy"]))
    topic["Properties"]["KmsMasterKeyId"] = {"Fn::GetAtt": [named, "Arn"]}
    return changed
