"""Physical-name rules shared by the constructs (validated before synthesis, with the field and the rule)."""

from __future__ import annotations

import re

from aws_cdk import ArnFormat, Names, Stack
from constructs import Construct

# An account-regional bucket name is `<prefix>-<account>-<region>-an` (at most 31 characters after the prefix),
# and the access-log bucket adds `-logs`, so a prefix may use 63 - 31 - 5 = 27 characters.
BUCKET_PREFIX_MAX = 27
BUCKET_PREFIX_RULE = (
    f"1 to {BUCKET_PREFIX_MAX} characters: lowercase letters, digits and hyphens, "
    "starting and ending with a letter or digit"
)
_BUCKET_PREFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")

NAME_PREFIX_RULE = "1 to 64 characters: letters, digits, hyphens and underscores, starting with a letter"
_NAME_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def validate_bucket_prefix(field: str, value: str) -> str:
    """Return `value` if it can prefix a bucket name in either namespace, else raise ValueError naming `field`."""
    if len(value) > BUCKET_PREFIX_MAX or not _BUCKET_PREFIX_RE.match(value) or "--" in value:
        raise ValueError(f"invalid {field} {value!r}: must be {BUCKET_PREFIX_RULE}, without '--'")
    return value


def validate_name_prefix(field: str, value: str) -> str:
    """Return `value` if it can prefix log group, alarm, alias and queue names, else raise ValueError."""
    if not _NAME_PREFIX_RE.match(value):
        raise ValueError(f"invalid {field} {value!r}: must be {NAME_PREFIX_RULE}")
    return value


def log_group_name(name_prefix: str, purpose: str) -> str:
    """Log group name `/<prefix>/<purpose>`: one namespace per environment that the key policy can scope to."""
    return f"/{name_prefix}/{purpose}"


def log_group_arn(scope: Construct, name: str) -> str:
    """ARN (or ARN pattern, when `name` ends in `*`) of the log group `name` in `scope`'s account and region."""
    return Stack.of(scope).format_arn(
        service="logs", resource="log-group", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


PATH_NAME_MAX = 64


def path_name(scope: Construct, max_length: int = PATH_NAME_MAX) -> str:
    """A name unique in the app, built from the construct path: `<Stack>-<Path>-<HASH>` (letters, digits and
    hyphens, at most `max_length` characters). Two instances of a construct never share it, in one stack or in two.
    """
    return Names.unique_resource_name(scope, max_length=max_length, separator="-")


def namespace(scope: Construct, name_prefix: str | None) -> str:
    """The prefix of names a policy must be able to match before the resource exists (log groups, alarms, rules).

    `name_prefix` when given (the caller then owns its uniqueness); otherwise the construct's `path_name`, so two
    instances used without a prefix never collide, in one stack or across stacks of one app.
    """
    return name_prefix if name_prefix is not None else path_name(scope)


def alarm_label(scope: Construct, purpose: str | None, name_prefix: str | None, default: str) -> str:
    """The per-instance part of a construct's alarm names: `purpose` when given; with a `name_prefix`, `default`
    (e.g. ``"api"``); otherwise the construct's `path_name`, so two instances' alarms never collide in one Alerting."""
    if purpose is not None:
        return purpose
    return default if name_prefix is not None else path_name(scope)


def prefixed(name_prefix: str | None, name: str) -> str | None:
    """`<prefix>-<name>` when a prefix is given; None (CloudFormation generates the physical name) otherwise."""
    return f"{name_prefix}-{name}" if name_prefix is not None else None
