"""Settings from the environment: read on each invocation (cheap; keeps tests and redeploys simple)."""

from __future__ import annotations

import os
from collections.abc import Mapping


class ConfigurationError(RuntimeError):
    """A required environment variable is missing: the whole invocation fails (and is retried)."""


def required(*names: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The values of `names`; raises ConfigurationError naming every one that is missing or empty."""
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise ConfigurationError(f"environment variable(s) not set: {', '.join(missing)}")
    return {name: environ[name] for name in names}
