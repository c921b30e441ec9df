"""Log groups the constructs create: always KMS-encrypted, with retention and a removal policy."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from .encryption_key import ensure_key_admits_log_group


def encrypted_log_group(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    key: kms.IKey,
    retention: logs.RetentionDays,
    removal_policy: RemovalPolicy,
    key_policy_sid: str = "AllowCloudWatchLogsForLogGroup",
) -> logs.LogGroup:
    """A log group encrypted with `key`, whose policy is made to admit this one group (statement `key_policy_sid`)
    unless it already does (e.g. an EnvironmentKey's `/<prefix>/*`)."""
    group = logs.LogGroup(
        scope, construct_id, log_group_name=name, encryption_key=key, retention=retention, removal_policy=removal_policy
    )
    ensure_key_admits_log_group(scope, key, name, key_policy_sid)
    return group
