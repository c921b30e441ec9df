"""The upload chain inside the deployed stacks: S3 -> EventBridge rule -> SQS -> processor Lambda -> DynamoDB, and
the API function over what was recorded. Runs twice on the dev-preset environment: with the emulated S3's
EventBridge key encoding on (LocalStack's `quote()`) and off (raw keys), see emulator/key_encoding.py.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from processor.deletions import tombstone_key
from processor.domain import Lifecycle, parse_lifecycle, record_expires_at
from tests.e2e.conftest import ACCOUNT, PR_SUFFIX, REGION, Aws, Deployment, report

UPLOADS = 50  # for the latency figures
WAIT_SECONDS = 60
FAST_MAX_RECEIVE_COUNT = 3  # fast_retries: receives before the DLQ while a check provokes failures


def eventually(check: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


@dataclass
class Environment:
    """One deployed environment, its physical names read from the stack."""

    aws: Aws
    suffix: str
    bucket: str
    table: str
    key_arn: str
    processor: str
    api_function: str
    buffer_url: str
    dead_letter_url: str
    mapping_uuid: str
    bucket_rules: list[dict[str, Any]]

    @classmethod
    def read(cls, aws: Aws, deployment: Deployment, suffix: str) -> Environment:
        stack = f"SecureServerless-{suffix}"
        template = deployment.template(stack)
        pages = aws.cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for p in pages for r in p["StackResourceSummaries"]}

        def of_type(kind: str) -> dict[str, dict]:
            return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}

        functions = {r["Properties"]["Handler"]: physical[lid] for lid, r in of_type("AWS::Lambda::Function").items()}
        processor_id = next(
            lid
            for lid, r in of_type("AWS::Lambda::Function").items()
            if r["Properties"]["Handler"] == "processor.handler.sqs_handler"
        )
        [(mapping_id, mapping)] = [  # the pipeline's (the erasure worker has its own)
            (lid, r)
            for lid, r in of_type("AWS::Lambda::EventSourceMapping").items()
            if r["Properties"]["FunctionName"] == {"Ref": processor_id}
        ]
        buffer_id = mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        redrive = template["Resources"][buffer_id]["Properties"]["RedrivePolicy"]
        dead_letter_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        outputs = deployment.outputs[stack]
        return cls(
            aws=aws,
            suffix=suffix,
            bucket=outputs["BucketName"],
            table=outputs["TableName"],
            key_arn=outputs["KeyArn"],
            processor=functions["processor.handler.sqs_handler"],
            api_function=functions["objects_api.handler.lambda_handler"],
            buffer_url=physical[buffer_id],
            dead_letter_url=physical[dead_letter_id],
            mapping_uuid=physical[mapping_id],
            bucket_rules=[
                rule
                for lid, bucket in of_type("AWS::S3::Bucket").items()
                if physical[lid] == outputs["BucketName"]
                for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]
            ],
        )

    # --- S3 and the table -----------------------------------------------------------------------------------

    def upload(self, key: str, body: bytes = b"hello") -> dict[str, Any]:
        """PutObject with the encryption headers the bucket policy demands (SSE-KMS with the environment key), with the
        checks' own (administrator) credentials: signed-in users hold no s3:PutObject; in AWS a user's bytes arrive
        through an upload grant (a presigned POST) the API function's role signs, which puts the same object under
        the same uploads/<identity id>/ key (the emulator enforces no policy, so the chain means the same)."""
        return self.aws.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType="text/plain",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.key_arn,
        )

    def items_under(self, key: str) -> list[dict[str, Any]]:
        response = self.aws.dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="object_key = :k",
            ExpressionAttributeValues={":k": {"S": key}},
            ConsistentRead=True,
        )
        return response["Items"]

    def record(self, key: str, version_id: str) -> dict[str, Any] | None:
        response = self.aws.dynamodb.get_item(
            TableName=self.table,
            Key={"object_key": {"S": key}, "version_id": {"S": version_id}},
            ConsistentRead=True,
        )
        return response.get("Item")

    # --- SQS --------------------------------------------------------------------------------------------------

    def depth(self, url: str) -> int:
        attributes = self.aws.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def drained(self) -> bool:
        return self.depth(self.buffer_url) == 0

    @contextmanager
    def fast_retries(self) -> Iterator[None]:
        """Test knob on the deployed buffer, not the template: a 1 s visibility timeout while the block runs, so a
        record that fails without the processor delaying it comes back at once (180 s otherwise). A receive takes
        the queue's visibility timeout when it starts; the mapping's long polls last up to its batching window, so
        wait one window out before the block."""
        names = ["VisibilityTimeout", "RedrivePolicy"]
        original = self.aws.sqs.get_queue_attributes(QueueUrl=self.buffer_url, AttributeNames=names)["Attributes"]
        redrive = {**json.loads(original["RedrivePolicy"]), "maxReceiveCount": FAST_MAX_RECEIVE_COUNT}
        self.aws.sqs.set_queue_attributes(
            QueueUrl=self.buffer_url, Attributes={"VisibilityTimeout": "1", "RedrivePolicy": json.dumps(redrive)}
        )
        try:
            self.wait_out_polls()
            yield
        finally:
            self.aws.sqs.set_queue_attributes(QueueUrl=self.buffer_url, Attributes={k: original[k] for k in names})

    def wait_out_polls(self) -> None:
        """Sleep one batching window (+2 s): a long poll the mapping started earlier has returned by then."""
        mapping = self.aws.lambda_.get_event_source_mapping(UUID=self.mapping_uuid)
        time.sleep(mapping.get("MaximumBatchingWindowInSeconds", 0) + 2)

    def set_mapping(self, enabled: bool) -> None:
        self.aws.lambda_.update_event_source_mapping(UUID=self.mapping_uuid, Enabled=enabled)
        state = "Enabled" if enabled else "Disabled"
        eventually(
            lambda: self.aws.lambda_.get_event_source_mapping(UUID=self.mapping_uuid)["State"] == state,
            f"event source mapping {state}",
        )

    # --- the processor's own account of what it did (EMF metrics in its CloudWatch log) ----------------------

    def processor_metrics(self, since_ms: int) -> dict[str, float]:
        # The emulator writes function logs to /aws/lambda/<name>, not to the function's configured log group.
        group = f"/aws/lambda/{self.processor}"
        totals: dict[str, float] = {}
        paginator = self.aws.logs.get_paginator("filter_log_events")
        for page in paginator.paginate(logGroupName=group, startTime=since_ms):
            for event in page["events"]:
                try:
                    blob = json.loads(event["message"])
                except ValueError:
                    continue
                if not isinstance(blob, dict) or "_aws" not in blob:
                    continue
                for directive in blob["_aws"]["CloudWatchMetrics"]:
                    for metric in directive["Metrics"]:
                        value = blob[metric["Name"]]
                        totals[metric["Name"]] = totals.get(metric["Name"], 0.0) + sum(
                            value if isinstance(value, list) else [value]
                        )
        return totals

    # --- the API function, invoked as API Gateway invokes it for a signed-in identity ------------------------

    def lifecycle(self) -> Lifecycle | None:
        """The lifecycle day counts the deployed processor was given (read back from Lambda), checked against the
        bucket's rules in the deployed template (the emulator accepts lifecycle rules but keeps none: FIELD-NOTES)."""
        variables = self.aws.lambda_.get_function_configuration(FunctionName=self.processor)["Environment"]
        lifecycle = parse_lifecycle(
            variables["Variables"].get("OBJECT_EXPIRATION_DAYS"),
            variables["Variables"].get("NONCURRENT_VERSION_EXPIRATION_DAYS"),
        )
        rules = {rule["Id"]: rule for rule in self.bucket_rules}
        if lifecycle is None:
            assert "expire-current-versions" not in rules
        else:
            assert rules["expire-current-versions"]["ExpirationInDays"] == lifecycle.current_days
            noncurrent = rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"]
            assert noncurrent == lifecycle.noncurrent_days
        return lifecycle

    def identity_pool(self) -> str:
        """The pool id the API function was deployed with (the emulator's Cognito is pretended: "unknown")."""
        configuration = self.aws.lambda_.get_function_configuration(FunctionName=self.api_function)
        return configuration["Environment"]["Variables"]["IDENTITY_POOL_ID"]

    def user_pool_provider(self) -> str:
        """`cognito-idp.<region>.<suffix>/<user pool id>` as deployed (the pool id is the emulator's "unknown")."""
        configuration = self.aws.lambda_.get_function_configuration(FunctionName=self.api_function)
        return str(configuration["Environment"]["Variables"]["USER_POOL_PROVIDER"])

    def get_objects(self, identity: str, pool: str, **route: Any) -> dict[str, Any]:
        event = rest_event(self.suffix, identity, pool, provider=self.user_pool_provider(), **route)
        response = self.aws.lambda_.invoke(FunctionName=self.api_function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, payload
        return payload

    def list_objects(self, identity: str) -> list[dict[str, Any]]:
        payload = self.get_objects(identity, self.identity_pool())
        assert payload["statusCode"] == 200, payload
        body = json.loads(payload["body"])
        assert body["next_cursor"] is None, body
        return body["items"]


def rest_event(
    stage: str,
    identity: str,
    pool: str,
    *,
    resource: str = "/objects",
    name: str | None = None,
    query: dict[str, str] | None = None,
    provider: str = "",
) -> dict[str, Any]:
    """A GET as API Gateway sends it (REST proxy, payload 1.0) after IAM authorisation with the identity's Cognito
    credentials: GET /objects, or with `name` a greedy route such as `/downloads/{key+}` (path percent-encoded,
    pathParameters.key decoded, as API Gateway does). The caller signed in through `provider` (the user pool) as a
    user whose sub is derived from the identity id (one user per identity here)."""
    headers = {"Accept": "application/json", "Host": "e2e.execute-api.us-east-1.amazonaws.com"}
    path = resource if name is None else resource.replace("{key+}", quote(name, safe="/"))
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None if name is None else {"key": name},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "GET",
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT,
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "identity": {
                "cognitoIdentityPoolId": pool,
                "cognitoIdentityId": identity,
                "cognitoAuthenticationType": "authenticated",
                "cognitoAuthenticationProvider": f"{provider},{provider}:CognitoSignIn:{sub_of(identity)}",
                "accountId": ACCOUNT,
                "sourceIp": "127.0.0.1",
                "userAgent": "e2e",
            },
            "apiId": "e2e",
        },
        "body": None,
        "isBase64Encoded": False,
    }


