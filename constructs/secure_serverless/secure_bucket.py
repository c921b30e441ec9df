"""SecureBucket: a private, encrypted, TLS-only, versioned, access-logged S3 bucket with a squat-resistant name."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from . import defaults
from .inputs import KeyLike, key_of
from .nag import acknowledge, acknowledge_guard, compliance_rules
from .naming import prefixed, validate_bucket_prefix
from .overrides import Guard, equals, merge_props, refuse_both

# Object-level data actions that the optional VPC-endpoint guard restricts (bucket configuration stays manageable).
VPCE_GUARDED_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
)
SERVER_ACCESS_LOGS_USE_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"
# Listing reveals every key (with per-user prefixes: every user id and file name); guarded like data access.
VPCE_GUARDED_LIST_ACTIONS = ("s3:ListBucket", "s3:ListBucketVersions")
READ_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
# A read that names a version (GetObject/HeadObject with VersionId) is authorized as s3:GetObjectVersion alone.
READ_VERSION_ACTIONS = ("s3:GetObjectVersion",)
PUT_OBJECT_ACTIONS = ("s3:PutObject",)
# A delete that names a version (DeleteObject/DeleteObjects with VersionId) removes it for good: s3:DeleteObjectVersion.
DELETE_VERSION_ACTIONS = ("s3:DeleteObjectVersion",)
LIST_VERSIONS_ACTIONS = ("s3:ListBucketVersions",)


class BucketNaming(enum.Enum):
    """How bucket names resist squatting."""

    ACCOUNT_REGIONAL = "account-regional"  # `<prefix>-<account>-<region>-an`, reserved to this account
    GLOBAL_WITH_ACCOUNT_REGION = "global"  # `<prefix>-<account>-<region>` in the global namespace (fallback)


# What every bucket this module creates promises; a `*_props` override may not weaken it.
BUCKET_GUARDS = {
    "block_public_access": Guard(
        lambda value: all(
            getattr(value, flag, False) is True
            for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        ),
        "must block all four (BLOCK_ALL: the bucket is private)",
    ),
    "public_read_access": Guard(lambda value: not value, "must stay off (the bucket is private)"),
    "access_control": Guard(
        lambda value: value in (None, s3.BucketAccessControl.PRIVATE), "must stay PRIVATE (no ACL grants)"
    ),
    "object_ownership": equals(s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, "must stay BUCKET_OWNER_ENFORCED (no ACLs)"),
    "enforce_ssl": equals(True, "must stay True (non-TLS requests are denied)"),
    "versioned": equals(True, "must stay True (the bucket promises versioning)"),
    "encryption": Guard(
        lambda value: value is not s3.BucketEncryption.UNENCRYPTED, "must not be UNENCRYPTED (encryption at rest)"
    ),
    "blocked_encryption_types": Guard(
        lambda value: value is not None and s3.BlockedEncryptionType.SSE_C in value,
        "must keep SSE_C blocked (customer-provided keys are refused)",
    ),
}
BUCKET_OWNED = {
    "bucket_name": "name_prefix/naming",
    "bucket_name_prefix": "name_prefix/naming",
    "bucket_namespace": "naming",
    "encryption_key": "encryption_key",
    "minimum_tls_version": "minimum_tls_version",
    "removal_policy": "RemovalPolicies.of(construct)",
    "server_access_logs_bucket": "existing_access_logs_bucket",
    "lifecycle_rules": "object_expiration/noncurrent_version_expiration/abort_incomplete_multipart_upload_after",
    "event_bridge_enabled": "event_bridge_enabled",
}


class SecureBucket(Construct):
    """A private bucket that only accepts TLS and correctly encrypted writes, logs access, and emits events.

    Minimal use: ``SecureBucket(self, "Uploads")``.

    Args:
        scope: the parent construct.
        construct_id: the construct id.
        name_prefix: bucket-name prefix (at most 27 characters); the log bucket is ``<prefix>-logs``. Default:
            None (CloudFormation generates both names).
        naming: how a prefixed name resists squatting. Default: ``BucketNaming.ACCOUNT_REGIONAL``.
        encryption_key: SSE-KMS with this key (bucket key on; writes with another key are denied). Default: None,
            meaning SSE-S3 (AES256): the secure default that needs no key policy, and the only encryption S3 server
            access logging and many AWS services can deliver into.
        object_expiration: expire current object versions this long after their creation (S3 adds a delete
            marker at the next midnight UTC; the version, now noncurrent, goes after noncurrent_version_expiration).
            Whole days. Default: None (objects are kept until deleted).
        noncurrent_version_expiration: expire noncurrent versions after this. Default: 90 days.
        abort_incomplete_multipart_upload_after: abort incomplete multipart uploads after this. Default: 7 days.
        access_log_expiration: expire access logs after this. Default: 365 days.
        existing_access_logs_bucket: send access logs to this bucket instead of a new log bucket. Default: None.
        event_bridge_enabled: native EventBridge notifications (no helper Lambda). Default: True.
        minimum_tls_version: deny requests below this TLS version (at least 1.2). Default: 1.2.
        allowed_vpc_endpoint_ids: when set, object data access must come through these VPC endpoints.
            Default: none.
        vpce_exempt_principal_arns: principal ARN patterns exempt from the endpoint guard. Default: none.
        vpce_exempt_services: AWS service principals (e.g. ``athena.amazonaws.com``) that may read or write
            objects for a caller from outside the endpoints, matched with ``aws:CalledVia`` (only services that set
            it can be named). Default: none, so no request made through an AWS service on a caller's behalf is
            exempt (``aws:ViaAWSService`` alone would exempt every service acting for any caller).
        bucket_props: further ``s3.Bucket`` keyword arguments for the data bucket, merged over the defaults.
            Refused: turning off Block Public Access, public read, ACLs, TLS-only, versioning or encryption;
            setting what an argument above controls. Default: None.
        access_logs_bucket_props: the same for the access-log bucket (refused with existing_access_logs_bucket).
            Default: None.

    Removal: both buckets are retained; use ``RemovalPolicies.of(bucket).destroy()`` for a disposable one.

    Attributes:
        bucket: the data bucket.
        access_logs_bucket: where server access logs go.
        encryption_key: the SSE-KMS key, None for SSE-S3.
        expected_bucket_owner: the account id to pass as ExpectedBucketOwner.
        object_expiration: the current-version expiry in the lifecycle rules (None: objects are kept).
        noncurrent_version_expiration: the noncurrent-version expiry in the lifecycle rules.
    """

    bucket: s3.Bucket
    access_logs_bucket: s3.IBucket
    encryption_key: kms.IKey | None
    expected_bucket_owner: str
    object_expiration: Duration | None
    noncurrent_version_expiration: Duration

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str | None = None,
        naming: BucketNaming = BucketNaming.ACCOUNT_REGIONAL,
        encryption_key: KeyLike | None = None,
        object_expiration: Duration | None = None,
        noncurrent_version_expiration: Duration = defaults.NONCURRENT_VERSION_EXPIRATION,
        abort_incomplete_multipart_upload_after: Duration = defaults.ABORT_INCOMPLETE_MULTIPART_UPLOAD_AFTER,
        access_log_expiration: Duration = defaults.ACCESS_LOG_EXPIRATION,
        existing_access_logs_bucket: s3.IBucket | None = None,
        event_bridge_enabled: bool = True,
        minimum_tls_version: float = defaults.MINIMUM_TLS_VERSION,
        allowed_vpc_endpoint_ids: Sequence[str] = (),
        vpce_exempt_principal_arns: Sequence[str] = (),
        vpce_exempt_services: Sequence[str] = (),
        bucket_props: Mapping[str, Any] | None = None,
        access_logs_bucket_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        encryption_key = key_of(encryption_key)
        # Log delivery by bucket policy, never the legacy LogDeliveryWrite ACL, even in apps without this flag.
        self.node.set_context(SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, True)
        if name_prefix is not None:
            validate_bucket_prefix("name_prefix", name_prefix)
        if minimum_tls_version < 1.2:
            raise ValueError(f"invalid minimum_tls_version {minimum_tls_version!r}: must be 1.2 or higher")
        refuse_both(
            "existing_access_logs_bucket",
            existing_access_logs_bucket,
            "access_logs_bucket_props",
            access_logs_bucket_props,
        )
        self.encryption_key = encryption_key
        self.expected_bucket_owner = Aws.ACCOUNT_ID
        for name, duration in (
            ("object_expiration", object_expiration),
            ("noncurrent_version_expiration", noncurrent_version_expiration),
        ):
            if duration is not None and not _whole_days(duration):
                raise ValueError(f"invalid {name} {duration.to_human_string()!r}: must be a whole number of days >= 1")
        self.object_expiration = object_expiration
        self.noncurrent_version_expiration = noncurrent_version_expiration

        self.access_logs_bucket = existing_access_logs_bucket or self._new_log_bucket(
            naming=naming,
            name_prefix=name_prefix,
            minimum_tls_version=minimum_tls_version,
            access_log_expiration=access_log_expiration,
            abort_incomplete_multipart_upload_after=abort_incomplete_multipart_upload_after,
            props=access_logs_bucket_props,
        )
        secure_defaults: dict[str, Any] = dict(
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.KMS if encryption_key else s3.BucketEncryption.S3_MANAGED,
            bucket_key_enabled=True if encryption_key else None,
            # SSE-C refused by the bucket itself, not left to S3's default for new buckets (which changed over
            # time and does not cover buckets created earlier); the bucket policy denies it too (DenySseC).
            blocked_encryption_types=[s3.BlockedEncryptionType.SSE_C],
            versioned=True,
            server_access_logs_prefix="access-logs/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-multipart-uploads",
                    abort_incomplete_multipart_upload_after=abort_incomplete_multipart_upload_after,
                ),
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=noncurrent_version_expiration,
                    expired_object_delete_marker=True,
                ),
                *(
                    [s3.LifecycleRule(id="expire-current-versions", expiration=object_expiration)]
                    if object_expiration is not None
                    else []
                ),
            ],
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
        )
        encryption_guard = {} if encryption_key is None else {"encryption": _KMS_ONLY}
        merged = merge_props(
            "bucket_props",
            secure_defaults,
            bucket_props,
            guards={**BUCKET_GUARDS, **encryption_guard},
            owned=BUCKET_OWNED,
            target=s3.Bucket,
        )
        if existing_access_logs_bucket is not None:
            # Written here, not by CDK: CDK lets the target bucket decide between a bucket policy and the legacy
            # LogDeliveryWrite ACL by a feature flag read in the caller's part of the tree (an ACL-less bucket fails).
            log_prefix = merged.pop("server_access_logs_prefix", None)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            **_name_args(naming, name_prefix),
            minimum_tls_version=minimum_tls_version,
            encryption_key=encryption_key,
            server_access_logs_bucket=None if existing_access_logs_bucket is not None else self.access_logs_bucket,
            **merged,
        )
        if existing_access_logs_bucket is not None:
            self._log_to(existing_access_logs_bucket, log_prefix)
        if event_bridge_enabled:
            # The bucket's own NotificationConfiguration, not CDK's BucketNotificationsHandler custom resource.
            cfn_bucket = self.bucket.node.default_child
            assert isinstance(cfn_bucket, s3.CfnBucket)
            cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
                event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
            )
        self._deny_unencrypted_uploads()
        if allowed_vpc_endpoint_ids:
            self.require_vpc_endpoint(allowed_vpc_endpoint_ids, vpce_exempt_principal_arns, vpce_exempt_services)

    # ---------------------------------------------------------------- grants
    def arn_for_prefix(self, prefix: str = "") -> str:
        """ARN pattern of the objects under `prefix` (all objects when empty)."""
        return self.bucket.arn_for_objects(f"{prefix}*")

    def grant_read_objects(self, grantee: iam.IGrantable, prefix: str = "") -> iam.Grant:
        """Allow s3:GetObject and s3:GetObjectVersion on objects under `prefix` (and kms:Decrypt on the key)."""
        self._grant_key_through_s3(grantee, ["kms:Decrypt"], prefix)
        return self._grant(grantee, READ_OBJECT_ACTIONS, prefix)

    def grant_read_versions(self, grantee: iam.IGrantable, prefix: str = "") -> iam.Grant:
        """Allow only s3:GetObjectVersion on objects under `prefix` (and kms:Decrypt on the key through S3): reads
        that name an exact version, such as the presigned downloads an API signs for its callers. A read without a
        version id (s3:GetObject) stays denied."""
        self._grant_key_through_s3(grantee, ["kms:Decrypt"], prefix)
        return self._grant(grantee, READ_VERSION_ACTIONS, prefix)

    def grant_list_objects(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow s3:ListBucket on this bucket, so S3 answers 404 (not 403) for an object that no longer exists."""
        return iam.Grant.add_to_principal_or_resource(
            grantee=grantee, actions=["s3:ListBucket"], resource_arns=[self.bucket.bucket_arn], resource=self.bucket
        )

    def grant_put_objects(self, grantee: iam.IGrantable, prefix: str = "") -> iam.Grant:
        """Allow s3:PutObject on objects under `prefix`, single-part or multipart (and, under SSE-KMS,
        kms:GenerateDataKey plus kms:Decrypt, which multipart uploads need: see _deny_unencrypted_uploads)."""
        self._grant_key_through_s3(grantee, ["kms:GenerateDataKey", "kms:Decrypt"], prefix)
        return self._grant(grantee, PUT_OBJECT_ACTIONS, prefix)

    def grant_delete_versions(self, grantee: iam.IGrantable, prefix: str = "") -> iam.Grant:
        """Allow only s3:DeleteObjectVersion on objects under `prefix`: deletes that name an exact version (or delete
        marker) and remove it for good. A delete without a version id (s3:DeleteObject, which only adds a delete
        marker) stays denied. No key actions: deleting reads and writes no data."""
        return self._grant(grantee, DELETE_VERSION_ACTIONS, prefix)

    def grant_list_versions(self, grantee: iam.IGrantable, prefix: str) -> iam.Grant:
        """Allow s3:ListBucketVersions on this bucket only for listings whose ``prefix`` parameter starts with
        `prefix` (condition ``StringLike s3:prefix``, false when the listing names no prefix: then denied). `prefix`
        is required and must not be empty: listing versions reveals every key below it."""
        if not prefix or "*" in prefix or "?" in prefix:
            raise ValueError(f"invalid prefix {prefix!r}: must be a non-empty key prefix without '*' or '?'")
        return iam.Grant.add_to_principal_or_resource(
            grantee=grantee,
            actions=list(LIST_VERSIONS_ACTIONS),
            resource_arns=[self.bucket.bucket_arn],
            resource=self.bucket,
            conditions={"StringLike": {"s3:prefix": f"{prefix}*"}},
        )

    def grant_signed_uploads(self, grantee: iam.IGrantable, prefix: str = "") -> iam.Grant:
        """Allow what signing single-part uploads (presigned POSTs or PUTs) for others needs: s3:PutObject on objects
        under `prefix` and, under SSE-KMS, kms:GenerateDataKey through S3 for this bucket only (no kms:Decrypt: a
        single-part upload never decrypts; multipart uploads, which do, are not what a grant signs). The uploads are
        authorized as `grantee`; the conditions of what it signs bound them."""
        self._grant_key_through_s3(grantee, ["kms:GenerateDataKey"], prefix)
        return self._grant(grantee, PUT_OBJECT_ACTIONS, prefix)

    def _grant_key_through_s3(self, grantee: iam.IGrantable, actions: list[str], prefix: str) -> None:
        """Key actions usable only by S3 in this region, for this bucket: nobody can call KMS directly with them
        (which would spend the account's shared KMS request quota). With S3 Bucket Keys the encryption context
        is the bucket ARN; without, the object ARN (both listed)."""
        if self.encryption_key is None:
            return
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=actions,
            resource_arns=[self.encryption_key.key_arn],
            conditions={
                "StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"},
                "StringLike": {
                    "kms:EncryptionContext:aws:s3:arn": [self.bucket.bucket_arn, self.arn_for_prefix(prefix)]
                },
            },
        )

    def _grant(self, grantee: iam.IGrantable, actions: Sequence[str], prefix: str) -> iam.Grant:
        # Object ARNs are patterns by nature (AwsSolutions-IAM5 on the grantee): the grantee's owner acknowledges
        # it (`acknowledge_grant_wildcards`), since a library acknowledgment there would also cover their own.
        return iam.Grant.add_to_principal_or_resource(
            grantee=grantee,
            actions=list(actions),
            resource_arns=[self.arn_for_prefix(prefix)],
            resource=self.bucket,
        )

    def _log_to(self, target: s3.IBucket, prefix: str | None) -> None:
        """Server access logs into a bucket the caller owns, delivered under a bucket policy (never an ACL): the
        logging service may put objects under `prefix`, only for this bucket, in this account. An imported bucket's
        policy cannot be extended here: its owner grants the same statement."""
        cfn_bucket = self.bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=target.bucket_name, log_file_prefix=prefix
        )
        target.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[target.arn_for_objects(f"{prefix or ''}*")],
                conditions={
                    "ArnLike": {"aws:SourceArn": self.bucket.bucket_arn},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )

    # ---------------------------------------------------------------- policy
    def _deny_unencrypted_uploads(self) -> None:
        """Deny uploads that ask for another encryption than the bucket's, without breaking multipart uploads.

        What S3 evaluates, from AWS's documentation:
        - CreateMultipartUpload, UploadPart, UploadPartCopy and CompleteMultipartUpload are all authorized as
          s3:PutObject (Amazon S3 User Guide, "Multipart upload API and permissions":
          https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions), so every Deny
          on s3:PutObject here is evaluated for each part and for the completion.
        - Only PutObject and CreateMultipartUpload accept x-amz-server-side-encryption[-aws-kms-key-id]; UploadPart
          and CompleteMultipartUpload take only the SSE-C headers (API Reference: API_UploadPart.html,
          API_CompleteMultipartUpload.html), so for them the s3:x-amz-server-side-encryption* condition keys are
          absent from the request context.
        - A negated operator (StringNotEquals) and `Null: true` are both true for an absent key (IAM User Guide,
          "Condition operators" / "Null condition operator":
          https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
          a "wrong header" or "missing header" Deny without a guard therefore denies every UploadPart.
        So each Deny applies only when the header is present (`Null: false`).
        SSE-C (customer-provided keys) is denied outright (`DenySseC`): the header
        x-amz-server-side-encryption-customer-algorithm is accepted by PutObject, CreateMultipartUpload and
        UploadPart alike, so the Deny catches every part; the bucket's BlockedEncryptionTypes refuses it as well.
        An SSE-C object cannot be read by anyone without the customer's key (HeadObject and GetObject answer 400),
        so an event-driven consumer could only fail on it. A request without it gets the
        bucket's default encryption (this key, or SSE-S3): nothing is ever stored unencrypted or under another
        key. `aws:kms` without a key id would make S3 use the AWS managed key aws/s3: denied too.
        Under SSE-KMS the uploader also needs kms:Decrypt, not only kms:GenerateDataKey (API Reference,
        API_CreateMultipartUpload.html, "Permissions": S3 decrypts the parts' data keys to complete the upload);
        see grant_put_objects.
        """
        objects = self.bucket.arn_for_objects("*")
        header = "s3:x-amz-server-side-encryption"
        key_id = f"{header}-aws-kms-key-id"
        expected = "aws:kms" if self.encryption_key else "AES256"
        denies: list[tuple[str, dict[str, object]]] = [
            ("DenyWrongEncryptionHeader", {"StringNotEquals": {header: expected}, "Null": {header: "false"}}),
            ("DenySseC", {"Null": {f"{header}-customer-algorithm": "false"}}),
        ]
        if self.encryption_key is not None:
            denies += [
                (
                    "DenyOtherKmsKey",
                    {"StringNotEquals": {key_id: self.encryption_key.key_arn}, "Null": {key_id: "false"}},
                ),
                ("DenyAwsManagedKmsKey", {"StringEquals": {header: "aws:kms"}, "Null": {key_id: "true"}}),
            ]
        for sid, conditions in denies:
            self.bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["s3:PutObject"],
                    resources=[objects],
                    conditions=conditions,
                )
            )

    def require_vpc_endpoint(
        self,
        endpoint_ids: Sequence[str],
        exempt_arns: Sequence[str] = (),
        exempt_services: Sequence[str] = (),
        *,
        version_readers: Sequence[str] = (),
        version_readers_prefix: str = "",
        uploaders: Sequence[str] = (),
        uploaders_prefix: str = "",
    ) -> None:
        """Deny object data access, and listing, that does not come through one of `endpoint_ids`, except for the
        exact principals `exempt_arns` (ARNs or ARN patterns) and, when named, the AWS services `exempt_services`
        acting for a caller (``aws:CalledVia``).

        `version_readers` (role ARNs) are admitted from outside the endpoints for exactly one action,
        s3:GetObjectVersion, on objects under `version_readers_prefix` (required with them, non-empty) and nothing
        else: the requests of presigned download URLs such a role signs for users' devices, which never pass
        through the VPC. Their other data actions, and version reads outside the prefix, stay guarded.

        `uploaders` (role ARNs) are admitted from outside the endpoints for exactly one action, s3:PutObject, on
        objects under `uploaders_prefix` (required with them, non-empty) and nothing else: the requests of presigned
        POST (or PUT) upload grants such a role signs for users' devices. Their other data actions, and uploads
        outside the prefix, stay guarded; the bucket's encryption Denies apply to those uploads as to any other.
        Default for both: nobody (every data action of every principal not exempt is guarded).

        No AWS service is exempt by default: ``aws:ViaAWSService`` is true for every service acting for a caller,
        so exempting it would let anyone with read and decrypt rights read objects from anywhere through any such
        service. CloudFormation is not exempt either: it never reads or writes objects here (no auto-delete or
        deployment helper; a bucket is deleted only once emptied by an operator).
        """
        for service in exempt_services:
            if not service.endswith(".amazonaws.com") or "*" in service:
                raise ValueError(
                    f"invalid vpce_exempt_services entry {service!r}: must be an exact AWS service principal "
                    "such as 'athena.amazonaws.com'"
                )
        outside: dict[str, dict[str, object]] = {"StringNotEquals": {"aws:SourceVpce": list(endpoint_ids)}}
        if exempt_services:
            # True for a direct call (no aws:CalledVia) and for a call through services not named here.
            outside["ForAllValues:StringNotEquals"] = {"aws:CalledVia": list(exempt_services)}
        if version_readers and not version_readers_prefix:
            raise ValueError("invalid version_readers_prefix '': must name the prefix version_readers may read under")
        if uploaders and not uploaders_prefix:
            raise ValueError("invalid uploaders_prefix '': must name the prefix uploaders may upload under")
        if exempt_arns:
            outside["ArnNotLike"] = {"aws:PrincipalArn": list(exempt_arns)}
        objects = self.bucket.arn_for_objects("*")
        guarded = [
            a
            for a in VPCE_GUARDED_ACTIONS
            if not (version_readers and a in READ_VERSION_ACTIONS) and not (uploaders and a in PUT_OBJECT_ACTIONS)
        ]
        statements: list[tuple[str, Sequence[str], dict[str, Any], Mapping[str, Any]]] = [
            ("DenyDataAccessOutsideVpcEndpoints", guarded, {"resources": [objects]}, outside),
            (
                "DenyListingOutsideVpcEndpoints",
                VPCE_GUARDED_LIST_ACTIONS,
                {"resources": [self.bucket.bucket_arn]},
                outside,
            ),
        ]
        if version_readers:
            readers: dict[str, Any] = {**outside, "ArnNotLike": {"aws:PrincipalArn": [*exempt_arns, *version_readers]}}
            prefix: dict[str, Any] = {"resources": [self.arn_for_prefix(version_readers_prefix)]}
            not_prefix: dict[str, Any] = {"not_resources": [self.arn_for_prefix(version_readers_prefix)]}
            statements[1:1] = [
                ("DenyVersionReadsOutsideVpcEndpoints", READ_VERSION_ACTIONS, prefix, readers),
                ("DenyVersionReadsOutsideVpcEndpointsElsewhere", READ_VERSION_ACTIONS, not_prefix, outside),
            ]
        if uploaders:
            # Mirrors the version readers: one exact action, under the prefix, for exactly these roles.
            admitted: dict[str, Any] = {**outside, "ArnNotLike": {"aws:PrincipalArn": [*exempt_arns, *uploaders]}}
            under: dict[str, Any] = {"resources": [self.arn_for_prefix(uploaders_prefix)]}
            not_under: dict[str, Any] = {"not_resources": [self.arn_for_prefix(uploaders_prefix)]}
            statements[-1:-1] = [
                ("DenyUploadsOutsideVpcEndpoints", PUT_OBJECT_ACTIONS, under, admitted),
                ("DenyUploadsOutsideVpcEndpointsElsewhere", PUT_OBJECT_ACTIONS, not_under, outside),
            ]
        for sid, actions, where, conditions in statements:
            self.bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=list(actions),
                    conditions=dict(conditions),
                    **where,
                )
            )

    def _new_log_bucket(
        self,
        *,
        naming: BucketNaming,
        name_prefix: str | None,
        minimum_tls_version: float,
        access_log_expiration: Duration,
        abort_incomplete_multipart_upload_after: Duration,
        props: Mapping[str, Any] | None,
    ) -> s3.Bucket:
        """A private, TLS-only, SSE-S3, versioned bucket for server access logs, with expiry."""
        secure_defaults: dict[str, Any] = dict(
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            blocked_encryption_types=[s3.BlockedEncryptionType.SSE_C],
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=access_log_expiration,
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=abort_incomplete_multipart_upload_after,
                ),
            ],
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
        )
        log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            **_name_args(naming, prefixed(name_prefix, "logs")),
            minimum_tls_version=minimum_tls_version,
            # S3 server access logging delivers only to SSE-S3 buckets, never SSE-KMS.
            encryption=s3.BucketEncryption.S3_MANAGED,
            **merge_props(
                "access_logs_bucket_props",
                secure_defaults,
                props,
                guards=BUCKET_GUARDS,
                owned={
                    **BUCKET_OWNED,
                    "encryption": "S3 server access logging (SSE-S3 only)",
                    "lifecycle_rules": "access_log_expiration/abort_incomplete_multipart_upload_after",
                },
                target=s3.Bucket,
            ),
        )
        acknowledge(
            log_bucket,
            ("AwsSolutions-S1", *compliance_rules("S3BucketLoggingEnabled")),
            "This is the server-access-log target bucket; logging its own access would recurse into itself.",
        )
        acknowledge(
            log_bucket,
            compliance_rules("S3DefaultEncryptionKMS"),
            "S3 server access logging can only deliver to buckets encrypted with SSE-S3 (AES256), not SSE-KMS.",
        )
        acknowledge(
            log_bucket,
            compliance_rules("S3BucketReplicationEnabled"),
            "Access logs are operational data with an expiry; replicating them to another region adds cost "
            "without a recovery need.",
        )
        for rule, control, reason in (
            (
                "s3_bucket_logging_enabled_check",
                "CT.S3.PR.2",
                "This is the server-access-log target bucket; logging its own access would recurse into itself.",
            ),
            (
                "s3_bucket_default_encryption_kms_check",
                "CT.S3.PR.10",
                "S3 server access logging can only deliver to buckets encrypted with SSE-S3 (AES256), not SSE-KMS.",
            ),
            (
                "s3_event_notifications_enabled_check",
                "CT.S3.PR.4",
                "Only S3's log delivery writes here; nothing processes access-log objects, so events would go "
                "nowhere. The data bucket sends its events to EventBridge.",
            ),
            (
                "s3_bucket_object_lock_enabled_check",
                "CT.S3.PR.9",
                "Access logs expire by lifecycle (access_log_expiration); Object Lock retention would keep them "
                "past it and make destroyable environments undeletable. Only S3's log delivery may write here.",
            ),
        ):
            acknowledge_guard(log_bucket, rule, control, reason)
        return log_bucket


def _whole_days(duration: Duration) -> bool:
    """True for a duration of a whole number of days, at least one (what S3 lifecycle rules take)."""
    days = duration.to_days(integral=False)
    return days >= 1 and float(days).is_integer()


_KMS_ONLY = equals(s3.BucketEncryption.KMS, "must stay KMS (encryption_key is given; writes are checked against it)")


def _name_args(naming: BucketNaming, prefix: str | None) -> dict[str, Any]:
    """Bucket-name arguments for `naming`: the account-regional namespace, or a global name with account+region;
    none without a prefix (CloudFormation generates a unique name)."""
    if prefix is None:
        return {}
    if naming is BucketNaming.ACCOUNT_REGIONAL:
        return {"bucket_name_prefix": prefix, "bucket_namespace": s3.BucketNamespace.ACCOUNT_REGIONAL}
    return {"bucket_name": f"{prefix}-{Aws.ACCOUNT_ID}-{Aws.REGION}"}
