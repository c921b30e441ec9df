"""SecureBucket and EnvironmentKey on their own: defaults, overrides, grants, validation, nag on the subtree."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Capture, Match, Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from secure_serverless import (
    BucketNaming,
    EnvironmentKey,
    SecureBucket,
    UnsafeOverrideError,
)
from tests.support.build import StackSet
from tests.support.iam_eval import Policy, Request, ctx_bool, ctx_list, ctx_str, evaluate
from tests.support.nag import nag_findings
from tests.support.resolve import Resolver, StandIns
from tests.support.template import (
    WILDCARD_ACTIONS,
    arn_of,
    as_list,
    has_statement,
    logical_id,
    only_policy_grants_exactly,
)


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

        stack = self._stack("UploadSigner")
        self.upload_key = EnvironmentKey(stack, "Key", name_prefix="unit-up")
        self.upload_bucket = SecureBucket(stack, "Bucket", name_prefix="unit-up", encryption_key=self.upload_key.key)
        self.upload_signer = iam.Role(stack, "Signer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.upload_bucket.grant_signed_uploads(self.upload_signer, prefix="uploads/")

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

        stack = self._stack("VpceServices")
        self.vpce_services = SecureBucket(
            stack,
            "Bucket",
            name_prefix="unit-vpce-svc",
            allowed_vpc_endpoint_ids=["vpce-0123456789abcdef0"],
            vpce_exempt_services=["athena.amazonaws.com"],
        )

        stack = self._stack("VpceReaders")
        self.vpce_readers = SecureBucket(stack, "Bucket", name_prefix="unit-vpce-rd")
        self.signer = iam.Role(stack, "Signer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.vpce_readers.grant_read_versions(self.signer, prefix="uploads/")
        self.vpce_readers.require_vpc_endpoint(
            ["vpce-0123456789abcdef0"],
            exempt_arns=["arn:aws:iam::111122223333:role/Admin"],
            version_readers=["arn:aws:iam::111122223333:role/Signer"],
            version_readers_prefix="uploads/",
        )

        stack = self._stack("VpceUploaders")
        self.vpce_uploaders = SecureBucket(stack, "Bucket", name_prefix="unit-vpce-up")
        self.vpce_uploaders.require_vpc_endpoint(
            ["vpce-0123456789abcdef0"],
            exempt_arns=["arn:aws:iam::111122223333:role/Admin"],
            version_readers=["arn:aws:iam::111122223333:role/Signer"],
            version_readers_prefix="uploads/",
            uploaders=["arn:aws:iam::111122223333:role/Signer"],
            uploaders_prefix="uploads/",
        )

        stack = self._stack("DeleteVersions")
        self.delete_versions = SecureBucket(stack, "Bucket", name_prefix="unit-del-ver")
        refuser = iam.Role(stack, "Refuser", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.delete_versions.grant_delete_versions(refuser, prefix="uploads/")

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


def _bucket_id(template: Template, name_prefix: str) -> str:
    return logical_id(template, "AWS::S3::Bucket", {"BucketNamePrefix": name_prefix})


def _objects(logical_id: str, prefix: str = "") -> dict:
    return {"Fn::Join": ["", [arn_of(logical_id), f"/{prefix}*"]]}


def test_sse_s3_default_requires_aes256_header(built: Built) -> None:
    template = built.template("SseS3")
    bucket = {"Ref": _bucket_id(template, "unit-sse-s3")}
    wrong_header = Match.exact(
        {
            "StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"},
            "Null": {"s3:x-amz-server-side-encryption": "false"},  # only when given: UploadPart never carries it
        }
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": bucket,
            "PolicyDocument": {"Statement": has_statement(Sid="DenyWrongEncryptionHeader", Condition=wrong_header)},
        },
    )
    # DenyMissingEncryptionHeader denied every UploadPart (see the upload tests); DenyOtherKmsKey has no key here.
    for sid in ("DenyMissingEncryptionHeader", "DenyOtherKmsKey"):
        template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {"Bucket": bucket, "PolicyDocument": {"Statement": Match.not_(has_statement(Sid=sid))}},
        )
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketNamePrefix": "unit-sse-s3",
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": Match.exact({"SSEAlgorithm": "AES256"})}
                ]
            },
        },
    )


def test_read_grant_is_exact_and_prefix_scoped(built: Built) -> None:
    template = built.template("SseS3")
    bucket_id = _bucket_id(template, "unit-sse-s3")
    only_policy_grants_exactly(
        template,
        [
            {
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Effect": "Allow",
                "Resource": _objects(bucket_id, "incoming/"),
            },
            {"Action": "s3:ListBucket", "Effect": "Allow", "Resource": arn_of(bucket_id)},
        ],
    )


def test_put_grant_uses_the_key_only_through_s3_for_this_bucket(built: Built) -> None:
    template = built.template("Kms")
    bucket_id = _bucket_id(template, "unit-kms")
    key_id = logical_id(template, "AWS::KMS::Key")
    only_policy_grants_exactly(
        template,
        [
            {
                # kms:Decrypt too: S3 decrypts the parts' data keys to complete a multipart upload.
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": {"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
                    },
                    "StringLike": {
                        "kms:EncryptionContext:aws:s3:arn": [
                            arn_of(bucket_id),
                            _objects(bucket_id, "uploads/"),
                        ]
                    },
                },
                "Effect": "Allow",
                "Resource": arn_of(key_id),
            },
            {"Action": "s3:PutObject", "Effect": "Allow", "Resource": _objects(bucket_id, "uploads/")},
        ],
    )


def test_signed_upload_grant_is_put_object_under_the_prefix_and_the_key_only_to_encrypt_through_s3(
    built: Built,
) -> None:
    """What signing presigned POSTs needs, nothing more: no kms:Decrypt (single-part uploads never decrypt)."""
    template = built.template("UploadSigner")
    bucket_id = _bucket_id(template, "unit-up")
    only_policy_grants_exactly(
        template,
        [
            {
                "Action": "kms:GenerateDataKey",
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": {"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
                    },
                    "StringLike": {
                        "kms:EncryptionContext:aws:s3:arn": [arn_of(bucket_id), _objects(bucket_id, "uploads/")]
                    },
                },
                "Effect": "Allow",
                "Resource": arn_of(logical_id(template, "AWS::KMS::Key")),
            },
            {"Action": "s3:PutObject", "Effect": "Allow", "Resource": _objects(bucket_id, "uploads/")},
        ],
    )


# What S3 puts in the request context of each upload request (see SecureBucket._deny_unencrypted_uploads for the
# AWS documentation): every multipart request is authorized as s3:PutObject; only PutObject and
# CreateMultipartUpload may carry the encryption headers.
HEADER = "s3:x-amz-server-side-encryption"
KEY_ID = "s3:x-amz-server-side-encryption-aws-kms-key-id"
SSE_C = "s3:x-amz-server-side-encryption-customer-algorithm"  # PutObject, CreateMultipartUpload and UploadPart
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
    "PutObject SSE-C": ({SSE_C: "AES256"}, False),
    "CreateMultipartUpload SSE-C": ({SSE_C: "AES256"}, False),
    "UploadPart SSE-C": ({SSE_C: "AES256"}, False),
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
    template = built.template("Kms")
    key_id = logical_id(template, "AWS::KMS::Key")
    statements = Capture()  # evaluated below with IAM semantics: a pattern cannot say "this request is allowed"
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"Bucket": {"Ref": _bucket_id(template, "unit-kms")}, "PolicyDocument": {"Statement": statements}},
    )
    headers, allowed = UPLOADS[request_name]
    context = {k: (arn_of(key_id) if v is THIS_KEY else v) for k, v in headers.items()} | {
        "aws:SecureTransport": "true"
    }
    denied_by = _denied(statements.as_array(), context)
    assert (denied_by == []) is allowed, denied_by
    if SSE_C in headers:
        assert denied_by == ["DenySseC"]


@pytest.mark.parametrize("name", ["SseS3", "Kms"])
def test_sse_c_is_blocked_by_the_bucket_and_its_policy(built: Built, name: str) -> None:
    """Not left to S3's default for new buckets: both buckets block SSE-C, and the policy denies the header."""
    template = built.template(name)
    blocked = {"BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]}}
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    for bucket in buckets.values():
        rules = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert [rule.get("BlockedEncryptionTypes") for rule in rules] == [blocked["BlockedEncryptionTypes"]]
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": has_statement(
                    Sid="DenySseC",
                    Effect="Deny",
                    Action="s3:PutObject",
                    Condition=Match.exact({"Null": {SSE_C: "false"}}),
                )
            }
        },
    )


