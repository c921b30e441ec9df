"""SecureBucket and EnvironmentKey on their own: defaults, overrides, grants, validation, nag on the subtree."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from secure_serverless import (
    BucketNaming,
    EnvironmentKey,
    SecureBucket,
)
from tests.support.build import StackSet
from tests.support.nag import nag_findings
from tests.support.template import as_list, resources_of, single, statements_by_sid


class Built(StackSet):
    """One app with several variants, synthesized once for the module."""

    def __init__(self) -> None:
        super().__init__()

        stack = self._stack("SseS3")
        self.sse_s3 = SecureBucket(stack, "Bucket", name_prefix="unit-sse-s3")
        self.reader = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.sse_s3.grant_read_objects(self.reader, prefix="incoming/")
        self.sse_s3.grant_list_objects(self.reader)

        stack = self._stack("Kms")
        self.key = EnvironmentKey(stack, "Key", name_prefix="unit-env")
        self.kms = SecureBucket(stack, "Bucket", name_prefix="unit-kms", encryption_key=self.key.key)
        self.writer = iam.Role(stack, "Writer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.kms.grant_put_objects(self.writer, prefix="uploads/")

        stack = self._stack("Global")
        self.global_named = SecureBucket(
            stack,
            "Bucket",
            name_prefix="unit-global",
            naming=BucketNaming.GLOBAL_WITH_ACCOUNT_REGION,
        )

        stack = self._stack("Vpce")
        self.vpce = SecureBucket(
            stack,
            "Bucket",
            name_prefix="unit-vpce",
            allowed_vpc_endpoint_ids=["vpce-0123456789abcdef0"],
            vpce_exempt_principal_arns=["arn:aws:iam::111122223333:role/Admin"],
        )

        stack = self._stack("ExistingLogs")
        logs = s3.Bucket.from_bucket_name(stack, "Logs", "central-access-logs")
        self.existing_logs = SecureBucket(
            stack,
            "Bucket",
            name_prefix="unit-existing",
            existing_access_logs_bucket=logs,
            bucket_props={"transfer_acceleration": True},  # a pass-through override that weakens nothing
        )
        self.synth()


@pytest.fixture(scope="module")
def built() -> Built:
    return Built()


def _bucket_policy(template: dict) -> list[dict]:
    """Statements of the data bucket's policy (not the access-log bucket's)."""
    _, policy = single(
        template,
        "AWS::S3::BucketPolicy",
        lambda r: "AccessLogs" not in r["Properties"]["Bucket"]["Ref"],
    )
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_sse_s3_default_requires_aes256_header(built: Built) -> None:
    template = built.templates["SseS3"]
    statements = statements_by_sid(_bucket_policy(template))
    assert statements["DenyWrongEncryptionHeader"]["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"},
        "Null": {"s3:x-amz-server-side-encryption": "false"},  # only when given: UploadPart never carries it
    }
    assert "DenyMissingEncryptionHeader" not in statements  # it denied every UploadPart (see the upload tests)
    assert "DenyOtherKmsKey" not in statements
    _, bucket = single(template, "AWS::S3::Bucket", lambda r: r["Properties"]["BucketNamePrefix"] == "unit-sse-s3")
    assert bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}


def test_read_grant_is_exact_and_prefix_scoped(built: Built) -> None:
    template = built.templates["SseS3"]
    _, policy = single(template, "AWS::IAM::Policy")
    statements = {tuple(sorted(as_list(s["Action"]))): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {("s3:GetObject", "s3:GetObjectVersion"), ("s3:ListBucket",)}
    assert "incoming/*" in json.dumps(statements[("s3:GetObject", "s3:GetObjectVersion")]["Resource"])
    bucket_id = single(template, "AWS::S3::Bucket", lambda r: r["Properties"]["BucketNamePrefix"] == "unit-sse-s3")[0]
    assert statements[("s3:ListBucket",)]["Resource"] == {"Fn::GetAtt": [bucket_id, "Arn"]}


def test_put_grant_uses_the_key_only_through_s3_for_this_bucket(built: Built) -> None:
    template = built.templates["Kms"]
    _, policy = single(template, "AWS::IAM::Policy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = sorted(a for s in statements for a in as_list(s["Action"]))
    # kms:Decrypt too: S3 decrypts the parts' data keys to complete a multipart upload.
    assert actions == ["kms:Decrypt", "kms:GenerateDataKey", "s3:PutObject"]
    assert "uploads/*" in json.dumps(policy)
    (kms_statement,) = [s for s in statements if "kms:Decrypt" in as_list(s["Action"])]
    condition = kms_statement["Condition"]
    assert json.dumps(condition["StringEquals"]["kms:ViaService"]) == json.dumps(
        {"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    )
    contexts = json.dumps(condition["StringLike"]["kms:EncryptionContext:aws:s3:arn"])
    bucket_id = single(template, "AWS::S3::Bucket", lambda r: r["Properties"].get("BucketNamePrefix") == "unit-kms")[0]
    assert bucket_id in contexts and "uploads/*" in contexts


# What S3 puts in the request context of each upload request (see SecureBucket._deny_unencrypted_uploads for the
# AWS documentation): every multipart request is authorized as s3:PutObject; only PutObject and
# CreateMultipartUpload may carry the encryption headers.
HEADER = "s3:x-amz-server-side-encryption"
KEY_ID = "s3:x-amz-server-side-encryption-aws-kms-key-id"
THIS_KEY = object()  # replaced by the template's key ARN
OTHER_KEY = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"
UPLOADS = {
    "PutObject without header (bucket default)": ({}, True),
    "PutObject aws:kms with this key": ({HEADER: "aws:kms", KEY_ID: THIS_KEY}, True),
    "PutObject aws:kms without key id (aws/s3)": ({HEADER: "aws:kms"}, False),
    "PutObject aws:kms with another key": ({HEADER: "aws:kms", KEY_ID: OTHER_KEY}, False),
    "PutObject AES256": ({HEADER: "AES256"}, False),
    "CreateMultipartUpload aws:kms with this key": ({HEADER: "aws:kms", KEY_ID: THIS_KEY}, True),
    "CreateMultipartUpload without header": ({}, True),
    "CreateMultipartUpload AES256": ({HEADER: "AES256"}, False),
    "UploadPart": ({}, True),
    "CompleteMultipartUpload": ({}, True),
}


def _condition_holds(conditions: dict, context: dict) -> bool:
    """IAM semantics for the operators these statements use; an absent key makes StringNotEquals true."""
    for operator, entries in conditions.items():
        for key, expected in entries.items():
            values, present = as_list(expected), key in context
            if operator == "Null":
                holds = (not present) is (values == ["true"])
            elif operator == "StringEquals":
                holds = present and context[key] in values
            elif operator == "StringNotEquals":
                holds = not present or context[key] not in values
            elif operator == "Bool":
                holds = present and context[key] in values
            else:
                raise AssertionError(f"operator {operator} not modelled")
            if not holds:
                return False
    return True


def _denied(statements: list[dict], context: dict) -> list[str]:
    return [
        s.get("Sid", "?")
        for s in statements
        if s["Effect"] == "Deny"
        and "s3:PutObject" in as_list(s["Action"])
        and _condition_holds(s.get("Condition", {}), context)
    ]


@pytest.mark.parametrize("request_name", list(UPLOADS))
def test_bucket_policy_allows_single_and_multipart_uploads_only_with_this_key(built: Built, request_name: str) -> None:
    template = built.templates["Kms"]
    key_arn = {"Fn::GetAtt": [single(template, "AWS::KMS::Key")[0], "Arn"]}
    headers, allowed = UPLOADS[request_name]
    context = {k: (key_arn if v is THIS_KEY else v) for k, v in headers.items()} | {"aws:SecureTransport": "true"}
    denied_by = _denied(_bucket_policy(template), context)
    assert (denied_by == []) is allowed, denied_by


def test_no_granted_action_has_a_wildcard(built: Built) -> None:
    for name, template in built.templates.items():
        for _, policy in resources_of(template, "AWS::IAM::Policy"):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                assert not [a for a in as_list(statement["Action"]) if "*" in a], (name, statement)


def test_key_alias_and_rotation(built: Built) -> None:
    template = Template.from_json(built.templates["Kms"])
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/unit-env"})
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    assert built.key.alias_name == "alias/unit-env"
    assert built.key.log_group_prefix == "/unit-env/"


def test_defaults_retain_stateful_resources(built: Built) -> None:
    for name in ("SseS3", "Kms"):
        for rtype in ("AWS::S3::Bucket", "AWS::KMS::Key"):
            for _, resource in resources_of(built.templates[name], rtype):
                assert resource["DeletionPolicy"] == "Retain", (name, rtype)


def test_global_fallback_name_contains_account_and_region(built: Built) -> None:
    names = [r["Properties"]["BucketName"] for _, r in resources_of(built.templates["Global"], "AWS::S3::Bucket")]
    assert len(names) == 2
    for name in names:
        text = json.dumps(name)
        assert '"Ref": "AWS::AccountId"' in text and '"Ref": "AWS::Region"' in text
    assert any("unit-global-logs-" in json.dumps(n) for n in names)
    for _, resource in resources_of(built.templates["Global"], "AWS::S3::Bucket"):
        assert "BucketNamespace" not in resource["Properties"]


def test_vpc_endpoint_guard_exempts_exactly_the_given_principals(built: Built) -> None:
    statements = statements_by_sid(_bucket_policy(built.templates["Vpce"]))
    statement = statements["DenyDataAccessOutsideVpcEndpoints"]
    assert statement["Effect"] == "Deny"
    assert sorted(statement["Action"]) == sorted(
        ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
    )
    condition = statement["Condition"]
    assert as_list(condition["StringNotEquals"]["aws:SourceVpce"]) == ["vpce-0123456789abcdef0"]
    # CloudFormation never touches objects here: no exemption for it, only the caller's exact principals.
    assert as_list(condition["ArnNotLike"]["aws:PrincipalArn"]) == ["arn:aws:iam::111122223333:role/Admin"]
    assert condition["BoolIfExists"] == {"aws:ViaAWSService": "false"}
    listing = statements["DenyListingOutsideVpcEndpoints"]  # listing reveals every key: guarded the same way
    assert sorted(as_list(listing["Action"])) == ["s3:ListBucket", "s3:ListBucketVersions"]
    assert listing["Condition"] == condition and listing["Effect"] == "Deny"
    assert "/*" not in json.dumps(listing["Resource"])  # the bucket ARN itself
    # Bucket configuration actions are not guarded, so CloudFormation can still manage and delete the bucket.
    assert "s3:*" not in as_list(statement["Action"])


def test_existing_access_log_bucket_is_used_and_no_new_one_created(built: Built) -> None:
    template = built.templates["ExistingLogs"]
    (bucket,) = [r for _, r in resources_of(template, "AWS::S3::Bucket")]
    assert bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == "central-access-logs"
    assert bucket["Properties"]["AccelerateConfiguration"] == {"AccelerationStatus": "Enabled"}
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}  # the defaults still apply


@pytest.mark.parametrize(
    "prefix",
    ["Upper", "has_underscore", "-leading", "trailing-", "double--hyphen", "x" * 28, ""],
)
def test_bad_name_prefix_is_rejected_with_field_and_rule(prefix: str) -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    with pytest.raises(ValueError) as error:
        SecureBucket(stack, "Bucket", name_prefix=prefix)
    assert "name_prefix" in str(error.value) and repr(prefix) in str(error.value)
    assert "lowercase letters, digits and hyphens" in str(error.value)


def test_tls_below_1_2_is_rejected() -> None:
    stack = cdk.Stack(cdk.App(), "Tls")
    with pytest.raises(ValueError, match="minimum_tls_version"):
        SecureBucket(stack, "Bucket", name_prefix="tls", minimum_tls_version=1.0)


def test_arguments_are_keyword_only() -> None:
    stack = cdk.Stack(cdk.App(), "Positional")
    with pytest.raises(TypeError, match="positional"):
        SecureBucket(stack, "Bucket", "unit-positional")  # type: ignore[misc]  # the error is the point


@pytest.mark.parametrize("name", ["sse_s3", "kms", "global_named", "vpce"])
def test_construct_subtree_passes_nag_packs(built: Built, name: str) -> None:
    construct = getattr(built, name)
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        result = pack.validate_scope(construct)
        assert result.success, nag_findings(result)


def test_log_delivery_uses_a_bucket_policy_even_without_the_feature_flag() -> None:
    # A consumer app created without cdk.json's flags must still get no legacy LogDeliveryWrite ACL.
    app = cdk.App(builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "NoFlags")
    SecureBucket(stack, "Bucket", name_prefix="noflags")
    template = Template.from_stack(stack).to_json()
    for _, bucket in resources_of(template, "AWS::S3::Bucket"):
        assert "AccessControl" not in bucket["Properties"]
    log_id, _ = single(template, "AWS::S3::Bucket", lambda r: r["Properties"]["BucketNamePrefix"].endswith("-logs"))
    _, policy = single(template, "AWS::S3::BucketPolicy", lambda r: r["Properties"]["Bucket"] == {"Ref": log_id})
    principals = [s.get("Principal") for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert {"Service": "logging.s3.amazonaws.com"} in principals
