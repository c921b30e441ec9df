"""EnvironmentKey: one customer-managed KMS key per environment, whose key policy names each service that uses it."""

from __future__ import annotations

import fnmatch
import weakref
from collections.abc import Mapping
from typing import Any

from aws_cdk import Aws, Duration, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from . import defaults
from .naming import log_group_arn, namespace, validate_name_prefix
from .overrides import Guard, equals, merge_props


class EnvironmentKey(Construct):
    """A rotating customer-managed KMS key whose key policy names each service that uses it.

    Minimal use: ``EnvironmentKey(self, "Key")``.

    Args:
        scope: the parent construct.
        construct_id: the construct id.
        name_prefix: environment prefix: the alias is ``alias/<name_prefix>`` and CloudWatch Logs may use the key for
            log groups under ``/<name_prefix>/``. Default: None (no alias; the log-group namespace is the stack name).
        description: key description. Default: one naming the prefix.
        pending_window: waiting period before a deleted key is gone. Default: 30 days.
        allow_log_groups: let CloudWatch Logs use the key for this environment's log groups. Default: True.
        key_props: further ``kms.Key`` keyword arguments, merged over the defaults. Refused: turning key rotation
            off; setting ``alias`` or ``removal_policy`` (use name_prefix and ``RemovalPolicies.of``). Default: None.

    Removal: the key is retained; use ``RemovalPolicies.of(key).destroy()`` for a disposable one.

    Attributes:
        key: the ``kms.Key``.
        alias_name: ``alias/<name_prefix>``, None without a prefix.
        log_group_prefix: log groups whose names start with this may use the key.
    """

    key: kms.Key
    alias_name: str | None
    log_group_prefix: str

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str | None = None,
        description: str | None = None,
        pending_window: Duration = defaults.KEY_PENDING_WINDOW,
        allow_log_groups: bool = True,
        key_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if name_prefix is not None:
            validate_name_prefix("name_prefix", name_prefix)
        prefix = namespace(self, name_prefix)
        self.alias_name = f"alias/{name_prefix}" if name_prefix is not None else None
        self.log_group_prefix = f"/{prefix}/"
        secure_defaults: dict[str, Any] = dict(
            description=description or f"Customer-managed key of environment {prefix}",
            enable_key_rotation=True,
            pending_window=pending_window,
        )
        self.key = kms.Key(
            self,
            "Key",
            alias=self.alias_name,
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
            **merge_props(
                "key_props",
                secure_defaults,
                key_props,
                guards={
                    "enable_key_rotation": equals(True, "must stay True (the key rotates yearly)"),
                    "policy": Guard(
                        lambda doc: not open_allow_statements(doc),
                        "must not Allow a '*' principal without a condition (anyone could use the key)",
                    ),
                },
                owned={
                    "alias": "name_prefix",
                    "removal_policy": "RemovalPolicies.of(construct)",
                    "description": "description",
                    "pending_window": "pending_window",
                },
                target=kms.Key,
            ),
        )
        deny_grants_except_for_aws_resources(self.key)
        if allow_log_groups:
            self._allow_cloudwatch_logs()

    def _allow_cloudwatch_logs(self) -> None:
        """Key policy: CloudWatch Logs may use the key only for this environment's log groups."""
        pattern = log_group_arn(self, f"{self.log_group_prefix}*")
        allow_cloudwatch_logs(
            self.key, pattern, sid="AllowCloudWatchLogsForThisEnvironment", name_pattern=f"{self.log_group_prefix}*"
        )

    def allow_service_publisher(self, service: str, source_arn_patterns: list[str], sid: str) -> None:
        """Key policy: `service` may GenerateDataKey/Decrypt, only for `source_arn_patterns` in this account."""
        allow_service_publisher(self.key, service, source_arn_patterns, sid)


def open_allow_statements(policy: iam.PolicyDocument) -> list[dict[str, Any]]:
    """The statements of `policy` that Allow a ``*`` principal (``"*"`` or ``{"AWS": "*"}``) with no condition."""
    document = policy.to_json()
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [
        s
        for s in statements
        if s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"}) and not s.get("Condition")
    ]


def allow_service_publisher(key: kms.IKey, service: str, source_arn_patterns: list[str], sid: str) -> bool:
    """Key policy: `service` (e.g. events.amazonaws.com) may kms:GenerateDataKey and kms:Decrypt with `key`, only for
    requests whose aws:SourceArn matches `source_arn_patterns` and whose aws:SourceAccount is this account.

    Patterns are built from physical names, not from resource attributes: a key policy that referenced the rule or
    alarm using an encrypted queue/topic would make the key depend on them and them on the key (a cycle). Returns
    False when the key's policy cannot be extended (a key imported by ARN or alias).
    """
    return key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(service)],
            actions=list(defaults.KMS_PUBLISHER_ACTIONS),
            resources=["*"],  # in a key policy "*" means this key
            conditions={
                "ArnLike": {"aws:SourceArn": source_arn_patterns},
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            },
        )
    ).statement_added


