"""The logic behind the workflows, run against stand-in APIs on loopback (moto's server for CloudFormation and S3,
a small GitHub API): the reproducible assembly and its digest check, the escaped job summary, prod's change-set plan
and execute, and the sweeper of closed previews."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tools import assembly, changeset, summary, sweep

REGION = "us-east-1"
TEMPLATE = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}}}


# --- assembly: build once, promote the same bytes ------------------------------------------------------------------
def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_assembly_tar_is_reproducible_and_its_digest_follows_the_content(tmp_path: Path) -> None:
    files = {"manifest.json": "{}", "SecureServerless-prod.template.json": "{ }", "asset.abc/index.py": "x = 1"}
    one, two = _tree(tmp_path / "one", files), _tree(tmp_path / "two", dict(reversed(list(files.items()))))
    digest = assembly.pack(one, tmp_path / "one.tar")
    assert assembly.pack(two, tmp_path / "two.tar") == digest  # other order, other mtimes: same bytes
    assert digest == hashlib.sha256((tmp_path / "one.tar").read_bytes()).hexdigest()
    (two / "asset.abc/index.py").write_text("x = 2")
    assert assembly.pack(two, tmp_path / "changed.tar") != digest


def test_verify_unpacks_only_the_published_digest(tmp_path: Path) -> None:
    digest = assembly.pack(_tree(tmp_path / "built", {"manifest.json": "{}"}), tmp_path / "a.tar")
    with pytest.raises(assembly.DigestMismatch, match="not deploying"):
        assembly.verify(tmp_path / "a.tar", "0" * 64, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert assembly.main(["verify", str(tmp_path / "a.tar"), "", str(tmp_path / "out")]) == 1
    assembly.verify(tmp_path / "a.tar", digest, tmp_path / "out")
    assert (tmp_path / "out" / "manifest.json").read_text() == "{}"


# --- summary escaping ----------------------------------------------------------------------------------------------
def test_template_text_cannot_forge_the_summary() -> None:
    hostile = '</pre>\n## Approved by security <img src=x onerror=alert(1)> [ok](https://evil) & "q"'
    block = summary.escape_block("Change set <b>x</b>", hostile)
    assert block.count("<pre>") == 1 and block.count("</pre>") == 1 and block.rstrip().endswith("</pre>")
    inner = block.split("<pre>\n", 1)[1].rsplit("\n</pre>", 1)[0]
    assert "<" not in inner and ">" not in inner and '"' not in inner
    assert "&lt;/pre&gt;" in inner and "&amp;" in inner
    assert block.startswith("### Change set &lt;b&gt;x&lt;/b&gt;\n")
    assert "(cut at" in summary.escape_block("t", "a" * (summary.LIMIT + 1))


# --- stand-in AWS on loopback --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def aws(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch_module.setenv(name, value)
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _published(bucket: str, key: str, template: dict[str, Any]) -> dict[str, Any]:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(template).encode())
    return {
        "template_url": f"https://{bucket}.s3.amazonaws.com/{key}",
        "tags": [],
        "stack_name": "SecureServerless-prod",
    }


def test_plan_then_execute_exactly_the_approved_change_set(aws: str) -> None:
    cloudformation = boto3.client("cloudformation")
    props = _published("assets-plan", "t1.json", TEMPLATE)
    arn, lines = changeset.plan(cloudformation, props, "run-1", "d1")
    assert any("Add" in line and "Queue" in line for line in lines)
    assert cloudformation.describe_change_set(ChangeSetName=arn)["ExecutionStatus"] == "AVAILABLE"
    with pytest.raises(changeset.ChangeSetError, match="not planned from assembly sha256 d2"):
        changeset.execute(cloudformation, arn, "SecureServerless-prod", "d2")
    with pytest.raises(changeset.ChangeSetError, match="belongs to SecureServerless-prod, not SecureServerless-dev"):
        changeset.execute(cloudformation, arn, "SecureServerless-dev", "d1")
    changeset.execute(cloudformation, arn, "SecureServerless-prod", "d1")
    (stack,) = cloudformation.describe_stacks(StackName="SecureServerless-prod")["Stacks"]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")


def test_stack_properties_come_from_the_assembly_manifest(tmp_path: Path) -> None:
    manifest = {
        "artifacts": {
            "SecureServerless-prod": {
                "properties": {
                    "stackName": "SecureServerless-prod",
                    "stackTemplateAssetObjectUrl": "s3://cdk-q-assets-${AWS::AccountId}-${AWS::Region}/abc.json",
                    "cloudFormationExecutionRoleArn": (
                        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-q-cfn-exec"
                    ),
                    "tags": {"environment": "prod"},
                }
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    props = changeset.stack_properties(tmp_path, "SecureServerless-prod", "444444444444", "eu-west-1")
    assert props == {
        "template_url": "https://cdk-q-assets-444444444444-eu-west-1.s3.eu-west-1.amazonaws.com/abc.json",
        "role_arn": "arn:aws:iam::444444444444:role/cdk-q-cfn-exec",
        "tags": [{"Key": "environment", "Value": "prod"}],
        "stack_name": "SecureServerless-prod",
    }


# --- the sweeper ---------------------------------------------------------------------------------------------------
class _GitHub(http.server.BaseHTTPRequestHandler):
    states: dict[int, str] = {}
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen.append(f"{self.path} {self.headers.get('Authorization')}")
        number = int(self.path.rsplit("/", 1)[1])
        body = json.dumps({"number": number, "state": self.states.get(number, "open")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_sweeper_destroys_closed_previews_and_fails_naming_the_stack(aws: str) -> None:
    cloudformation = boto3.client("cloudformation")
    for name in (
        "SecureServerless-pr-11",
        "SecureServerless-pr-12",
        "SecureServerless-pr-13",
        "SecureServerless-prod2",
    ):
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(TEMPLATE))
    stacks = sweep.preview_stacks(cloudformation)
    assert stacks == {11: "SecureServerless-pr-11", 12: "SecureServerless-pr-12", 13: "SecureServerless-pr-13"}
    handler = type("GitHub", (_GitHub,), {"states": {11: "closed", 12: "open", 13: "closed"}, "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}"
    destroyed_envs: list[str] = []

    def destroy(environment: str) -> bool:
        destroyed_envs.append(environment)
        if environment == "pr-13":
            return False
        cloudformation.delete_stack(StackName=f"SecureServerless-{environment}")
        return True

    try:
        destroyed, failed = sweep.sweep(stacks, lambda n: sweep.pull_request_state(api, "acme/shop", n, "t0k"), destroy)
    finally:
        server.shutdown()
        server.server_close()
    assert (destroyed, failed, destroyed_envs) == (
        ["SecureServerless-pr-11"],
        ["SecureServerless-pr-13"],
        ["pr-11", "pr-13"],
    )
    assert sorted(handler.seen) == [f"/repos/acme/shop/pulls/{n} Bearer t0k" for n in (11, 12, 13)]
    assert 11 not in sweep.preview_stacks(cloudformation)


def test_sweeper_run_fails_and_names_the_stack(
    aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("cloudformation").create_stack(StackName="SecureServerless-pr-21", TemplateBody=json.dumps(TEMPLATE))
    handler = type("GitHub", (_GitHub,), {"states": {21: "closed"}, "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GITHUB_TOKEN", "t0k")
    try:
        code = sweep.main(
            [
                "--repository",
                "acme/shop",
                "--api",
                f"http://127.0.0.1:{server.server_address[1]}",
                "--destroy-command",
                "false",
            ]
        )
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    assert "::error::destroy of SecureServerless-pr-21 failed" in capsys.readouterr().out
