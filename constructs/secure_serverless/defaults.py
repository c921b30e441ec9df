"""Secure defaults shared by the constructs. Constructs apply these; callers override them through props."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs

MINIMUM_TLS_VERSION = 1.2
ABORT_INCOMPLETE_MULTIPART_UPLOAD_AFTER = Duration.days(7)
NONCURRENT_VERSION_EXPIRATION = Duration.days(90)
ACCESS_LOG_EXPIRATION = Duration.days(365)
LOG_RETENTION = logs.RetentionDays.ONE_YEAR
# Stateful resources survive a stack deletion unless the caller says otherwise.
STATEFUL_REMOVAL_POLICY = RemovalPolicy.RETAIN
KEY_PENDING_WINDOW = Duration.days(30)

# KMS actions, exact names only (no wildcards): what a service needs to encrypt/decrypt with the key.
KMS_LOGS_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey")
KMS_PUBLISHER_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


_RETENTION_BY_DAYS = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def retention_days(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention for a day count; raises ValueError for a count CloudWatch does not offer."""
    if days not in _RETENTION_BY_DAYS:
        raise ValueError(f"invalid log retention {days!r}: must be one of {sorted(_RETENTION_BY_DAYS)} days")
    retention: logs.RetentionDays = logs.RetentionDays[_RETENTION_BY_DAYS[days]]
    return retention


METRIC_PERIOD = Duration.minutes(5)  # default period of the metrics the constructs expose
