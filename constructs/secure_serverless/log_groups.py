"""Log groups the constructs create: always KMS-encrypted, with retention and a removal policy."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from .encryption_key import allow_cloudwatch_logs
from .naming import log_group_arn


def encrypted_log_group(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    key: kms.IKey,
    retention: logs.RetentionDays,
    removal_policy: RemovalPolicy,
    key_policy_sid: str | None = None,
) -> logs.LogGroup:
    """A log group encrypted with `key`; with `key_policy_sid`, the key policy also admits this one group
    (for groups named outside the environment's `/<prefix>/` namespace, e.g. API Gateway's or WAF's)."""
    group = logs.LogGroup(
        scope, construct_id, log_group_name=name, encryption_key=key, retention=retention, removal_policy=removal_policy
    )
    if key_policy_sid is not None:
        allow_cloudwatch_logs(key, log_group_arn(scope, name), sid=key_policy_sid)
    return group