def test_sse_c_cannot_be_unblocked_by_an_override() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(UnsafeOverrideError, match="blocked_encryption_types.*SSE_C"):
        SecureBucket(stack, "B", bucket_props={"blocked_encryption_types": [s3.BlockedEncryptionType.NONE]})


@pytest.mark.parametrize("action", WILDCARD_ACTIONS, ids=["single", "list"])
def test_no_granted_action_has_a_wildcard(built: Built, action: Match) -> None:
    for name in built.templates:
        template = built.template(name)
        if template.find_resources("AWS::IAM::Policy"):
            template.all_resources_properties(
                "AWS::IAM::Policy", {"PolicyDocument": {"Statement": Match.not_(has_statement(Action=action))}}
            )


def test_key_alias_and_rotation(built: Built) -> None:
    template = Template.from_json(built.templates["Kms"])
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/unit-env"})
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    assert built.key.alias_name == "alias/unit-env"
    assert built.key.log_group_prefix == "/unit-env/"


@pytest.mark.parametrize(("name", "resource_type", "count"), [
    ("SseS3", "AWS::S3::Bucket", 2), ("Kms", "AWS::S3::Bucket", 2), ("Kms", "AWS::KMS::Key", 1)
])  # fmt: skip
def test_defaults_retain_stateful_resources(built: Built, name: str, resource_type: str, count: int) -> None:
    template = built.template(name)
    template.resource_count_is(resource_type, count)
    template.all_resources(resource_type, {"DeletionPolicy": "Retain"})


