"""Upload grants inside the deployed dev-preset stack: POST /uploads (the API function invoked as API Gateway invokes
it) -> a presigned POST -> the emulator's S3 -> the record -> GET /downloads -> the same bytes; over-size refused at
issuance (and by S3 where the emulator enforces the POST policy's content-length-range: reported), over-rate 429
with Retry-After; another identity cannot download the first one's object (404 like a missing key).

The steps are small functions (grant, post_file, wait_for_record, download_bytes) so a longer chain can compose them.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.e2e.check_chain import Environment, eventually, identity, rest_event
from tests.e2e.conftest import PR_SUFFIX, Aws, Deployment, report


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def _invoke(env: Environment, event: dict[str, Any]) -> Answer:
    response = env.aws.lambda_.invoke(FunctionName=env.api_function, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    headers = {k.lower(): v for k, v in (payload.get("headers") or {}).items()}
    for name, values in (payload.get("multiValueHeaders") or {}).items():  # Powertools answers REST in these
        headers[name.lower()] = ", ".join(values)
    return Answer(payload["statusCode"], headers, json.loads(payload["body"]))


def grant(env: Environment, who: str, name: str, size: int, content_type: str = "application/octet-stream") -> Answer:
    """POST /uploads as API Gateway sends it for the signed-in identity `who`."""
    event = rest_event(env.suffix, who, env.identity_pool(), resource="/uploads", provider=env.user_pool_provider())
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "POST"
    event["body"] = json.dumps({"name": name, "content_type": content_type, "size": size})
    return _invoke(env, event)


def post_file(issued: dict[str, Any], data: bytes) -> requests.Response:
    """The browser's upload: a multipart/form-data POST of every grant field, then the file, to the grant's URL."""
    return requests.post(issued["url"], data=issued["fields"], files={"file": ("upload.bin", data)}, timeout=30)


def wait_for_record(env: Environment, key: str) -> dict[str, Any]:
    """The (first) record of `key` once the pipeline wrote it."""
    items: list[dict[str, Any]] = eventually(lambda: env.items_under(key), f"the record of {key!r}")
    return items[0]


def download(env: Environment, who: str, name: str) -> Answer:
    event = rest_event(
        env.suffix,
        who,
        env.identity_pool(),
        resource="/downloads/{key+}",
        name=name,
        provider=env.user_pool_provider(),
    )
    return _invoke(env, event)


def download_bytes(env: Environment, who: str, name: str) -> bytes:
    answer = download(env, who, name)
    assert answer.status == 200, answer
    fetched = requests.get(answer.body["url"], timeout=30)
    assert fetched.status_code == 200, fetched.text
    return fetched.content


def awkward_names() -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"grant {tag}/a b+c%d:é 日本.bin", f"100%25 literal %2B+plus {tag}.txt", f"plain-{tag}.txt"]


@pytest.fixture(scope="module")
def env(aws: Aws, deployment: Deployment) -> Environment:
    return Environment.read(aws, deployment, PR_SUFFIX)


def test_granted_uploads_are_recorded_and_download_as_the_same_bytes(env: Environment) -> None:
    alice, bob = identity(), identity()
    for name in awkward_names():
        data = os.urandom(200) + name.encode()
        issued = grant(env, alice, name, len(data))
        assert issued.status == 201, issued
        assert issued.body["key"] == f"uploads/{alice}/{name}"
        posted = post_file(issued.body, data)
        assert posted.status_code in (200, 201, 204), posted.text
        record = wait_for_record(env, issued.body["key"])
        assert int(record["size"]["N"]) == len(data)
        assert download_bytes(env, alice, name) == data
        theirs, missing = download(env, bob, name), download(env, bob, f"never-{uuid.uuid4().hex}")
        assert theirs.status == missing.status == 404 and theirs.body == missing.body
    mapping = env.record(f"#sub/{sub_of_caller(env, alice)}", alice)
    assert mapping is not None, "the #sub/<sub> item of the grant's caller"
    report("uploads: grant -> POST -> record -> download bytes match for awkward names; another identity gets 404")


def sub_of_caller(env: Environment, who: str) -> str:
    item = env.record(f"#identity/{who}", "#sub")
    assert item is not None
    return str(item["sub"]["S"])


def test_over_size_is_refused_at_issuance_and_s3_enforcement_is_reported(env: Environment) -> None:
    alice = identity()
    limit = int(grant(env, alice, "probe.bin", 1).body["limits"]["upload_max_object_bytes"])
    too_big = grant(env, alice, "big.bin", limit + 1)
    assert too_big.status == 413, too_big
    assert too_big.body["error"]["limit"] == "upload_max_object_bytes"
    # Declared 10 bytes, sent 50: S3 refuses (EntityTooLarge) where the POST policy is enforced.
    issued = grant(env, alice, "liar.bin", 10)
    posted = post_file(issued.body, b"x" * 50)
    enforced = posted.status_code == 400 and "EntityTooLarge" in posted.text
    stored = env.aws.s3.list_objects_v2(Bucket=env.bucket, Prefix=issued.body["key"]).get("KeyCount", 0)
    report(
        f"uploads: over-size refused at issuance (413); emulator S3 content-length-range "
        f"{'ENFORCED (EntityTooLarge)' if enforced else f'NOT enforced (HTTP {posted.status_code}, stored {stored})'}"
    )
    assert enforced or posted.status_code in (200, 201, 204)


def test_over_rate_is_429_with_retry_after(env: Environment) -> None:
    who = identity()
    first = grant(env, who, "rate-0.bin", 1)
    assert first.status == 201, first
    allowed = int(first.body["limits"]["uploads_per_minute"])
    # Grants until one is refused: at most `allowed` per minute, so within 2 * allowed + 1 even if a minute ends.
    answers = [first]
    while answers[-1].status == 201 and len(answers) <= 2 * allowed + 1:
        answers.append(grant(env, who, f"rate-{len(answers)}.bin", 1))
    refused = answers[-1]
    assert refused.status == 429, [a.status for a in answers]
    assert refused.body["error"]["limit"] == "uploads_per_minute"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    report(
        f"uploads: grant {len(answers)} refused 429 (uploads_per_minute {allowed}), Retry-After "
        f"{refused.headers['retry-after']} s"
    )
