"""constructs/README.md's per-construct reference, generated from the code so the two cannot drift.

    python tools/construct_docs.py             # prints the generated reference
    python tools/construct_docs.py --update    # rewrites the block between the markers in constructs/README.md

For each construct: its docstring's summary and minimal example (the example is executed: it must synthesize),
an arguments table from the signature (defaults) and the docstring's Args section, the CloudFormation resources
the minimal example creates, its grant methods and its recommended alarms. tests/docs fails when the README's
block differs from this output.
"""

from __future__ import annotations

import inspect
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

import secure_serverless
from secure_serverless import AlarmThresholds

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "constructs" / "README.md"
BEGIN, END = "<!-- construct-docs:begin -->", "<!-- construct-docs:end -->"
CONSTRUCTS = (
    "EnvironmentKey",
    "SecureBucket",
    "ScaledTable",
    "SecureFunction",
    "EventPipeline",
    "LoggedApi",
    "IdentityPool",
    "Alerting",
    "PrivateNetwork",
    "ApiGatewayAccountLogging",
)
GRANT_PREFIXES = ("grant_", "allow_", "require_")
_EXAMPLE = re.compile(r"Minimal use: ``(?P<code>.+?)``", re.DOTALL)


def _sections(doc: str) -> dict[str, dict[str, str]]:
    """The docstring's `Args:` and `Attributes:` entries, name -> one-line text."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    name = ""
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Attributes:"):
            current = sections.setdefault(stripped[:-1], {})
            continue
        if current is None:
            continue
        if not stripped:
            current = None
            continue
        match = re.match(r"^(\w+): (.*)$", stripped)
        if match and len(line) - len(line.lstrip()) == 4:
            name = match.group(1)
            current[name] = match.group(2)
        elif name:
            current[name] += " " + stripped
    return sections


def _default(parameter: inspect.Parameter) -> str:
    if parameter.default is inspect.Parameter.empty:
        return "**required**"
    value = parameter.default
    if isinstance(value, cdk.Duration):
        return f"`{value.to_human_string()}`"
    if hasattr(value, "name") and type(value).__module__.startswith(("aws_cdk", "secure_serverless")):
        kind = type(value)
        constant = next(
            (attr for attr in dir(kind) if attr.isupper() and getattr(getattr(kind, attr), "name", None) == value.name),
            value.name,
        )
        return f"`{kind.__name__}.{constant}`"
    text = repr(value)
    if "object at 0x" in text or text.startswith("<"):
        return f"`{type(value).__name__}(...)`"
    return f"`{text}`"


def _example_namespace(stack: cdk.Stack) -> dict[str, Any]:
    """What a minimal example may refer to: `self` (a stack), a plain bucket and function, and the CDK modules."""
    function = lambda_.Function(
        stack,
        "ExampleFunction",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
        handler="index.handler",
        runtime=lambda_.Runtime.PYTHON_3_14,
    )
    namespace: dict[str, Any] = {name: getattr(secure_serverless, name) for name in secure_serverless.__all__}
    namespace |= {
        "self": stack,
        "function": function,
        "bucket": s3.Bucket.from_bucket_name(stack, "ExampleBucket", "example-bucket"),
        "lambda_": lambda_,
        "dynamodb": dynamodb,
    }
    return namespace


def _build(example: str) -> tuple[Any, Counter[str]]:
    """Run the minimal example in a stack of its own; the construct it made and what it synthesizes to."""
    app = cdk.App(builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Example")
    namespace = _example_namespace(stack)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "lambda" / "worker").mkdir(parents=True)  # what a `Code.from_asset` example points at
        (Path(folder) / "lambda" / "worker" / "worker.py").write_text("def handler(event, context):\n    return {}\n")
        runnable = example.replace('"lambda/', f'"{folder}/lambda/')  # the jsii runtime resolves from its own cwd
        construct = eval(runnable, namespace)  # noqa: S307 (our own docstring, run on purpose: it must work)
        resources = Template.from_stack(stack).to_json()["Resources"]
    types = Counter(
        resource["Type"] for logical_id, resource in resources.items() if not logical_id.startswith("ExampleFunction")
    )
    return construct, types


def section(name: str) -> str:
    cls = getattr(secure_serverless, name)
    doc = inspect.getdoc(cls) or ""
    summary = " ".join(doc.split("\n\n", 1)[0].split())
    match = _EXAMPLE.search(doc)
    if match is None:
        raise ValueError(f"{name}: the docstring has no 'Minimal use: ``...``' example")
    example = " ".join(line.strip() for line in match.group("code").splitlines())
    sections = _sections(doc)
    args, attributes = sections.get("Args", {}), sections.get("Attributes", {})
    lines = [f"### {name}", "", summary, "", "```python", example, "```", ""]
    lines += ["| argument | default | meaning |", "|---|---|---|"]
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[3:]:
        text = args.get(parameter.name, "").replace("|", "\\|")
        if not text:
            raise ValueError(f"{name}: argument {parameter.name} is not documented in the docstring")
        lines.append(f"| `{parameter.name}` | {_default(parameter)} | {text} |")
    construct, types = _build(example)
    lines += ["", "Creates (minimal example): " + ", ".join(f"{n} × `{t}`" for t, n in sorted(types.items())) + "."]
    lines += ["", "Attributes: " + ", ".join(f"`{attribute}`" for attribute in attributes) + "."]
    grants = [
        f"`{member}`: {_first_paragraph(inspect.getdoc(getattr(cls, member)) or '').rstrip('.')}"
        for member in sorted(vars(cls))
        if member.startswith(GRANT_PREFIXES) and callable(getattr(cls, member))
    ]
    lines += ["", "Grants: " + ("; ".join(grants) if grants else "none") + "."]
    if hasattr(construct, "recommended_alarms"):
        specs = construct.recommended_alarms(AlarmThresholds())
        alarms = "; ".join(f"`{spec.name}` ({spec.description.rstrip('.')})" for spec in specs)
        lines += ["", f"Recommended alarms (`recommended_alarms(AlarmThresholds())`): {alarms or 'none'}."]
    return "\n".join(lines)


def _first_paragraph(doc: str) -> str:
    """A docstring's first paragraph on one line: a whole sentence, never cut at a line break."""
    return " ".join(doc.split("\n\n", 1)[0].split())


