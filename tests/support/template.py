"""Matcher builders for aws_cdk.assertions, the exact-grant reader, and the last JSON readers (the runbook)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from aws_cdk.assertions import Match, Matcher, Template

Resource = dict[str, Any]


def resources_of(template: dict, resource_type: str) -> Iterator[tuple[str, Resource]]:
    """(logical id, resource) for every resource of `resource_type`."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == resource_type:
            yield logical_id, resource


def as_list(value: Any) -> list:
    """A policy field that may be a scalar or a list, as a list."""
    return value if isinstance(value, list) else [value]


# ---- small builders for aws_cdk.assertions patterns (they select or build matchers; the Template asserts)


def logical_id(template: Template, resource_type: str, properties: Any = None) -> str:
    """Logical id of the one `resource_type` whose Properties match `properties`; fails unless exactly one."""
    found = template.find_resources(resource_type, {"Properties": properties} if properties is not None else None)
    assert len(found) == 1, f"expected one {resource_type} matching {properties}, found {sorted(found)}"
    return next(iter(found))


def arn_of(resource_logical_id: str) -> dict:
    """The template's reference to a resource's ARN."""
    return {"Fn::GetAtt": [resource_logical_id, "Arn"]}


def granted(template: Template, role_id: str) -> set[tuple[str, str]]:
    """(action, resource JSON) pairs the Allow statements of every identity policy on the role grant (its default
    policy and any dedicated one, e.g. the X-Ray / VPC-access policies). The exact set is the point of the tests
    using it, so they compare it whole (set equality) rather than match it."""
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": Match.array_with([{"Ref": role_id}])}}
    )
    return {
        (action, json.dumps(resource, sort_keys=True))
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


def egress_destinations(template: Template) -> list[str]:
    """The destination of every standalone AWS::EC2::SecurityGroupEgress (its Destination* and Cidr* fields) as
    sorted-key JSON, sorted: compare it whole with `as_destinations(...)` of the expected ones."""
    rules = template.find_resources("AWS::EC2::SecurityGroupEgress").values()
    return as_destinations(
        {k: v for k, v in rule["Properties"].items() if k.startswith(("Destination", "Cidr"))} for rule in rules
    )


def as_destinations(destinations: Iterable[dict]) -> list[str]:
    """Expected egress destinations in `egress_destinations`' form."""
    return sorted(json.dumps(destination, sort_keys=True) for destination in destinations)


def only_policy_grants_exactly(template: Template, statements: list[dict]) -> None:
    """The template's one identity policy has exactly `statements`, in order: for exact permission sets."""
    template.resource_count_is("AWS::IAM::Policy", 1)
    template.has_resource_properties("AWS::IAM::Policy", {"PolicyDocument": {"Statement": Match.exact(statements)}})


def has_statement(**fields: Any) -> Matcher:
    """A policy's Statement list containing a statement that has (at least) `fields`."""
    return Match.array_with([Match.object_like(fields)])


_WILDCARD = Match.string_like_regexp(r"\*")
# An Action is a string or a list of strings: a wildcard action is either form.
WILDCARD_ACTIONS = (_WILDCARD, Match.array_with([_WILDCARD]))
