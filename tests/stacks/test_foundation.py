"""Fine-grained assertions on the synthesized per-environment stacks: KMS key, data bucket, access-log bucket."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Matcher, Template

from stacks.config import build_config
from tests.support.synth import Synthesized
from tests.support.template import WILDCARD_ACTIONS, arn_of, has_statement, logical_id

SUFFIXES = ("dev", "staging", "prod", "pr-7")


LOG_BUCKET = {"BucketNamePrefix": Match.string_like_regexp("-logs$")}
DATA_BUCKET = {"BucketNamePrefix": Match.not_(Match.string_like_regexp("-logs$"))}
BLOCK_ALL_PUBLIC_ACCESS = Match.exact(
    {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
)
OWNER_ENFORCED = Match.exact({"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
ANYONE = Match.exact({"AWS": "*"})


def _has_bucket_policy(template: Template, bucket_id: str, statements: Matcher) -> None:
    template.has_resource_properties(
        "AWS::S3::BucketPolicy", {"Bucket": {"Ref": bucket_id}, "PolicyDocument": {"Statement": statements}}
    )


# ---------------------------------------------------------------------------------------------------------- key
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_key_rotates_and_alias_carries_suffix(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": f"alias/secure-serverless-{suffix}"})


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_key_policy_lets_logs_use_key_only_for_this_environments_log_groups(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    template.resource_count_is("AWS::KMS::Key", 1)
    regional_logs = {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    this_environments_log_groups = {
        "Fn::Join": ["", Match.array_with([Match.string_like_regexp(f":log-group:/secure-serverless-{suffix}/\\*$")])]
    }
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": has_statement(
                    Sid="AllowCloudWatchLogsForThisEnvironment",
                    Effect="Allow",
                    Principal=Match.exact({"Service": regional_logs}),
                    Action=sorted(
                        ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey"]
                    ),
                    Condition={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": this_environments_log_groups}},
                )
            }
        },
    )


@pytest.mark.parametrize("action", WILDCARD_ACTIONS, ids=["single", "list"])
def test_no_key_policy_statement_uses_a_wildcard_action_for_a_service(
    stack_templates: dict[str, Template], action: Matcher
) -> None:
    # The account-root statement (principal AWS, kms:*) is the standard key-administration delegation.
    for template in stack_templates.values():
        template.all_resources_properties(
            "AWS::KMS::Key",
            {
                "KeyPolicy": {
                    "Statement": Match.not_(has_statement(Principal={"Service": Match.any_value()}, Action=action))
                }
            },
        )


# ---------------------------------------------------------------------------------------------------------- data bucket
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_data_bucket_is_private_encrypted_versioned_logged(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    key_id = logical_id(template, "AWS::KMS::Key")
    log_id = logical_id(template, "AWS::S3::Bucket", LOG_BUCKET)
    logical_id(template, "AWS::S3::Bucket", DATA_BUCKET)  # exactly one
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            **DATA_BUCKET,
            "PublicAccessBlockConfiguration": BLOCK_ALL_PUBLIC_ACCESS,
            "OwnershipControls": OWNER_ENFORCED,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": Match.exact(
                    [
                        {
                            "BucketKeyEnabled": True,
                            "ServerSideEncryptionByDefault": {
                                "KMSMasterKeyID": arn_of(key_id),
                                "SSEAlgorithm": "aws:kms",
                            },
                            # Refused by the bucket itself, not left to S3's default (and denied by DenySseC).
                            "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
                        }
                    ]
                )
            },
            "VersioningConfiguration": Match.exact({"Status": "Enabled"}),
            "LoggingConfiguration": {"DestinationBucketName": Match.exact({"Ref": log_id})},
            "AccessControl": Match.absent(),
        },
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_data_bucket_name_is_account_regional_and_carries_suffix(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    logical_id(template, "AWS::S3::Bucket", DATA_BUCKET)  # exactly one
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"BucketNamePrefix": f"secsls-{suffix}", "BucketNamespace": "account-regional", "BucketName": Match.absent()},
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_data_bucket_lifecycle(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    expected_days = build_config(suffix).noncurrent_version_expiration_days
    rules = Match.array_with(
        [
            Match.object_like(
                {
                    "Id": "abort-incomplete-multipart-uploads",
                    "AbortIncompleteMultipartUpload": Match.exact({"DaysAfterInitiation": 7}),
                }
            ),
            Match.object_like(
                {
                    "Id": "expire-noncurrent-versions",
                    "NoncurrentVersionExpiration": Match.exact({"NoncurrentDays": expected_days}),
                }
            ),
        ]
    )
    template.has_resource_properties("AWS::S3::Bucket", {**DATA_BUCKET, "LifecycleConfiguration": {"Rules": rules}})
    disabled = Match.array_with([Match.object_like({"Status": Match.not_("Enabled")})])
    template.has_resource_properties(
        "AWS::S3::Bucket", {**DATA_BUCKET, "LifecycleConfiguration": {"Rules": Match.not_(disabled)}}
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_eventbridge_notifications_are_native_not_a_helper_lambda(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            **DATA_BUCKET,
            "NotificationConfiguration": Match.exact({"EventBridgeConfiguration": {"EventBridgeEnabled": True}}),
        },
    )
    template.resource_count_is("Custom::S3BucketNotifications", 0)
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    # Nor the helpers' own function, role and policy.
    for resource_type in ("AWS::Lambda::Function", "AWS::IAM::Role", "AWS::IAM::Policy"):
        helpers = [
            rid
            for rid in template.find_resources(resource_type)
            if "NotificationsHandler" in rid or "AutoDeleteObjects" in rid
        ]
        assert helpers == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_data_bucket_policy_denies_insecure_transport_and_old_tls(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    bucket_id = logical_id(template, "AWS::S3::Bucket", DATA_BUCKET)

    def deny_all(condition: dict) -> Matcher:
        return Match.object_like(
            {
                "Effect": "Deny",
                "Action": "s3:*",
                "Principal": ANYONE,
                "Condition": Match.exact(condition),
                "Resource": Match.array_with([arn_of(bucket_id)]),
            }
        )

    _has_bucket_policy(
        template,
        bucket_id,
        Match.array_with(
            [
                deny_all({"Bool": {"aws:SecureTransport": "false"}}),
                deny_all({"NumericLessThan": {"s3:TlsVersion": 1.2}}),
            ]
        ),
    )
    # Every deny of s3:* is on anyone.
    _has_bucket_policy(
        template, bucket_id, Match.not_(has_statement(Effect="Deny", Action="s3:*", Principal=Match.not_(ANYONE)))
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_data_bucket_policy_denies_puts_without_this_keys_encryption(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    bucket_id = logical_id(template, "AWS::S3::Bucket", DATA_BUCKET)
    key = arn_of(logical_id(template, "AWS::KMS::Key"))
    objects = {"Fn::Join": ["", [arn_of(bucket_id), "/*"]]}
    header, key_header = "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"
    # Each deny applies only when the header is given: UploadPart/CompleteMultipartUpload never carry it, and a
    # request without it gets the bucket's default encryption (this key). See tests/constructs for the logic.
    denies = {
        "DenyWrongEncryptionHeader": {"StringNotEquals": {header: "aws:kms"}, "Null": {header: "false"}},
        "DenyOtherKmsKey": {"StringNotEquals": {key_header: key}, "Null": {key_header: "false"}},
        "DenyAwsManagedKmsKey": {"StringEquals": {header: "aws:kms"}, "Null": {key_header: "true"}},  # = aws/s3
        "DenySseC": {"Null": {f"{header}-customer-algorithm": "false"}},  # customer-provided keys, every part
    }
    for sid, condition in denies.items():
        _has_bucket_policy(template, bucket_id, has_statement(Sid=sid, Effect="Deny", Condition=Match.exact(condition)))
    _has_bucket_policy(
        template,
        bucket_id,
        has_statement(
            Sid="DenyWrongEncryptionHeader", Action="s3:PutObject", Principal=ANYONE, Resource=Match.exact(objects)
        ),
    )
    _has_bucket_policy(template, bucket_id, Match.not_(has_statement(Sid="DenyMissingEncryptionHeader")))
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            **DATA_BUCKET,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": Match.exact({"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key})}
                ]
            },
        },
    )


def test_dev_has_no_vpc_endpoint_guard(stack_templates: dict[str, Template]) -> None:
    template = stack_templates["dev"]
    bucket_id = logical_id(template, "AWS::S3::Bucket", DATA_BUCKET)
    _has_bucket_policy(template, bucket_id, Match.not_(has_statement(Sid="DenyDataAccessOutsideVpcEndpoints")))


# ---------------------------------------------------------------------------------------------------------- log bucket
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_log_bucket_is_private_sse_s3_and_expires(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    logical_id(template, "AWS::S3::Bucket", LOG_BUCKET)  # exactly one
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketNamespace": "account-regional",
            "BucketNamePrefix": f"secsls-{suffix}-logs",
            "PublicAccessBlockConfiguration": BLOCK_ALL_PUBLIC_ACCESS,
            "OwnershipControls": OWNER_ENFORCED,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": Match.exact(
                    [
                        {
                            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                            "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
                        }
                    ]
                )
            },
            "AccessControl": Match.absent(),  # bucket policy for log delivery, not the legacy ACL
            "LifecycleConfiguration": {
                "Rules": [Match.object_like({"ExpirationInDays": build_config(suffix).access_log_retention_days})]
            },
            "LoggingConfiguration": Match.absent(),
        },
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_log_bucket_policy_admits_only_s3_logging_for_the_data_bucket(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    log_id = logical_id(template, "AWS::S3::Bucket", LOG_BUCKET)
    data_id = logical_id(template, "AWS::S3::Bucket", DATA_BUCKET)
    s3_logging = Match.object_like(
        {
            "Effect": "Allow",
            "Principal": Match.exact({"Service": "logging.s3.amazonaws.com"}),
            "Action": "s3:PutObject",
            "Condition": {
                "ArnLike": Match.exact({"aws:SourceArn": arn_of(data_id)}),
                "StringEquals": Match.exact({"aws:SourceAccount": {"Ref": "AWS::AccountId"}}),
            },
        }
    )
    tls = Match.object_like({"Effect": "Deny", "Condition": Match.exact({"Bool": {"aws:SecureTransport": "false"}})})
    old_tls = Match.object_like(
        {"Effect": "Deny", "Condition": Match.exact({"NumericLessThan": {"s3:TlsVersion": 1.2}})}
    )
    # Exactly these: the two TLS denies and the one allow.
    _has_bucket_policy(template, log_id, [tls, old_tls, s3_logging])


# ---------------------------------------------------------------------------------------------------------- per preset
@pytest.mark.parametrize(
    "suffix,policy", [("dev", "Delete"), ("pr-7", "Delete"), ("staging", "Delete"), ("prod", "Retain")]
)
def test_stateful_resources_removal_policy_follows_preset(
    stack_templates: dict[str, Template], suffix: str, policy: str
) -> None:
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        stack_templates[suffix].all_resources(resource_type, {"DeletionPolicy": policy, "UpdateReplacePolicy": policy})


@pytest.mark.parametrize("suffix,protected", [("dev", False), ("pr-7", False), ("staging", False), ("prod", True)])
def test_termination_protection_only_in_prod(synthesized: Synthesized, suffix: str, protected: bool) -> None:
    assert bool(synthesized.artifacts[suffix].termination_protection) is protected


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_stack_name_and_tags(synthesized: Synthesized, stack_templates: dict[str, Template], suffix: str) -> None:
    assert synthesized.artifacts[suffix].stack_name == f"SecureServerless-{suffix}"
    stack_templates[suffix].has_resource_properties(
        "AWS::S3::Bucket",
        {
            "Tags": Match.array_with(
                [
                    {"Key": "app", "Value": "secure-serverless"},
                    {"Key": "environment", "Value": suffix},
                ]
            )
        },
    )


def test_no_cloudformation_parameter_without_default(stack_templates: dict[str, Template]) -> None:
    for template in stack_templates.values():
        without_default = template.find_parameters("*", {"Default": Match.absent()})
        assert set(without_default) <= {"BootstrapVersion"}  # CDK's own, read from SSM with a default path
