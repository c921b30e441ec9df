"""Guards on the project layout that the design card fixes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import constructs

ROOT = Path(__file__).resolve().parents[2]


def test_constructs_folder_has_no_top_level_init() -> None:
    # A package named `constructs` here would shadow the CDK `constructs` dependency for every import.
    assert (ROOT / "constructs").is_dir()
    assert not (ROOT / "constructs" / "__init__.py").exists()
    assert (ROOT / "constructs" / "pyproject.toml").is_file()
    assert (ROOT / "constructs" / "secure_serverless" / "__init__.py").is_file()


def test_import_constructs_resolves_to_the_cdk_dependency() -> None:
    assert hasattr(constructs, "Construct")
    origin = Path(constructs.__file__).resolve()
    assert "site-packages" in origin.parts
    assert ROOT / "constructs" not in origin.parents
    spec = importlib.util.find_spec("constructs")
    assert spec is not None and spec.origin is not None and "site-packages" in spec.origin


def test_secure_serverless_imports_from_the_library_folder() -> None:
    import secure_serverless

    assert Path(secure_serverless.__file__).resolve().parent == ROOT / "constructs" / "secure_serverless"


def test_top_level_layout() -> None:
    for name in (
        "app.py",
        "cdk.json",
        "requirements.txt",
        "requirements-dev.txt",
        "package.json",
        "package-lock.json",
        "Makefile",
        "README.md",
        ".ci/run",
        "stacks",
        "constructs",
        "lambda",
        "tests",
        "bench",
    ):
        assert (ROOT / name).exists(), name


def test_lambda_code_imports_no_cdk() -> None:
    for path in (ROOT / "lambda").rglob("*.py"):
        text = path.read_text()
        assert "aws_cdk" not in text and "from constructs" not in text, path