DOCS_DIR = ROOT / "docs" / "constructs"


def pages() -> dict[Path, str]:
    """docs/constructs/: one page per construct (the generated section and its autodoc), and their index."""
    result = {}
    for name in CONSTRUCTS:
        body = section(name).replace(f"### {name}\n", f"# {name}\n", 1)
        api = f"## API\n\n```{{eval-rst}}\n.. autoclass:: secure_serverless.{name}\n   :no-index:\n```\n"
        result[DOCS_DIR / f"{name}.md"] = f"{GENERATED}\n\n{body}\n\n{api}"
    toctree = "\n".join(CONSTRUCTS)
    result[DOCS_DIR / "index.md"] = (
        f"{GENERATED}\n\n# The constructs\n\nOne page per construct: what it creates, grants and alarms, its minimal "
        f"example (executed when this page is generated) and its arguments with their defaults.\n\n"
        f"```{{toctree}}\n:maxdepth: 1\n\n{toctree}\n```\n"
    )
    return result


def write_pages() -> None:
    DOCS_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in pages().items():
        path.write_text(text)


def reference() -> str:
    return "\n\n".join(section(name) for name in CONSTRUCTS)


GENERATED = "<!-- generated by tools/construct_docs.py: edit the docstrings, then run it with --update -->"


def readme_block(text: str) -> str:
    return f"{BEGIN}\n{GENERATED}\n\n{text}\n\n{END}"


def update_readme() -> None:
    readme = README.read_text()
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    README.write_text(readme[:start] + readme_block(reference()) + readme[end:])


if __name__ == "__main__":
    if "--update" in sys.argv[1:]:
        update_readme()
        write_pages()
    else:
        print(reference())