def sub_of(identity: str) -> str:
    """The user pool sub the checks sign `identity` in as (one user per identity)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, identity))


def identity() -> str:
    return f"{REGION}:{uuid.uuid4()}"


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def env(aws: Aws, deployment: Deployment) -> Environment:
    return Environment.read(aws, deployment, PR_SUFFIX)


@pytest.fixture(scope="module", params=["on", "off"], ids=["keys-url-encoded", "keys-raw"])
def key_encoding(request: pytest.FixtureRequest) -> Iterator[str]:
    switch = Path(os.environ["E2E_KEY_ENCODING_FILE"])
    switch.write_text(request.param)
    yield request.param
    switch.write_text("on")


def awkward_upload_keys(owner: str) -> list[str]:
    """Keys under uploads/<identity id>/ that an encoding can mistake: spaces, '+', literal '%XX', ':', URL
    punctuation, non-ASCII, nested folders, a long multi-byte name (599 bytes; 1,681 once percent-encoded)."""
    tag = uuid.uuid4().hex[:6]
    return [
        f"uploads/{owner}/report.csv",
        f"uploads/{owner}/a b+c%d:é 日本 {tag}.txt",
        f"uploads/{owner}/100%25 literal %2B+plus {tag}.txt",
        f"uploads/{owner}/nested/dir/x?y=1&z#frag=~!'()*,;@$ {tag}.txt",
        f"uploads/{owner}/{'日本語' * 60}{tag}.txt",
    ]


def test_uploads_are_recorded_once_under_their_true_keys(env: Environment, key_encoding: str) -> None:
    keys = awkward_upload_keys(identity())
    puts = {key: env.upload(key) for key in keys}
    for key, put in puts.items():
        eventually(lambda k=key, p=put: env.record(k, p["VersionId"]), f"the record of {key!r}")
    eventually(env.drained, "the buffer queue to drain")
    for key, put in puts.items():
        assert [i["version_id"]["S"] for i in env.items_under(key)] == [put["VersionId"]], key
        if quote(key) != key:
            assert env.items_under(quote(key)) == [], f"nothing recorded under the encoded form of {key!r}"
    # The dev preset expires objects: each record's TTL is its version's lifecycle end, from the deployed settings.
    lifecycle = env.lifecycle()
    assert lifecycle is not None, "the dev preset expires objects: the processor must have the bucket's day counts"
    for key, put in puts.items():
        created = env.aws.s3.head_object(Bucket=env.bucket, Key=key, VersionId=put["VersionId"])["LastModified"]
        item = env.record(key, put["VersionId"])
        assert item is not None and int(item["expires_at"]["N"]) == record_expires_at(created, lifecycle), key
    report(f"chain [{key_encoding}]: {len(keys)} uploads, awkward keys under uploads/<identity>/, recorded once each")


def test_an_object_outside_uploads_creates_no_record(env: Environment, key_encoding: str) -> None:
    """The rule delivers every key; the processor skips keys outside uploads/ (no S3 call: it may read only
    uploads/), counts them and lets the message go: no record, nothing in the DLQ."""
    tag = uuid.uuid4().hex
    outside = [f"plain-{tag}.txt", f"reports/{tag}/a b+c.csv", f"uploadsX/{tag}/x.txt", f"Uploads/{tag}/x.txt"]
    dead_letters = env.depth(env.dead_letter_url)
    since = now_ms()
    for key in outside:
        env.upload(key)
    control = f"uploads/{identity()}/after the outside keys {tag[:6]}.txt"  # processed after them: a sentinel
    control_put = env.upload(control)
    eventually(lambda: env.record(control, control_put["VersionId"]), "the record of the control upload")
    eventually(env.drained, "the buffer queue to drain")
    skipped = eventually(
        lambda: env.processor_metrics(since).get("ObjectsSkippedOutsideUploads", 0) >= len(outside),
        "ObjectsSkippedOutsideUploads for every key outside uploads/",
    )
    assert skipped
    for key in outside:
        assert env.items_under(key) == [], f"no record for {key!r}"
        assert env.items_under(quote(key)) == [], f"no record for the encoded form of {key!r}"
    assert env.depth(env.dead_letter_url) == dead_letters, "a skipped key is not a failure: nothing dead-lettered"
    report(f"chain [{key_encoding}]: {len(outside)} objects outside uploads/ skipped and counted, no record, no DLQ")


def test_duplicate_delivery_is_ignored(env: Environment, key_encoding: str) -> None:
    key = f"uploads/{identity()}/dup {uuid.uuid4().hex}+1.txt"
    put = env.upload(key)
    eventually(lambda: env.record(key, put["VersionId"]), "the first record")
    eventually(env.drained, "the buffer queue to drain")
    since = now_ms()
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{env.bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": env.bucket},
            "object": {"key": key, "size": 5, "version-id": put["VersionId"], "etag": put["ETag"].strip('"')},
            "reason": "PutObject",
        },
    }
    env.aws.sqs.send_message(QueueUrl=env.buffer_url, MessageBody=json.dumps(event))  # at-least-once: again
    eventually(env.drained, "the redelivered event to be consumed")
    metrics = eventually(lambda: env.processor_metrics(since).get("DuplicatesIgnored"), "DuplicatesIgnored in the log")
    assert metrics >= 1
    assert len(env.items_under(key)) == 1
    report(f"chain [{key_encoding}]: duplicate delivery ignored (DuplicatesIgnored counted, still one record)")


def test_object_deleted_before_processing_is_skipped_and_counted(env: Environment, key_encoding: str) -> None:
    # No character quote() changes (an identity id's ':' would be one): under the encoded delivery a key with two
    # candidate forms found neither way fails on purpose (UnresolvedKey), it is not "deleted".
    key = f"uploads/e2e-{uuid.uuid4().hex}/deleted.txt"
    since = now_ms()
    env.set_mapping(enabled=False)  # hold the event in the buffer queue until the object version is gone
    try:
        put = env.upload(key)
        eventually(lambda: env.depth(env.buffer_url) >= 1, "the event to reach the buffer queue")
        env.aws.s3.delete_object(Bucket=env.bucket, Key=key, VersionId=put["VersionId"])
    finally:
        env.set_mapping(enabled=True)
    eventually(env.drained, "the held event to be consumed")

    def skipped() -> int:
        counted = env.processor_metrics(since)
        return int(counted.get("ObjectsSkippedMissing", 0)) + int(counted.get("ObjectsSkippedDeleted", 0))

    assert eventually(skipped, "ObjectsSkippedMissing or ObjectsSkippedDeleted") >= 1
    # No record: only the tombstone the version's own "Object Deleted" event left, under a hash of the key (no owner,
    # never listed, nothing that names the user).
    items = eventually(lambda: env.items_under(tombstone_key(key)), "the deleted version's tombstone")
    assert [item["version_id"]["S"] for item in items] == [put["VersionId"]]
    assert all(set(item) == {"object_key", "version_id", "sequencer", "deleted_at", "expires_at"} for item in items)
    assert env.items_under(key) == []
    report(f"chain [{key_encoding}]: object deleted before processing skipped and counted, no record (a tombstone)")


def test_poison_message_ends_in_the_dlq_and_the_alarm_metric_moves(env: Environment, key_encoding: str) -> None:
    before = env.depth(env.dead_letter_url)
    with env.fast_retries():
        env.aws.sqs.send_message(QueueUrl=env.buffer_url, MessageBody="not an event")
        eventually(lambda: env.depth(env.dead_letter_url) > before, "the poison message in the DLQ", timeout=90)
    dead_letter_name = env.dead_letter_url.rsplit("/", 1)[1]
    alarms = [
        alarm
        for page in env.aws.cloudwatch.get_paginator("describe_alarms").paginate()
        for alarm in page["MetricAlarms"]
        if {"Name": "QueueName", "Value": dead_letter_name} in alarm.get("Dimensions", [])
        and alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible"  # the DLQ's age alarm needs days
    ]
    assert alarms, f"an alarm on the DLQ {dead_letter_name}'s visible messages"
    alarm = alarms[0]

    def datapoint() -> float:
        points = env.aws.cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm["Dimensions"],
            StartTime=datetime.fromtimestamp(time.time() - 600, UTC),
            EndTime=datetime.fromtimestamp(time.time() + 60, UTC),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        return max((p["Maximum"] for p in points), default=0.0) > 0

    eventually(datapoint, f"{alarm['MetricName']} of {dead_letter_name} above 0", timeout=90)
    report(f"chain [{key_encoding}]: poison message in the DLQ; {alarm['AlarmName']}: {alarm['MetricName']} > 0")


def test_api_function_returns_exactly_the_identitys_records(env: Environment, key_encoding: str) -> None:
    alice, bob = identity(), identity()
    uploads = {f"uploads/{alice}/one.txt", f"uploads/{alice}/two words+.txt", f"uploads/{bob}/other.txt"}
    puts = {key: env.upload(key) for key in uploads}
    for key, put in puts.items():
        eventually(lambda k=key, p=put: env.record(k, p["VersionId"]), f"the record of {key!r}")
    listed = env.list_objects(alice)
    assert sorted(item["key"] for item in listed) == sorted(k for k in uploads if alice in k)
    assert [item["key"] for item in env.list_objects(bob)] == [f"uploads/{bob}/other.txt"]
    assert env.list_objects(identity()) == []
    foreign_pool = env.get_objects(alice, f"{REGION}:99999999-9999-4999-8999-999999999999")
    assert foreign_pool["statusCode"] == 403, foreign_pool
    report(f"chain [{key_encoding}]: API function lists exactly the calling identity's records")


def test_download_gives_the_exact_version_bytes_and_nothing_to_another_identity(
    env: Environment, key_encoding: str
) -> None:
    alice, bob = identity(), identity()
    pool = env.identity_pool()
    name = f"dl/ünï code+ %{uuid.uuid4().hex[:6]}:日本.bin"
    key = f"uploads/{alice}/{name}"
    assert env.list_objects(alice) == []  # alice's first call: the API records her identity id <-> sub mapping
    first_bytes, second_bytes = os.urandom(300) + b"\x00end", b"second version " + os.urandom(64)
    first = env.upload(key, body=first_bytes)
    eventually(lambda: env.record(key, first["VersionId"]), "the first version's record")
    second = env.upload(key, body=second_bytes)
    eventually(lambda: env.record(key, second["VersionId"]), "the second version's record")

    def download(who: str, asked: str, **query: str) -> dict[str, Any]:
        payload = env.get_objects(who, pool, resource="/downloads/{key+}", name=asked, query=query or None)
        return {"status": payload["statusCode"], "body": json.loads(payload["body"])}

    def fetch(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the presigned URL under test
            body: bytes = response.read()
            return body

    newest = download(alice, name)
    assert newest["status"] == 200, newest
    assert newest["body"]["version_id"] == second["VersionId"] and newest["body"]["expires_in"] <= 300
    assert fetch(newest["body"]["url"]) == second_bytes
    older = download(alice, name, version_id=first["VersionId"])
    assert older["status"] == 200, older
    assert fetch(older["body"]["url"]) == first_bytes

    missing = download(bob, f"never-{uuid.uuid4().hex}.bin")
    assert missing["status"] == 404, missing
    for asked, query in ((name, {}), (name, {"version_id": first["VersionId"]}), (key, {})):
        theirs = download(bob, asked, **query)
        assert theirs == missing, (asked, theirs)  # status and body: indistinguishable from a missing key
    mapping = env.record(f"#identity/{alice}", "#sub")
    assert mapping is not None and mapping["sub"]["S"] == sub_of(alice), mapping
    for version in (first, second):  # recorded after the mapping: both records carry her sub beside her identity id
        item = env.record(key, version["VersionId"])
        assert item is not None and item["owner"]["S"] == alice and item["sub"]["S"] == sub_of(alice), item
    report(
        f"chain [{key_encoding}]: identity id <-> user pool sub recorded by the API and carried by the records; "
        "download signs the exact "
        "version (newest and older bytes match); another identity's object answers the 404 of a missing key"
    )


def test_upload_to_record_latency(env: Environment, key_encoding: str) -> None:
    owner = identity()
    sent: dict[str, tuple[float, str]] = {}
    for n in range(UPLOADS):
        key = f"uploads/{owner}/latency {n:02d}+é.txt"
        put = env.upload(key, body=b"x" * n)
        sent[key] = (time.time(), put["VersionId"])
    latencies = []
    for key, (put_at, version) in sent.items():
        item = eventually(lambda k=key, v=version: env.record(k, v), f"the record of {key!r}")
        recorded_at = datetime.fromisoformat(item["recorded_at"]["S"].replace("Z", "+00:00")).timestamp()
        latencies.append(max(0.0, recorded_at - put_at))  # same host clock; recorded_at is written by the processor
    median = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    report(
        f"chain [{key_encoding}]: upload -> record latency over {UPLOADS} uploads: "
        f"median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    assert len(latencies) == UPLOADS


def test_the_prod_environment_records_an_upload_too(aws: Aws, deployment: Deployment, key_encoding: str) -> None:
    prod = Environment.read(aws, deployment, "prod")
    key = f"uploads/{identity()}/prod check+1.txt"
    put = prod.upload(key)
    item = eventually(lambda: prod.record(key, put["VersionId"]), "the prod record")
    assert prod.lifecycle() is None and "expires_at" not in item  # prod keeps objects: its records do not expire
    report(f"chain [{key_encoding}]: prod environment recorded an upload under its true key (no TTL: objects kept)")
