"""POST /uploads as each environment deploys it: the route (IAM-authorised, its own method throttling), the limits the
function reads (the config's), and its role's rights to sign uploads and count them, with their exact conditions."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from stacks.config import build_config
from stacks.secure_serverless_stack import upload_limits_environment, upload_route_throttle
from tests.support.template import arn_of, granted, logical_id

SUFFIXES = ("dev", "staging", "prod", "pr-7")
FUNCTION, POLICY, KEY = "AWS::Lambda::Function", "AWS::IAM::Policy", "AWS::KMS::Key"
API_HANDLER = {"Handler": "objects_api.handler.lambda_handler"}
DATA_BUCKET = {"BucketNamePrefix": Match.not_(Match.string_like_regexp("-logs$"))}


def _api_role(template: Template) -> str:
    (function,) = template.find_resources(FUNCTION, {"Properties": API_HANDLER}).values()
    role: str = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


def _statements(template: Template, role_id: str) -> list[dict]:
    policies = template.find_resources(POLICY, {"Properties": {"Roles": Match.array_with([{"Ref": role_id}])}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_post_uploads_is_an_iam_authorised_route_with_its_own_throttling(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    resource_id = logical_id(template, "AWS::ApiGateway::Resource", {"PathPart": "uploads"})
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "POST", "ResourceId": {"Ref": resource_id}, "AuthorizationType": "AWS_IAM"},
    )
    methods = template.find_resources("AWS::ApiGateway::Method", {"Properties": {"ResourceId": {"Ref": resource_id}}})
    assert [m["Properties"]["HttpMethod"] for m in methods.values()] == ["POST"]
    throttle = upload_route_throttle(config)
    assert throttle == {
        "throttle_rate_limit": config.api_throttle_rate_limit // 2,
        "throttle_burst_limit": config.api_throttle_burst_limit // 2,
    }
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "POST",
                            "ResourcePath": "/~1uploads",
                            "ThrottlingRateLimit": throttle["throttle_rate_limit"],
                            "ThrottlingBurstLimit": throttle["throttle_burst_limit"],
                        }
                    )
                ]
            )
        },
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_function_reads_this_environments_limits_and_key(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    expected = upload_limits_environment(config)
    assert expected == {
        "UPLOAD_MAX_OBJECT_BYTES": str(config.upload_max_object_bytes),
        "UPLOADS_PER_MINUTE": str(config.uploads_per_minute),
        "UPLOADS_PER_DAY": str(config.uploads_per_day),
        "UPLOAD_MAX_BYTES_HELD": str(config.upload_max_bytes_held),
        "UPLOAD_GRANT_SECONDS": str(config.upload_grant_seconds),
    }
    template.has_resource_properties(
        FUNCTION,
        {
            **API_HANDLER,
            "Environment": {
                "Variables": {
                    **expected,
                    "UPLOAD_KMS_KEY_ARN": Match.exact(arn_of(logical_id(template, KEY))),
                }
            },
        },
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_api_role_signs_uploads_under_uploads_only_and_counts_only_usage_items(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    role_id = _api_role(template)
    bucket_arn = arn_of(logical_id(template, "AWS::S3::Bucket", DATA_BUCKET))
    table_arn = arn_of(logical_id(template, "AWS::DynamoDB::Table"))
    key_arn = arn_of(logical_id(template, KEY))
    statements = _statements(template, role_id)
    uploads = json.dumps({"Fn::Join": ["", [bucket_arn, "/uploads/*"]]}, sort_keys=True)
    # Its whole S3 permission set: version reads (downloads), puts (signed uploads) and exact-version deletes
    # (DELETE /objects/{key+}), under uploads/ only, and version listings (s3:prefix under uploads/, test_api_identity).
    assert {(a, r) for a, r in granted(template, role_id) if a.startswith("s3:")} == {
        ("s3:GetObjectVersion", uploads),
        ("s3:PutObject", uploads),
        ("s3:DeleteObjectVersion", uploads),
        ("s3:ListBucketVersions", json.dumps(bucket_arn, sort_keys=True)),
    }
    # The key through S3 only, for this bucket's objects: GenerateDataKey to encrypt signed uploads (Decrypt is the
    # downloads'; CDK merges the two grants into one statement since their conditions are equal).
    via_s3 = [s for s in statements if "kms:ViaService" in json.dumps(s.get("Condition", {}))]
    assert via_s3 == [
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": {"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
                },
                "StringLike": {
                    "kms:EncryptionContext:aws:s3:arn": [bucket_arn, {"Fn::Join": ["", [bucket_arn, "/uploads/*"]]}]
                },
            },
            "Effect": "Allow",
            "Resource": key_arn,
        }
    ]
    usage_only = {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#usage/*"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    # (The erasure job's own items, #erasure/*, are the other UpdateItem: tests/stacks/test_erasure.py.)
    counters = [s for s in statements if {"dynamodb:BatchGetItem"} & set(_actions(s))]
    assert counters == [
        {
            "Action": ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"],
            "Condition": usage_only,
            "Effect": "Allow",
            "Resource": table_arn,
        }
    ]
    (mapping,) = [
        s for s in statements if "dynamodb:PutItem" in _actions(s) and "#erasure/*" not in json.dumps(s["Condition"])
    ]
    assert mapping["Condition"]["ForAllValues:StringLike"] == {"dynamodb:LeadingKeys": ["#identity/*", "#sub/*"]}
    assert not [s for s in statements if {"dynamodb:DeleteItem", "s3:DeleteObject"} & set(_actions(s))]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_no_other_role_of_the_api_side_may_put_objects(stack_templates: dict[str, Template], suffix: str) -> None:
    """s3:PutObject: the API function's role (signing) and, until the enforce lane removes it, the authenticated
    role; the processor and every other role of the stack never."""
    template = stack_templates[suffix]
    api_role = _api_role(template)
    holders = set()
    for policy in template.find_resources(POLICY).values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow" and "s3:PutObject" in _actions(statement):
                holders |= {json.dumps(role, sort_keys=True) for role in policy["Properties"]["Roles"]}
    processor = [
        lid
        for lid, f in template.find_resources(FUNCTION).items()
        if f["Properties"].get("Handler", "").startswith("processor.")
    ]
    assert json.dumps({"Ref": api_role}) in holders
    for lid in processor:
        role = template.find_resources(FUNCTION)[lid]["Properties"]["Role"]["Fn::GetAtt"][0]
        assert json.dumps({"Ref": role}) not in holders


def test_private_network_endpoints_let_the_api_count_grants(stack_templates: dict[str, Template]) -> None:
    template = stack_templates["prod"]
    role_id = _api_role(template)
    table_arn = arn_of(logical_id(template, "AWS::DynamoDB::Table"))
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "ApiCountsUploadGrants",
                                "Action": ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"],
                                "Principal": {"AWS": arn_of(role_id)},
                                "Resource": table_arn,
                            }
                        )
                    ]
                )
            }
        },
    )
