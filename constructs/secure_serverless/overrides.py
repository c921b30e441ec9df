"""Solutions-Constructs-style escape hatches: `<thing>_props` overrides merged under the secure defaults.

A construct builds the keyword arguments of each L2 resource it creates from its secure defaults, then lets the
caller's `<thing>_props` override them, except where an override would weaken a guarantee the construct promises
(refused with `UnsafeOverrideError` before anything is synthesized), and except for the arguments the construct
must own (its own named arguments or an `existing_` object), which are refused as conflicts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
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


# What an owned property's message says when the construct sets it itself, with no argument of its own for it.
SET_BY_THE_CONSTRUCT = "a value the construct sets itself"


def merge_props(
    argument: str,
    secure_defaults: Mapping[str, Any],
    overrides: Mapping[str, Any] | None,
    *,
    guards: Mapping[str, Guard] | None = None,
    owned: Mapping[str, str] | None = None,
    target: type | None = None,
    explicit: Iterable[str] = (),
) -> dict[str, Any]:
    """`secure_defaults` updated with `overrides`, after refusing (with one line, never a raw TypeError) any override
    that a guard refuses, that sets an `owned` property (mapped to the argument or `existing_` object that controls
    it) or one the construct passes to `target` itself (`explicit`), or that is no keyword argument of `target`."""
    overrides = dict(overrides or {})
    owned = {**{key: SET_BY_THE_CONSTRUCT for key in explicit}, **(owned or {})}
    accepted = _keyword_arguments(target) if target is not None else None
    for key, value in overrides.items():
        if accepted is not None and key not in accepted:
            raise UnsafeOverrideError(
                f"invalid {argument}[{key!r}]: not a keyword argument of {target.__name__}"  # type: ignore[union-attr]  # accepted is set only with a target
            )
        if key in owned:
            raise UnsafeOverrideError(f"invalid {argument}[{key!r}]: conflicts with {owned[key]}; set it there")
        guard = (guards or {}).get(key)
        if guard is not None and not guard.allows(value):
            raise UnsafeOverrideError(f"invalid {argument}[{key!r}] = {show(value)}: {guard.rule}")
    return {**secure_defaults, **overrides}


@cache
def _keyword_arguments(target: type) -> frozenset[str]:
    parameters = inspect.signature(target.__init__).parameters  # type: ignore[misc]  # a class's own __init__
    return frozenset(name for name, parameter in parameters.items() if parameter.kind is inspect.Parameter.KEYWORD_ONLY)


def show(value: object) -> str:
    """A value as a one-line message shows it: a jsii object by its settings, not by its memory address."""
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    if all(hasattr(value, flag) for flag in flags):
        settings = ", ".join(f"{flag}={getattr(value, flag)!r}" for flag in flags)
        return f"{type(value).__name__}({settings})"
    values = getattr(value, "_values", None)
    if isinstance(values, dict):
        return f"{type(value).__name__}({', '.join(f'{k}={v!r}' for k, v in values.items())})"
    return repr(value)


def refuse_both(existing_name: str, existing: object, props_name: str, props: Mapping[str, Any] | None) -> None:
    """`<thing>_props` shape a resource the construct creates; with `existing_<thing>` nothing is created."""
    if existing is not None and props:
        raise UnsafeOverrideError(
            f"invalid {props_name}: conflicts with {existing_name} (props apply only to a resource the construct "
            "creates); configure the existing resource instead"
        )
