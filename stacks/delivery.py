"""Delivery settings from CDK context: CI deploy roles (SecureServerless-ci) and an optional account per environment.

Nothing here imports CDK (like stacks/config.py): bad values fail with one ConfigError line before synthesis starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from stacks.config import SUFFIX_RULE, ConfigError, validate_suffix

# GitHub: owner = letters, digits and single hyphens (no leading hyphen, <= 39); name = letters, digits, . _ -
REPOSITORY_RULE = "owner/name of one GitHub repository (letters, digits, '-', '.', '_'; no wildcard)"
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$")
QUALIFIER_RULE = "the CDK bootstrap qualifier: 1 to 10 lowercase letters and digits"
_QUALIFIER_RE = re.compile(r"^[a-z0-9]{1,10}$")
DEFAULT_QUALIFIER = "hnb659fds"  # what `cdk bootstrap` uses unless told otherwise
OIDC_PROVIDER_RULE = "the ARN of an IAM OIDC provider for token.actions.githubusercontent.com"
_OIDC_PROVIDER_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$")
BOOLEAN_RULE = "true or false"
ACCOUNT_RULE = "12 digits"
_ACCOUNT_RE = re.compile(r"^\d{12}$")
REGION_RULE = "a region the CDK knows, e.g. eu-west-1"
ACCOUNTS_RULE = 'a JSON object {"<suffix or preset>": {"account": "<12 digits>", "region": "<region>"}}'

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
DEFAULT_CI_ENVIRONMENTS = ("staging", "prod")
# The bootstrap roles a deploy needs: CloudFormation deploy, asset upload, and lookup (read-only, used by `cdk diff`).
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "lookup")


@dataclass(frozen=True)
class CiSettings:
    """What SecureServerless-ci trusts: one repository, its GitHub environments, and optionally its pull requests."""

    repository: str
    qualifier: str = DEFAULT_QUALIFIER
    environments: tuple[str, ...] = DEFAULT_CI_ENVIRONMENTS
    pull_requests: bool = True
    oidc_provider_arn: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.repository, str) or not _REPOSITORY_RE.match(self.repository):
            raise ConfigError("ciRepository", self.repository, REPOSITORY_RULE)
        if not isinstance(self.qualifier, str) or not _QUALIFIER_RE.match(self.qualifier):
            raise ConfigError("ciQualifier", self.qualifier, QUALIFIER_RULE)
        for name in self.environments:
            try:
                validate_suffix(name)
            except ConfigError:
                raise ConfigError("ciEnvironments", name, SUFFIX_RULE) from None
        if self.oidc_provider_arn is not None and not _OIDC_PROVIDER_RE.match(self.oidc_provider_arn):
            raise ConfigError("ciOidcProviderArn", self.oidc_provider_arn, OIDC_PROVIDER_RULE)

    def environment_subject(self, environment: str) -> str:
        """The `sub` claim of a job that runs in GitHub environment `environment` of this repository."""
        return f"repo:{self.repository}:environment:{environment}"

    @property
    def pull_request_subject(self) -> str:
        """The `sub` claim of a job triggered by a pull request of this repository (no GitHub environment)."""
        return f"repo:{self.repository}:pull_request"


def _boolean(field_name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ConfigError(field_name, value, BOOLEAN_RULE)


def ci_settings_from_context(get_context: Callable[[str], Any]) -> CiSettings:
    """Read ciRepository, ciQualifier (else the app's bootstrap qualifier), ciEnvironments, ciPullRequests,
    ciOidcProviderArn."""
    environments = get_context("ciEnvironments")
    if environments is None:
        environments = DEFAULT_CI_ENVIRONMENTS
    elif isinstance(environments, str):
        environments = tuple(e.strip() for e in environments.split(",") if e.strip())
    qualifier = get_context("ciQualifier") or get_context("@aws-cdk/core:bootstrapQualifier") or DEFAULT_QUALIFIER
    pull_requests = get_context("ciPullRequests")
    return CiSettings(
        repository=get_context("ciRepository"),
        qualifier=qualifier,
        environments=tuple(dict.fromkeys(environments)),
        pull_requests=True if pull_requests is None else _boolean("ciPullRequests", pull_requests),
        oidc_provider_arn=get_context("ciOidcProviderArn") or None,
    )


@dataclass(frozen=True)
class AccountTarget:
    """The account and region one environment deploys to."""

    account: str
    region: str


def parse_accounts(value: object, known_regions: Collection[str]) -> dict[str, AccountTarget]:
    """Validate the `accounts` context: {suffix or preset: {account, region}}; a JSON string is accepted too
    (`-c accounts='{...}'`). No value means no mapping (every stack takes the CLI's account and region)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError("accounts", value, ACCOUNTS_RULE) from None
    if not isinstance(value, Mapping):
        raise ConfigError("accounts", value, ACCOUNTS_RULE)
    targets: dict[str, AccountTarget] = {}
    for name, entry in value.items():
        try:
            validate_suffix(name)
        except ConfigError:
            raise ConfigError("accounts key", name, SUFFIX_RULE) from None
        if not isinstance(entry, Mapping) or set(entry) != {"account", "region"}:
            raise ConfigError(f"accounts.{name}", entry, ACCOUNTS_RULE)
        account, region = entry["account"], entry["region"]
        if not isinstance(account, str) or not _ACCOUNT_RE.match(account):
            raise ConfigError(f"accounts.{name}.account", account, ACCOUNT_RULE)
        if region not in known_regions:
            raise ConfigError(f"accounts.{name}.region", region, REGION_RULE)
        targets[name] = AccountTarget(account=account, region=region)
    return targets


def target_for(suffix: str, preset: str, targets: Mapping[str, AccountTarget]) -> AccountTarget | None:
    """An environment's own mapping, else its preset's (so every `pr-<n>` can share the dev account), else None."""
    return targets.get(suffix) or targets.get(preset)


__all__ = [
    "BOOTSTRAP_ROLES",
    "GITHUB_AUDIENCE",
    "GITHUB_OIDC_HOST",
    "AccountTarget",
    "CiSettings",
    "ci_settings_from_context",
    "parse_accounts",
    "target_for",
]
