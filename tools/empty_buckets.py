#!/usr/bin/env python3
"""Empty every bucket of a destroyable environment (all object versions and delete markers) so `cdk destroy` can
delete them: run by `make destroy ENV=<suffix>` before `cdk destroy`. Refuses the prod preset (its buckets are
retained on purpose). Needs cloudformation:ListStackResources, s3:ListBucketVersions, s3:DeleteObjectVersion."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import boto3
from botocore.exceptions import ClientError

from stacks.config import ConfigError, preset_for, validate_suffix

STACK_PREFIX = "SecureServerless-"


def stack_buckets(cloudformation: Any, stack_name: str) -> list[str]:
    """Physical names of the stack's AWS::S3::Bucket resources that exist (not yet deleted)."""
    buckets = []
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::S3::Bucket" and resource.get("PhysicalResourceId"):
                if resource["ResourceStatus"] != "DELETE_COMPLETE":
                    buckets.append(resource["PhysicalResourceId"])
    return buckets


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker; returns how many were deleted."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if not entries:
            continue
        result = s3.delete_objects(Bucket=bucket, Delete={"Objects": entries, "Quiet": True})
        errors = result.get("Errors", [])
        if errors:
            first = errors[0]
            raise RuntimeError(
                f"bucket {bucket}: {len(errors)} version(s) not deleted, e.g. {first['Key']}: {first['Code']}"
            )
        deleted += len(entries)
    return deleted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--env", required=True, help="environment suffix, e.g. pr-7")
    parser.add_argument("--region", help="AWS region (default: the SDK's)")
    parser.add_argument("--profile", help="AWS profile to use (default: the SDK's credentials)")
    args = parser.parse_args(argv)
    try:
        validate_suffix(args.env)
    except ConfigError as error:
        print(f"empty_buckets: {error}", file=sys.stderr)
        return 2
    if preset_for(args.env) == "prod":
        print(f"empty_buckets: refusing to empty {args.env}: prod buckets are retained on purpose", file=sys.stderr)
        return 2
    session = boto3.Session(region_name=args.region, profile_name=args.profile)
    stack_name = f"{STACK_PREFIX}{args.env}"
    try:
        buckets = stack_buckets(session.client("cloudformation"), stack_name)
    except ClientError as error:
        if "does not exist" in str(error):
            print(f"{stack_name} does not exist: nothing to empty")
            return 0
        raise
    s3 = session.client("s3")
    for bucket in buckets:
        print(f"{bucket}: deleted {empty_bucket(s3, bucket)} object version(s) and delete marker(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
