#!/usr/bin/env python3
"""Smoke-test a deployed environment with boto3 (run by `make smoke ENV=<suffix>` and the CI workflows).

Read-only checks (what the CDK lookup role, ReadOnlyAccess, may do; the workflows chain into it):
  - stack SecureServerless-<suffix> is CREATE_COMPLETE/UPDATE_COMPLETE and has the outputs operators use;
  - the data bucket defaults to SSE-KMS with the environment's key and blocks all public access;
  - the records table is ACTIVE and encrypted with KMS;
  - the API refuses an unsigned request (403): the stage is live and every route is IAM-authorised.
With --upload (credentials that may put objects, e.g. an operator's; not the CI roles):
  - an object put with the bucket's encryption headers is recorded in the table (one item for that version),
    then the object version is deleted again.
Exit 0 when every check passes; each failure is printed on one line starting with FAIL.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

STACK_PREFIX = "SecureServerless-"
REQUIRED_OUTPUTS = ("BucketName", "KeyArn", "TableName", "ApiUrl", "UserPoolId", "IdentityPoolId", "AlertTopicArn")
DEPLOYED = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
SMOKE_PREFIX = "ci-smoke/"


class SmokeFailure(Exception):
    """One failed check; the message says what was expected and what was found."""


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs, after checking it is deployed and has every output this script and operators use."""
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        raise SmokeFailure(f"stack {stack_name}: {error.response['Error'].get('Message', error)}") from None
    if stack["StackStatus"] not in DEPLOYED:
        raise SmokeFailure(f"stack {stack_name} is {stack['StackStatus']}, expected one of {', '.join(DEPLOYED)}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        raise SmokeFailure(f"stack {stack_name} lacks output(s) {', '.join(missing)}")
    return outputs


def account_of(arn: str) -> str:
    """The account id field of an ARN (arn:partition:service:region:account:resource)."""
    return arn.split(":")[4]


def check_bucket(s3: Any, bucket: str, key_arn: str) -> None:
    """Default encryption is SSE-KMS with this environment's key; all four Block Public Access flags are on."""
    owner = account_of(key_arn)
    rules = s3.get_bucket_encryption(Bucket=bucket, ExpectedBucketOwner=owner)["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    defaults = [r.get("ApplyServerSideEncryptionByDefault", {}) for r in rules]
    key_id = key_arn.rsplit("/", 1)[-1]
    if not any(d.get("SSEAlgorithm") == "aws:kms" and d.get("KMSMasterKeyID") in (key_arn, key_id) for d in defaults):
        raise SmokeFailure(f"bucket {bucket}: default encryption is {defaults}, expected aws:kms with {key_arn}")
    block = s3.get_public_access_block(Bucket=bucket, ExpectedBucketOwner=owner)["PublicAccessBlockConfiguration"]
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    off = [flag for flag in flags if not block.get(flag)]
    if off:
        raise SmokeFailure(f"bucket {bucket}: public access block off for {', '.join(off)}")


def check_table(dynamodb: Any, table: str) -> None:
    """The records table is ACTIVE and encrypted with a KMS key."""
    description = dynamodb.describe_table(TableName=table)["Table"]
    if description["TableStatus"] != "ACTIVE":
        raise SmokeFailure(f"table {table} is {description['TableStatus']}, expected ACTIVE")
    sse = description.get("SSEDescription", {})
    if sse.get("Status") != "ENABLED" or sse.get("SSEType") != "KMS":
        raise SmokeFailure(f"table {table}: encryption {sse or 'absent'}, expected KMS ENABLED")


def http_status(url: str, timeout: float = 10.0) -> int:
    """The status of an unsigned GET (no redirects followed for errors; network errors raise)."""
    request = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - https URL from the stack
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def check_api_requires_signature(api_url: str, get_status: Callable[[str], int] = http_status) -> None:
    """An unsigned request is refused with 403: the stage answers, and it does not serve anonymous callers."""
    url = api_url.rstrip("/") + "/objects"
    status = get_status(url)
    if status != 403:
        raise SmokeFailure(f"unsigned GET {url} answered {status}, expected 403 (IAM authorisation)")


def upload_and_wait_for_record(
    s3: Any,
    dynamodb: Any,
    outputs: dict[str, str],
    timeout_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Put one object with the bucket's encryption headers, wait for its record, delete the object version."""
    bucket, key_arn, table = outputs["BucketName"], outputs["KeyArn"], outputs["TableName"]
    owner = account_of(key_arn)
    key = f"{SMOKE_PREFIX}{uuid.uuid4()}.txt"
    body = f"smoke test {key}\n".encode()
    put = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key_arn,
        ExpectedBucketOwner=owner,
    )
    version = put.get("VersionId") or "null"
    try:
        deadline = clock() + timeout_seconds
        while True:
            item = dynamodb.get_item(
                TableName=table,
                Key={"object_key": {"S": key}, "version_id": {"S": version}},
                ConsistentRead=True,
            ).get("Item")
            if item:
                break
            if clock() >= deadline:
                raise SmokeFailure(f"no record for s3://{bucket}/{key} (version {version}) after {timeout_seconds:g} s")
            sleep(2.0)
    finally:
        delete = {"VersionId": put["VersionId"]} if put.get("VersionId") else {}
        s3.delete_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner, **delete)
    if item.get("size", {}).get("N") != str(len(body)) or item.get("bucket", {}).get("S") != bucket:
        raise SmokeFailure(f"record for {key} is {item}, expected bucket {bucket} and size {len(body)}")
    return item


def run(
    suffix: str,
    session: Any,
    upload: bool = False,
    timeout_seconds: float = 120.0,
    get_status: Callable[[str], int] = http_status,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Every check against environment `suffix`; returns what passed, raises SmokeFailure on the first failure."""
    passed: list[str] = []
    outputs = stack_outputs(session.client("cloudformation"), f"{STACK_PREFIX}{suffix}")
    passed.append(f"stack {STACK_PREFIX}{suffix} deployed with its outputs")
    s3, dynamodb = session.client("s3"), session.client("dynamodb")
    check_bucket(s3, outputs["BucketName"], outputs["KeyArn"])
    passed.append(f"bucket {outputs['BucketName']}: SSE-KMS with the environment key, public access blocked")
    check_table(dynamodb, outputs["TableName"])
    passed.append(f"table {outputs['TableName']}: ACTIVE, KMS-encrypted")
    check_api_requires_signature(outputs["ApiUrl"], get_status)
    passed.append("API refuses unsigned requests (403)")
    if upload:
        upload_and_wait_for_record(s3, dynamodb, outputs, timeout_seconds, sleep=sleep)
        passed.append("an encrypted upload was recorded in the table")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment suffix, e.g. pr-7 (stack SecureServerless-<env>)")
    parser.add_argument("--region", help="AWS region (default: the SDK's, e.g. AWS_REGION)")
    parser.add_argument("--upload", action="store_true", help="also upload an object and wait for its record")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the record (default 120)")
    args = parser.parse_args(argv)
    session = boto3.Session(region_name=args.region)
    try:
        for line in run(args.env, session, upload=args.upload, timeout_seconds=args.timeout):
            print(f"ok: {line}")
    except SmokeFailure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
