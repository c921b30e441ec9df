"""The construct library installs on its own and works in an app outside this repository's tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "constructs"


@pytest.fixture(scope="session")
def consumer_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the library's wheel installed (its third-party dependencies come from this
    environment's site-packages, so the test needs no network; `make consumer-check` does the full install)."""
    base = tmp_path_factory.mktemp("consumer")
    wheels = base / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels),
         str(LIBRARY)],
        check=True,
    )  # fmt: skip
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())  # fmt: skip
    # Third-party packages only: the editable secure_serverless of this repo is NOT visible (its finder .pth is
    # not processed from a plain path entry).
    (site / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = wheels.glob("secure_serverless_constructs-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
    )
    return venv


def test_library_metadata_and_version_agree() -> None:
    import secure_serverless

    project = tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]
    assert project["version"] == secure_serverless.__version__
    assert any(dep.startswith("aws-cdk-lib") for dep in project["dependencies"])


def test_every_public_name_is_documented() -> None:
    import secure_serverless

    for name in secure_serverless.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(secure_serverless, name)
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_consumer_app_outside_the_repo_synthesizes_and_passes_awssolutions(consumer_venv: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        [consumer_venv / "bin" / "python", str(Path(__file__).with_name("consumer_app.py")), str(tmp_path / "out")],
        cwd=tmp_path,  # outside the repository
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert str(consumer_venv) in facts["module"]  # the installed wheel, not this checkout
    assert ROOT.as_posix() not in facts["module"]
    assert {"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::KMS::Key"} <= set(facts["types"])
    # An unacknowledged AwsSolutions finding would have failed the synth (exit 1); the report agrees.
    report = json.loads((tmp_path / "out" / "validation-report.json").read_text())
    assert [v for plugin in report["pluginReports"] for v in plugin["violations"]] == []
