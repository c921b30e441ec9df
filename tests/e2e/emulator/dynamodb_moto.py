"""DynamoDB served by moto inside LocalStack.

Why: LocalStack's own DynamoDB provider forwards to DynamoDB Local, a Java program it downloads (with a Java 21
runtime) at first use; neither can be downloaded here. LocalStack bundles moto and can dispatch any operation a
provider does not implement to it (`MotoFallbackDispatcher`). A provider that implements nothing therefore sends
every DynamoDB call to moto: tables, GSIs, SSE, conditional writes, queries. Not covered: DynamoDB Streams.
"""

from __future__ import annotations


def install() -> None:
    """Replace the `dynamodb` provider factory before LocalStack loads its providers (entry points resolve the
    attribute `localstack.services.providers:dynamodb` at load time)."""
    from localstack.aws.api.dynamodb import DynamodbApi
    from localstack.services import providers
    from localstack.services.moto import MotoFallbackDispatcher
    from localstack.services.plugins import Service, ServiceLifecycleHook, aws_provider

    class MotoDynamoDB(DynamodbApi, ServiceLifecycleHook):
        """Every operation raises NotImplementedError in the generated API, so each one falls through to moto."""

    @aws_provider(api="dynamodb")
    def dynamodb() -> Service:
        return Service.for_provider(MotoDynamoDB(), dispatch_table_factory=MotoFallbackDispatcher)

    providers.dynamodb = dynamodb
