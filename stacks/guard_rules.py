"""The Control Tower rules the cfn-guard plugin checks: only those of the resource types in the templates.

`CfnGuardValidator(control_tower_rules_enabled=True)` passes all 237 rule files of every service to `cfn-guard` at
every synth, and cfn-guard pays for every rule on every template (~50 ms per rule and template here), although a
rule of a type the templates lack only answers SKIP. `RESOURCE_TYPES` names the types of this app's templates that
Control Tower rules check; the plugin (stacks/guard_plugin.py: per template and service folder, started early) gets
the rule files that check them (from the folders of their services, read from each rule's CloudFormation-hook entry
point, `is_cfn_hook(%INPUT_DOCUMENT, %<TYPE>)`). A test (tests/stacks/test_guard_rules.py) fails when a synthesized
template gains a type some rule checks that is not listed, so the list cannot silently fall behind the templates.

The rule files ship inside the plugin's jsii package (a tarball jsii unpacks at a place of its own); they are
unpacked once per package version into a cache folder of this project and reused by every later synth.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path, PurePosixPath

from stacks.package_cache import unpacked

# The resource types of the app's templates (every environment, the account and CI stacks) that a Control Tower rule
# checks; kept right by a test.
RESOURCE_TYPES = (
    "AWS::ApiGateway::Stage",
    "AWS::CloudWatch::Alarm",
    "AWS::DynamoDB::Table",
    "AWS::EC2::SecurityGroup",  # VPC mode (prod)
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::Subnet",
    "AWS::IAM::Policy",
    "AWS::IAM::Role",
    "AWS::KMS::Key",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::Queue",
    "AWS::WAFv2::WebACL",
)

_PACKAGE = "cdklabs.cdk_validator_cfnguard._jsii"
_RULES_IN_TARBALL = PurePosixPath("package/rules/control-tower/cfn-guard")
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "secure-serverless" / "cfn-guard-rules"


def _tarball() -> Path:
    (tarball,) = [Path(str(f)) for f in files(_PACKAGE).iterdir() if f.name.endswith(".jsii.tgz")]
    return tarball


def control_tower_rules_dir() -> Path:
    """The folder holding every Control Tower rule folder of the installed plugin version, unpacked on first use.

    Safe when two processes get here at once: each unpacks aside, the first rename wins.
    """
    tarball = _tarball()

    def rule_file(path: PurePosixPath) -> PurePosixPath | None:
        return path.relative_to(_RULES_IN_TARBALL) if path.is_relative_to(_RULES_IN_TARBALL) else None

    return unpacked(tarball, CACHE_DIR / tarball.name.removesuffix(".jsii.tgz"), rule_file)


_TYPE_CONSTANT = re.compile(r'^let\s+(\w+)\s*=\s*"(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)"', re.MULTILINE)
_HOOK = re.compile(r"is_cfn_hook\(%INPUT_DOCUMENT,\s*%(\w+)\)")
_ANY_TYPE = re.compile(r"AWS::[A-Za-z0-9]+::[A-Za-z0-9]+")


def checked_types(rule: str) -> set[str]:
    """The resource types a rule file checks: those its hook entry points name; failing that, every type it names."""
    constants = dict(_TYPE_CONSTANT.findall(rule))
    hooked = {constants[name] for name in _HOOK.findall(rule) if name in constants}
    return hooked or set(_ANY_TYPE.findall(rule))


def rules_by_type(rules_dir: Path | None = None) -> dict[str, list[Path]]:
    """Resource type -> the Control Tower rule files (under their service folders) that check it."""
    rules: dict[str, list[Path]] = defaultdict(list)
    for rule_file in sorted((rules_dir or control_tower_rules_dir()).glob("*/*.guard")):
        for resource_type in checked_types(rule_file.read_text()):
            rules[resource_type].append(rule_file)
    return rules


def rule_files(resource_types: Iterable[str] = RESOURCE_TYPES) -> list[str]:
    """Absolute paths of the rule files that check `resource_types`; a type no rule checks fails (a typo)."""
    by_type = rules_by_type()
    unknown = sorted(t for t in resource_types if t not in by_type)
    if unknown:
        raise ValueError(f"no Control Tower rule checks {unknown!r}: list only types some rule checks")
    return sorted({str(rule) for resource_type in resource_types for rule in by_type[resource_type]})