def test_global_fallback_name_contains_account_and_region(built: Built) -> None:
    template = built.template("Global")
    template.resource_count_is("AWS::S3::Bucket", 2)
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": {"Fn::Join": ["", Match.array_with([{"Ref": "AWS::AccountId"}, {"Ref": "AWS::Region"}])]},
            "BucketNamespace": Match.absent(),
        },
    )
    template.has_resource_properties(
        "AWS::S3::Bucket", {"BucketName": {"Fn::Join": ["", Match.array_with(["unit-global-logs-"])]}}
    )


def test_vpc_endpoint_guard_exempts_exactly_the_given_principals(built: Built) -> None:
    template = built.template("Vpce")
    bucket_id = _bucket_id(template, "unit-vpce")
    guard = Match.exact(
        {
            "StringNotEquals": {"aws:SourceVpce": ["vpce-0123456789abcdef0"]},
            # CloudFormation never touches objects here: no exemption for it, only the caller's exact principals.
            "ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::111122223333:role/Admin"]},
        }
    )
    # Bucket configuration actions (s3:*) are not guarded, so CloudFormation can still manage and delete the bucket.
    data = Match.exact(
        {
            "Sid": "DenyDataAccessOutsideVpcEndpoints",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": [
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:PutObject",
            ],
            "Condition": guard,
            "Resource": _objects(bucket_id),
        }
    )
    listing = Match.exact(  # listing reveals every key: guarded the same way, on the bucket ARN itself
        {
            "Sid": "DenyListingOutsideVpcEndpoints",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
            "Condition": guard,
            "Resource": arn_of(bucket_id),
        }
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"Bucket": {"Ref": bucket_id}, "PolicyDocument": {"Statement": Match.array_with([data, listing])}},
    )


def test_existing_access_log_bucket_is_used_and_no_new_one_created(built: Built) -> None:
    template = built.template("ExistingLogs")
    template.resource_count_is("AWS::S3::Bucket", 1)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LoggingConfiguration": {"DestinationBucketName": "central-access-logs"},
            "AccelerateConfiguration": Match.exact({"AccelerationStatus": "Enabled"}),
            "VersioningConfiguration": Match.exact({"Status": "Enabled"}),  # the defaults still apply
        },
    )


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


