"""secure_serverless: secure-by-default AWS CDK L3 constructs."""

from importlib.metadata import PackageNotFoundError, version

from .alarms import AlarmSpec, AlarmThresholds
from .alerting import Alerting
from .api_gateway_account import ApiGatewayAccountLogging
from .encryption_key import EnvironmentKey, allow_cloudwatch_logs, allow_service_publisher
from .event_pipeline import Delivery, EventPipeline
from .identity_pool import IdentityPool
from .logged_api import ApiAuthorization, LoggedApi, Route
from .nag import acknowledge, acknowledge_grant_wildcards, acknowledge_opt_in_packs
from .overrides import UnsafeOverrideError
from .private_network import PrivateNetwork
from .scaled_table import CapacityRange, IndexSpec, ScaledTable
from .secure_bucket import BucketNaming, SecureBucket
from .secure_function import SecureFunction

try:  # single source: the distribution's metadata, i.e. constructs/pyproject.toml
    __version__ = version("secure-serverless-constructs")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AlarmSpec",
    "AlarmThresholds",
    "Alerting",
    "PrivateNetwork",
    "ApiAuthorization",
    "ApiGatewayAccountLogging",
    "IdentityPool",
    "LoggedApi",
    "Route",
    "allow_cloudwatch_logs",
    "BucketNaming",
    "CapacityRange",
    "Delivery",
    "EnvironmentKey",
    "EventPipeline",
    "IndexSpec",
    "ScaledTable",
    "SecureBucket",
    "SecureFunction",
    "UnsafeOverrideError",
    "__version__",
    "acknowledge",
    "acknowledge_grant_wildcards",
    "acknowledge_opt_in_packs",
    "allow_service_publisher",
]
