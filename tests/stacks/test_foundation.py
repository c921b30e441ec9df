"""Fine-grained assertions on the synthesized per-environment stacks: KMS key, data bucket, access-log bucket."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from stacks.config import build_config
from tests.support.synth import Synthesized
from tests.support.template import resources_of, single, statements_by_sid

SUFFIXES = ("dev", "staging", "prod", "pr-7")


def _data_bucket(template: dict) -> tuple[str, dict]:
    return single(template, "AWS::S3::Bucket", lambda r: not _is_log_bucket(r))


def _log_bucket(template: dict) -> tuple[str, dict]:
    return single(template, "AWS::S3::Bucket", _is_log_bucket)


def _is_log_bucket(resource: dict) -> bool:
    return str(resource["Properties"].get("BucketNamePrefix", "")).endswith("-logs")


def _policy_of(template: dict, bucket_id: str) -> list[dict]:
    _, policy = single(template, "AWS::S3::BucketPolicy", lambda r: r["Properties"]["Bucket"] == {"Ref": bucket_id})
    return policy["Properties"]["PolicyDocument"]["Statement"]


# ---------------------------------------------------------------------------------------------------------- key
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_key_rotates_and_alias_carries_suffix(synthesized: Synthesized, suffix: str) -> None:
    template = synthesized.template(suffix)
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": f"alias/secure-serverless-{suffix}"})


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_key_policy_lets_logs_use_key_only_for_this_environments_log_groups(templates: dict, suffix: str) -> None:
    _, key = single(templates[suffix], "AWS::KMS::Key")
    statements = statements_by_sid(key["Properties"]["KeyPolicy"]["Statement"])
    statement = statements["AllowCloudWatchLogsForThisEnvironment"]
    assert statement["Effect"] == "Allow"
    regional_logs = {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    assert statement["Principal"] == {"Service": regional_logs}
    assert sorted(statement["Action"]) == sorted(
        ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey"]
    )
    condition = json.dumps(statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert f":log-group:/secure-serverless-{suffix}/*" in condition


def test_no_key_policy_statement_uses_a_wildcard_action_for_a_service(templates: dict) -> None:
    for suffix, template in templates.items():
        for _, key in resources_of(template, "AWS::KMS::Key"):
            for statement in key["Properties"]["KeyPolicy"]["Statement"]:
                if "Service" not in statement["Principal"]:
                    continue  # the account-root statement is the standard key-administration delegation
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not [a for a in actions if "*" in a], (suffix, statement)


# ---------------------------------------------------------------------------------------------------------- data bucket
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_data_bucket_is_private_encrypted_versioned_logged(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    key_id, _ = single(template, "AWS::KMS::Key")
    log_id, _ = _log_bucket(template)
    _, bucket = _data_bucket(template)
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                "SSEAlgorithm": "aws:kms",
            },
        }
    ]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": log_id}
    assert "AccessControl" not in props


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_data_bucket_name_is_account_regional_and_carries_suffix(templates: dict, suffix: str) -> None:
    _, bucket = _data_bucket(templates[suffix])
    assert bucket["Properties"]["BucketNamespace"] == "account-regional"
    assert bucket["Properties"]["BucketNamePrefix"] == f"secsls-{suffix}"
    assert "BucketName" not in bucket["Properties"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_data_bucket_lifecycle(templates: dict, suffix: str) -> None:
    _, bucket = _data_bucket(templates[suffix])
    rules = {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    expected_days = build_config(suffix).noncurrent_version_expiration_days
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": expected_days}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_eventbridge_notifications_are_native_not_a_helper_lambda(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    _, bucket = _data_bucket(template)
    notifications = bucket["Properties"]["NotificationConfiguration"]
    assert notifications == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert "Custom::S3BucketNotifications" not in types
    assert "Custom::S3AutoDeleteObjects" not in types
    handlers = [rid for rid in template["Resources"] if "NotificationsHandler" in rid or "AutoDeleteObjects" in rid]
    assert handlers == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_data_bucket_policy_denies_insecure_transport_and_old_tls(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    bucket_id, _ = _data_bucket(template)
    statements = _policy_of(template, bucket_id)
    denies = [s for s in statements if s["Effect"] == "Deny" and s["Action"] == "s3:*"]
    conditions = [s["Condition"] for s in denies]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions
    for statement in denies:
        assert statement["Principal"] == {"AWS": "*"}
        assert {"Fn::GetAtt": [bucket_id, "Arn"]} in statement["Resource"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_data_bucket_policy_denies_puts_without_this_keys_encryption(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    bucket_id, _ = _data_bucket(template)
    key_id, _ = single(template, "AWS::KMS::Key")
    statements = statements_by_sid(_policy_of(template, bucket_id))
    objects = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]}

    wrong = statements["DenyWrongEncryptionHeader"]
    assert (wrong["Effect"], wrong["Action"], wrong["Principal"], wrong["Resource"]) == (
        "Deny",
        "s3:PutObject",
        {"AWS": "*"},
        objects,
    )
    # Each deny applies only when the header is given: UploadPart/CompleteMultipartUpload never carry it, and a
    # request without it gets the bucket's default encryption (this key). See tests/constructs for the logic.
    header, key_header = "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"
    assert wrong["Condition"] == {"StringNotEquals": {header: "aws:kms"}, "Null": {header: "false"}}
    assert "DenyMissingEncryptionHeader" not in statements

    other_key = statements["DenyOtherKmsKey"]
    assert other_key["Effect"] == "Deny"
    assert other_key["Condition"] == {
        "StringNotEquals": {key_header: {"Fn::GetAtt": [key_id, "Arn"]}},
        "Null": {key_header: "false"},
    }
    managed = statements["DenyAwsManagedKmsKey"]  # aws:kms without a key id means aws/s3
    assert managed["Effect"] == "Deny"
    assert managed["Condition"] == {"StringEquals": {header: "aws:kms"}, "Null": {key_header: "true"}}
    _, bucket = _data_bucket(template)
    default = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert default["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
    }


def test_dev_has_no_vpc_endpoint_guard(templates: dict) -> None:
    bucket_id, _ = _data_bucket(templates["dev"])
    assert "DenyDataAccessOutsideVpcEndpoints" not in statements_by_sid(_policy_of(templates["dev"], bucket_id))


# ---------------------------------------------------------------------------------------------------------- log bucket
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_log_bucket_is_private_sse_s3_and_expires(templates: dict, suffix: str) -> None:
    _, log = _log_bucket(templates[suffix])
    props = log["Properties"]
    assert props["BucketNamespace"] == "account-regional"
    assert props["BucketNamePrefix"] == f"secsls-{suffix}-logs"
    assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert "AccessControl" not in props  # bucket policy for log delivery, not the legacy ACL
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == build_config(suffix).access_log_retention_days
    assert "LoggingConfiguration" not in props


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_log_bucket_policy_admits_only_s3_logging_for_the_data_bucket(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    log_id, _ = _log_bucket(template)
    data_id, _ = _data_bucket(template)
    statements = _policy_of(template, log_id)
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1
    (allow,) = allows
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Condition"]["ArnLike"] == {"aws:SourceArn": {"Fn::GetAtt": [data_id, "Arn"]}}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    tls = [s for s in statements if s["Effect"] == "Deny"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in [s["Condition"] for s in tls]


# ---------------------------------------------------------------------------------------------------------- per preset
@pytest.mark.parametrize(
    "suffix,policy", [("dev", "Delete"), ("pr-7", "Delete"), ("staging", "Delete"), ("prod", "Retain")]
)
def test_stateful_resources_removal_policy_follows_preset(templates: dict, suffix: str, policy: str) -> None:
    for rtype in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for _, resource in resources_of(templates[suffix], rtype):
            assert resource["DeletionPolicy"] == policy, (suffix, rtype)
            assert resource["UpdateReplacePolicy"] == policy, (suffix, rtype)


@pytest.mark.parametrize("suffix,protected", [("dev", False), ("pr-7", False), ("staging", False), ("prod", True)])
def test_termination_protection_only_in_prod(synthesized: Synthesized, suffix: str, protected: bool) -> None:
    assert bool(synthesized.artifacts[suffix].termination_protection) is protected


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_stack_name_and_tags(synthesized: Synthesized, suffix: str) -> None:
    assert synthesized.artifacts[suffix].stack_name == f"SecureServerless-{suffix}"
    synthesized.template(suffix).has_resource_properties(
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


def test_no_cloudformation_parameter_without_default(templates: dict) -> None:
    for suffix, template in templates.items():
        for name, parameter in template.get("Parameters", {}).items():
            if name == "BootstrapVersion":
                continue  # CDK's own, read from SSM with a default path
            assert "Default" in parameter, (suffix, name)
