"""Architecture picture (Mermaid) generated from a synthesized template, so it cannot drift from the code.

    python tools/diagram.py [TEMPLATE.json]     # prints the diagram; without a path, synthesizes prod first
    python tools/diagram.py --update-readme     # rewrites the README's architecture block

Nodes are the stack's top-level constructs (with the CloudFormation types each holds); an arrow A --> B means a
resource of A references one of B (Ref/GetAtt), i.e. A uses or points at B. tests/docs checks that README.md
carries exactly this output for the prod preset.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- architecture:begin -->", "<!-- architecture:end -->"
SKIP_TYPES = {"AWS::CDK::Metadata"}
SKIP_EDGE_TARGETS = {"Key"}  # almost everything references the key; its users are listed in the key policy section


def _component(resource: dict) -> str | None:
    path = resource.get("Metadata", {}).get("aws:cdk:path", "")
    parts = path.split("/")
    return parts[1] if len(parts) > 2 else None


def _references(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if "Ref" in node and isinstance(node["Ref"], str):
            found.add(node["Ref"])
        if "Fn::GetAtt" in node:
            found.add(node["Fn::GetAtt"][0])
        for value in node.values():
            found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return found


def mermaid(template: dict) -> str:
    """The Mermaid flowchart of `template`'s components and the references between them."""
    resources = {rid: r for rid, r in template["Resources"].items() if r["Type"] not in SKIP_TYPES}
    component_of = {rid: _component(r) for rid, r in resources.items()}
    types: dict[str, set[str]] = defaultdict(set)
    for rid, resource in resources.items():
        if component_of[rid]:
            types[component_of[rid]].add(resource["Type"].removeprefix("AWS::"))
    edges = set()
    for rid, resource in resources.items():
        source = component_of[rid]
        for target_id in _references(resource.get("Properties", {})):
            target = component_of.get(target_id)
            if source and target and target != source and target not in SKIP_EDGE_TARGETS:
                edges.add((source, target))
    lines = ["flowchart LR"]
    for name in sorted(types):
        label = "<br/>".join(sorted(types[name]))
        lines.append(f'    {name}["{name}<br/><small>{label}</small>"]')
    lines += [f"    {a} --> {b}" for a, b in sorted(edges)]
    return "\n".join(lines)


def readme_block(diagram: str) -> str:
    """The README section that carries the diagram."""
    return f"{BEGIN}\n```mermaid\n{diagram}\n```\n{END}"


def update_readme(block: str, readme: Path = ROOT / "README.md") -> None:
    """Replace the text between the architecture markers of `readme` with `block`."""
    text = readme.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    readme.write_text(text[:start] + block + text[end:])


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--update-readme"]
    if args:
        template = json.loads(Path(args[0]).read_text())
    else:
        sys.path.insert(0, str(ROOT))
        from stacks.app_builder import synthesize

        with tempfile.TemporaryDirectory() as outdir:
            template = (
                synthesize(["prod"], outdir, validation=False).get_stack_by_name("SecureServerless-prod").template
            )
    block = readme_block(mermaid(template))
    if "--update-readme" in sys.argv:
        update_readme(block)
    else:
        print(block)


if __name__ == "__main__":
    main()
