"""SecureServerless-ci: how GitHub Actions reaches one account (OIDC, no stored keys). Deployed once per account and
region by an administrator; it holds only the roles of the trust levels that live in that account.

Trust levels never share an account (with an `accounts` mapping) and never share a bootstrap (always: each has its
own qualifier). Every role trusts only GitHub's OIDC tokens for audience sts.amazonaws.com whose `sub` names this
repository by its immutable ids and one GitHub environment (the diff role: a pull request); staging's and prod's also
require the main workflow on refs/heads/main (`job_workflow_ref`). Each role lasts at most an hour and may assume only
its own qualifier's bootstrap roles, or (prod) create *or* execute the change set of the prod stack, never both.

| role (secure-serverless-ci-...) | GitHub token | may |
|---|---|---|
| pull-request-diff | any pull request of the repository | assume the preview lookup role (read) |
| preview | environment `preview` (required reviewers) | assume the preview deploy/publish/lookup |
| preview-cleanup | environment `preview` | empty `secsls-pr-*` buckets |
| preview-sweeper | environment `preview-sweeper`, sweep wf | preview deploy + lookup, empty buckets |
| staging | environment `staging`, main workflow/main | assume the staging deploy/publish/lookup |
| prod-plan | environment `prod-plan`, main workflow | publish assets, create the change set |
| prod | environment `prod` (reviewers), main wf | execute the change set, lookup (smoke) |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

from secure_serverless.nag import INLINE_POLICY_RULES, acknowledge, acknowledge_wildcard_resource
from stacks.config import APP_NAME
from stacks.delivery import (
    GITHUB_AUDIENCE,
    GITHUB_OIDC_HOST,
    PREVIEW_ENVIRONMENT,
    SWEEP_WORKFLOW,
    SWEEPER_ENVIRONMENT,
    TRUST_LEVELS,
    CiSettings,
)

CI_STACK_NAME = "SecureServerless-ci"
# What pull-request environments are named: stacks SecureServerless-pr-<n>, buckets secsls-pr-<n>[-logs]-<acct>-...
PR_STACK_PATTERN = "SecureServerless-pr-*"
PR_BUCKET_PATTERN = "secsls-pr-*"
PROD_STACK = "SecureServerless-prod"
PROD_PLAN_ENVIRONMENT = "prod-plan"
MAX_SESSION = Duration.hours(1)


@dataclass(frozen=True)
class RoleSpec:
    """One CI role: its name, the GitHub token it trusts, and its one inline policy."""

    name: str
    subject: str
    workflow_ref: str | None
    policy_name: str
    statements: Sequence[iam.PolicyStatement]
    wildcard_resources: Sequence[str] = ()


class CiStack(Stack):
    """The GitHub OIDC provider (or an existing one) and the roles of `levels` (trust levels held in this account)."""

    def __init__(
        self,
        scope: Construct,
        settings: CiSettings,
        *,
        levels: Sequence[str],
        construct_id: str = CI_STACK_NAME,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=CI_STACK_NAME,
            description=(
                f"secure-serverless CI roles ({', '.join(levels)}) for GitHub repository {settings.repository} (OIDC)"
            ),
            **kwargs,
        )
        Tags.of(self).add("app", APP_NAME)
        unknown = set(levels) - set(TRUST_LEVELS)
        if unknown:
            raise ValueError(f"unknown trust levels {sorted(unknown)}")
        self.settings = settings
        self.levels = tuple(levels)
        if settings.oidc_provider_arn:
            self.provider_arn = settings.oidc_provider_arn
        else:
            provider = iam.OidcProviderNative(
                self, "GitHubOidcProvider", url=f"https://{GITHUB_OIDC_HOST}", client_ids=[GITHUB_AUDIENCE]
            )
            self.provider_arn = provider.oidc_provider_arn
            CfnOutput(self, "OidcProviderArn", value=self.provider_arn)
        specs: list[RoleSpec] = []
        if "preview" in levels and settings.previews:
            specs += self._preview_roles()
        if "staging" in levels:
            specs.append(self._staging_role())
        if "prod" in levels:
            specs += self._prod_roles()
        self.roles = {spec.name: self._role(spec) for spec in specs}

    # --- ARNs of this account's bootstrap -------------------------------------------------------------------------
    def bootstrap_role_arn(self, level: str, kind: str) -> str:
        q, account, region = self.settings.qualifiers[level], self.account, self.region
        return f"arn:{self.partition}:iam::{account}:role/cdk-{q}-{kind}-role-{account}-{region}"

    def _assume(self, level: str, *kinds: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            actions=["sts:AssumeRole"], resources=[self.bootstrap_role_arn(level, kind) for kind in kinds]
        )

    def _empty_preview_buckets(self) -> tuple[list[iam.PolicyStatement], list[str]]:
        stacks = self.format_arn(service="cloudformation", resource="stack", resource_name=f"{PR_STACK_PATTERN}/*")
        buckets = f"arn:{self.partition}:s3:::{PR_BUCKET_PATTERN}"
        objects = f"{buckets}/*"
        statements = [
            iam.PolicyStatement(actions=["cloudformation:ListStackResources"], resources=[stacks]),
            iam.PolicyStatement(actions=["s3:ListBucketVersions"], resources=[buckets]),
            iam.PolicyStatement(actions=["s3:DeleteObjectVersion"], resources=[objects]),
        ]
        return statements, [stacks, buckets, objects]

    # --- the roles of each trust level ------------------------------------------------------------------------------
    def _preview_roles(self) -> list[RoleSpec]:
        s = self.settings
        preview = s.environment_subject(PREVIEW_ENVIRONMENT)
        empty, wildcards = self._empty_preview_buckets()
        return [
            RoleSpec(
                "pull-request-diff",
                s.pull_request_subject,
                None,
                "AssumePreviewLookupRole",
                [self._assume("preview", "lookup")],
            ),
            RoleSpec(
                "preview",
                preview,
                None,
                "AssumePreviewBootstrapRoles",
                [self._assume("preview", "deploy", "file-publishing", "lookup")],
            ),
            RoleSpec("preview-cleanup", preview, None, "EmptyPreviewBuckets", empty, wildcards),
            RoleSpec(
                "preview-sweeper",
                s.environment_subject(SWEEPER_ENVIRONMENT),
                s.workflow_ref(SWEEP_WORKFLOW),
                "SweepClosedPreviews",
                [
                    self._assume("preview", "deploy", "lookup"),
                    iam.PolicyStatement(actions=["cloudformation:ListStacks"], resources=["*"]),
                    *empty,
                ],
                [*wildcards, "*"],
            ),
        ]

    def _staging_role(self) -> RoleSpec:
        s = self.settings
        return RoleSpec(
            "staging",
            s.environment_subject("staging"),
            s.workflow_ref(),
            "AssumeStagingBootstrapRoles",
            [self._assume("staging", "deploy", "file-publishing", "lookup")],
        )

    def _prod_roles(self) -> list[RoleSpec]:
        """prod-plan publishes the assets and creates the change set (before approval); prod executes it (after).
        Neither holds the bootstrap deploy role, which could do both."""
        s, q, account, region, partition = self.settings, self.settings.qualifiers["prod"], *self._where()
        stack = self.format_arn(service="cloudformation", resource="stack", resource_name=f"{PROD_STACK}/*")
        exec_role = f"arn:{partition}:iam::{account}:role/cdk-{q}-cfn-exec-role-{account}-{region}"
        assets = f"arn:{partition}:s3:::cdk-{q}-assets-{account}-{region}/*"
        version = f"arn:{partition}:ssm:{region}:{account}:parameter/cdk-bootstrap/{q}/version"
        plan = [
            self._assume("prod", "file-publishing", "lookup"),
            iam.PolicyStatement(
                actions=[
                    "cloudformation:CreateChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:DescribeStacks",
                    "cloudformation:GetTemplate",
                ],
                resources=[stack],
            ),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[exec_role],
                conditions={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
            ),
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[assets]),
            iam.PolicyStatement(actions=["ssm:GetParameters"], resources=[version]),
        ]
        execute = [
            self._assume("prod", "lookup"),
            iam.PolicyStatement(
                actions=[
                    "cloudformation:ExecuteChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                ],
                resources=[stack],
            ),
        ]
        return [
            RoleSpec(
                "prod-plan",
                s.environment_subject(PROD_PLAN_ENVIRONMENT),
                s.workflow_ref(),
                "PlanProdChangeSet",
                plan,
                [stack, assets],
            ),
            RoleSpec("prod", s.environment_subject("prod"), s.workflow_ref(), "ExecuteProdChangeSet", execute, [stack]),
        ]

    def _where(self) -> tuple[str, str, str]:
        return self.account, self.region, self.partition

    def trust_conditions(self, spec: RoleSpec) -> dict[str, dict[str, str]]:
        """Exact audience and subject; for staging, prod and the sweeper also the workflow file and ref
        (`job_workflow_ref`, a key AWS STS validates for GitHub since 2026-02: a token without it is refused)."""
        equals = {f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE, f"{GITHUB_OIDC_HOST}:sub": spec.subject}
        if spec.workflow_ref:
            equals[f"{GITHUB_OIDC_HOST}:job_workflow_ref"] = spec.workflow_ref
        return {"StringEquals": equals}

    def _role(self, spec: RoleSpec) -> iam.Role:
        role = iam.Role(
            self,
            f"Role-{spec.name}",
            role_name=f"{APP_NAME}-ci-{spec.name}",
            description=f"GitHub Actions ({spec.subject}): {spec.policy_name}",
            assumed_by=iam.WebIdentityPrincipal(self.provider_arn, conditions=self.trust_conditions(spec)),
            max_session_duration=MAX_SESSION,
            inline_policies={spec.policy_name: iam.PolicyDocument(statements=list(spec.statements))},
        )
        acknowledge(
            role,
            INLINE_POLICY_RULES,
            f"One inline policy ({spec.policy_name}) that is this role's whole purpose; as a managed policy it "
            "could be attached to other principals.",
        )
        reason = (
            "pull-request environments (pr-<n>) are known only by prefix, and a change set's or an asset's name only "
            "at deploy time; exact actions, and only names of this project's preview or prod resources "
            "(cloudformation:ListStacks, for the sweeper, supports no resource narrower than *)"
        )
        for resource in spec.wildcard_resources:
            acknowledge_wildcard_resource(role, resource, reason)
        CfnOutput(self, f"RoleArn-{spec.name}", value=role.role_arn, description=f"role-to-assume for {spec.subject}")
        return role
