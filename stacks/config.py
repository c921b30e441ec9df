"""Typed, immutable per-environment configuration: presets, validation and parsing of CDK context.

Nothing here imports CDK, so the rules can be tested (and fail) before any synthesis starts.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

APP_NAME = "secure-serverless"
DEFAULT_ENVIRONMENT = "dev"

SUFFIX_RULE = (
    "a lowercase letter first, then lowercase letters, digits and hyphens, "
    "at most 12 characters in all, no trailing hyphen"
)
_SUFFIX_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,10}[a-z0-9])?$")

# Derived bucket names: an environment's access-log bucket is `<bucket prefix>-logs`, so the suffix `x-logs` would
# name its data bucket exactly like the access-log bucket of `x` (account-regional names are unique).
RESERVED_SUFFIX_ENDINGS = ("-logs",)
SUFFIX_COLLISION_RULE = (
    "a suffix that does not end in '-logs' (another environment's access-log bucket is named <its prefix>-logs)"
)

EMAIL_RULE = "one address of the form local@domain.tld, without spaces"
# Kept in sync with the CloudFormation parameter's AllowedPattern (the same string is used there).
EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
_EMAIL_RE = re.compile(EMAIL_PATTERN)

TAG_RULE = "1 to 128 characters: letters, digits, spaces and _ . : / = + - @"
# Default of the AlertEmail parameter everywhere (a parameter must have a default); it can never be confirmed.
PLACEHOLDER_ALERT_EMAIL = "alerts@example.com"
PLACEHOLDER_EMAIL_MESSAGE = (
    f"AlertEmail is the placeholder {PLACEHOLDER_ALERT_EMAIL}: alarms would reach nobody. Deploy with "
    "--parameters AlertEmail=<an address you read> (or synth with -c alertEmail=<address>)."
)

WAF_REQUIRED_RULE = (
    "true: every environment has the API, and WAF's rate rule keyed on the caller's session token is its "
    "per-identity limit (turn off only the managed rule groups, waf_managed_rules, to save cost)"
)

_TAG_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")

Preset = Literal["dev", "staging", "prod"]
MfaMode = Literal["off", "optional", "required"]
ExecutionLogLevel = Literal["INFO", "ERROR"]


class ConfigError(ValueError):
    """A configuration value broke a rule; the message quotes the field, the value and the rule."""

    def __init__(self, field_name: str, value: object, rule: str) -> None:
        super().__init__(f"invalid {field_name} {value!r}: must be {rule}")
        self.field_name = field_name
        self.value = value
        self.rule = rule


@dataclass(frozen=True)
class EnvironmentConfig:
    """Everything that differs between environments; one instance per deployed suffix."""

    suffix: str
    preset: Preset
    alert_email: str = PLACEHOLDER_ALERT_EMAIL
    # Refuse, at deploy time, the placeholder address: alarms sent there reach nobody (staging/prod).
    require_real_alert_email: bool = False
    owner: str = "platform-team"
    cost_center: str = "unassigned"
    # Stateful resources: RETAIN + deletion protection when False (prod); destroyable when True.
    destroyable: bool = True
    termination_protection: bool = False
    log_retention_days: int = 7
    access_log_retention_days: int = 30
    noncurrent_version_expiration_days: int = 30
    # Current object versions expire this many days after creation (None: kept until deleted). Records follow their
    # objects: with an expiry, each record's TTL is the end of its version's lifecycle (docs/operations.md). dev and
    # previews hold test data only; staging and prod keep users' objects.
    object_expiration_days: int | None = 30
    # Data path (ScaledTable / EventPipeline / functions)
    table_read_capacity: tuple[int, int] = (1, 5)
    table_write_capacity: tuple[int, int] = (1, 5)
    table_target_utilization_percent: int = 70
    table_on_demand: bool = False
    processor_timeout_seconds: int = 30
    processor_memory_mb: int = 256
    processor_reserved_concurrency: int | None = None
    processor_max_concurrency: int = 2
    processor_batch_size: int = 10
    # Sized from lambda/processor/processor/backoff.py: receives_to_survive(visibility_timeout=180) = 24 outlives a
    # 45-minute outage of any dependency x 1.4 even with every visibility change failing (docs/operations.md).
    processor_max_receive_count: int = 24
    # API Gateway gives up after 29 s; the API's Query budget (12 s worst case) fits this with margin.
    api_timeout_seconds: int = 15
    # Quotas: alarm when the account's concurrent executions reach this share of its Lambda concurrency quota, and
    # when the processor runs at its concurrency ceiling (reserved / event-source maximum) for this long.
    account_concurrency_alarm_percent: int = 80
    concurrency_limit_sustained_minutes: int = 15
    # API + identity
    api_reserved_concurrency: int | None = None
    api_throttle_rate_limit: int = 20
    api_throttle_burst_limit: int = 10
    api_execution_log_level: ExecutionLogLevel = "INFO"
    # WAF web ACL on the API with the per-identity (session-token) and per-IP rate rules and the size rules: the
    # per-identity limit every environment with the API must have (issue 11 item 2), so it cannot be turned off.
    waf_enabled: bool = True
    # The AWS managed rule groups on top (1 USD/month each): a separate, per-environment cost choice.
    waf_managed_rules: bool = False
    # Requests per 5 minutes before WAF blocks: per set of temporary credentials, and per source IP.
    api_identity_rate_limit: int = 300
    api_ip_rate_limit: int = 1000
    threat_protection: bool = False
    mfa: MfaMode = "optional"
    self_sign_up: bool = False
    uploads_enabled: bool = True
    # Per-user upload limits (by user pool sub; docs/api.md): the largest object one upload grant admits (the POST
    # policy's content-length-range), grants per minute and per day, and the bytes one user may hold in all. An upload
    # grant is valid for upload_grant_seconds. dev/previews: small; staging/prod: see _PROD.
    upload_max_object_bytes: int = 10 * 1024 * 1024
    uploads_per_minute: int = 20
    uploads_per_day: int = 500
    upload_max_bytes_held: int = 1024 * 1024 * 1024
    upload_grant_seconds: int = 120
    # Operations
    private_network: bool = False
    # Principals (ARN patterns, ${AWS::...} allowed) never locked out by the bucket's VPC-endpoint guard.
    admin_principal_arn_patterns: tuple[str, ...] = (
        # IAM Identity Center's role for the AdministratorAccess permission set: `AWSReservedSSO_<set>_<16 hex>`,
        # under aws-reserved/sso.amazonaws.com/ (with the Identity Center region in the path outside us-east-1).
        # The aws-reserved path cannot be used by CreateRole, so no one else can make a role that matches.
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-reserved/sso.amazonaws.com/"
        "AWSReservedSSO_AdministratorAccess_????????????????",
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-reserved/sso.amazonaws.com/*/"
        "AWSReservedSSO_AdministratorAccess_????????????????",
    )
    alarm_period_minutes: int = 5
    api_p99_latency_threshold_ms: int = 3000
    buffer_oldest_message_threshold_seconds: int = 900

    def __post_init__(self) -> None:
        validate_suffix(self.suffix)
        if not _EMAIL_RE.match(self.alert_email):
            raise ConfigError("alertEmail", self.alert_email, EMAIL_RULE)
        for name, value in (("owner", self.owner), ("costCenter", self.cost_center)):
            if not _TAG_RE.match(value):
                raise ConfigError(name, value, TAG_RULE)
        for name, (low, high) in (
            ("tableReadCapacity", self.table_read_capacity),
            ("tableWriteCapacity", self.table_write_capacity),
        ):
            if not 1 <= low <= high:
                raise ConfigError(name, (low, high), "a (min, max) pair with 1 <= min <= max")
        for name, value, low, high in (
            ("apiTimeoutSeconds", self.api_timeout_seconds, 1, 28),
            ("accountConcurrencyAlarmPercent", self.account_concurrency_alarm_percent, 1, 100),
            ("concurrencyLimitSustainedMinutes", self.concurrency_limit_sustained_minutes, 1, 1440),
            ("processorMaxReceiveCount", self.processor_max_receive_count, 1, 1000),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(name, value, f"an integer from {low} to {high}")
        for name, value in (
            ("apiIdentityRateLimit", self.api_identity_rate_limit),
            ("apiIpRateLimit", self.api_ip_rate_limit),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 10 <= value <= 2_000_000_000:
                raise ConfigError(name, value, "an integer from 10 to 2,000,000,000 (WAF's range for a rate rule)")
        if self.object_expiration_days is not None and (
            isinstance(self.object_expiration_days, bool)
            or not isinstance(self.object_expiration_days, int)
            or not 1 <= self.object_expiration_days <= 36_500
        ):
            raise ConfigError(
                "objectExpirationDays", self.object_expiration_days, "None (kept) or an integer from 1 to 36500"
            )
        _validate_upload_limits(self)
        if not self.waf_enabled:
            raise ConfigError("wafEnabled", self.waf_enabled, WAF_REQUIRED_RULE)
        if not 20 <= self.table_target_utilization_percent <= 90:
            raise ConfigError(
                "tableTargetUtilizationPercent",
                self.table_target_utilization_percent,
                "an integer from 20 to 90",
            )

    @property
    def stack_name(self) -> str:
        """CloudFormation stack name; carries the suffix so environments sit side by side."""
        return f"SecureServerless-{self.suffix}"

    @property
    def resource_prefix(self) -> str:
        """Prefix of every physical name, log group, alias and alarm of this environment."""
        return f"{APP_NAME}-{self.suffix}"

    @property
    def bucket_prefix(self) -> str:
        """Short bucket-name prefix: leaves room for the `-<account>-<region>-an` namespace suffix."""
        return f"secsls-{self.suffix}"

    @property
    def tags(self) -> dict[str, str]:
        """Tags applied to every taggable resource of the stack."""
        return {
            "app": APP_NAME,
            "environment": self.suffix,
            "owner": self.owner,
            "cost-center": self.cost_center,
        }


# S3 takes at most 5 GiB in one POST (larger objects need a multipart upload, which a POST grant cannot bound).
MAX_SINGLE_UPLOAD_BYTES = 5 * 1024**3
MAX_BYTES_HELD = 5 * 1024**4


def _validate_upload_limits(config: EnvironmentConfig) -> None:
    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    for name, value, low, high, rule in (
        (
            "uploadMaxObjectBytes",
            config.upload_max_object_bytes,
            1,
            MAX_SINGLE_UPLOAD_BYTES,
            "an integer from 1 to 5 GiB (S3's largest single POST upload)",
        ),
        ("uploadsPerMinute", config.uploads_per_minute, 1, 10_000, "an integer from 1 to 10,000"),
        ("uploadGrantSeconds", config.upload_grant_seconds, 10, 900, "an integer from 10 to 900 (a short grant)"),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(name, value, rule)
    if not whole(config.uploads_per_day) or not config.uploads_per_minute <= config.uploads_per_day <= 1_000_000:
        raise ConfigError("uploadsPerDay", config.uploads_per_day, "an integer from uploadsPerMinute to 1,000,000")
    if (
        not whole(config.upload_max_bytes_held)
        or not config.upload_max_object_bytes <= config.upload_max_bytes_held <= MAX_BYTES_HELD
    ):
        raise ConfigError(
            "uploadMaxBytesHeld",
            config.upload_max_bytes_held,
            "an integer from uploadMaxObjectBytes to 5 TiB (one user must be able to hold one largest object)",
        )


_DEV: dict[str, Any] = {}
_PROD: dict[str, Any] = dict(
    destroyable=False,
    termination_protection=True,
    log_retention_days=365,
    access_log_retention_days=365,
    noncurrent_version_expiration_days=365,
    object_expiration_days=None,
    # On demand: a new on-demand table takes 4,000 writes/s at once and doubles its previous peak instantly, while
    # provisioned auto scaling needs minutes to react; 10,000 uploads in 60 s then drain in about a minute
    # (bench/capacity.py). The ranges stay as the fallback if table_on_demand is turned off.
    table_on_demand=True,
    table_read_capacity=(5, 100),
    table_write_capacity=(5, 100),
    processor_reserved_concurrency=20,
    processor_max_concurrency=10,
    api_reserved_concurrency=50,
    api_throttle_rate_limit=100,
    api_throttle_burst_limit=50,
    api_execution_log_level="ERROR",
    require_real_alert_email=True,
    waf_managed_rules=True,
    threat_protection=True,
    mfa="required",
    private_network=True,
    alarm_period_minutes=1,
    api_p99_latency_threshold_ms=2000,
    buffer_oldest_message_threshold_seconds=300,
    upload_max_object_bytes=100 * 1024 * 1024,
    uploads_per_minute=60,
    uploads_per_day=5_000,
    upload_max_bytes_held=50 * 1024**3,
)
# staging: like prod, but destroyable (no RETAIN, no deletion/termination protection).
_STAGING: dict[str, Any] = dict(_PROD, destroyable=True, termination_protection=False, log_retention_days=30)

PRESETS: Mapping[str, Mapping[str, Any]] = {"dev": _DEV, "staging": _STAGING, "prod": _PROD}

# CDK context keys (`-c key=value`) that override a preset value, and how to read them.
OVERRIDES: Mapping[str, tuple[str, Callable[[str], Any]]] = {
    "alertEmail": ("alert_email", str),
    "owner": ("owner", str),
    "costCenter": ("cost_center", str),
}


def validate_suffix(suffix: str) -> str:
    """Return the suffix unchanged or raise ConfigError quoting it and the rule."""
    if not isinstance(suffix, str) or not _SUFFIX_RE.match(suffix):
        raise ConfigError("environment suffix", suffix, SUFFIX_RULE)
    if suffix.endswith(RESERVED_SUFFIX_ENDINGS):
        raise ConfigError("environment suffix", suffix, SUFFIX_COLLISION_RULE)
    return suffix


def preset_for(suffix: str) -> Preset:
    """The preset an environment suffix uses: its own name if it is one, else `dev`."""
    return suffix if suffix in PRESETS else "dev"  # type: ignore[return-value]


def parse_suffixes(value: object) -> list[str]:
    """Parse `-c env=` (one suffix or a comma list) into validated, de-duplicated suffixes."""
    if value is None:
        return [DEFAULT_ENVIRONMENT]
    raw = value if isinstance(value, (list, tuple)) else str(value).split(",")
    suffixes: list[str] = []
    for item in raw:
        suffix = validate_suffix(str(item).strip())
        if suffix not in suffixes:
            suffixes.append(suffix)
    if not suffixes:
        raise ConfigError("environment suffix", value, SUFFIX_RULE)
    return suffixes


def build_config(suffix: str, overrides: Mapping[str, Any] | None = None) -> EnvironmentConfig:
    """The preset for `suffix` with `overrides` (snake_case field names) applied, validated."""
    validate_suffix(suffix)
    preset = preset_for(suffix)
    values: dict[str, Any] = dict(PRESETS[preset])
    known = {f.name for f in dataclasses.fields(EnvironmentConfig)}
    for name, value in (overrides or {}).items():
        if name not in known or name in ("suffix", "preset"):
            raise ConfigError("override", name, f"one of {sorted(known - {'suffix', 'preset'})}")
        values[name] = value
    return EnvironmentConfig(suffix=suffix, preset=preset, **values)


def configs_from_context(get_context: Callable[[str], Any]) -> list[EnvironmentConfig]:
    """Read `-c env=...` and the override keys from CDK context; one config per suffix."""
    overrides = {
        field_name: convert(get_context(key))
        for key, (field_name, convert) in OVERRIDES.items()
        if get_context(key) is not None
    }
    return [build_config(suffix, overrides) for suffix in parse_suffixes(get_context("env"))]


__all__ = [
    "APP_NAME",
    "EMAIL_RULE",
    "ConfigError",
    "EMAIL_PATTERN",
    "PLACEHOLDER_ALERT_EMAIL",
    "PLACEHOLDER_EMAIL_MESSAGE",
    "RESERVED_SUFFIX_ENDINGS",
    "EnvironmentConfig",
    "PRESETS",
    "build_config",
    "configs_from_context",
    "parse_suffixes",
    "preset_for",
    "validate_suffix",
]
