"""Shared fixtures: every environment is synthesized ONCE per test session and asserted on many times."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# jsii starts Node when aws_cdk is first imported: Node 22 from node_modules must come first (Node 20 is EOL).
os.environ["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

import pytest  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from tests.support.synth import Synthesized, synthesize_environments  # noqa: E402

# The environments the stack tests cover: the three presets and an unknown suffix (dev preset).
ENVIRONMENTS = ("dev", "staging", "prod", "pr-7")


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """All ENVIRONMENTS in one app, with CDK's CloudFormation validation and the nag packs on."""
    return synthesize_environments(ENVIRONMENTS, tmp_path_factory.mktemp("cdk-out"))


@pytest.fixture(scope="session")
def templates(synthesized: Synthesized) -> dict[str, dict]:
    """Template JSON by environment suffix."""
    return synthesized.templates


@pytest.fixture(scope="session")
def stack_templates(synthesized: Synthesized) -> dict[str, Template]:
    """aws_cdk.assertions Template by environment suffix, each built once per session from the one synthesis."""
    return {suffix: synthesized.template(suffix) for suffix in synthesized.templates}


SYNTH_FIXTURES = {"synthesized", "templates", "stack_templates"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist, every test that needs the synthesized app runs on one worker, so it is synthesized once."""
    for item in items:
        if SYNTH_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("synthesized-app"))
