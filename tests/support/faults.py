"""Faults injected at botocore's HTTP layer (`before-send`): the client's real retry handler, error parsing and
timeouts all run, unlike `Stubber`, which answers above them and skips retries.

`inject(client, operation, fault)` makes every `operation` call of `client` answer `fault(request)` while it returns
something (an `AWSResponse`, or raises a botocore exception such as `ReadTimeoutError`); when it returns None the call
goes on to its real endpoint (moto in the tests). A fault is only for calls that it answers (or raises for).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

Fault = Callable[[Any], AWSResponse | None]
FAULTED_URL = "http://127.0.0.1:9/fault-injected"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def http_error(request: Any, status: int, code: str, *, json_protocol: bool) -> AWSResponse:
    """What AWS answers with `status`/`code`: a JSON `__type` body (DynamoDB, SQS JSON) or, for S3's HEAD, no body."""
    if json_protocol:
        body = json.dumps({"__type": f"com.amazonaws#{code}", "message": f"injected {code}"}).encode()
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"}
    else:
        body, headers = b"", {}
    return AWSResponse(request.url, status, headers, _Raw(body))


def error(status: int, code: str, *, json_protocol: bool) -> Fault:
    return lambda request: http_error(request, status, code, json_protocol=json_protocol)


def timeout(on_wait: Callable[[float], None] | None = None, seconds: float = 0.0) -> Fault:
    """A server that accepts and never answers: ReadTimeoutError after `seconds` (passed to `on_wait`, e.g. a
    simulated clock's advance; real tests use a local silent socket instead)."""

    def fault(request: Any) -> AWSResponse | None:
        if on_wait is not None:
            on_wait(seconds)
        raise ReadTimeoutError(endpoint_url=request.url)

    return fault


def inject(client: Any, operation: str, fault: Fault, *, when: Callable[[Any], bool] = lambda _: True) -> list[int]:
    """Route `operation` calls of `client` through `fault` while `when(request)`; returns a one-item call counter."""
    calls = [0]
    service_id = client.meta.service_model.service_id.hyphenize()

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        if not when(request):
            return None
        calls[0] += 1
        # Every before-send handler runs (botocore takes the first answer): moto's, registered after this one, would
        # still carry out the request (a "throttled" PutItem would write). An address no mock serves stops it.
        request.url = FAULTED_URL
        return fault(request)

    client.meta.events.register_first(f"before-send.{service_id}.{operation}", before_send)
    return calls
