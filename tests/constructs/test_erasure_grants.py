"""The grants an erasure needs, on the library's constructs: list versions under a prefix only, delete exact
versions only, and DynamoDB Query/UpdateItem/BatchWriteItem limited by leading keys."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from secure_serverless import IndexSpec, ScaledTable, SecureBucket

STRING = dynamodb.AttributeType.STRING
LEADING = {
    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#a/*", "#b/*"]},
    "Null": {"dynamodb:LeadingKeys": "false"},
}


def _statements(stack: cdk.Stack, role: iam.Role) -> list[dict]:
    template = Template.from_stack(stack)
    role_id = stack.get_logical_id(role.node.default_child)  # type: ignore[arg-type]  # a CfnRole
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _role(stack: cdk.Stack, name: str) -> iam.Role:
    return iam.Role(stack, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))


def test_bucket_lists_versions_under_a_prefix_and_deletes_exact_versions_only() -> None:
    stack = cdk.Stack(cdk.App(), "Versions")
    bucket = SecureBucket(stack, "Data")
    eraser = _role(stack, "Eraser")
    bucket.grant_list_versions(eraser, prefix="uploads/")
    bucket.grant_delete_versions(eraser, prefix="uploads/")
    bucket_arn = stack.resolve(bucket.bucket.bucket_arn)
    statements = {s["Action"]: s for s in _statements(stack, eraser)}
    assert set(statements) == {"s3:ListBucketVersions", "s3:DeleteObjectVersion"}  # never s3:DeleteObject
    assert statements["s3:ListBucketVersions"]["Resource"] == bucket_arn
    assert statements["s3:ListBucketVersions"]["Condition"] == {"StringLike": {"s3:prefix": "uploads/*"}}
    assert statements["s3:DeleteObjectVersion"]["Resource"] == {"Fn::Join": ["", [bucket_arn, "/uploads/*"]]}
    # A listing of the whole bucket cannot be granted (test_secure_bucket.test_listing_versions_needs_a_literal_prefix).


def test_table_grants_limited_by_leading_keys() -> None:
    stack = cdk.Stack(cdk.App(), "Leading")
    table = ScaledTable(
        stack,
        "Items",
        partition_key=dynamodb.Attribute(name="pk", type=STRING),
        indexes=[IndexSpec(name="by-owner", partition_key=dynamodb.Attribute(name="owner", type=STRING))],
    )
    limited, plain = _role(stack, "Limited"), _role(stack, "Plain")
    table.grant_query(limited, "by-owner", leading_keys=["#a/*", "#b/*"])
    table.grant_update_item(limited, leading_keys=["#a/*", "#b/*"])
    table.grant_batch_write_item(limited, leading_keys=["#a/*", "#b/*"])
    table.grant_query(plain, "by-owner")
    table.grant_update_item(plain)
    table.grant_batch_write_item(plain)
    table_arn = stack.resolve(table.table.table_arn)
    index_arn = {"Fn::Join": ["", [table_arn, "/index/by-owner"]]}

    def by_action(role: iam.Role) -> dict[str, list[tuple[object, object]]]:
        found: dict[str, list[tuple[object, object]]] = {}
        for statement in _statements(stack, role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                if action.startswith("dynamodb:"):
                    found.setdefault(action, []).append((statement["Resource"], statement.get("Condition")))
        return found

    assert by_action(limited) == {
        "dynamodb:Query": [(table_arn, LEADING), (index_arn, None)],  # the index has its own partition key
        "dynamodb:UpdateItem": [(table_arn, LEADING)],
        "dynamodb:BatchWriteItem": [(table_arn, LEADING)],
    }
    assert by_action(plain) == {
        "dynamodb:Query": [([table_arn, index_arn], None)],  # unchanged without leading keys
        "dynamodb:UpdateItem": [(table_arn, None)],
        "dynamodb:BatchWriteItem": [(table_arn, None)],
    }
