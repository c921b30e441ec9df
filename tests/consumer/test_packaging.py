"""The construct library packages as a library is expected to (issue 19 item 7): license, metadata, and dependencies
complete (every module the wheel imports is the standard library's or comes with a declared dependency)."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "constructs"
PACKAGE = LIBRARY / "secure_serverless"
PROJECT = tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]
# What Lambda's Python runtime provides to a handler the library deploys as inline code (never imported by it).
LAMBDA_RUNTIME = {"boto3", "botocore", "cfnresponse"}


def imported_modules(source: Path) -> set[str]:
    """Top-level names a module imports: import statements anywhere, and importlib.import_module("...") literals."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args:
            if isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value).split(".")[0])
    return names


def provided_by_dependencies() -> set[str]:
    """Top-level modules of the declared dependencies and everything they require, transitively."""
    pending = [Requirement(dep).name for dep in PROJECT["dependencies"]]
    seen: set[str] = set()
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for requirement in distribution(name).requires or []:
            parsed = Requirement(requirement)
            if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
                pending.append(parsed.name)
    by_module = packages_distributions()
    return {module for module, dists in by_module.items() if {d.lower().replace("_", "-") for d in dists} & seen}


def test_license_file_and_metadata() -> None:
    assert "Apache License" in (LIBRARY / "LICENSE").read_text() and "Version 2.0" in (LIBRARY / "LICENSE").read_text()
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert {"Homepage", "Documentation", "Changelog"} <= set(PROJECT["urls"])
    assert PROJECT["authors"] and (PACKAGE / "py.typed").exists()


def test_every_import_of_the_library_comes_with_a_declared_dependency() -> None:
    allowed = set(sys.stdlib_module_names) | provided_by_dependencies() | {"secure_serverless"}
    assert {"aws_cdk", "constructs", "cdk_nag", "jsii"} <= allowed
    missing = {
        str(module.relative_to(LIBRARY)): imports - allowed
        for module in PACKAGE.rglob("*.py")
        if module.parent.name != "handlers" and (imports := imported_modules(module)) - allowed
    }
    assert missing == {}


def test_handlers_are_deployed_as_source_and_use_only_what_lambda_provides() -> None:
    for handler in (PACKAGE / "handlers").glob("*.py"):
        if handler.name == "__init__.py":
            continue
        assert imported_modules(handler) - set(sys.stdlib_module_names) <= LAMBDA_RUNTIME, handler.name
        for module in PACKAGE.rglob("*.py"):  # the library reads it as text, never imports it
            assert f"handlers.{handler.stem}" not in module.read_text(), (module.name, handler.name)


def test_the_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import requests\n\ndef f():\n    import yaml\n")
    allowed = set(sys.stdlib_module_names) | provided_by_dependencies()
    assert imported_modules(module) - allowed == {"requests", "yaml"}
