"""shared_runtime: the numbers of a budget mean what they say, one client per (service, budget), settings errors."""

from __future__ import annotations

import pytest
from shared_runtime import clients, settings
from shared_runtime.budget import CallBudget, Deadline


def test_total_max_attempts_is_attempts_and_the_worst_case_adds_every_backoff() -> None:
    budget = CallBudget(connect_timeout=1, read_timeout=2, total_max_attempts=3)
    assert budget.worst_case_seconds == 3 * (1 + 2) + (1 + 2)
    config = budget.config()
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert CallBudget(1, 1, 1).worst_case_seconds == 2  # one attempt, no backoff
    # botocore's standard mode caps each backoff at 20 s.
    assert CallBudget(1, 1, 8).worst_case_seconds == 8 * 2 + (1 + 2 + 4 + 8 + 16 + 20 + 20)


@pytest.mark.parametrize("kwargs", [{"total_max_attempts": 0}, {"read_timeout": 0}, {"connect_timeout": -1}])
def test_a_budget_refuses_nonsense(kwargs: dict) -> None:
    values = {"connect_timeout": 1, "read_timeout": 1, "total_max_attempts": 1, **kwargs}
    with pytest.raises(ValueError, match="invalid"):
        CallBudget(**values)


def test_deadline_reads_the_context_or_falls_back_to_a_clock() -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 2500

    assert Deadline.of(Context(), default_seconds=30).remaining_seconds == 2.5
    assert Deadline.of(Context(), default_seconds=30).covers(2.5)
    assert not Deadline.of(Context(), default_seconds=30).covers(2.6)
    now = [100.0]
    fallback = Deadline.of(object(), default_seconds=10, clock=lambda: now[0])
    now[0] += 4
    assert fallback.remaining_seconds == 6


def test_one_cached_client_per_service_and_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients.reset_clients()
    fast, slow = CallBudget(1, 1, 1), CallBudget(1, 5, 3)
    first = clients.client("dynamodb", fast)
    assert clients.client("dynamodb", CallBudget(1, 1, 1)) is first  # equal budgets share the client
    other = clients.client("dynamodb", slow)
    assert other is not first
    assert other.meta.config.read_timeout == 5
    clients.reset_clients()
    assert clients.client("dynamodb", fast) is not first
    clients.reset_clients()


def test_required_settings_name_every_missing_variable() -> None:
    assert settings.required("A", environ={"A": "1", "B": ""}) == {"A": "1"}
    with pytest.raises(settings.ConfigurationError, match="B, C"):
        settings.required("A", "B", "C", environ={"A": "1", "B": ""})