def test_object_expiration_adds_a_current_version_rule_and_is_exposed() -> None:
    stack = cdk.Stack(cdk.App(), "Expiry")
    kept = SecureBucket(stack, "Kept", name_prefix="kept")
    expiring = SecureBucket(
        stack,
        "Expiring",
        name_prefix="expiring",
        object_expiration=cdk.Duration.days(30),
        noncurrent_version_expiration=cdk.Duration.days(7),
    )
    assert kept.object_expiration is None and kept.noncurrent_version_expiration.to_days() == 90
    assert (expiring.object_expiration.to_days(), expiring.noncurrent_version_expiration.to_days()) == (30, 7)
    template = Template.from_stack(stack).to_json()["Resources"]

    def rules(bucket: SecureBucket) -> dict[str, dict]:
        properties = template[stack.get_logical_id(bucket.bucket.node.default_child)]["Properties"]
        return {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}

    assert "expire-current-versions" not in rules(kept)
    assert rules(expiring)["expire-current-versions"] == {
        "Id": "expire-current-versions",
        "ExpirationInDays": 30,
        "Status": "Enabled",
    }
    assert rules(expiring)["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}


@pytest.mark.parametrize(
    ("name", "duration"),
    [
        ("object_expiration", cdk.Duration.hours(36)),
        ("object_expiration", cdk.Duration.hours(12)),
        ("noncurrent_version_expiration", cdk.Duration.minutes(90)),
    ],
)
def test_lifecycle_expirations_must_be_whole_days(name: str, duration: cdk.Duration) -> None:
    stack = cdk.Stack(cdk.App(), "Days")
    with pytest.raises(ValueError, match=f"invalid {name} .*whole number of days"):
        SecureBucket(stack, "Bucket", name_prefix="days", **{name: duration})


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
    template = Template.from_stack(stack)
    template.all_resources_properties("AWS::S3::Bucket", {"AccessControl": Match.absent()})
    log_id = logical_id(template, "AWS::S3::Bucket", {"BucketNamePrefix": Match.string_like_regexp("-logs$")})
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": log_id},
            "PolicyDocument": {
                "Statement": has_statement(Principal=Match.exact({"Service": "logging.s3.amazonaws.com"}))
            },
        },
    )


# ---- the endpoint guard, decided by the IAM evaluation engine (tests/support/iam_eval)
READER = "arn:aws:sts::111122223333:assumed-role/Reader/s"
ADMIN = "arn:aws:sts::111122223333:assumed-role/Admin/s"
ENDPOINT = "vpce-0123456789abcdef0"
VIA_ATHENA = {"aws:ViaAWSService": ctx_bool(True), "aws:CalledVia": ctx_list(["athena.amazonaws.com"])}
VIA_GLUE = {"aws:ViaAWSService": ctx_bool(True), "aws:CalledVia": ctx_list(["glue.amazonaws.com"])}
GUARD_ROWS = [
    # (variant, principal, extra context, expected, deciding)
    ("Vpce", READER, {"aws:SourceVpce": ctx_str(ENDPOINT)}, "Allowed", ["reader#Read"]),
    ("Vpce", READER, {}, "ExplicitlyDenied", ["bucket#DenyDataAccessOutsideVpcEndpoints"]),
    ("Vpce", ADMIN, {}, "Allowed", ["reader#Read"]),
    # Any AWS service acting for the reader (FAS) from outside the endpoint: no blanket aws:ViaAWSService exemption.
    ("Vpce", READER, VIA_ATHENA, "ExplicitlyDenied", ["bucket#DenyDataAccessOutsideVpcEndpoints"]),
    ("VpceServices", READER, VIA_ATHENA, "Allowed", ["reader#Read"]),
    ("VpceServices", READER, VIA_GLUE, "ExplicitlyDenied", ["bucket#DenyDataAccessOutsideVpcEndpoints"]),
    ("VpceServices", READER, {}, "ExplicitlyDenied", ["bucket#DenyDataAccessOutsideVpcEndpoints"]),
]


def _principal_arn(session_arn: str) -> str:
    """The role ARN of an assumed-role session ARN (what aws:PrincipalArn carries)."""
    account, role = session_arn.split(":")[4], session_arn.split("/")[1]
    return f"arn:aws:iam::{account}:role/{role}"


