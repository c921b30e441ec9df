"""Fixtures of the erasure worker tests (the world itself: tests/support/erasure_world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.support.erasure_world import WORKER_ENVIRONMENT, World, create_world


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in WORKER_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    from shared_runtime import clients

    with mock_aws():
        clients.reset_clients()
        world = create_world()
        monkeypatch.setenv("QUEUE_URL", world.queue_url)
        yield world
    clients.reset_clients()
