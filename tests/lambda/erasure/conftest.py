"""Fixtures of the erasure worker tests (the world itself: tests/support/erasure_world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.erasure_world import World, mocked_world


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mocked_world(monkeypatch) as world:
        yield world
