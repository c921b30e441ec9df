"""tools/smoke.py against moto (real boto3 calls) and a local HTTP server standing in for the API stage."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from processor.domain import ObjectCreated, ObjectMetadata, build_item
from stacks.records_schema import create_table_request
from tools import smoke

REGION = "us-east-1"
SUFFIX = "pr-7"
TABLE = "secure-serverless-pr-7-records"
BUCKET = "secsls-pr-7-123456789012-us-east-1-an"


class _Api(http.server.BaseHTTPRequestHandler):
    status = 403

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b'{"message":"Missing Authentication Token"}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[type[_Api]]:
    """A real HTTP endpoint on 127.0.0.1 answering every GET with `_Api.status` (403 unless a test changes it)."""
    handler = type("Api", (_Api,), {"status": 403})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/prod/"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def deployed(api: type[_Api], monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """What a deployed environment looks like to the smoke test: stack + outputs, bucket, key, table."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        key_arn = session.client("kms").create_key()["KeyMetadata"]["Arn"]
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}
                ]
            },
        )
        s3.put_public_access_block(
            Bucket=BUCKET,
            PublicAccessBlockConfiguration=dict.fromkeys(
                ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
            ),
        )
        session.client("dynamodb").create_table(
            **create_table_request(TABLE),
            SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn},
        )
        outputs = {
            "BucketName": BUCKET,
            "KeyArn": key_arn,
            "TableName": TABLE,
            "ApiUrl": api.url,  # type: ignore[attr-defined]
            "UserPoolId": f"{REGION}_abc",
            "IdentityPoolId": f"{REGION}:0000",
        }
        template = {
            "Resources": {"Alerts": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {
                **{name: {"Value": value} for name, value in outputs.items()},
                "AlertTopicArn": {"Value": {"Ref": "Alerts"}},
            },
        }
        session.client("cloudformation").create_stack(
            StackName=f"SecureServerless-{SUFFIX}", TemplateBody=json.dumps(template)
        )
        yield session


def _processor(session: boto3.Session) -> Any:
    """Stands in for the deployed pipeline: records every object version with the processor's own item builder."""

    def record_pending(_seconds: float) -> None:
        s3, dynamodb = session.client("s3"), session.client("dynamodb")
        for version in s3.list_object_versions(Bucket=BUCKET).get("Versions", []):
            event = ObjectCreated(
                event_id="e",
                event_time="2026-11-26T00:00:00Z",
                bucket=BUCKET,
                key=version["Key"],
                size=version["Size"],
                version_id=version["VersionId"],
            )
            item = build_item(event, ObjectMetadata(), recorded_at=datetime.now(UTC))
            dynamodb.put_item(
                TableName=TABLE,
                Item={k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in item.items()},
            )

    return record_pending


def test_every_check_passes_on_a_healthy_environment(deployed: boto3.Session) -> None:
    passed = smoke.run(SUFFIX, deployed, upload=True, timeout_seconds=30, sleep=_processor(deployed))
    assert len(passed) == 5 and passed[-1] == "an encrypted upload was recorded in the table"
    # The upload carried the bucket's encryption headers, and the smoke object version is gone afterwards.
    assert deployed.client("s3").list_object_versions(Bucket=BUCKET).get("Versions", []) == []
    (item,) = deployed.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert item["object_key"]["S"].startswith(smoke.SMOKE_PREFIX) and item["bucket"]["S"] == BUCKET


def test_upload_uses_the_environment_key(deployed: boto3.Session) -> None:
    seen: dict[str, Any] = {}
    s3 = deployed.client("s3")

    def inspect_then_record(seconds: float) -> None:
        (version,) = s3.list_object_versions(Bucket=BUCKET)["Versions"]
        seen.update(s3.head_object(Bucket=BUCKET, Key=version["Key"]))
        _processor(deployed)(seconds)

    outputs = smoke.stack_outputs(deployed.client("cloudformation"), f"SecureServerless-{SUFFIX}")
    smoke.upload_and_wait_for_record(s3, deployed.client("dynamodb"), outputs, 30, sleep=inspect_then_record)
    assert seen["ServerSideEncryption"] == "aws:kms" and seen["SSEKMSKeyId"] == outputs["KeyArn"]


def test_no_record_fails_after_the_timeout_and_cleans_up(deployed: boto3.Session) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    outputs = smoke.stack_outputs(deployed.client("cloudformation"), f"SecureServerless-{SUFFIX}")
    with pytest.raises(smoke.SmokeFailure, match=r"no record for s3://.*after 10 s"):
        smoke.upload_and_wait_for_record(
            deployed.client("s3"), deployed.client("dynamodb"), outputs, 10, sleep=sleep, clock=lambda: now[0]
        )
    assert deployed.client("s3").list_object_versions(Bucket=BUCKET).get("Versions", []) == []


def test_missing_stack_fails(deployed: boto3.Session) -> None:
    with pytest.raises(smoke.SmokeFailure, match="stack SecureServerless-pr-8"):
        smoke.run("pr-8", deployed)


def test_wrong_bucket_encryption_fails(deployed: boto3.Session) -> None:
    deployed.client("s3").put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    with pytest.raises(smoke.SmokeFailure, match="default encryption"):
        smoke.run(SUFFIX, deployed)


def test_an_api_that_serves_anonymous_callers_fails(deployed: boto3.Session, api: type[_Api]) -> None:
    api.status = 200
    with pytest.raises(smoke.SmokeFailure, match=r"unsigned GET .*/prod/objects answered 200, expected 403"):
        smoke.run(SUFFIX, deployed)


def test_main_prints_one_fail_line_and_exits_1(deployed: boto3.Session, capsys: pytest.CaptureFixture) -> None:
    assert smoke.main(["--env", "pr-9", "--region", REGION]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("FAIL: stack SecureServerless-pr-9")


def test_main_passes_read_only_checks(deployed: boto3.Session, capsys: pytest.CaptureFixture) -> None:
    assert smoke.main(["--env", SUFFIX, "--region", REGION]) == 0
    assert capsys.readouterr().out.count("ok: ") == 4
