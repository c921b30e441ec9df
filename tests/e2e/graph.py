"""Static check of a CloudFormation template's resource graph: no dangling reference, no cycle.

Why static: the emulator does not refuse a broken graph reliably (a GetAtt cycle fails both resources while the stack
still says CREATE_COMPLETE; a DependsOn cycle is created silently; a Ref to a missing resource leaves the stack stuck
in CREATE_IN_PROGRESS). Edges come from Ref, Fn::GetAtt, Fn::Sub (`${Name}` / `${Name.Attr}`, not `${!literal}` nor
the Sub's own variables) and DependsOn.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_SUB_NAME = re.compile(r"\$\{(?!!)([^}]+)\}")


def references(node: Any, sub_variables: frozenset[str] = frozenset()) -> Iterator[tuple[str, str]]:
    """(kind, logical name) for every Ref, GetAtt and Sub reference inside `node`."""
    if isinstance(node, list):
        for item in node:
            yield from references(item, sub_variables)
    elif isinstance(node, Mapping):
        if len(node) == 1 and "Ref" in node and isinstance(node["Ref"], str):
            yield "Ref", node["Ref"]
            return
        if len(node) == 1 and "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            name = target.split(".", 1)[0] if isinstance(target, str) else target[0]
            yield "Fn::GetAtt", name
            if isinstance(target, list):
                yield from references(target[1:], sub_variables)
            return
        if len(node) == 1 and "Fn::Sub" in node:
            body = node["Fn::Sub"]
            text, variables = (body, {}) if isinstance(body, str) else (body[0], body[1] if len(body) > 1 else {})
            for match in _SUB_NAME.finditer(text):
                name = match.group(1).split(".", 1)[0]
                if name not in variables and name not in sub_variables:
                    yield "Fn::Sub", name
            yield from references(list(variables.values()), sub_variables)
            return
        for value in node.values():
            yield from references(value, sub_variables)


def check_graph(template: Mapping[str, Any]) -> list[str]:
    """Every problem of the template's reference graph, one sentence each ([] when sound)."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    known = set(resources) | set(template.get("Parameters", {}))
    problems: list[str] = []
    edges: dict[str, set[str]] = {name: set() for name in resources}

    def visit(owner: str, node: Any) -> None:
        for kind, name in references(node):
            if name.startswith("AWS::"):
                continue  # pseudo parameters
            if name not in known:
                problems.append(f"{owner}: {kind} to {name!r}, which is neither a resource nor a parameter")
            elif owner in edges and name in resources:
                edges[owner].add(name)

    for name, resource in resources.items():
        depends = resource.get("DependsOn", [])
        for target in [depends] if isinstance(depends, str) else depends:
            if target not in resources:
                problems.append(f"{name}: DependsOn {target!r}, which is not a resource")
            else:
                edges[name].add(target)
        visit(name, {key: value for key, value in resource.items() if key != "DependsOn"})
    for name, output in template.get("Outputs", {}).items():
        visit(f"output {name}", output)
    problems += [f"cycle: {' -> '.join(cycle)}" for cycle in _cycles(edges)]
    return problems


def _cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle per back edge found by a depth-first walk (iterative: templates have hundreds of resources)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in state:
            continue
        path: list[str] = [root]
        stack: list[Iterator[str]] = [iter(sorted(edges[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                found.append([*path[path.index(child) :], child])
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(edges[child])))
    return found
