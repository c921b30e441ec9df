"""Delivery settings from CDK context: CI deploy roles (SecureServerless-ci) and an optional account per environment.

Nothing here imports CDK (like stacks/config.py): bad values fail with one ConfigError line before synthesis starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks.config import SUFFIX_RULE, ConfigError, validate_suffix

# GitHub: owner = letters, digits and single hyphens (no leading hyphen, <= 39); name = letters, digits, . _ -
REPOSITORY_RULE = (
    "owner/name of one GitHub repository (letters, digits, '-', '.', '_'; no wildcard; the numeric ids go in "
    "ciRepositoryOwnerId and ciRepositoryId, not after an '@')"
)
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$")
GITHUB_ID_RULE = (
    "the numeric id GitHub gives it (digits, e.g. from `gh api repos/<owner>/<name> --jq .owner.id,.id`); "
    "required for immutable subjects (or set ciSubjectForm to name)"
)
_GITHUB_ID_RE = re.compile(r"^[1-9][0-9]{0,19}$")
SUBJECT_FORM_RULE = (
    "immutable (repo:<owner>@<owner-id>/<name>@<repo-id>:..., the default) or name (repo:<owner>/<name>:...)"
)
SUBJECT_FORMS = ("immutable", "name")
QUALIFIER_RULE = "the CDK bootstrap qualifier: 1 to 10 lowercase letters and digits"
_QUALIFIER_RE = re.compile(r"^[a-z0-9]{1,10}$")
QUALIFIERS_RULE = 'a JSON object {"preview": q, "staging": q, "prod": q} of three different bootstrap qualifiers'
OIDC_PROVIDER_RULE = "the ARN of an IAM OIDC provider for token.actions.githubusercontent.com"
_OIDC_PROVIDER_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$")
BOOLEAN_RULE = "true or false"
ACCOUNT_RULE = "12 digits"
_ACCOUNT_RE = re.compile(r"^\d{12}$")
REGION_RULE = "a region the CDK knows, e.g. eu-west-1"
ACCOUNTS_RULE = 'a JSON object {"<suffix or preset>": {"account": "<12 digits>", "region": "<region>"}}'
ONE_TRUST_LEVEL_RULE = "one trust level per account (previews and dev; staging; prod never share an account)"

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
# Trust levels: every environment belongs to one, and each has its own account (with a mapping) and its own bootstrap
# qualifier (always). `preview` holds dev and every pr-<n>; staging and prod are their presets.
TRUST_LEVELS = ("preview", "staging", "prod")
# Previews keep CDK's default qualifier (an unchanged `cdk bootstrap` serves dev); staging and prod get their own.
DEFAULT_QUALIFIERS = {"preview": "hnb659fds", "staging": "secslsstg", "prod": "secslsprd"}
# The workflow that alone may deploy staging and prod (pinned in their trust with job_workflow_ref), on this ref.
MAIN_WORKFLOW = ".github/workflows/main.yml"
SWEEP_WORKFLOW = ".github/workflows/sweep-previews.yml"
MAIN_REF = "refs/heads/main"
# GitHub environments: `preview` (required reviewers) deploys pr-<n>; `preview-sweeper` runs only the scheduled sweeper
# on main; `staging`; `prod-plan` creates prod's change set; `prod` (required reviewers) executes it.
PREVIEW_ENVIRONMENT = "preview"
SWEEPER_ENVIRONMENT = "preview-sweeper"
# The bootstrap roles a deploy needs: CloudFormation deploy, asset upload, and lookup (read-only, used by `cdk diff`).
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "lookup")


def trust_level(suffix_or_preset: str) -> str:
    """prod and staging are their own trust levels; dev and every other suffix (pr-<n>, qa, ...) are previews."""
    return suffix_or_preset if suffix_or_preset in ("staging", "prod") else "preview"


@dataclass(frozen=True)
class CiSettings:
    """What SecureServerless-ci trusts: one repository (by immutable ids unless opted out), the bootstrap qualifier
    of each trust level, and whether previews (pull-request environments) exist."""

    repository: str
    owner_id: str | None = None
    repository_id: str | None = None
    subject_form: str = "immutable"
    qualifiers: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_QUALIFIERS))
    previews: bool = False
    oidc_provider_arn: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.repository, str) or not _REPOSITORY_RE.match(self.repository):
            raise ConfigError("ciRepository", self.repository, REPOSITORY_RULE)
        if self.subject_form not in SUBJECT_FORMS:
            raise ConfigError("ciSubjectForm", self.subject_form, SUBJECT_FORM_RULE)
        for name, value in (("ciRepositoryOwnerId", self.owner_id), ("ciRepositoryId", self.repository_id)):
            if (value is not None or self.subject_form == "immutable") and not _GITHUB_ID_RE.match(str(value)):
                raise ConfigError(name, value, GITHUB_ID_RULE)
        qualifiers = dict(self.qualifiers) if isinstance(self.qualifiers, Mapping) else None
        if qualifiers is None or set(qualifiers) != set(TRUST_LEVELS) or len(set(qualifiers.values())) != 3:
            raise ConfigError("ciQualifiers", self.qualifiers, QUALIFIERS_RULE)
        for level, qualifier in qualifiers.items():
            if not isinstance(qualifier, str) or not _QUALIFIER_RE.match(qualifier):
                raise ConfigError(f"ciQualifiers.{level}", qualifier, QUALIFIER_RULE)
        if self.oidc_provider_arn is not None and not _OIDC_PROVIDER_RE.match(self.oidc_provider_arn):
            raise ConfigError("ciOidcProviderArn", self.oidc_provider_arn, OIDC_PROVIDER_RULE)

    @property
    def owner(self) -> str:
        return self.repository.split("/")[0]

    @property
    def subject_repository(self) -> str:
        """How `sub` names the repository: `owner@<id>/name@<id>` (immutable ids, GitHub's default for repositories
        created or renamed from 2026-07-15) or the name-only `owner/name` (opt-in, older repositories)."""
        if self.subject_form == "name":
            return self.repository
        owner, name = self.repository.split("/")
        return f"{owner}@{self.owner_id}/{name}@{self.repository_id}"

    def environment_subject(self, environment: str) -> str:
        """The `sub` claim of a job that runs in GitHub environment `environment` of this repository."""
        return f"repo:{self.subject_repository}:environment:{environment}"

    @property
    def pull_request_subject(self) -> str:
        """The `sub` claim of a job triggered by a pull request of this repository (no GitHub environment)."""
        return f"repo:{self.subject_repository}:pull_request"

    def workflow_ref(self, workflow: str = MAIN_WORKFLOW, ref: str = MAIN_REF) -> str:
        """The `job_workflow_ref` claim of a job of `workflow` run on `ref` (GitHub writes it with names)."""
        return f"{self.repository}/{workflow}@{ref}"


def _boolean(field_name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ConfigError(field_name, value, BOOLEAN_RULE)


def _json_object(field_name: str, value: object, rule: str) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ConfigError(field_name, value, rule) from None
    return value


def ci_settings_from_context(
    get_context: Callable[[str], Any], *, separate_preview_account: bool = False
) -> CiSettings:
    """Read ciRepository, ciRepositoryOwnerId, ciRepositoryId, ciSubjectForm, ciQualifiers, ciPreviews and
    ciOidcProviderArn. Previews default to on only where they have an account of their own
    (`separate_preview_account`: an `accounts` mapping); sharing staging's and prod's account needs ciPreviews=true."""
    qualifiers = _json_object("ciQualifiers", get_context("ciQualifiers"), QUALIFIERS_RULE)
    previews = get_context("ciPreviews")

    def text(key: str) -> str | None:
        value = get_context(key)
        return None if value in (None, "") else str(value)

    return CiSettings(
        repository=get_context("ciRepository"),
        owner_id=text("ciRepositoryOwnerId"),
        repository_id=text("ciRepositoryId"),
        subject_form=get_context("ciSubjectForm") or "immutable",
        qualifiers=DEFAULT_QUALIFIERS if qualifiers is None else qualifiers,  # type: ignore[arg-type]  # checked
        previews=separate_preview_account if previews is None else _boolean("ciPreviews", previews),
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
    levels: dict[str, set[str]] = {}
    for name, target in targets.items():
        levels.setdefault(target.account, set()).add(trust_level(name))
    for account, held in levels.items():
        if len(held) > 1:
            names = ", ".join(sorted(n for n, t in targets.items() if t.account == account))
            raise ConfigError("accounts", f"{names} in {account}", ONE_TRUST_LEVEL_RULE)
    return targets


def target_for(suffix: str, preset: str, targets: Mapping[str, AccountTarget]) -> AccountTarget | None:
    """An environment's own mapping, else its preset's (so every `pr-<n>` can share the dev account), else None."""
    return targets.get(suffix) or targets.get(preset)


__all__ = [
    "BOOTSTRAP_ROLES",
    "DEFAULT_QUALIFIERS",
    "TRUST_LEVELS",
    "trust_level",
    "GITHUB_AUDIENCE",
    "GITHUB_OIDC_HOST",
    "AccountTarget",
    "CiSettings",
    "ci_settings_from_context",
    "parse_accounts",
    "target_for",
]