# Per key (the Python object a caller passes around): the log-group name patterns its policy admits for CloudWatch
# Logs and the statement ids used so far, so a construct adds a statement only for a group nothing admits yet.
_LOG_NAME_PATTERNS: weakref.WeakKeyDictionary[kms.IKey, list[str]] = weakref.WeakKeyDictionary()
_SIDS: weakref.WeakKeyDictionary[kms.IKey, set[str]] = weakref.WeakKeyDictionary()


def allow_cloudwatch_logs(
    key: kms.IKey, log_group_arn_pattern: str, sid: str, *, name_pattern: str | None = None
) -> bool:
    """Key policy: the regional CloudWatch Logs service may use `key` only for log groups matching the pattern.

    `name_pattern` (the log-group name pattern the ARN pattern is built from, e.g. ``/team-a/*``) lets the
    constructs see that a later log group is already admitted. Returns False when the key's policy cannot be
    extended (a key imported by ARN or alias).
    """
    sids = _SIDS.setdefault(key, set())
    if sid in sids:
        sid = f"{sid}{len(sids)}"  # another log group of the same kind on this key: statement ids must be unique
    result = key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=list(defaults.KMS_LOGS_ACTIONS),
            resources=["*"],  # in a key policy "*" means this key
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arn_pattern}},
        )
    )
    if result.statement_added:
        sids.add(sid)
        if name_pattern is not None:
            _LOG_NAME_PATTERNS.setdefault(key, []).append(name_pattern)
    return result.statement_added


def admits_log_group(key: kms.IKey, name: str) -> bool:
    """Whether `key`'s policy is known to admit CloudWatch Logs for the log group `name` (a literal name)."""
    if Token.is_unresolved(name):
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in _LOG_NAME_PATTERNS.get(key, []))


def ensure_key_admits_log_group(scope: Construct, key: kms.IKey, name: str, sid: str) -> None:
    """Make `key`'s policy admit CloudWatch Logs for the log group `name` (encryption context of exactly that group),
    unless it already does; a key whose policy cannot be extended is refused in one line naming what is missing."""
    if admits_log_group(key, name):
        return
    literal = None if Token.is_unresolved(name) else name
    if not allow_cloudwatch_logs(key, log_group_arn(scope, name), sid, name_pattern=literal):
        shown = name if literal else "the log group it creates"
        raise ValueError(
            f"invalid encryption_key of {scope.node.path}: its key policy cannot be extended (imported key) and "
            f"must let logs.<region>.amazonaws.com use it for {shown} (kms:EncryptionContext:aws:logs:arn); pass a "
            "kms.Key of this app, or an existing log group its owner encrypted"
        )


def deny_grants_except_for_aws_resources(key: kms.IKey) -> None:
    """Key policy: nobody creates a grant on `key` unless it is for an AWS resource (Lambda, DynamoDB, ... create
    their grants through the service) or the caller is an AWS service. The account delegation (`kms:*` for the
    account root) would otherwise let any IAM principal with kms:CreateGrant hand the key to anyone
    (Control Tower CT.KMS.PR.3)."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DenyGrantsExceptForAwsResources",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],  # in a key policy "*" means this key
            conditions={"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
        )
    )


def own_key(scope: Construct) -> kms.Key:
    """The key a construct creates for itself when the caller passes none: rotating, retained, no alias."""
    key = kms.Key(
        scope,
        "Key",
        description=f"Customer-managed key of {scope.node.path}",
        enable_key_rotation=True,
        pending_window=defaults.KEY_PENDING_WINDOW,
        removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
    )
    deny_grants_except_for_aws_resources(key)
    return key


def key_for_logs(
    scope: Construct, encryption_key: kms.IKey | None, *, log_group_name: str, creates_log_group: bool, sid: str
) -> kms.IKey:
    """`encryption_key` if given, else a key of the construct's own (`own_key`); when the construct creates the log
    group itself (an existing group brings its key), the key's policy admits CloudWatch Logs for it: a caller's
    key whose policy does not yet admit that group gets the statement, or is refused if it cannot take one."""
    key = encryption_key if encryption_key is not None else own_key(scope)
    if creates_log_group:
        ensure_key_admits_log_group(scope, key, log_group_name, sid)
    return key