def test_endpoint_guard_decisions(built: Built) -> None:
    policies, objects = [], {}
    for variant in ("Vpce", "VpceServices"):
        resolver = Resolver(built.templates[variant], StandIns(account="111122223333", stack_name=variant))
        bucket_id = _bucket_id(built.template(variant), "unit-vpce" if variant == "Vpce" else "unit-vpce-svc")
        bucket_arn = resolver.get_att(bucket_id, "Arn")
        (document,) = [
            p["PolicyDocument"]
            for p in resolver.of_type("AWS::S3::BucketPolicy").values()
            if p["Bucket"] == resolver.ref(bucket_id)
        ]
        read = {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/*"}
        policies += [
            Policy(f"{variant}-bucket", "resource", document),
            Policy(f"{variant}-reader", "identity", {"Version": "2012-10-17", "Statement": [read]}),
        ]
        objects[variant] = f"{bucket_arn}/uploads/a"
    requests = [
        Request(
            str(i),
            principal,
            "s3:GetObject",
            objects[variant],
            context={
                "aws:SecureTransport": ctx_bool(True),
                "aws:PrincipalAccount": ctx_str("111122223333"),
                "aws:PrincipalArn": ctx_str(_principal_arn(principal)),
                **context,
            },
            identity_policies=(f"{variant}-reader",),
            resource_policy=f"{variant}-bucket",
            resource_account="111122223333",
        )
        for i, (variant, principal, context, _, _) in enumerate(GUARD_ROWS)
    ]
    got = [(d.result, [label.split("-", 1)[1] for label in d.labels]) for d in evaluate(policies, requests)]
    assert got == [(expected, deciding) for _, _, _, expected, deciding in GUARD_ROWS]


def test_version_read_grant_is_exactly_get_object_version_under_the_prefix(built: Built) -> None:
    template = built.template("VpceReaders")
    bucket_id = _bucket_id(template, "unit-vpce-rd")
    only_policy_grants_exactly(
        template,
        [{"Action": "s3:GetObjectVersion", "Effect": "Allow", "Resource": _objects(bucket_id, "uploads/")}],
    )


SIGNER = "arn:aws:sts::111122223333:assumed-role/Signer/s"
OTHER = "arn:aws:sts::111122223333:assumed-role/Other/s"
READER_ROWS = [
    # (principal, action, key, through the endpoint, expected, deciding): every request from outside the VPC unless
    # marked; every principal holds s3:GetObject and s3:GetObjectVersion on the whole bucket (the guard decides).
    (SIGNER, "s3:GetObjectVersion", "uploads/a", False, "Allowed", ["all#Read"]),
    (SIGNER, "s3:GetObject", "uploads/a", False, "ExplicitlyDenied", ["bucket#DenyDataAccessOutsideVpcEndpoints"]),
    (
        SIGNER,
        "s3:GetObjectVersion",
        "imports/a",
        False,
        "ExplicitlyDenied",
        ["bucket#DenyVersionReadsOutsideVpcEndpointsElsewhere"],
    ),
    (SIGNER, "s3:GetObjectVersion", "imports/a", True, "Allowed", ["all#Read"]),
    (
        OTHER,
        "s3:GetObjectVersion",
        "uploads/a",
        False,
        "ExplicitlyDenied",
        ["bucket#DenyVersionReadsOutsideVpcEndpoints"],
    ),
    (OTHER, "s3:GetObjectVersion", "uploads/a", True, "Allowed", ["all#Read"]),
    (ADMIN, "s3:GetObjectVersion", "imports/a", False, "Allowed", ["all#Read"]),
    (ADMIN, "s3:GetObject", "uploads/a", False, "Allowed", ["all#Read"]),
]


def test_version_readers_pass_the_endpoint_guard_for_version_reads_under_their_prefix_only(built: Built) -> None:
    """A presigned-download signer is admitted from outside the VPC for exactly s3:GetObjectVersion under its prefix;
    its plain GetObject and its version reads elsewhere stay guarded, and nobody else gains anything."""
    resolver = Resolver(built.templates["VpceReaders"], StandIns(account="111122223333", stack_name="VpceReaders"))
    bucket_id = _bucket_id(built.template("VpceReaders"), "unit-vpce-rd")
    bucket_arn = resolver.get_att(bucket_id, "Arn")
    (document,) = [
        p["PolicyDocument"]
        for p in resolver.of_type("AWS::S3::BucketPolicy").values()
        if p["Bucket"] == resolver.ref(bucket_id)
    ]
    read = {
        "Sid": "Read",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": f"{bucket_arn}/*",
    }
    policies = [
        Policy("r-bucket", "resource", document),
        Policy("r-all", "identity", {"Version": "2012-10-17", "Statement": [read]}),
    ]
    requests = [
        Request(
            str(i),
            principal,
            action,
            f"{bucket_arn}/{key}",
            context={
                "aws:SecureTransport": ctx_bool(True),
                "aws:PrincipalAccount": ctx_str("111122223333"),
                "aws:PrincipalArn": ctx_str(_principal_arn(principal)),
                **({"aws:SourceVpce": ctx_str(ENDPOINT)} if vpce else {}),
            },
            identity_policies=("r-all",),
            resource_policy="r-bucket",
            resource_account="111122223333",
        )
        for i, (principal, action, key, vpce, _, _) in enumerate(READER_ROWS)
    ]
    got = [(d.result, [label.split("-", 1)[1] for label in d.labels]) for d in evaluate(policies, requests)]
    assert got == [(expected, deciding) for *_, expected, deciding in READER_ROWS]


def test_version_readers_need_a_prefix() -> None:
    stack = cdk.Stack(cdk.App(), "NoPrefix")
    bucket = SecureBucket(stack, "Bucket")
    with pytest.raises(ValueError, match="version_readers_prefix"):
        bucket.require_vpc_endpoint(["vpce-1"], version_readers=["arn:aws:iam::111122223333:role/Signer"])


def test_delete_and_list_version_grants_admit_exactly_their_requests() -> None:
    """grant_delete_versions: s3:DeleteObjectVersion under the prefix only (a plain DeleteObject, which would leave a
    delete marker, stays denied); grant_list_versions: s3:ListBucketVersions only for listings whose prefix lies
    under the given one (a listing without a prefix is denied). Decided by the IAM evaluation engine."""
    stack = cdk.Stack(cdk.App(), "Deleter")
    bucket = SecureBucket(stack, "Bucket", name_prefix="unit-delete")
    role = iam.Role(stack, "Deleter", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    bucket.grant_delete_versions(role, prefix="uploads/")
    bucket.grant_list_versions(role, prefix="uploads/")
    template = Template.from_stack(stack)
    resolver = Resolver(template.to_json(), StandIns(account="111122223333", stack_name="Deleter"))
    (document,) = [p["PolicyDocument"] for p in resolver.of_type("AWS::IAM::Policy").values()]
    bucket_arn = resolver.get_att(_bucket_id(template, "unit-delete"), "Arn")
    assert sorted(s["Action"] for s in document["Statement"]) == ["s3:DeleteObjectVersion", "s3:ListBucketVersions"]
    principal = "arn:aws:sts::111122223333:assumed-role/Deleter/s"
    rows = [
        ("s3:DeleteObjectVersion", f"{bucket_arn}/uploads/id/a b.txt", None, "Allowed"),
        ("s3:DeleteObjectVersion", f"{bucket_arn}/imports/a", None, "ImplicitlyDenied"),
        ("s3:DeleteObject", f"{bucket_arn}/uploads/id/a", None, "ImplicitlyDenied"),
        ("s3:ListBucketVersions", bucket_arn, "uploads/id/a b.txt", "Allowed"),
        ("s3:ListBucketVersions", bucket_arn, "imports/", "ImplicitlyDenied"),
        ("s3:ListBucketVersions", bucket_arn, None, "ImplicitlyDenied"),
        ("s3:ListBucket", bucket_arn, "uploads/", "ImplicitlyDenied"),
    ]
    requests = [
        Request(
            str(n),
            principal,
            action,
            resource,
            context={"s3:prefix": ctx_str(prefix)} if prefix is not None else {},
            identity_policies=("deleter",),
            resource_account="111122223333",
        )
        for n, (action, resource, prefix, _) in enumerate(rows)
    ]
    decisions = evaluate([Policy("deleter", "identity", document)], requests)
    assert [d.result for d in decisions] == [expected for *_, expected in rows]


@pytest.mark.parametrize("prefix", ["", "uploads/*", "a?"])
def test_listing_versions_needs_a_literal_prefix(prefix: str) -> None:
    stack = cdk.Stack(cdk.App(), "NoListPrefix")
    bucket = SecureBucket(stack, "Bucket")
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    with pytest.raises(ValueError, match="prefix"):
        bucket.grant_list_versions(role, prefix=prefix)


def test_version_delete_grant_is_exactly_delete_object_version_under_the_prefix(built: Built) -> None:
    template = built.template("DeleteVersions")
    bucket_id = _bucket_id(template, "unit-del-ver")
    only_policy_grants_exactly(
        template,
        [{"Action": "s3:DeleteObjectVersion", "Effect": "Allow", "Resource": _objects(bucket_id, "uploads/")}],
    )


UPLOADER_ROWS = [
    # (principal, action, key, through the endpoint, expected, deciding): from outside the VPC unless marked; every
    # principal holds every guarded data action on the whole bucket (the guard decides). SIGNER is both a version
    # reader and an uploader (the API role signing presigned downloads and upload grants).
    (SIGNER, "s3:PutObject", "uploads/a", False, "Allowed", ["all#Write"]),
    (
        SIGNER,
        "s3:PutObject",
        "imports/a",
        False,
        "ExplicitlyDenied",
        ["bucket#DenyUploadsOutsideVpcEndpointsElsewhere"],
    ),
    (SIGNER, "s3:PutObject", "imports/a", True, "Allowed", ["all#Write"]),
    (SIGNER, "s3:GetObjectVersion", "uploads/a", False, "Allowed", ["all#Read"]),
    (SIGNER, "s3:GetObject", "uploads/a", False, "ExplicitlyDenied", ["bucket#DenyDataAccessOutsideVpcEndpoints"]),
    (SIGNER, "s3:DeleteObject", "uploads/a", False, "ExplicitlyDenied", ["bucket#DenyDataAccessOutsideVpcEndpoints"]),
    (
        SIGNER,
        "s3:DeleteObjectVersion",
        "uploads/a",
        False,
        "ExplicitlyDenied",
        ["bucket#DenyDataAccessOutsideVpcEndpoints"],
    ),
    (OTHER, "s3:PutObject", "uploads/a", False, "ExplicitlyDenied", ["bucket#DenyUploadsOutsideVpcEndpoints"]),
    (OTHER, "s3:PutObject", "uploads/a", True, "Allowed", ["all#Write"]),
    (OTHER, "s3:PutObject", "imports/a", False, "ExplicitlyDenied", ["bucket#DenyUploadsOutsideVpcEndpointsElsewhere"]),
    (ADMIN, "s3:PutObject", "imports/a", False, "Allowed", ["all#Write"]),
    (ADMIN, "s3:PutObject", "uploads/a", False, "Allowed", ["all#Write"]),
]


def test_uploaders_pass_the_endpoint_guard_for_uploads_under_their_prefix_only(built: Built) -> None:
    """An upload-grant signer is admitted from outside the VPC for exactly s3:PutObject under its prefix (beside its
    version reads); its uploads elsewhere and its other data actions stay guarded, and nobody else gains anything."""
    resolver = Resolver(built.templates["VpceUploaders"], StandIns(account="111122223333", stack_name="VpceUploaders"))
    bucket_id = _bucket_id(built.template("VpceUploaders"), "unit-vpce-up")
    bucket_arn = resolver.get_att(bucket_id, "Arn")
    (document,) = [
        p["PolicyDocument"]
        for p in resolver.of_type("AWS::S3::BucketPolicy").values()
        if p["Bucket"] == resolver.ref(bucket_id)
    ]
    everything = [
        {
            "Sid": "Read",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"{bucket_arn}/*",
        },
        {
            "Sid": "Write",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": f"{bucket_arn}/*",
        },
    ]
    policies = [
        Policy("u-bucket", "resource", document),
        Policy("u-all", "identity", {"Version": "2012-10-17", "Statement": everything}),
    ]
    requests = [
        Request(
            str(i),
            principal,
            action,
            f"{bucket_arn}/{key}",
            context={
                "aws:SecureTransport": ctx_bool(True),
                "aws:PrincipalAccount": ctx_str("111122223333"),
                "aws:PrincipalArn": ctx_str(_principal_arn(principal)),
                **({"aws:SourceVpce": ctx_str(ENDPOINT)} if vpce else {}),
            },
            identity_policies=("u-all",),
            resource_policy="u-bucket",
            resource_account="111122223333",
        )
        for i, (principal, action, key, vpce, _, _) in enumerate(UPLOADER_ROWS)
    ]
    got = [(d.result, [label.split("-", 1)[1] for label in d.labels]) for d in evaluate(policies, requests)]
    assert got == [(expected, deciding) for *_, expected, deciding in UPLOADER_ROWS]


def test_uploaders_need_a_prefix() -> None:
    stack = cdk.Stack(cdk.App(), "NoUploadPrefix")
    bucket = SecureBucket(stack, "Bucket")
    with pytest.raises(ValueError, match="uploaders_prefix"):
        bucket.require_vpc_endpoint(["vpce-1"], uploaders=["arn:aws:iam::111122223333:role/Signer"])
