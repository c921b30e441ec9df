"""tools/erase_user.py against moto: the dry run counts what the worker would erase and changes nothing; without
--confirm repeating the sub it refuses in one line; confirmed, it starts the same job POST /erasure starts, which
the real worker then erases; --status shows the job and its report."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import aws_clients as cached_clients
from tests.support.erasure_world import (
    ALICE,
    ALICE_OLD,
    ALICE_SUB,
    AWKWARD_NAMES,
    BOB,
    BOB_SUB,
    BUCKET,
    REGION,
    TABLE,
    Context,
    World,
    mocked_world,
)
from tools import erase_user

ROOT = Path(__file__).resolve().parents[2]
ENV = "erasetest"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mocked_world(monkeypatch) as world:
        outputs = {"BucketName": BUCKET, "TableName": TABLE, "ErasureQueueUrl": world.queue_url}
        template = {
            "Resources": {"Marker": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"marker-{ENV}"}}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        cached_clients.client("cloudformation", REGION).create_stack(
            StackName=f"SecureServerless-{ENV}", TemplateBody=json.dumps(template)
        )
        world.map_identity(ALICE, ALICE_SUB)
        world.map_identity(ALICE_OLD, ALICE_SUB)
        for name in AWKWARD_NAMES:
            world.put_object(ALICE, name)
        world.put_object(ALICE, "a b.txt", b"v2")
        world.delete_marker(ALICE, "100%")
        world.put_object(ALICE_OLD, "old")
        world.usage(ALICE_SUB)
        world.map_identity(BOB, BOB_SUB)
        world.put_object(BOB, "bob")
        yield world


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return erase_user.main([ENV, *argv], out=out), out.getvalue()


def test_dry_run_counts_what_would_go_and_changes_nothing(world: World) -> None:
    before = world.items()
    code, output = _run("--sub", ALICE_SUB, "--dry-run")
    assert code == 0
    assert output == (
        f"dry run: erasing {ALICE_SUB} would remove identities 2, object_versions 7, delete_markers 1, records 7, "
        "usage_items 3, mapping_items 4\n"
    )
    assert world.items() == before and world.messages() == []


def test_without_confirmation_it_refuses_in_one_line(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    for extra in ((), ("--confirm", BOB_SUB)):
        assert _run("--sub", ALICE_SUB, *extra) == (2, "")
        error = capsys.readouterr().err
        assert error == (
            f"erase_user: refusing to erase {ALICE_SUB}: repeat the sub with --confirm {ALICE_SUB} (or use --dry-run)\n"
        )
    assert world.messages() == [] and f"#erasure/{ALICE_SUB}" not in {k for k, _ in world.items()}


def test_confirmed_it_starts_the_job_the_worker_erases(world: World) -> None:
    code, output = _run("--sub", ALICE_SUB, "--confirm", ALICE_SUB)
    assert code == 0 and output.startswith("erasure job ") and "started" in output
    # Asked again while pending: the same job, no second message.
    code, again = _run("--sub", ALICE_SUB, "--confirm", ALICE_SUB)
    assert "is already pending" in again and again.split()[2] == output.split()[2]
    messages = world.messages()
    assert len(messages) == 1
    handler = importlib.import_module("erasure_worker.handler")
    assert handler.sqs_handler({"Records": messages}, Context()) == {"batchItemFailures": []}
    assert world.versions(ALICE) == [] and world.keys_of(ALICE_SUB, (ALICE, ALICE_OLD)) == []
    assert len(world.versions(BOB)) == 1
    code, status = _run("--sub", ALICE_SUB, "--status")
    lines = status.splitlines()
    assert lines[0].startswith(f"job job_id={output.split()[2]} status=done requested_by=operator")
    assert lines[1] == (
        "report identities 2, object_versions 7, delete_markers 1, records 7, usage_items 3, mapping_items 4"
    )
    # The dry run now finds nothing.
    assert _run("--sub", ALICE_SUB, "--dry-run")[1].endswith(
        "identities 0, object_versions 0, delete_markers 0, records 0, usage_items 0, mapping_items 0\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--sub", "ALICE", "--dry-run"), "invalid --sub 'ALICE'"),
        (("--sub", ALICE_SUB, "--identity", "../x", "--dry-run"), "invalid --identity '../x'"),
    ],
)
def test_bad_input_is_refused_before_any_call(argv: Any, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(*argv)[0] == 2
    assert message in capsys.readouterr().err


def test_runs_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "erase_user.py"), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "--confirm SUB" in result.stdout
