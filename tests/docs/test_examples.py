"""Every code example runs as written (issue 19 item 6): each ```python block of the READMEs and docs pages and each
docstring's minimal example is executed inside a stack (`self`, as in a Stack's __init__), synthesized, and
nag-checked with AwsSolutions and Serverless. A minimal example may also use the plain `function` and `bucket`
that tools/construct_docs.py provides (their own findings are the caller's, not the example's)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

import secure_serverless
from tools.construct_docs import _EXAMPLE, CONSTRUCTS, _example_namespace

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", ROOT / "constructs" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def examples() -> dict[str, str]:
    """Example id -> its code: every block of the documents and every docstring's minimal example (deduplicated)."""
    found: dict[str, str] = {}
    for document in DOCUMENTS:
        for index, block in enumerate(_BLOCK.findall(document.read_text())):
            found.setdefault(block.strip(), f"{document.relative_to(ROOT)}#{index}")
    for name in CONSTRUCTS:
        match = _EXAMPLE.search(getattr(secure_serverless, name).__doc__ or "")
        assert match, f"{name}: no minimal example in its docstring"
        code = " ".join(line.strip() for line in match.group("code").splitlines())
        found.setdefault(code, f"{name} docstring")
    return {where: code for code, where in found.items()}


EXAMPLES = examples()


def test_the_examples_are_found() -> None:
    assert len(EXAMPLES) >= len(CONSTRUCTS) + 2
    assert any(where.startswith("docs/library.md") for where in EXAMPLES)


@pytest.mark.parametrize("where", list(EXAMPLES))
def test_example_runs_synthesizes_and_is_nag_clean(where: str) -> None:
    app = cdk.App(builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Example")
    namespace = _example_namespace(stack)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "lambda" / "worker").mkdir(parents=True)  # what a `Code.from_asset` example points at
        (Path(folder) / "lambda" / "worker" / "worker.py").write_text("def handler(event, context):\n    return {}\n")
        code = EXAMPLES[where].replace('"lambda/', f'"{folder}/lambda/')  # jsii resolves paths from its own cwd
        exec(compile(code, where, "exec"), namespace)  # noqa: S102 (our own documentation, run on purpose)
        app.synth()
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        report = pack.validate_scope(stack)
        findings = [
            (v.rule_name, r.construct_path)
            for v in report.violations
            for r in v.violating_resources
            if not r.construct_path.startswith("Example/ExampleFunction")  # the caller's plain function
        ]
        assert findings == [], where
