"""tools/empty_buckets.py against moto: every version and delete marker of the stack's buckets goes, nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tools import empty_buckets

REGION = "us-east-1"


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        bucket = {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Enabled"}}}
        template = {"Resources": {"Data": bucket, "Logs": bucket}}
        session.client("cloudformation").create_stack(
            StackName="SecureServerless-pr-7", TemplateBody=json.dumps(template)
        )
        yield session


def _versions(s3, bucket: str) -> int:
    listing = s3.list_object_versions(Bucket=bucket)
    return len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))


def test_every_version_and_delete_marker_of_the_stacks_buckets_is_deleted(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    s3 = session.client("s3")
    buckets = empty_buckets.stack_buckets(session.client("cloudformation"), "SecureServerless-pr-7")
    assert len(buckets) == 2
    for bucket in buckets:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for body in (b"one", b"two"):
            s3.put_object(Bucket=bucket, Key="k", Body=body)
        s3.delete_object(Bucket=bucket, Key="k")  # a delete marker on top of two versions
        s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    s3.create_bucket(Bucket="not-in-the-stack")
    s3.put_object(Bucket="not-in-the-stack", Key="k", Body=b"kept")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    assert empty_buckets.main(["--env", "pr-7", "--region", REGION]) == 0
    assert [_versions(s3, b) for b in buckets] == [0, 0]
    assert _versions(s3, "not-in-the-stack") == 1
    assert capsys.readouterr().out.count("deleted 4 object version(s)") == 2


def test_a_missing_stack_is_nothing_to_empty(session: boto3.Session, capsys: pytest.CaptureFixture) -> None:
    assert empty_buckets.main(["--env", "pr-8", "--region", REGION]) == 0
    assert "SecureServerless-pr-8 does not exist" in capsys.readouterr().out


@pytest.mark.parametrize(
    "suffix,message", [("prod", "refusing to empty prod"), ("Bad_1", "invalid environment suffix")]
)
def test_prod_and_bad_suffixes_are_refused(suffix: str, message: str, capsys: pytest.CaptureFixture) -> None:
    assert empty_buckets.main(["--env", suffix]) == 2
    assert message in capsys.readouterr().err
