"""IdentityPool: a Cognito user pool and an identity pool whose authenticated role is trusted only for this pool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_cognito_identitypool as identitypool
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from . import defaults
from .nag import acknowledge_role_default_policy
from .naming import prefixed, validate_name_prefix
from .overrides import Guard, equals, merge_props, refuse_both
from .secure_bucket import SecureBucket

USER_POOL_OWNED = {
    "self_sign_up_enabled": "self_sign_up",
    "password_policy": "password_min_length",
    "mfa": "mfa",
    "mfa_second_factor": "mfa (TOTP only)",
    "feature_plan": "threat_protection",
    "standard_threat_protection_mode": "threat_protection",
    "deletion_protection": "deletion_protection",
    "removal_policy": "RemovalPolicies.of(construct)",
}
CLIENT_GUARDS = {
    "generate_secret": equals(False, "must stay False (a public client cannot keep a secret)"),
    "auth_flows": Guard(
        lambda flows: not (getattr(flows, "user_password", None) or getattr(flows, "admin_user_password", None)),
        "must not enable password auth flows (SRP only: the password never leaves the client)",
    ),
    "disable_o_auth": equals(True, "must stay True (SRP sign-in only, no OAuth callback URLs)"),
}
IDENTITY_ID = "${cognito-identity.amazonaws.com:sub}"  # IAM policy variable: the caller's identity id


class IdentityPool(Construct):
    """Sign-in (user pool + SRP app client) and AWS credentials (identity pool) for authenticated users only.

    Minimal use: ``IdentityPool(self, "Identity")``.

    Args:
        scope: the parent construct.
        construct_id: the construct id.
        name_prefix: environment prefix for the pool and client names. Default: None (CloudFormation names them).
        self_sign_up: users may register themselves. Default: False.
        mfa: multi-factor authentication (TOTP only, never SMS). Default: ``Mfa.REQUIRED``.
        password_min_length: minimum password length (12 or more), upper, lower, digit and symbol required.
            Default: 14.
        threat_protection: the Plus feature plan with threat protection enforced (billed per active user).
            Default: True.
        deletion_protection: refuse DeleteUserPool while on. Default: True.
        existing_user_pool: use this user pool instead of creating one. Default: None.
        user_pool_props: further ``cognito.UserPool`` keyword arguments, merged over the defaults (refused with
            existing_user_pool). Refused: what an argument above controls (MFA, password policy, sign-up, threat
            protection). Default: None.
        user_pool_client_props: further ``cognito.UserPoolClient`` keyword arguments. Refused: a client secret,
            password-based auth flows other than SRP, OAuth. Default: None.

    Removal: a created user pool and the identity pool are retained (a replaced identity pool gives every user a
    new identity id, orphaning whatever is keyed by the old one); ``RemovalPolicies.of(identity_pool)``
    changes that for a disposable environment.

    Attributes:
        user_pool: the user pool.
        user_pool_client: the app client (no secret, SRP only).
        identity_pool: the identity pool (no unauthenticated identities, no classic flow).
        authenticated_role: the role authenticated identities assume (trusted for this identity pool only).
    """

    user_pool: cognito.IUserPool
    user_pool_client: cognito.UserPoolClient
    identity_pool: identitypool.IdentityPool
    authenticated_role: iam.IRole

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str | None = None,
        self_sign_up: bool = False,
        mfa: cognito.Mfa = cognito.Mfa.REQUIRED,
        password_min_length: int = 14,
        threat_protection: bool = True,
        deletion_protection: bool = True,
        existing_user_pool: cognito.IUserPool | None = None,
        user_pool_props: Mapping[str, Any] | None = None,
        user_pool_client_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if name_prefix is not None:
            validate_name_prefix("name_prefix", name_prefix)
        if password_min_length < 12:
            raise ValueError(f"invalid password_min_length {password_min_length!r}: must be 12 or more")
        refuse_both("existing_user_pool", existing_user_pool, "user_pool_props", user_pool_props)
        self.user_pool = existing_user_pool or self._new_user_pool(
            name_prefix=name_prefix,
            self_sign_up=self_sign_up,
            mfa=mfa,
            password_min_length=password_min_length,
            threat_protection=threat_protection,
            deletion_protection=deletion_protection,
            props=user_pool_props,
        )
        client_defaults: dict[str, Any] = dict(
            user_pool_client_name=prefixed(name_prefix, "web"),
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            disable_o_auth=True,  # SRP sign-in only: no hosted-UI OAuth flows or callback URLs
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            # The app may write the user's name, never `email`: the sign-in address changes only through Cognito's
            # verified-attribute flow (keep_original on the pool).
            write_attributes=cognito.ClientAttributes().with_standard_attributes(fullname=True),
        )
        self.user_pool_client = cognito.UserPoolClient(
            self,
            "WebClient",
            user_pool=self.user_pool,
            **merge_props(
                "user_pool_client_props",
                client_defaults,
                user_pool_client_props,
                guards=CLIENT_GUARDS,
                owned={"user_pool": "existing_user_pool"},
                target=cognito.UserPoolClient,
            ),
        )
        self.identity_pool = identitypool.IdentityPool(
            self,
            "Identities",
            identity_pool_name=prefixed(name_prefix, "identities"),
            allow_unauthenticated_identities=False,
            allow_classic_flow=False,
            authentication_providers=identitypool.IdentityPoolAuthenticationProviders(
                user_pools=[
                    identitypool.UserPoolAuthenticationProvider(
                        user_pool=self.user_pool, user_pool_client=self.user_pool_client
                    )
                ]
            ),
        )
        # Identity ids are minted by this pool: a new pool (deleted stack, renamed construct id) would give every
        # user a new id and orphan for good whatever the app keyed by the old one (objects under <prefix><old id>/).
        self.identity_pool.apply_removal_policy(defaults.STATEFUL_REMOVAL_POLICY)
        self.authenticated_role = self.identity_pool.authenticated_role
        acknowledge_role_default_policy(self.authenticated_role)

    def _new_user_pool(
        self,
        *,
        name_prefix: str | None,
        self_sign_up: bool,
        mfa: cognito.Mfa,
        password_min_length: int,
        threat_protection: bool,
        deletion_protection: bool,
        props: Mapping[str, Any] | None,
    ) -> cognito.UserPool:
        secure_defaults: dict[str, Any] = dict(
            user_pool_name=prefixed(name_prefix, "users"),
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            # A changed e-mail takes effect only once verified: until then the user keeps signing in (and recovers
            # the account) with the original, so nobody can move an account to an address they do not own.
            keep_original=cognito.KeepOriginalAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
        )
        pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=self_sign_up,
            password_policy=cognito.PasswordPolicy(
                min_length=password_min_length,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=mfa,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False) if mfa is not cognito.Mfa.OFF else None,
            feature_plan=cognito.FeaturePlan.PLUS if threat_protection else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION
            if threat_protection
            else None,
            deletion_protection=deletion_protection,
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
            **merge_props("user_pool_props", secure_defaults, props, owned=USER_POOL_OWNED, target=cognito.UserPool),
        )
        return pool

    # ---------------------------------------------------------------- grants for authenticated identities
    def grant_own_uploads(self, bucket: SecureBucket | s3.IBucket, *, prefix: str) -> iam.Grant:
        """Let each authenticated identity put objects directly only under `<prefix><its identity id>/`, e.g. with
        ``prefix="private/"`` (exactly s3:PutObject; with a SecureBucket under SSE-KMS, also its key through S3
        only). A direct upload WITHOUT LIMITS: IAM cannot bound object size, count, rate or bytes held, so one
        identity can upload without end at the bucket owner's cost (requests, storage, every downstream consumer).
        Prefer upload grants your API issues within per-user limits (a presigned POST with content-length-range,
        signed by a role holding ``SecureBucket.grant_put_objects``), as this project's stack does; use this only
        where every identity is trusted not to flood the bucket."""
        own_prefix = f"{prefix}{IDENTITY_ID}/"
        if isinstance(bucket, SecureBucket):
            return bucket.grant_put_objects(self.authenticated_role, prefix=own_prefix)
        return iam.Grant.add_to_principal(
            grantee=self.authenticated_role,
            actions=["s3:PutObject"],
            resource_arns=[bucket.arn_for_objects(f"{own_prefix}*")],
        )
