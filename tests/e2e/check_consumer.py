"""The consumer app (tests/consumer/consumer_app.py, `clean`: constructs zero-config, every construct composed with the
consumer's own key, buckets, log groups, queue, user pool and topic, and two zero-config instances of every construct
in one stack, Twins) deploys into the emulator, all three stacks together.

Synthesized once with the app's interpreter (nag packs on, as in `make consumer-check`), deployed from that cloud
assembly with the pinned `cdk` into the preview bootstrap (the default qualifier) that the session's `deployment`
fixture created, read back through the emulator's APIs, then destroyed. The emulator applies no key policy and no
log-group encryption: whether the key fits each log group is decided by the IAM engine in tests/consumer and
tests/constructs/test_key_fits_logs.py, not here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.check_deployed import OK_STATES, emulated_only, stack_resources
from tests.e2e.conftest import ROOT, Aws, Deployment, aws_environment, cdk, report

CONSUMER_STACKS = ("ZeroConfig", "Composed", "Twins")
TWINS = ("TeamA", "TeamB")  # the two instances of every construct in the Twins stack (same construct ids)
# Types whose physical id is not the resource's name: where to read the name instead.
NAME_BY_API = {"AWS::ApiGateway::RestApi"}
# Types whose names are unique only within their parent (a stage name or gateway response type within its REST API, a
# method within its resource): twins may share them.
WITHIN_PARENT = {"AWS::ApiGateway::Stage", "AWS::ApiGateway::GatewayResponse", "AWS::ApiGateway::Method"}
# Types whose names are unique in an account and region (or account): checked across all the consumer's stacks.
UNIQUE_NAMES = {"AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::Events::Rule",
                "AWS::CloudWatch::Alarm", "AWS::Lambda::Function", "AWS::DynamoDB::Table", "AWS::IAM::Role",
                "AWS::ApiGateway::RestApi"}  # fmt: skip


def _physical(aws: Aws, stack: str) -> dict[str, dict[str, Any]]:
    return {r["LogicalResourceId"]: r for r in stack_resources(aws, stack)}


def _one(resources: dict[str, dict[str, Any]], kind: str, prefix: str) -> str:
    """The physical id of the one resource of `kind` whose logical id starts with `prefix`."""
    (found,) = [
        r["PhysicalResourceId"]
        for logical, r in resources.items()
        if r["ResourceType"] == kind and logical.startswith(prefix)
    ]
    return str(found)


@pytest.fixture(scope="module")
def consumer(aws: Aws, deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The consumer app's assembly, deployed; destroyed afterwards. `deployment` is asked for its bootstrap."""
    assembly = tmp_path_factory.mktemp("consumer-assembly")
    started = time.monotonic()
    node = ROOT / "node_modules" / ".bin"
    env = {**os.environ, **aws_environment(), "PATH": f"{node}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "consumer" / "consumer_app.py"), str(assembly), "clean"],
        cwd=assembly,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["synthesized"] is True, "the consumer app is nag-clean"
    synthesized = time.monotonic()
    cdk("deploy", "--app", str(assembly), *CONSUMER_STACKS, "--require-approval", "never", "--concurrency", "1")
    deployed = time.monotonic()
    report(f"consumer app: synth {synthesized - started:.1f} s, deploy {deployed - synthesized:.1f} s")
    yield assembly
    started = time.monotonic()
    cdk("destroy", "--app", str(assembly), *CONSUMER_STACKS, "--force")
    left = [
        s["StackName"]
        for s in aws.cloudformation.list_stacks()["StackSummaries"]
        if s["StackName"] in CONSUMER_STACKS and s["StackStatus"] != "DELETE_COMPLETE"
    ]
    report(f"consumer app: destroy {time.monotonic() - started:.1f} s; stacks left: {left or 'none'}")
    assert left == []


@pytest.mark.parametrize("stack", CONSUMER_STACKS)
def test_the_consumer_stacks_reach_create_complete_with_every_resource(aws: Aws, consumer: Path, stack: str) -> None:
    described = aws.cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    resources = stack_resources(aws, stack)
    declared = set(json.loads((consumer / f"{stack}.template.json").read_text())["Resources"])
    failed = [(r["LogicalResourceId"], r["ResourceStatus"], r.get("ResourceStatusReason")) for r in resources
              if r["ResourceStatus"] not in OK_STATES]  # fmt: skip
    emulated = sorted({r["ResourceType"] for r in resources if emulated_only(r)})
    report(f"consumer {stack}: {described['StackStatus']}, {len(resources)} resources; emulated-only: {emulated}")
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert failed == []
    assert {r["LogicalResourceId"] for r in resources} == declared


def test_the_composed_consumer_reads_back(aws: Aws, consumer: Path) -> None:
    """The consumer's own key is the one its table was given (the emulator applies table SSE); an object written to
    the data bucket under that key reads back; both SecureFunctions are active and the handler runs."""
    resources = _physical(aws, "Composed")
    key_arn = aws.kms.describe_key(KeyId=_one(resources, "AWS::KMS::Key", "TeamKey"))["KeyMetadata"]["Arn"]
    bucket = _one(resources, "AWS::S3::Bucket", "DataBucket")
    assert aws.s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = aws.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    put = aws.s3.put_object(
        Bucket=bucket, Key="e2e/consumer.txt", Body=b"consumer", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn
    )
    got = aws.s3.get_object(Bucket=bucket, Key="e2e/consumer.txt", VersionId=put["VersionId"])
    assert got["Body"].read() == b"consumer"
    table = aws.dynamodb.describe_table(TableName=_one(resources, "AWS::DynamoDB::Table", "RecordsTable"))["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == key_arn
    for prefix in ("ProcessorFunction", "ApiHandlerFunction"):
        # The emulator does not report a function's KMSKeyArn (it applies no environment encryption); state only.
        config = aws.lambda_.get_function_configuration(FunctionName=_one(resources, "AWS::Lambda::Function", prefix))
        assert config.get("State", "Active") == "Active", (prefix, config.get("StateReason"))
    handler = _one(resources, "AWS::Lambda::Function", "ApiHandlerFunction")
    invoked = aws.lambda_.invoke(FunctionName=handler, Payload=b"{}")
    assert "FunctionError" not in invoked, invoked["Payload"].read()
    assert json.loads(invoked["Payload"].read()) == {}
    versions = aws.s3.list_object_versions(Bucket=bucket, Prefix="e2e/").get("Versions", [])
    aws.s3.delete_objects(  # the bucket must be empty for `cdk destroy` (the consumer's removal policy is DESTROY)
        Bucket=bucket, Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]}
    )
    report(f"consumer Composed: object round trip under the team key, handler invoked, table {table['TableStatus']}")


