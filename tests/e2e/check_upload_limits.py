"""The per-user limits the deployed processor enforces when it records an upload (lambda/processor usage.py), through
the real chain: S3 -> EventBridge -> SQS -> processor -> DynamoDB transaction (and S3 DeleteObjectVersion).

The uploads are made with the checks' own credentials (the emulator's administrator): signed-in users hold no
s3:PutObject (their bytes arrive through grants the API function signs; the emulator enforces no policy either way).
Each check signs its identity in through the deployed API function first, which records the identity id <-> sub
mapping as at grant issuance; the processor counts by that sub. To reach a limit without uploading a gigabyte, a check
sets the sub's `#held` counter near the limit first, as many earlier uploads would have.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from stacks.config import build_config
from tests.e2e.check_chain import Environment, eventually, identity, now_ms, sub_of
from tests.e2e.conftest import PR_SUFFIX, Aws, Deployment, report


@pytest.fixture(scope="module")
def env(aws: Aws, deployment: Deployment) -> Environment:
    return Environment.read(aws, deployment, PR_SUFFIX)


def sign_in(env: Environment, who: str) -> str:
    """One API call as `who` (the API function records its identity id <-> sub mapping); returns the sub."""
    assert env.list_objects(who) == []
    eventually(lambda: env.record(f"#identity/{who}", "#sub"), f"the identity mapping of {who}")
    return sub_of(who)


def held(env: Environment, sub: str) -> dict[str, int]:
    item = env.record(f"#usage/{sub}", "#held") or {}
    return {name: int(item[name]["N"]) for name in ("bytes", "objects") if name in item}


def set_held(env: Environment, sub: str, *, bytes_: int, objects: int) -> None:
    env.aws.dynamodb.put_item(
        TableName=env.table,
        Item={
            "object_key": {"S": f"#usage/{sub}"},
            "version_id": {"S": "#held"},
            "bytes": {"N": str(bytes_)},
            "objects": {"N": str(objects)},
        },
    )


def version_exists(env: Environment, key: str, version_id: str) -> bool:
    versions = env.aws.s3.list_object_versions(Bucket=env.bucket, Prefix=key).get("Versions", [])
    return any(v["Key"] == key and v["VersionId"] == version_id for v in versions)


def test_uploads_are_counted_by_sub_once_each(env: Environment) -> None:
    who = identity()
    sub = sign_in(env, who)
    keys = [f"uploads/{who}/counted {n} a+b é.txt" for n in range(3)]
    puts = {key: env.upload(key, body=b"x" * (10 + n)) for n, key in enumerate(keys)}
    for key, put in puts.items():
        eventually(lambda key=key, put=put: env.record(key, put["VersionId"]), f"the record of {key!r}")
    assert eventually(lambda: held(env, sub) == {"bytes": 33, "objects": 3} or None, "the sub's usage") is True
    report(f"upload limits: 3 uploads recorded and counted once each under #usage/<sub> ({held(env, sub)})")


def test_an_upload_over_the_bytes_held_is_refused_and_its_version_deleted(env: Environment) -> None:
    limit = build_config(PR_SUFFIX).upload_max_bytes_held
    who = identity()
    sub = sign_in(env, who)
    set_held(env, sub, bytes_=limit - 4, objects=7)
    since = now_ms()
    refused_key = f"uploads/{who}/one too many {uuid.uuid4().hex[:6]}.bin"
    refused = env.upload(refused_key, body=b"12345")  # 5 bytes: one over the limit
    control_key = f"uploads/{who}/fits exactly.bin"
    control = env.upload(control_key, body=b"1234")  # processed after the refused one: fits the 4 bytes left
    eventually(lambda: env.record(control_key, control["VersionId"]), "the record of the upload that fits")
    eventually(lambda: not version_exists(env, refused_key, refused["VersionId"]), "the refused version deleted")
    assert env.record(refused_key, refused["VersionId"]) is None
    assert held(env, sub) == {"bytes": limit, "objects": 8}
    metrics: dict[str, Any] = eventually(
        lambda: (m := env.processor_metrics(since)).get("UploadsRefused") and m, "UploadsRefused in the processor's log"
    )
    assert metrics["UploadsRefused"] >= 1
    report(
        f"upload limits: an upload over upload_max_bytes_held ({limit} bytes) refused: its version deleted, no "
        "record, UploadsRefused counted; the next one that fits recorded"
    )
