"""One account per environment: the `accounts` context binds a stack to an account/region; without it nothing moves."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import threading
import urllib.parse
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks.app_builder import build_app, cdk_json_context

ROOT = Path(__file__).resolve().parents[2]
PROD_ACCOUNT, PROD_REGION = "111111111111", "eu-west-1"
PR_ACCOUNT, PR_REGION = "222222222222", "us-east-1"
MAPPING = {
    "prod": {"account": PROD_ACCOUNT, "region": PROD_REGION},
    "dev": {"account": PR_ACCOUNT, "region": PR_REGION},  # the preset: every pr-<n> and unknown suffix
}


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> cdk.cx_api.CloudAssembly:
    """staging (unmapped), prod (by suffix) and pr-7 (by its dev preset) in one app with the mapping."""
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("mapped")),
        context=cdk_json_context(env="staging,prod,pr-7", accounts=json.dumps(MAPPING)),
        builtin_cloud_formation_validation=False,
    )
    return build_app(app, cloudformation_validation=False).synth()


def _artifact(assembly: cdk.cx_api.CloudAssembly, artifact_id: str) -> cdk.cx_api.CloudFormationStackArtifact:
    return assembly.get_stack_artifact(artifact_id)


@pytest.mark.slow
@pytest.mark.parametrize(
    "artifact_id,account,region,q",
    [
        ("SecureServerless-prod", PROD_ACCOUNT, PROD_REGION, "secslsprd"),
        ("SecureServerless-pr-7", PR_ACCOUNT, PR_REGION, "hnb659fds"),
        ("SecureServerless-staging", "unknown-account", "unknown-region", "secslsstg"),  # no mapping: CLI's account
    ],
)
def test_stacks_are_bound_to_their_mapped_account(
    mapped: cdk.cx_api.CloudAssembly, artifact_id: str, account: str, region: str, q: str
) -> None:
    artifact = _artifact(mapped, artifact_id)
    assert (artifact.environment.account, artifact.environment.region) == (account, region)
    if account != "unknown-account":
        # The CLI deploys through that account's bootstrap role: credentials for another account cannot assume it,
        # and the CLI stops with "Need to perform AWS calls for account <mapped>" before creating a change set.
        assert artifact.assume_role_arn == (
            f"arn:${{AWS::Partition}}:iam::{account}:role/cdk-{q}-deploy-role-{account}-{region}"
        )
        assets = json.loads(Path(mapped.directory, f"{artifact_id}.assets.json").read_text())
        destinations = [d for f in assets["files"].values() for d in f["destinations"].values()]
        assert destinations and {(d["bucketName"], d["assumeRoleArn"]) for d in destinations} == {
            (
                f"cdk-{q}-assets-{account}-{region}",
                f"arn:${{AWS::Partition}}:iam::{account}:role/cdk-{q}-file-publishing-role-{account}-{region}",
            )
        }


@pytest.mark.slow
def test_each_mapped_account_gets_its_own_account_level_stack(mapped: cdk.cx_api.CloudAssembly) -> None:
    accounts = {
        a.id: (a.environment.account, a.environment.region)
        for a in mapped.stacks
        if a.stack_name == "SecureServerless-account"
    }
    assert accounts == {
        "SecureServerless-account": ("unknown-account", "unknown-region"),
        f"SecureServerless-account-{PROD_ACCOUNT}-{PROD_REGION}": (PROD_ACCOUNT, PROD_REGION),
        f"SecureServerless-account-{PR_ACCOUNT}-{PR_REGION}": (PR_ACCOUNT, PR_REGION),
    }
    prod = _artifact(mapped, "SecureServerless-prod")
    assert f"SecureServerless-account-{PROD_ACCOUNT}-{PROD_REGION}" in [d.id for d in prod.dependencies]


@pytest.mark.slow
def test_mapped_template_is_bound_to_the_account(mapped: cdk.cx_api.CloudAssembly) -> None:
    template = json.dumps(_artifact(mapped, "SecureServerless-prod").template)
    assert PROD_ACCOUNT in template and PROD_REGION in template


@pytest.mark.slow
def test_an_unmapped_environment_keeps_its_template(mapped: cdk.cx_api.CloudAssembly, templates: dict) -> None:
    # staging has no mapping: byte-for-byte the template of the app without any `accounts` context.
    assert _artifact(mapped, "SecureServerless-staging").template == templates["staging"]


@pytest.mark.slow
def test_a_mapped_stack_needs_no_context_lookup(mapped: cdk.cx_api.CloudAssembly, templates: dict) -> None:
    # Otherwise `make synth` of a mapped prod would need AWS credentials (the VPC's availability-zone lookup).
    assert json.loads(Path(mapped.directory, "manifest.json").read_text()).get("missing") is None

    def zones(template: dict) -> list:
        return [
            r["Properties"]["AvailabilityZone"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::EC2::Subnet"
        ]

    prod = _artifact(mapped, "SecureServerless-prod").template
    assert zones(prod) == zones(templates["prod"]) and zones(prod)


class _Aws(http.server.BaseHTTPRequestHandler):
    """Every AWS endpoint at once, as seen with credentials of account 333333333333: STS says who the caller is and
    refuses AssumeRole into the mapped account (its bootstrap roles trust only that account); all else is refused too.
    Every request is recorded."""

    requests: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        action = urllib.parse.parse_qs(body).get("Action", [self.headers.get("X-Amz-Target", self.path)])[0]
        role = urllib.parse.parse_qs(body).get("RoleArn", [""])[0]
        type(self).requests.append(f"{action} {role}".strip())
        if action == "GetCallerIdentity":
            identity = (
                b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
                b"<Arn>arn:aws:iam::333333333333:user/dev</Arn><UserId>AIDAEXAMPLE</UserId>"
                b"<Account>333333333333</Account></GetCallerIdentityResult>"
                b"<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
            )
            return self._send(200, identity)
        error = (
            b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            b"<Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error>"
            b"<RequestId>1</RequestId></ErrorResponse>"
        )
        self._send(403, error)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_deploying_prod_with_another_accounts_credentials_changes_nothing(
    mapped: cdk.cx_api.CloudAssembly, tmp_path: Path
) -> None:
    handler = type("Aws", (_Aws,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "PATH": f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
        "AWS_ACCESS_KEY_ID": "other-account",
        "AWS_SECRET_ACCESS_KEY": "other-account",
        "AWS_REGION": PROD_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "HOME": str(tmp_path),  # no ~/.aws profiles of this machine
    }
    try:
        result = subprocess.run(
            [
                "cdk",
                "deploy",
                "--no-notices",
                "--app",
                mapped.directory,
                "SecureServerless-prod",
                "--require-approval",
                "never",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode != 0
    assert "Could not assume role in target account" in result.stdout + result.stderr
    # Nothing but attempts to assume the mapped account's bootstrap roles: no upload, no change set, no stack.
    assert "AssumeRole" in " ".join(handler.requests) and all(
        r == "GetCallerIdentity"
        or re.fullmatch(
            rf"AssumeRole arn:aws:iam::{PROD_ACCOUNT}:role/cdk-secslsprd-[a-z-]+-role-{PROD_ACCOUNT}-{PROD_REGION}", r
        )
        for r in handler.requests
    ), handler.requests
