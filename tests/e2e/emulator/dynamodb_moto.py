"""DynamoDB served by moto inside LocalStack.

Why: LocalStack's own DynamoDB provider forwards to DynamoDB Local, a Java program it downloads (with a Java 21
runtime) at first use; neither can be downloaded here. LocalStack bundles moto and can dispatch any operation a
provider does not implement to it (`MotoFallbackDispatcher`). A provider that implements nothing therefore sends
every DynamoDB call to moto: tables, GSIs, SSE, conditional writes, queries. Not covered: DynamoDB Streams.

One call at a time: moto's TransactWriteItems is not safe beside other calls. It deep-copies each table it touches
(to roll back), iterating the table while another request thread changes it ("dictionary changed size during
iteration": a 500 InternalError, measured at 4 in 100 transactions with 2 concurrent writers, 22 in 100 with 3), and a
cancelled transaction restores that copy, undoing writes other threads made meanwhile. Real DynamoDB isolates a
transaction from every other write; serializing the calls gives the same isolation. The deep copy also makes a
transaction cost in proportion to the table (measured here: ~13 ms on an empty table, ~150 ms at 1,000 items, ~370 ms
at 3,000, against ~6 ms for a PutItem), which is why the e2e upload -> record latency is higher than a PutItem's.
"""

from __future__ import annotations

import threading
from typing import Any


def install() -> None:
    """Replace the `dynamodb` provider factory before LocalStack loads its providers (entry points resolve the
    attribute `localstack.services.providers:dynamodb` at load time)."""
    from localstack.aws.api.dynamodb import DynamodbApi
    from localstack.services import providers
    from localstack.services.moto import MotoFallbackDispatcher
    from localstack.services.plugins import Service, ServiceLifecycleHook, aws_provider

    class MotoDynamoDB(DynamodbApi, ServiceLifecycleHook):
        """Every operation raises NotImplementedError in the generated API, so each one falls through to moto."""

    lock = threading.Lock()

    def one_at_a_time(provider: object) -> dict[str, Any]:
        """moto's dispatch table with every operation's handler run under one lock."""

        def locked(handler: Any) -> Any:
            def call(context: Any, request: Any) -> Any:
                with lock:
                    return handler(context, request)

            return call

        return {operation: locked(handler) for operation, handler in MotoFallbackDispatcher(provider).items()}

    @aws_provider(api="dynamodb")
    def dynamodb() -> Service:
        return Service.for_provider(MotoDynamoDB(), dispatch_table_factory=one_at_a_time)

    providers.dynamodb = dynamodb