def _paths(assembly: Path, stack: str) -> dict[str, str]:
    """Logical id -> construct path (below the stack) of every resource of `stack`, from the assembly's metadata file
    (the templates carry no `aws:cdk:path`: the consumer app runs without the CLI, which turns that on)."""
    metadata = json.loads((assembly / f"{stack}.metadata.json").read_text())
    return {
        entry["data"]: path.split("/", 2)[2]
        for path, entries in metadata.items()
        for entry in entries
        if entry.get("type") == "aws:cdk:logicalId" and path.count("/") >= 2
    }


def _name(aws: Aws, resource: dict[str, Any]) -> str:
    """The deployed resource's name as AWS would make it unique: its physical id, or for a REST API (whose physical
    id is a generated id) the name the API was given."""
    if resource["ResourceType"] in NAME_BY_API:
        return str(aws.apigateway.get_rest_api(restApiId=resource["PhysicalResourceId"])["name"])
    return str(resource["PhysicalResourceId"])


def twin_pairs(
    paths: dict[str, str], resources: dict[str, dict[str, Any]]
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Construct path below the team -> (TeamA's deployed resource, TeamB's), from the template's paths (logical id
    -> path below the stack) and the deployed resources (logical id -> summary)."""
    by_path: dict[str, dict[str, dict[str, Any]]] = {team: {} for team in TWINS}
    for logical, path in paths.items():
        team, _, below = path.partition("/")
        if team in by_path and logical in resources:
            # Some ids name another construct's path and a hash of it (Alarm-Twins-TeamA-Api-8DDA6172-5xx,
            # SqsEventSource:TwinsTeamAPipelineBuffer9DDD892E): the twin's has the other team's name and hash.
            key = _HASH.sub("", below.replace(team, "<team>"))
            assert key not in by_path[team], f"two resources of {team} pair as {key}"
            by_path[team][key] = resources[logical]
    assert by_path["TeamA"] and set(by_path["TeamA"]) == set(by_path["TeamB"]), "the two instances differ"
    return {below: (first, by_path["TeamB"][below]) for below, first in sorted(by_path["TeamA"].items())}


_HASH = re.compile(r"-?[0-9A-F]{8}(?![0-9A-Za-z])")


def _named_in_the_account(kind: str) -> bool:
    """Whether a type's physical id names something in the account: not a name scoped to a parent (WITHIN_PARENT),
    nor a custom resource's (whatever its provider returns: the prefix-list lookup answers a constant)."""
    return kind not in WITHIN_PARENT and not kind.startswith("Custom::")


