"""One way to pass things: every construct accepts the CDK interfaces and this library's constructs alike.

A SecureFunction goes wherever a function is expected, a SecureBucket wherever a bucket is, an EnvironmentKey
wherever a key is; these helpers unwrap them (imports are local: the constructs import this module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

if TYPE_CHECKING:
    from .encryption_key import EnvironmentKey
    from .secure_bucket import SecureBucket
    from .secure_function import SecureFunction

FunctionLike: TypeAlias = "lambda_.IFunction | SecureFunction"
BucketLike: TypeAlias = "s3.IBucket | SecureBucket"
KeyLike: TypeAlias = "kms.IKey | EnvironmentKey"


def function_of(value: FunctionLike) -> lambda_.IFunction:
    """The Lambda function of a SecureFunction, or `value` itself."""
    from .secure_function import SecureFunction

    return value.function if isinstance(value, SecureFunction) else value


def bucket_of(value: BucketLike) -> s3.IBucket:
    """The bucket of a SecureBucket, or `value` itself."""
    from .secure_bucket import SecureBucket

    return value.bucket if isinstance(value, SecureBucket) else value


def key_of(value: KeyLike | None) -> kms.IKey | None:
    """The key of an EnvironmentKey, or `value` itself (None stays None)."""
    from .encryption_key import EnvironmentKey

    return value.key if isinstance(value, EnvironmentKey) else value


def timeout_of(value: FunctionLike) -> Duration | None:
    """The function's timeout when this app defines it (None for an imported function)."""
    from .secure_function import SecureFunction

    if isinstance(value, SecureFunction):
        return value.timeout
    if isinstance(value, lambda_.Function):
        return value.timeout or Duration.seconds(3)  # Lambda's default
    return None
