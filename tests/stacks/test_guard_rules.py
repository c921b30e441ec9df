"""The Control Tower rules given to cfn-guard are those of every resource type the synthesized templates contain.

stacks/guard_rules.py passes only the rule files that check a type in RESOURCE_TYPES (the others answer SKIP and
cost seconds per synth). Which rule checks which type is read from the rule files themselves.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest

from stacks.guard_rules import RESOURCE_TYPES, control_tower_rules_dir, rule_files, rules_by_type
from tests.support.synth import Synthesized


def template_types(outdir: Path) -> dict[str, set[str]]:
    """Resource type -> the templates of the synthesized app that contain it."""
    found: dict[str, set[str]] = defaultdict(set)
    for template in sorted(outdir.glob("*.template.json")):
        for resource in json.loads(template.read_text()).get("Resources", {}).values():
            found[resource["Type"]].add(template.name)
    return found


def unchecked(types: Iterable[str], listed: Iterable[str]) -> dict[str, list[str]]:
    """Type -> the rule files (service/file) that check it, for the `types` that some rule checks but `listed`
    leaves out: what cfn-guard would silently not check."""
    by_type, listed = rules_by_type(), set(listed)
    return {
        t: [f"{rule.parent.name}/{rule.name}" for rule in by_type[t]]
        for t in sorted(set(types))
        if t in by_type and t not in listed
    }


def test_every_rule_file_names_the_types_it_checks() -> None:
    rules = sorted(control_tower_rules_dir().glob("*/*.guard"))
    assert len(rules) >= 200  # the whole Control Tower set is unpacked
    covered = {rule for files in rules_by_type().values() for rule in files}
    assert set(rules) - covered == set(), "a rule file whose types cannot be read would never be selected"


def test_every_checked_resource_type_in_the_templates_is_listed(synthesized: Synthesized) -> None:
    types = template_types(synthesized.outdir)
    assert {"AWS::EC2::SecurityGroup", "AWS::IAM::Role"} <= set(types)  # prod's VPC mode and the CI stack
    assert unchecked(types, RESOURCE_TYPES) == {}, "add these types to stacks/guard_rules.RESOURCE_TYPES"


def test_every_listed_type_occurs_in_a_template(synthesized: Synthesized) -> None:
    types = template_types(synthesized.outdir)
    assert set(RESOURCE_TYPES) - set(types) == set(), "rules of absent types only answer SKIP and cost synth time"


def test_the_check_fails_for_a_type_left_out() -> None:
    types = {"AWS::SQS::Queue", "AWS::RDS::DBInstance", "AWS::CloudFormation::WaitConditionHandle"}
    missing = unchecked(types, RESOURCE_TYPES)
    assert list(missing) == ["AWS::RDS::DBInstance"]  # a type no rule checks needs nothing
    assert all(rule.startswith("rds/") for rule in missing["AWS::RDS::DBInstance"])


def test_the_rules_passed_are_exactly_those_of_the_listed_types() -> None:
    passed = {Path(rule) for rule in rule_files()}
    by_type = rules_by_type()
    assert passed == {rule for t in RESOURCE_TYPES for rule in by_type[t]}
    assert {rule.parent.name for rule in passed} >= {"sqs", "s3", "lambda", "keymanagementservice"}
    assert not any(rule.parent.name == "rds" for rule in passed)


def test_a_type_no_rule_checks_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no Control Tower rule checks \['AWS::SQS::Queues'\]"):
        rule_files(("AWS::SQS::Queues",))
