"""A Powertools Tracer that costs nothing at import when tracing is off.

Inside Lambda with tracing on, this is a plain `Tracer(auto_patch=False)` backed by the X-Ray SDK:
Lambda's active tracing records the invocation and the capture decorators add subsegments. No module
is patched: the X-Ray SDK's botocore/requests patching costs more at cold start than our whole import
budget, so the two AWS calls get explicit subsegments instead (see `handler.record_object`).

When tracing is off (POWERTOOLS_TRACE_DISABLED, outside Lambda, SAM local, Chalice local - the same
rules as Powertools), the Tracer gets a no-op provider instead of the X-Ray recorder. Importing
`aws_xray_sdk.core` outside Lambda builds a centralized-sampling sampler with two boto3 X-Ray clients
(~130 ms) even though nothing would ever be traced.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

_TRUTHY = frozenset({"1", "true", "t", "yes", "y", "on"})


def tracing_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Powertools' rules: disabled explicitly, or not running in the Lambda service."""
    if environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUTHY:
        return True
    if not environ.get("LAMBDA_TASK_ROOT"):
        return True
    return bool(environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE"))


def make_tracer(service: str) -> Tracer:
    """Tracer without auto-patching; X-Ray-backed only when tracing can actually happen."""
    if tracing_disabled():
        return Tracer(service=service, disabled=True, auto_patch=False, provider=NoOpProvider())
    return Tracer(service=service, auto_patch=False)


class NoOpSegment(BaseSegment):
    """Accepts and drops everything."""

    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        return None


_SEGMENT = NoOpSegment()


class NoOpProvider(BaseProvider):
    """Tracing provider used when tracing is disabled: no X-Ray SDK import, no work per call."""

    @contextlib.contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _SEGMENT

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncGenerator[BaseSegment, None]:
        yield _SEGMENT

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None
