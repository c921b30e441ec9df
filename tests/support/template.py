"""Small readers over template JSON used by the assertions (they select; they never assert)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Resource = dict[str, Any]


def resources_of(template: dict, resource_type: str) -> Iterator[tuple[str, Resource]]:
    """(logical id, resource) for every resource of `resource_type`."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == resource_type:
            yield logical_id, resource


def single(
    template: dict, resource_type: str, where: Callable[[Resource], bool] = lambda _: True
) -> tuple[str, Resource]:
    """The one resource of `resource_type` matching `where`; raises LookupError when there are 0 or several."""
    found = [(rid, r) for rid, r in resources_of(template, resource_type) if where(r)]
    if len(found) != 1:
        raise LookupError(f"expected one {resource_type}, found {[rid for rid, _ in found]}")
    return found[0]


def statements_by_sid(statements: list[dict]) -> dict[str, dict]:
    """Policy statements that carry a Sid, by Sid."""
    return {s["Sid"]: s for s in statements if "Sid" in s}


def as_list(value: Any) -> list:
    """A policy field that may be a scalar or a list, as a list."""
    return value if isinstance(value, list) else [value]
