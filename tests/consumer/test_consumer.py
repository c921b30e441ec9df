"""The construct library installs on its own and works in an app outside this repository's tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.graph import check_graph
from tests.support.log_keys import evaluate_rows, wrong
from tests.support.resolve import StandIns

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "constructs"


@pytest.fixture(scope="session")
def consumer_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the library's wheel installed (its third-party dependencies come from this
    environment's site-packages, so the test needs no network; `make consumer-check` does the full install)."""
    base = tmp_path_factory.mktemp("consumer")
    wheels = base / "wheels"
    # Build from a private copy: setuptools writes build/ and *.egg-info into the source folder, and each xdist
    # worker runs this session fixture, so two builds in the checkout race on the same build/ (seen in CI:
    # "[Errno 2] No such file or directory" while copying into build/bdist...).
    source = base / "src"
    shutil.copytree(LIBRARY, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "dist"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels),
         str(source)],
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


def _run_consumer(venv: Path, tmp_path: Path, mode: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run consumer_app.py with the wheel's interpreter, from outside the repository; (facts, nag violations)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{env['PATH']}"
    outdir = tmp_path / mode
    result = subprocess.run(
        [venv / "bin" / "python", str(Path(__file__).with_name("consumer_app.py")), str(outdir), mode],
        cwd=tmp_path,  # outside the repository
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert str(venv) in facts["module"]  # the installed wheel, not this checkout
    assert ROOT.as_posix() not in facts["module"]
    report = json.loads((outdir / "validation-report.json").read_text())
    return facts, [v for plugin in report["pluginReports"] for v in plugin["violations"]]


def test_consumer_app_zero_config_and_composed_passes_awssolutions_and_serverless(
    consumer_venv: Path, tmp_path: Path
) -> None:
    """SecureBucket, EnvironmentKey, ScaledTable(partition_key=...) and IdentityPool with no other argument, every
    construct composed with plain L2 resources passed as existing_*, and two zero-config instances of every construct
    in one stack (Twins): nag-clean under both packs."""
    facts, violations = _run_consumer(consumer_venv, tmp_path, "clean")
    assert violations == []
    assert facts["synthesized"] is True
    zero = set(facts["types"]["ZeroConfig"])
    assert {"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::Cognito::UserPool"} <= zero
    assert {"AWS::Events::Rule", "AWS::ApiGateway::RestApi", "AWS::EC2::VPC"} <= set(facts["types"]["Composed"])
    every_construct = {"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::Cognito::IdentityPool",
                       "AWS::Lambda::Function", "AWS::Events::Rule", "AWS::ApiGateway::RestApi", "AWS::EC2::VPC",
                       "AWS::SNS::Topic", "AWS::CloudWatch::Alarm", "AWS::SQS::Queue"}  # fmt: skip
    assert every_construct <= set(facts["types"]["Twins"])  # two zero-config instances of each, in one stack
    # Every log group the consumer or a construct encrypted with a key of the app: the IAM engine lets the logs
    # service use the key for that group's encryption context, and not for another group's (tests/support/log_keys).
    templates = {
        name: (json.loads((tmp_path / "clean" / f"{name}.template.json").read_text()), StandIns(stack_name=name))
        for name in ("ZeroConfig", "Composed", "Twins")
    }
    # CloudFormation refuses a cycle inside a template; synthesis does not see one (found by deploying this app).
    assert {name: check_graph(template) for name, (template, _) in templates.items()} == {
        "ZeroConfig": [],
        "Composed": [],
        "Twins": [],
    }
    decided = evaluate_rows(templates)
    groups = {row.group for row, _ in decided if row.stack == "Composed"}
    assert len(groups) >= 6, groups  # the consumer's two, the handler's, the API's execution and WAF logs, flow logs
    assert wrong(decided) == []


def test_a_consumer_wildcard_on_any_construct_role_fails_awssolutions(consumer_venv: Path, tmp_path: Path) -> None:
    facts, violations = _run_consumer(consumer_venv, tmp_path, "wildcard")
    assert facts["synthesized"] is False
    flagged = {
        path.split("/")[0]
        for violation in violations
        if violation["ruleName"] == "AwsSolutions-IAM5[Resource::*]"
        for path in (c["constructPath"] for c in violation["violatingConstructs"])
    }
    assert flagged == {"WildcardFunction", "WildcardIdentity", "WildcardApiGatewayLogging"}
