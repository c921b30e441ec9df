"""secure_serverless: secure-by-default AWS CDK L3 constructs."""

from .alarms import AlarmSpec, AlarmThresholds
from .alerting import Alerting, AlertingProps
from .api_gateway_account import ApiGatewayAccountLogging
from .encryption_key import EnvironmentKey, EnvironmentKeyProps, allow_cloudwatch_logs, allow_service_publisher
from .event_pipeline import Delivery, EventPipeline, EventPipelineProps
from .identity_pool import IdentityPool, IdentityPoolProps
from .logged_api import ApiAuthorization, LoggedApi, LoggedApiProps, Route
from .nag import acknowledge
from .private_network import PrivateNetwork, PrivateNetworkProps
from .scaled_table import CapacityRange, IndexSpec, ScaledTable, ScaledTableProps
from .secure_bucket import BucketNaming, SecureBucket, SecureBucketProps
from .secure_function import SecureFunction, SecureFunctionProps

__version__ = "0.1.0"

__all__ = [
    "AlarmSpec",
    "AlarmThresholds",
    "Alerting",
    "AlertingProps",
    "PrivateNetwork",
    "PrivateNetworkProps",
    "ApiAuthorization",
    "ApiGatewayAccountLogging",
    "IdentityPool",
    "IdentityPoolProps",
    "LoggedApi",
    "LoggedApiProps",
    "Route",
    "allow_cloudwatch_logs",
    "BucketNaming",
    "CapacityRange",
    "Delivery",
    "EnvironmentKey",
    "EnvironmentKeyProps",
    "EventPipeline",
    "EventPipelineProps",
    "IndexSpec",
    "ScaledTable",
    "ScaledTableProps",
    "SecureBucket",
    "SecureBucketProps",
    "SecureFunction",
    "SecureFunctionProps",
    "__version__",
    "acknowledge",
    "allow_service_publisher",
]
