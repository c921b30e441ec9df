"""botocore low-level clients (what `boto3.client()` returns), created on first use and cached per execution
environment in one dict keyed by (service, budget); all share one botocore session, so endpoint data loads once.

Made from botocore directly: importing boto3 (its resource layer and s3transfer) costs ~20-30 ms of cold start for
nothing these functions use. Tests call `reset_clients()` after starting moto.
"""

from __future__ import annotations

from typing import Any

import botocore.session

from shared_runtime.budget import CallBudget

_clients: dict[tuple[str, CallBudget], Any] = {}
_sessions: list[botocore.session.Session] = []


def client(service: str, budget: CallBudget) -> Any:
    """The cached client of `service` with `budget`'s timeouts and retries, created on first use."""
    key = (service, budget)
    cached = _clients.get(key)
    if cached is None:
        if not _sessions:
            _sessions.append(botocore.session.get_session())
        cached = _clients[key] = _sessions[0].create_client(service, config=budget.config())
    return cached


def reset_clients(*, drop_session: bool = False) -> None:
    """Forget the cached clients (and, with `drop_session`, the session and the service models it loaded)."""
    _clients.clear()
    if drop_session:
        _sessions.clear()
