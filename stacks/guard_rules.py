"""The Control Tower rules the cfn-guard plugin checks: only the rule folders of the services in the templates.

`CfnGuardValidator(control_tower_rules_enabled=True)` passes all 237 rule files of every service to `cfn-guard` at
every synth (6.6 s over dev's templates, against 1.6 s for the folders of the services they use): a rule of a service
the templates do not contain only answers SKIP. `RULE_FOLDERS` names the folders this app needs; a test
(tests/stacks/test_guard_rules.py) fails when a synthesized template gains a resource type that a rule outside
these folders checks, so the list cannot silently fall behind the templates.

The rule files ship inside the plugin's jsii package (a tarball jsii unpacks at a place of its own); they are
unpacked once per package version into a cache folder of this project and reused by every later synth.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from importlib.resources import files
from pathlib import Path, PurePosixPath

from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

# Folders under the package's rules/control-tower/cfn-guard/, one per service (kept right by a test).
RULE_FOLDERS = (
    "apigateway",  # AWS::ApiGateway::Stage
    "cloudwatch",  # AWS::CloudWatch::Alarm, AWS::Logs::LogGroup
    "dynamodb",  # AWS::DynamoDB::Table
    "ec2",  # AWS::EC2::SecurityGroup, SecurityGroupIngress, Subnet (VPC mode)
    "identityandaccessmanagement",  # AWS::IAM::Role, Policy, ManagedPolicy
    "keymanagementservice",  # AWS::KMS::Key
    "lambda",  # AWS::Lambda::Function, Permission
    "s3",  # AWS::S3::Bucket, BucketPolicy
    "sqs",  # AWS::SQS::Queue
    "waf",  # AWS::WAFv2::WebACL
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
    target = CACHE_DIR / tarball.name.removesuffix(".jsii.tgz")
    if (target / ".complete").is_file():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="unpacking-", dir=CACHE_DIR))
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            path = PurePosixPath(member.name)
            if not member.isfile() or not path.is_relative_to(_RULES_IN_TARBALL) or ".." in path.parts:
                continue  # only the rule files, as plain files inside the target (no links, no escapes)
            destination = staging.joinpath(*path.relative_to(_RULES_IN_TARBALL).parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None  # a regular file always has content
            destination.write_bytes(source.read())
    (staging / ".complete").write_text(tarball.name)
    try:
        staging.rename(target)
    except OSError:  # another process finished first with the same version
        shutil.rmtree(staging, ignore_errors=True)
    return target


def rule_folders(folders: tuple[str, ...] = RULE_FOLDERS) -> list[str]:
    """Absolute paths of `folders` (service names) under the unpacked Control Tower rules; an unknown name fails."""
    root = control_tower_rules_dir()
    missing = [folder for folder in folders if not (root / folder).is_dir()]
    if missing:
        raise ValueError(f"no Control Tower rule folder {missing!r} in {root}: must be one of {sorted_folders(root)}")
    return [str(root / folder) for folder in folders]


def sorted_folders(root: Path) -> list[str]:
    return sorted(entry.name for entry in root.iterdir() if entry.is_dir())


def guard_validator(folders: tuple[str, ...] = RULE_FOLDERS) -> CfnGuardValidator:
    """The cfn-guard plugin with the Control Tower rules of `folders` only."""
    return CfnGuardValidator(control_tower_rules_enabled=False, rules=rule_folders(folders))
