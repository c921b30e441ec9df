"""`uploads_enabled=False`: no POST /uploads route and none of the rights to sign or count uploads (one extra
stack, synthesized without the validation plugins: only its template is asserted on)."""

from __future__ import annotations

import dataclasses
import json

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.config import build_config
from stacks.secure_serverless_stack import SecureServerlessStack


def test_without_uploads_there_is_no_grant_route_and_no_right_to_sign_or_count() -> None:
    config = dataclasses.replace(build_config("pr-9"), uploads_enabled=False)
    template = Template.from_stack(SecureServerlessStack(cdk.App(), config))
    methods = template.find_resources("AWS::ApiGateway::Method").values()
    # GET /objects, /objects/{key+}, /downloads/{key+}, /erasure; DELETE /objects/{key+}; POST /erasure; no uploads
    assert sorted(m["Properties"]["HttpMethod"] for m in methods) == ["DELETE", "GET", "GET", "GET", "GET", "POST"]
    assert not template.find_resources("AWS::ApiGateway::Resource", {"Properties": {"PathPart": "uploads"}})
    policies = json.dumps(template.find_resources("AWS::IAM::Policy"))
    # No one may put objects; the grants' counters (BatchGetItem of #usage/ items) are gone with the route (the
    # processor still counts what an administrator's tools upload under a known sub, and erasure still clears it).
    for absent in ("s3:PutObject", "dynamodb:BatchGetItem"):
        assert absent not in policies, absent
    variables = [
        f["Properties"].get("Environment", {}).get("Variables", {})
        for f in template.find_resources("AWS::Lambda::Function").values()
    ]
    assert not [v for v in variables if "UPLOADS_PER_MINUTE" in v or "UPLOAD_KMS_KEY_ARN" in v]
