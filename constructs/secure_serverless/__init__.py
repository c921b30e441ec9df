"""secure_serverless: secure-by-default AWS CDK L3 constructs."""

from .encryption_key import EnvironmentKey, EnvironmentKeyProps
from .nag import acknowledge
from .secure_bucket import BucketNaming, SecureBucket, SecureBucketProps

__version__ = "0.1.0"

__all__ = [
    "BucketNaming",
    "EnvironmentKey",
    "EnvironmentKeyProps",
    "SecureBucket",
    "SecureBucketProps",
    "__version__",
    "acknowledge",
]
