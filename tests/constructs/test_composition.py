"""Two instances of every construct, without a prefix, in one stack and across stacks of one app: no physical name
and no construct id collides, and every stack is nag-clean (issue 19 item 1).

One app, synthesized once: stack "Shared" holds two complete sets (under TeamA and TeamB), stacks "First" and
"Second" one set each with identical construct ids. Each set wires its constructs' recommended alarms into its
own Alerting, so alarm names and alarm construct ids are exercised too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import Construct

from secure_serverless import (
    AlarmThresholds,
    Alerting,
    EnvironmentKey,
    EventPipeline,
    IdentityPool,
    LoggedApi,
    PrivateNetwork,
    Route,
    ScaledTable,
    SecureBucket,
    SecureFunction,
)
from tests.support.build import INLINE_CODE as CODE
from tests.support.build import StackSet
from tests.support.nag import nag_findings

# Resource type -> the property holding its physical name, for every type whose name must be unique in an account
# and region (or in an account, for IAM).
NAME_PROPERTIES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Events::Rule": "Name",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::ApiGateway::RestApi": "Name",
    "AWS::WAFv2::WebACL": "Name",
    "AWS::Cognito::UserPool": "UserPoolName",
    "AWS::Cognito::IdentityPool": "IdentityPoolName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
}


def compose(scope: Construct) -> list[Construct]:
    """One instance of every construct, zero-config where possible, wired as a consumer would."""
    key = EnvironmentKey(scope, "Key")
    bucket = SecureBucket(scope, "Uploads")
    table = ScaledTable(scope, "Items", partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING))
    identity = IdentityPool(scope, "Identity")
    worker = SecureFunction(scope, "Worker", code=CODE, handler="index.handler")
    handler = SecureFunction(scope, "Handler", code=CODE, handler="index.handler")
    pipeline = EventPipeline(scope, "Pipeline", bucket=bucket.bucket, processor=worker.function)
    api = LoggedApi(scope, "Api", handler=handler.function, routes=[Route("/items")])
    network = PrivateNetwork(scope, "Network")
    alerting = Alerting(scope, "Alerting")
    for source in (worker, handler, pipeline, api, table, alerting):
        alerting.add_alarms(source.recommended_alarms(AlarmThresholds()))
    return [key, bucket, table, identity, worker, handler, pipeline, api, network, alerting]


class Composed(StackSet):
    def __init__(self) -> None:
        super().__init__()
        shared = self._stack("Shared")
        self.sets = [compose(Construct(shared, "TeamA")), compose(Construct(shared, "TeamB"))]
        self.sets += [compose(self._stack("First")), compose(self._stack("Second"))]
        self.synth()


@pytest.fixture(scope="module")
def composed() -> Composed:
    return Composed()


def _render(node: Any, stack: str) -> Any:
    """A property value with every reference qualified by its stack (pseudo parameters of the account and region
    are shared by every stack; AWS::StackName is the stack's own name)."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            ref = node["Ref"]
            if ref == "AWS::StackName":
                return stack
            return ref if ref.startswith("AWS::") else f"<{stack}.{ref}>"
        if set(node) == {"Fn::GetAtt"}:
            return f"<{stack}.{'.'.join(node['Fn::GetAtt'])}>"
        return {k: _render(v, stack) for k, v in node.items()}
    if isinstance(node, list):
        return [_render(v, stack) for v in node]
    return node


def physical_names(composed: Composed) -> dict[str, list[str]]:
    """Rendered physical name -> the resources (stack/logical id) that carry it, over the whole app."""
    names: dict[str, list[str]] = defaultdict(list)
    for stack, template in composed.templates.items():
        for logical_id, resource in template["Resources"].items():
            prop = NAME_PROPERTIES.get(resource["Type"])
            if prop and prop in resource.get("Properties", {}):
                rendered = json.dumps([resource["Type"], _render(resource["Properties"][prop], stack)])
                names[rendered].append(f"{stack}/{logical_id}")
    return names


def test_every_set_has_two_instances_of_every_construct_per_stack(composed: Composed) -> None:
    kinds = {type(c).__name__ for c in composed.sets[0]}
    assert kinds >= {"EnvironmentKey", "SecureBucket", "ScaledTable", "IdentityPool", "SecureFunction"}
    assert kinds >= {"EventPipeline", "LoggedApi", "PrivateNetwork", "Alerting"}
    alarms = composed.template("Shared").find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 2 * len(composed.sets[0][-1].alarms)  # type: ignore[attr-defined]  # the Alerting


def test_no_physical_name_collides_in_a_stack_or_across_stacks(composed: Composed) -> None:
    names = physical_names(composed)
    assert len(names) > 40  # log groups, alarms, rules, queues, topics, API and WAF names are all named
    assert {n: where for n, where in names.items() if len(where) > 1} == {}


def test_the_check_sees_a_collision(composed: Composed) -> None:
    template = composed.templates["First"]
    (group,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"][:1]
    copy = json.loads(json.dumps(composed.templates["Second"]))
    copy["Resources"]["Clash"] = json.loads(json.dumps(group).replace('"Ref": "AWS::StackName"', '"Ref": "X"'))
    doubled = Composed.__new__(Composed)
    doubled.templates = {"First": template, "Second": copy}
    clashes = [where for where in physical_names(doubled).values() if len(where) > 1]
    assert clashes and any("Second/Clash" in where for where in clashes)


@pytest.mark.parametrize("stack", ["Shared", "First", "Second"])
def test_composed_stacks_are_nag_clean_without_a_prefix(composed: Composed, stack: str) -> None:
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        result = pack.validate_scope(composed.stacks[stack])
        assert result.success, nag_findings(result)


def test_alarm_construct_ids_are_per_instance(composed: Composed) -> None:
    shared = cdk.Stack.of(composed.sets[0][0])
    ids = [c.node.path for c in shared.node.find_all() if c.node.id.startswith("Alarm-")]
    assert len(ids) == len(set(ids)) > 20
