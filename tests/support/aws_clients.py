"""boto3 clients for test fixtures, created once per process (creating one costs ~0.1 s; moto's per-test mocks
intercept every client created after moto is imported, so a cached client works inside each fresh mock)."""

from __future__ import annotations

import functools
from typing import Any

import boto3
import moto  # noqa: F401  (imported first: clients created afterwards carry moto's interception hook)

FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@functools.cache
def client(service: str, region: str) -> Any:
    """A cached low-level client with fake credentials."""
    return boto3.client(service, region_name=region, **FAKE_CREDENTIALS)


@functools.cache
def resource(service: str, region: str) -> Any:
    """A cached resource with fake credentials."""
    return boto3.resource(service, region_name=region, **FAKE_CREDENTIALS)
