"""SecureServerless-ci: how GitHub Actions reaches this account (OIDC, no stored keys). Deployed once per account and
region by an administrator; the workflows then assume one role per GitHub environment (and one for pull requests).

Each role trusts only GitHub's OIDC tokens for audience sts.amazonaws.com whose `sub` names this repository and that
GitHub environment (or a pull request), lasts at most an hour, and may do one thing: assume the CDK bootstrap roles of
this account and region (deploy, asset publishing, lookup). What a deploy may change is the bootstrap's business
(`cdk bootstrap --cloudformation-execution-policies`), which is why docs/deploying.md recommends an account per
environment.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

from secure_serverless.nag import INLINE_POLICY_RULES, acknowledge, acknowledge_wildcard_resource
from stacks.config import APP_NAME
from stacks.delivery import BOOTSTRAP_ROLES, GITHUB_AUDIENCE, GITHUB_OIDC_HOST, CiSettings

CI_STACK_NAME = "SecureServerless-ci"
PULL_REQUESTS = "pull-requests"
# What pull-request environments are named: stacks SecureServerless-pr-<n>, buckets secsls-pr-<n>[-logs]-<acct>-...
PR_STACK_PATTERN = "SecureServerless-pr-*"
PR_BUCKET_PATTERN = "secsls-pr-*"  # role key and name part of the pull-request role (not a valid GitHub environment)
MAX_SESSION = Duration.hours(1)


class CiStack(Stack):
    """The GitHub OIDC provider (or an existing one) and the deploy roles, each pinned to repository + environment."""

    def __init__(self, scope: Construct, settings: CiSettings, **kwargs: Any) -> None:
        super().__init__(
            scope,
            CI_STACK_NAME,
            stack_name=CI_STACK_NAME,
            description=f"secure-serverless CI deploy roles for GitHub repository {settings.repository} (OIDC)",
            **kwargs,
        )
        Tags.of(self).add("app", APP_NAME)
        self.settings = settings
        if settings.oidc_provider_arn:
            self.provider_arn = settings.oidc_provider_arn
        else:
            provider = iam.OidcProviderNative(
                self, "GitHubOidcProvider", url=f"https://{GITHUB_OIDC_HOST}", client_ids=[GITHUB_AUDIENCE]
            )
            self.provider_arn = provider.oidc_provider_arn
            CfnOutput(self, "OidcProviderArn", value=self.provider_arn)
        subjects = {name: settings.environment_subject(name) for name in settings.environments}
        if settings.pull_requests:
            subjects[PULL_REQUESTS] = settings.pull_request_subject
        self.roles = {name: self._deploy_role(name, subject) for name, subject in subjects.items()}
        self.cleanup_role = self._pull_request_cleanup_role() if settings.pull_requests else None

    def bootstrap_role_arns(self) -> list[str]:
        """The CDK bootstrap roles a deploy assumes, by exact name (no image publishing: no container assets)."""
        q, account, region = self.settings.qualifier, self.account, self.region
        return [
            f"arn:{self.partition}:iam::{account}:role/cdk-{q}-{kind}-role-{account}-{region}"
            for kind in BOOTSTRAP_ROLES
        ]

    def _deploy_role(self, name: str, subject: str) -> iam.Role:
        role = iam.Role(
            self,
            f"Deploy-{name}",
            role_name=f"{APP_NAME}-ci-{name}",
            description=f"GitHub Actions deploys ({subject}); may only assume the CDK bootstrap roles",
            assumed_by=iam.WebIdentityPrincipal(
                self.provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": subject,
                    }
                },
            ),
            max_session_duration=MAX_SESSION,
            inline_policies={
                "AssumeCdkBootstrapRoles": iam.PolicyDocument(
                    statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=self.bootstrap_role_arns())]
                )
            },
        )
        acknowledge(
            role,
            INLINE_POLICY_RULES,
            "One inline policy (sts:AssumeRole on this account's CDK bootstrap roles) that is this role's whole "
            "purpose; as a managed policy it could be attached to other principals.",
        )
        CfnOutput(self, f"RoleArn-{name}", value=role.role_arn, description=f"role-to-assume for {subject}")
        return role

    def _pull_request_cleanup_role(self) -> iam.Role:
        """Empties pull-request environments' buckets before `cdk destroy` (CloudFormation cannot delete a bucket
        that holds objects, access logs included, and the bootstrap roles may not delete them). A role of its own,
        so the deploy roles keep nothing but sts:AssumeRole; same trust as the pull-request deploy role."""
        subject = self.settings.pull_request_subject
        stacks = self.format_arn(service="cloudformation", resource="stack", resource_name=f"{PR_STACK_PATTERN}/*")
        buckets = f"arn:{self.partition}:s3:::{PR_BUCKET_PATTERN}"
        objects = f"{buckets}/*"
        role = iam.Role(
            self,
            "PullRequestCleanup",
            role_name=f"{APP_NAME}-ci-{PULL_REQUESTS}-cleanup",
            description=f"GitHub Actions ({subject}): empty pull-request environments' buckets before destroy",
            assumed_by=iam.WebIdentityPrincipal(
                self.provider_arn,
                conditions={
                    "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE, f"{GITHUB_OIDC_HOST}:sub": subject}
                },
            ),
            max_session_duration=MAX_SESSION,
            inline_policies={
                "EmptyPullRequestBuckets": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(actions=["cloudformation:ListStackResources"], resources=[stacks]),
                        iam.PolicyStatement(actions=["s3:ListBucketVersions"], resources=[buckets]),
                        iam.PolicyStatement(actions=["s3:DeleteObjectVersion"], resources=[objects]),
                    ]
                )
            },
        )
        acknowledge(
            role,
            INLINE_POLICY_RULES,
            "One inline policy (empty pull-request buckets) that is this role's whole purpose; as a managed "
            "policy it could be attached to other principals.",
        )
        reason = (
            "pull-request environments are created per pull request (pr-<n>), so their stack and bucket names are "
            "known only by prefix; exact actions, and only names of the pr- environments"
        )
        for resource in (stacks, buckets, objects):
            acknowledge_wildcard_resource(role, resource, reason)
        CfnOutput(self, "PullRequestCleanupRoleArn", value=role.role_arn, description=f"cleanup role for {subject}")
        return role
