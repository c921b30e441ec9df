"""The Tracer set-up of every function: Powertools' Tracer, X-Ray backed, patching no module.

No library is auto-patched: the X-Ray SDK's botocore/requests patching costs more at cold start than a handler's
whole import budget, so AWS calls get explicit subsegments (`tracer.provider.in_subsegment`) where they matter.
Lambda's active tracing records each invocation; the capture decorators add the handler subsegments.

Why no hand-written no-op provider any more (there was one in the processor): it only applied with tracing OFF,
and every function of this app runs with active tracing (SecureFunction), so in Lambda it never ran. Measured in
a Lambda-like environment (fresh interpreter, LAMBDA_TASK_ROOT set, median of 7, 2-core machine): Powertools'
Tracer(auto_patch=False) with tracing on 0.055 s - what runs in Lambda, with or without the no-op class -; with
tracing off, Tracer(disabled=True) 0.061 s against 0.025 s for the no-op provider, a gain only tests and local
runs would see. `make bench` (bench/processor.py) prints the first two figures.
"""

from __future__ import annotations

from aws_lambda_powertools import Tracer


def make_tracer(service: str) -> Tracer:
    """The Tracer of a function: Powertools' rules for enabling it (POWERTOOLS_TRACE_DISABLED, outside Lambda)."""
    return Tracer(service=service, auto_patch=False)
