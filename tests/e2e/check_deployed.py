"""What `cdk deploy` created, read back through the emulator's AWS APIs (not from the template).

Resource types the emulator only pretends to create (status reason "deployed as a fallback", `Ref` = "unknown") are
listed by type and never counted as passed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.e2e.conftest import FALLBACK_REASON, REGION, STACKS, SUFFIXES, Aws, Deployment, report
from tests.e2e.graph import check_graph

OK_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


def stack_resources(aws: Aws, stack: str) -> list[dict[str, Any]]:
    pages = aws.cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
    return [summary for page in pages for summary in page["StackResourceSummaries"]]


def emulated_only(resource: dict[str, Any]) -> bool:
    return FALLBACK_REASON in (resource.get("ResourceStatusReason") or "")


def _by_type(resources: list[dict[str, Any]]) -> str:
    counts = Counter(r["ResourceType"] for r in resources)
    return ", ".join(f"{kind} x{n}" for kind, n in sorted(counts.items())) or "-"


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_is_created(aws: Aws, deployment: Deployment, stack: str) -> None:
    described = aws.cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    resources = stack_resources(aws, stack)
    declared = set(deployment.template(stack)["Resources"])
    fallback = [r for r in resources if emulated_only(r)]
    failed = [r for r in resources if r["ResourceStatus"] not in OK_STATES]
    created = [r for r in resources if r not in fallback and r not in failed]
    report(f"{stack} ({described['StackStatus']}, deployed in {deployment.deploy_seconds.get(stack, 0):.1f} s):")
    report(f"  created {len(created)}: {_by_type(created)}")
    report(f"  emulated-only (not counted as passed) {len(fallback)}: {_by_type(fallback)}")
    report(f"  failed {len(failed)}: {_by_type(failed)}")
    for r in failed:
        report(f"    {r['LogicalResourceId']} {r['ResourceStatus']}: {r.get('ResourceStatusReason')}")
    assert described["StackStatus"] in OK_STATES
    assert failed == []
    assert {r["LogicalResourceId"] for r in resources} == declared, "every template resource is in the stack"


@pytest.mark.parametrize("stack", STACKS)
def test_the_deployed_template_graph_has_no_cycle_and_no_dangling_reference(deployment: Deployment, stack: str) -> None:
    assert check_graph(deployment.template(stack)) == []


def test_physical_names_of_the_two_environments_do_not_collide(aws: Aws, deployment: Deployment) -> None:
    names: dict[str, dict[str, str]] = {}
    for suffix in SUFFIXES:
        resources = stack_resources(aws, f"SecureServerless-{suffix}")
        # A custom resource's physical id is whatever its function answers (often a constant), not the name of
        # anything in the account: two stacks may share it, in AWS too.
        names[suffix] = {
            r["PhysicalResourceId"]: r["LogicalResourceId"]
            for r in resources
            if r.get("PhysicalResourceId")
            and not emulated_only(r)
            and r["PhysicalResourceId"] != "unknown"
            and not r["ResourceType"].startswith("Custom::")
        }
    first, second = SUFFIXES
    shared = sorted(set(names[first]) & set(names[second]))
    report(
        f"physical names: {len(names[first])} ({first}) and {len(names[second])} ({second}); shared: {shared or 'none'}"
    )
    assert shared == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_outputs_resolve_to_resources_that_exist(aws: Aws, deployment: Deployment, suffix: str) -> None:
    stack = f"SecureServerless-{suffix}"
    outputs = deployment.outputs[stack]
    declared = set(deployment.template(stack).get("Outputs", {}))
    assert set(outputs) == declared
    unresolved = sorted(name for name, value in outputs.items() if not value or value == "unknown")
    # Only outputs of emulated-only resources (Cognito) may stay "unknown"; they are reported, not passed.
    assert set(unresolved) <= {"UserPoolId", "UserPoolClientId", "IdentityPoolId"}, unresolved
    report(f"{stack} outputs: {len(outputs) - len(unresolved)} resolved; emulated-only: {', '.join(unresolved) or '-'}")
    aws.s3.head_bucket(Bucket=outputs["BucketName"])
    assert aws.dynamodb.describe_table(TableName=outputs["TableName"])["Table"]["TableStatus"] == "ACTIVE"
    assert aws.kms.describe_key(KeyId=outputs["KeyArn"])["KeyMetadata"]["Enabled"]
    aws.sns.get_topic_attributes(TopicArn=outputs["AlertTopicArn"])
    api_id = outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
    assert aws.apigateway.get_rest_api(restApiId=api_id)["id"] == api_id
    assert outputs["ApiUrl"].rstrip("/").endswith(f"/{suffix}")


def _prod_groups(aws: Aws) -> tuple[str, str]:
    """The functions' and the interface endpoints' security group ids of the prod stack."""
    groups = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in stack_resources(aws, "SecureServerless-prod")
        if r["ResourceType"] == "AWS::EC2::SecurityGroup"
    }
    (functions,) = [physical for logical, physical in groups.items() if logical.startswith("NetworkFunctions")]
    (endpoints,) = [physical for logical, physical in groups.items() if logical.startswith("NetworkEndpoints")]
    return functions, endpoints


def test_prod_functions_reach_only_the_gateway_prefix_lists_and_the_endpoints(aws: Aws, deployment: Deployment) -> None:
    """The deployed security group, read back from EC2: the custom resource found the region's real prefix lists
    (ids of AWS-managed lists, not a placeholder), and no rule opens a CIDR."""
    stack = "SecureServerless-prod"
    functions, endpoints = _prod_groups(aws)
    managed = {
        item["PrefixListName"]: item["PrefixListId"]
        for item in aws.ec2.describe_managed_prefix_lists()["PrefixLists"]
        if item["OwnerId"] == "AWS"
    }
    rules = aws.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [functions]}])
    egress = [rule for rule in rules["SecurityGroupRules"] if rule["IsEgress"]]
    destinations = sorted(
        rule.get("PrefixListId") or (rule.get("ReferencedGroupInfo") or {}).get("GroupId") or rule.get("CidrIpv4", "")
        for rule in egress
    )
    report(f"{stack} functions' egress: {', '.join(destinations)}")
    assert destinations == sorted([managed[f"com.amazonaws.{REGION}.s3"], managed[f"com.amazonaws.{REGION}.dynamodb"],
                                   endpoints])  # fmt: skip
    assert all((rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443) for rule in egress)


def test_prod_endpoints_accept_https_from_the_functions_only(aws: Aws, deployment: Deployment) -> None:
    """The interface endpoints' group, read back from EC2: one ingress rule, HTTPS from the functions' group."""
    functions, endpoints = _prod_groups(aws)
    rules = aws.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [endpoints]}])
    ingress = [
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], (rule.get("ReferencedGroupInfo") or {}).get("GroupId"))
        for rule in rules["SecurityGroupRules"]
        if not rule["IsEgress"]
    ]
    report(f"SecureServerless-prod endpoints' ingress: {ingress}")
    assert ingress == [("tcp", 443, 443, functions)]
