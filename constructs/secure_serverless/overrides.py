"""Solutions-Constructs-style escape hatches: `<thing>_props` overrides merged under the secure defaults.

A construct builds the keyword arguments of each L2 resource it creates from its secure defaults, then lets the
caller's `<thing>_props` override them, except where an override would weaken a guarantee the construct promises
(refused with `UnsafeOverrideError` before anything is synthesized), and except for the arguments the construct
must own (its own named arguments or an `existing_` object), which are refused as conflicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class UnsafeOverrideError(ValueError):
    """An override that weakens a promised guarantee or conflicts with an `existing_` object or named argument.

    The message is one line: the argument, the property, and the rule it breaks.
    """


@dataclass(frozen=True)
class Guard:
    """A promised guarantee on one property: `allows(value)` is False for a value that weakens it."""

    allows: Callable[[Any], bool]
    rule: str  # what the construct promises, e.g. "must stay BLOCK_ALL (the bucket is private)"


def equals(expected: object, rule: str) -> Guard:
    """The property may only be set to `expected` (e.g. enforce_ssl=True)."""
    return Guard(lambda value: value == expected, rule)


def merge_props(
    argument: str,
    secure_defaults: Mapping[str, Any],
    overrides: Mapping[str, Any] | None,
    *,
    guards: Mapping[str, Guard] | None = None,
    owned: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`secure_defaults` updated with `overrides`, after refusing any override that a guard refuses or that sets
    an `owned` property (mapped to the argument or `existing_` object that controls it)."""
    overrides = dict(overrides or {})
    for key, value in overrides.items():
        if owned and key in owned:
            raise UnsafeOverrideError(f"invalid {argument}[{key!r}]: conflicts with {owned[key]}; set it there")
        guard = (guards or {}).get(key)
        if guard is not None and not guard.allows(value):
            raise UnsafeOverrideError(f"invalid {argument}[{key!r}] = {value!r}: {guard.rule}")
    return {**secure_defaults, **overrides}


def refuse_both(existing_name: str, existing: object, props_name: str, props: Mapping[str, Any] | None) -> None:
    """`<thing>_props` shape a resource the construct creates; with `existing_<thing>` nothing is created."""
    if existing is not None and props:
        raise UnsafeOverrideError(
            f"invalid {props_name}: conflicts with {existing_name} (props apply only to a resource the construct "
            "creates); configure the existing resource instead"
        )
