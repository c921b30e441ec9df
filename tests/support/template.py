"""Matcher builders for aws_cdk.assertions, and the last JSON readers (test_api_identity.py, the runbook)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aws_cdk.assertions import Match, Matcher, Template

Resource = dict[str, Any]


def resources_of(template: dict, resource_type: str) -> Iterator[tuple[str, Resource]]:
    """(logical id, resource) for every resource of `resource_type`."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == resource_type:
            yield logical_id, resource


def single(
    template: dict, resource_type: str, where: Callable[[Resource], bool] = lambda _: True
) -> tuple[str, Resource]:
    """The one resource of `resource_type` matching `where`; raises LookupError when there are 0 or several."""
    found = [(rid, r) for rid, r in resources_of(template, resource_type) if where(r)]
    if len(found) != 1:
        raise LookupError(f"expected one {resource_type}, found {[rid for rid, _ in found]}")
    return found[0]


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
