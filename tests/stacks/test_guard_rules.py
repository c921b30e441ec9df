"""The Control Tower rule folders given to cfn-guard cover every resource type the synthesized templates contain.

stacks/guard_rules.py passes only the folders of the services in the templates (the others answer SKIP and cost
seconds per synth). Which rule checks which type is read from the rule files themselves: each rule is written for
CloudFormation hooks too (`is_cfn_hook(%INPUT_DOCUMENT, %<TYPE>)`), which names the type it checks.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest

from stacks.guard_rules import RULE_FOLDERS, control_tower_rules_dir, rule_folders
from tests.support.synth import Synthesized

_TYPE_CONSTANT = re.compile(r'^let\s+(\w+)\s*=\s*"(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)"', re.MULTILINE)
_HOOK = re.compile(r"is_cfn_hook\(%INPUT_DOCUMENT,\s*%(\w+)\)")
_ANY_TYPE = re.compile(r"AWS::[A-Za-z0-9]+::[A-Za-z0-9]+")


def checked_types(rule: str) -> set[str]:
    """The resource types a rule file checks: those its hook entry points name; failing that, every type it names."""
    constants = dict(_TYPE_CONSTANT.findall(rule))
    hooked = {constants[name] for name in _HOOK.findall(rule) if name in constants}
    return hooked or set(_ANY_TYPE.findall(rule))


def folders_by_type(rules_dir: Path) -> dict[str, set[str]]:
    """Resource type -> the rule folders holding a rule that checks it."""
    folders: dict[str, set[str]] = defaultdict(set)
    for rule_file in sorted(rules_dir.glob("*/*.guard")):
        types = checked_types(rule_file.read_text())
        assert types, f"{rule_file}: no resource type found, the mapping would miss its rules"
        for resource_type in types:
            folders[resource_type].add(rule_file.parent.name)
    return folders


def missing_folders(types: Iterable[str], included: Iterable[str], rules_dir: Path) -> dict[str, set[str]]:
    """Resource type -> the rule folders that check it but are not `included` (empty when nothing is missing)."""
    by_type, included = folders_by_type(rules_dir), set(included)
    return {t: by_type[t] - included for t in sorted(set(types)) if by_type.get(t, set()) - included}


def template_types(outdir: Path) -> dict[str, set[str]]:
    """Resource type -> the templates of the synthesized app that contain it."""
    found: dict[str, set[str]] = defaultdict(set)
    for template in sorted(outdir.glob("*.template.json")):
        for resource in json.loads(template.read_text()).get("Resources", {}).values():
            found[resource["Type"]].add(template.name)
    return found


@pytest.fixture(scope="module")
def rules_dir() -> Path:
    return control_tower_rules_dir()


def test_every_resource_type_in_the_templates_has_its_rule_folder(synthesized: Synthesized, rules_dir: Path) -> None:
    types = template_types(synthesized.outdir)
    assert "AWS::EC2::SecurityGroup" in types  # prod's VPC mode is among the templates checked
    assert missing_folders(types, RULE_FOLDERS, rules_dir) == {}, "add these folders to stacks/guard_rules.py"


def test_every_rule_folder_passed_checks_a_type_in_the_templates(synthesized: Synthesized, rules_dir: Path) -> None:
    types = template_types(synthesized.outdir)
    by_type = folders_by_type(rules_dir)
    needed = {folder for resource_type in types for folder in by_type.get(resource_type, set())}
    assert set(RULE_FOLDERS) - needed == set(), "folders whose rules would only answer SKIP cost synth time"


def test_the_check_fails_for_a_type_whose_folder_is_left_out(rules_dir: Path) -> None:
    types = {"AWS::SQS::Queue", "AWS::RDS::DBInstance", "AWS::Logs::LogGroup"}
    assert missing_folders(types, RULE_FOLDERS, rules_dir) == {"AWS::RDS::DBInstance": {"rds"}}
    assert missing_folders(types, ("sqs", "rds"), rules_dir) == {"AWS::Logs::LogGroup": {"cloudwatch"}}


def test_an_unknown_rule_folder_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"no Control Tower rule folder \['sq'\].*'sqs'"):
        rule_folders(("sq",))