def repeated(named: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[str]]:
    """(type, name) -> where, for every name of a type that more than one of `named` (type, name, where) carries."""
    seen: dict[tuple[str, str], list[str]] = {}
    for kind, name, where in named:
        seen.setdefault((kind, name), []).append(where)
    return {key: places for key, places in seen.items() if len(places) > 1}


def test_every_pair_of_twins_has_distinct_physical_names(aws: Aws, consumer: Path) -> None:
    """Two zero-config instances of every construct in one stack, without a prefix, deployed: every resource the
    emulator really creates (a type it only pretends to create has the id "unknown") has a physical name distinct
    from its twin's (bucket, table, log group, queue, topic, rule, alarm, function, role, key, REST API name...); and
    no name of a type whose names are unique per account repeats across the three deployed consumer stacks."""
    resources = {r["LogicalResourceId"]: r for r in stack_resources(aws, "Twins")}
    pairs = {
        below: (first, second)
        for below, (first, second) in twin_pairs(_paths(consumer, "Twins"), resources).items()
        if not emulated_only(first) and not emulated_only(second) and _named_in_the_account(first["ResourceType"])
    }
    named = [(first["ResourceType"], _name(aws, r), f"Twins/{below}") for below, (first, second) in pairs.items()
             for r in (first, second)]  # fmt: skip
    assert {kind for kind, _, _ in named} >= {
        "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::Events::Rule",
        "AWS::CloudWatch::Alarm", "AWS::Lambda::Function", "AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::IAM::Role",
        "AWS::ApiGateway::RestApi", "AWS::EC2::VPC",
    }  # fmt: skip
    assert repeated(named) == {}
    everywhere = [
        (r["ResourceType"], _name(aws, r), f"{stack}/{r['LogicalResourceId']}")
        for stack in CONSUMER_STACKS
        for r in stack_resources(aws, stack)
        if r["ResourceType"] in UNIQUE_NAMES and not emulated_only(r)
    ]
    assert repeated(everywhere) == {}
    report(f"consumer Twins: {len(pairs)} resource pairs, every twin's physical name distinct; {len(everywhere)} names "
           f"across the {len(CONSUMER_STACKS)} stacks, none repeated")  # fmt: skip


def test_the_twin_checks_see_a_repeated_name_and_a_missing_twin() -> None:
    paths = {"A1": "TeamA/Worker/LogGroup/Resource", "B1": "TeamB/Worker/LogGroup/Resource", "C1": "Other/Resource",
             "A2": "TeamA/Alerting/Alarm-Twins-TeamA-Api-8DDA6172-5xx/Resource",
             "B2": "TeamB/Alerting/Alarm-Twins-TeamB-Api-7729D86F-5xx/Resource"}  # fmt: skip
    group = {"ResourceType": "AWS::Logs::LogGroup", "PhysicalResourceId": "/Twins/Worker"}
    alarm = {"ResourceType": "AWS::CloudWatch::Alarm", "PhysicalResourceId": "a"}
    pairs = twin_pairs(
        paths, {"A1": group, "B1": group, "C1": group, "A2": alarm, "B2": {**alarm, "PhysicalResourceId": "b"}}
    )
    assert list(pairs) == ["Alerting/Alarm-Twins-<team>-Api-5xx/Resource", "Worker/LogGroup/Resource"]
    del pairs["Alerting/Alarm-Twins-<team>-Api-5xx/Resource"]
    named = [(r["ResourceType"], r["PhysicalResourceId"], f"Twins/{b}") for b, rs in pairs.items() for r in rs]
    assert repeated(named) == {("AWS::Logs::LogGroup", "/Twins/Worker"): ["Twins/Worker/LogGroup/Resource"] * 2}
    with pytest.raises(AssertionError, match="the two instances differ"):
        twin_pairs(paths, {"A1": group, "A2": alarm})
