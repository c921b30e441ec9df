"""Fixtures of the deployed-stack run (`make e2e`, tests/e2e/run.sh): the real `cdk deploy` into LocalStack.

Only `make e2e` collects the `check_*.py` modules here (`-o python_files=check_*.py`), with the emulator running on
E2E_ENDPOINT; `make test` collects just test_graph.py. Importing this file has no side effect: every AWS setting
goes to the subprocesses and clients the fixtures make.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "000000000000"  # LocalStack's default account
REGION = "us-east-1"
PR_SUFFIX = os.environ.get("E2E_PR_SUFFIX", "pr-9")  # any unknown suffix gets the dev preset
SUFFIXES = (PR_SUFFIX, "prod")
ACCOUNT_STACK = "SecureServerless-account"
STACKS = (ACCOUNT_STACK, *(f"SecureServerless-{suffix}" for suffix in SUFFIXES))
FALLBACK_REASON = "deployed as a fallback"  # LocalStack's status reason for a type it only pretends to create

REPORT: list[str] = []  # printed at the end of the run (pytest_terminal_summary)


def report(line: str) -> None:
    REPORT.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORT:
        terminalreporter.section("deployed-stack report")
        for line in REPORT:
            terminalreporter.write_line(line)


def endpoint() -> str:
    url = os.environ.get("E2E_ENDPOINT")
    if not url:
        pytest.fail("E2E_ENDPOINT is not set: the deployed-stack checks run through `make e2e` (tests/e2e/run.sh)")
    return url


def aws_environment(account: str | None = None) -> dict[str, str]:
    """What the pinned CLI and boto3 need to talk to the emulator (dummy credentials: nothing leaves the machine).

    With `account` (12 digits), the credentials of that emulator account: LocalStack reads the account id from an
    access key id of 12 digits ("test" stands for its default account, ACCOUNT)."""
    return {
        "AWS_ENDPOINT_URL": endpoint(),
        "AWS_ACCESS_KEY_ID": account or "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "CDK_DEFAULT_ACCOUNT": account or ACCOUNT,
        "CDK_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }


class Aws:
    """boto3 clients on the emulator (in its default account, or in `account`), made on first use."""

    def __init__(self, account: str | None = None) -> None:
        env = aws_environment(account)
        self._session = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )
        self._clients: dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service.rstrip("_").replace("_", "-"),
                endpoint_url=endpoint(),
                config=Config(retries={"max_attempts": 5}),
            )
        return self._clients[service]


def cdk(*args: str, timeout: int = 900) -> str:
    """Run the pinned CLI (node_modules/.bin/cdk) against the emulator; its output, or a failure that shows it."""
    command = [str(ROOT / "node_modules" / ".bin" / "cdk"), *args, "--no-notices"]
    env = {**os.environ, **aws_environment()}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"`cdk {' '.join(args)}` failed ({result.returncode}):\n{output[-6000:]}")
    return output


@dataclass
class Deployment:
    out_dir: Path
    deploy_seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def template(self, stack: str) -> dict[str, Any]:
        return json.loads((self.out_dir / f"{stack}.template.json").read_text())


@pytest.fixture(scope="session")
def aws() -> Aws:
    return Aws()


@pytest.fixture(scope="session")
def deployment(aws: Aws, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`cdk bootstrap`, then `cdk deploy` of the account stack and both environments; `cdk destroy` afterwards."""
    out_dir = tmp_path_factory.mktemp("cdk-out")
    context = ("-c", f"env={','.join(SUFFIXES)}")
    started = time.monotonic()
    # `make bootstrap` of each trust level (own qualifier, shipped execution policies and boundary): proves they
    # deploy, not that they hold (the emulator enforces no IAM; tests/delivery evaluates them).
    for level in ("preview", "staging", "prod"):
        command = [sys.executable, "-m", "tools.bootstrap", "run", "--level", level, "--account", ACCOUNT]
        result = subprocess.run(
            [*command, "--region", REGION],
            cwd=ROOT,
            env={**os.environ, **aws_environment()},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            pytest.fail(f"make bootstrap LEVEL={level} failed:\n{(result.stdout + result.stderr)[-6000:]}")
    report(f"make bootstrap (preview, staging, prod): {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    # The stacks by name, not --all: the app holds other stacks (e.g. the CI access stack) this run does not check.
    output = cdk("deploy", *context, *STACKS, "--require-approval", "never", "--concurrency", "1", "-o", str(out_dir))
    deployment = Deployment(out_dir)
    # "✅  SecureServerless-pr-9" ... "✨  Deployment time: 5.11s" per stack, in deploy order.
    for stack, seconds in re.findall(r"✅\s+(\S+)(?:\s+\(no changes\))?\s+✨\s+Deployment time: ([\d.]+)s", output):
        deployment.deploy_seconds[stack] = float(seconds)
    report(
        f"cdk deploy (synth + {len(STACKS)} stacks): {time.monotonic() - started:.1f} s; per stack: "
        + ", ".join(f"{stack} {seconds:.1f} s" for stack, seconds in deployment.deploy_seconds.items())
    )
    for stack in STACKS:
        described = aws.cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        deployment.outputs[stack] = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    yield deployment
    # prod has termination protection (as it should); an operator lifts it before a deliberate destroy.
    aws.cloudformation.update_termination_protection(
        StackName="SecureServerless-prod", EnableTerminationProtection=False
    )
    started = time.monotonic()
    cdk("destroy", *context, *STACKS, "--force", "-o", str(out_dir))
    remaining = [
        s["StackName"]
        for s in aws.cloudformation.list_stacks()["StackSummaries"]
        if s["StackName"] in STACKS and s["StackStatus"] != "DELETE_COMPLETE"
    ]
    report(f"cdk destroy: {time.monotonic() - started:.1f} s; stacks left: {remaining or 'none'}")
    assert remaining == [], f"stacks not destroyed: {remaining}"
