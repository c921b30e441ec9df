"""Tracing stays on in Lambda (X-Ray, no module patched); both functions set it up the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

FUNCTION_DIR = Path(__file__).resolve().parents[3] / "lambda" / "processor"


def test_both_functions_use_the_shared_tracer_without_patching(handler_module) -> None:
    from objects_api import handler as api_handler

    for tracer in (handler_module.tracer, api_handler.tracer):
        assert tracer.auto_patch is False
    assert handler_module.tracer.disabled  # outside Lambda: Powertools' own rule
    with handler_module.tracer.provider.in_subsegment(name="## x") as segment:
        segment.put_annotation("k", "v")


# In a fresh interpreter that looks like Lambda: tracing on, subsegments captured by a fake emitter.
_LAMBDA_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import boto3
    from moto import mock_aws
    import processor.handler as handler
    from processor import store
    import aws_xray_sdk.core.patcher as patcher

    class Emitter:
        def __init__(self):
            self.names = []
        def send_entity(self, entity):
            self.names.append(entity.name)
            for sub in getattr(entity, "subsegments", []):
                self.names.append(sub.name)
        def set_daemon_address(self, address):
            pass

    emitter = Emitter()
    recorder = handler.tracer.provider
    recorder.configure(emitter=emitter)

    class Context:
        function_name = "f"
        memory_limit_in_mb = 128
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
        aws_request_id = "r"

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="trace-bucket")
        put = s3.put_object(Bucket="trace-bucket", Key="uploads/id/x.txt", Body=b"x")
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName="trace-table",
            KeySchema=[{"AttributeName": "object_key", "KeyType": "HASH"},
                       {"AttributeName": "version_id", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "object_key", "AttributeType": "S"},
                                  {"AttributeName": "version_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        event = {"id": "1", "source": "aws.s3", "detail-type": "Object Created", "time": "2021-11-12T00:00:00Z",
                 "detail": {"bucket": {"name": "trace-bucket"},
                            "object": {"key": "uploads/id/x.txt", "size": 1}}}
        records = [{"messageId": "ok", "body": json.dumps(event)}, {"messageId": "bad", "body": "nope"}]
        response = handler.sqs_handler({"Records": records}, Context())
        items = ddb.scan(TableName="trace-table")["Items"]

    print(json.dumps({
        "provider": type(recorder).__module__,
        "disabled": handler.tracer.disabled,
        "auto_patch": handler.tracer.auto_patch,
        "patched": sorted(patcher._PATCHED_MODULES),
        # A plain function ("builtins"); X-Ray's botocore patch replaces it with a wrapt FunctionWrapper.
        "api_call_type": type(__import__("botocore.client").client.BaseClient.__dict__["_make_api_call"]).__module__,
        "response": response,
        "items": len(items),
        "subsegments": emitter.names,
    }))
    """
)


def test_lambda_like_environment_traces_without_patching_modules() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(FUNCTION_DIR), str(FUNCTION_DIR.parent / "shared" / "python")]),
            "LAMBDA_TASK_ROOT": str(FUNCTION_DIR),
            "AWS_LAMBDA_FUNCTION_NAME": "f",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "TABLE_NAME": "trace-table",
            "EXPECTED_BUCKET_NAME": "trace-bucket",
            "EXPECTED_BUCKET_OWNER": "123456789012",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", _LAMBDA_SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["provider"].startswith("aws_xray_sdk")
    assert report["disabled"] is False
    assert report["auto_patch"] is False
    assert report["patched"] == []
    assert report["api_call_type"] == "builtins"
    assert report["response"] == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert report["items"] == 1
    names = set(report["subsegments"])
    assert {"## sqs_handler", "## s3.HeadObject", "## dynamodb.TransactWriteItems"} <= names
    assert any(name.endswith("record_object") for name in names)
