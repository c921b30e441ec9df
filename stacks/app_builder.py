"""Build the CDK app from its context: shared by app.py, the tests and the benchmarks."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk.region_info import RegionInfo
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from secure_serverless import acknowledge_opt_in_packs
from stacks.account_stack import ACCOUNT_STACK_NAME, AccountStack
from stacks.cfn_validate_plugin import EarlyCloudFormationValidate, start_cloudformation_validation
from stacks.ci_stack import CI_STACK_NAME, CiStack
from stacks.config import EnvironmentConfig, configs_from_context
from stacks.delivery import (
    DEFAULT_QUALIFIERS,
    TRUST_LEVELS,
    AccountTarget,
    CiSettings,
    ci_settings_from_context,
    parse_accounts,
    target_for,
    trust_level,
)
from stacks.guard_plugin import EarlyGuardCliCredentialsSynthesizer, EarlyGuardSynthesizer, guard_validator, register
from stacks.secure_serverless_stack import SecureServerlessStack

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def cdk_json_context(**overrides: Any) -> dict[str, Any]:
    """cdk.json's context (feature flags, defaults) as the CLI would pass it, plus `overrides`.

    For apps built outside the CLI (tests, benchmarks): without it they would miss the feature flags.
    """
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    cli_defaults = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}
    return {**cli_defaults, **context, **overrides}


def deployment_environment() -> cdk.Environment | None:
    """Account/region from the CDK CLI when it knows them; None synthesizes an environment-agnostic template."""
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    return cdk.Environment(account=account, region=region) if account and region else None


def account_targets(app: cdk.App) -> dict[str, AccountTarget]:
    """The validated `accounts` context (environment suffix or preset -> account and region); {} when unset."""
    value = app.node.try_get_context("accounts")
    if value is None or value == "":
        return {}  # without a mapping, no region list to build (one jsii round trip per region: ~0.1 s per synth)
    return parse_accounts(value, {region.name for region in RegionInfo.regions})


def synthesizer(qualifiers: Mapping[str, str], level: str) -> cdk.DefaultStackSynthesizer:
    """The bootstrap of `level`'s own qualifier: its deploy, publishing and lookup roles, its assets bucket. (It
    starts cfn-guard on the template as soon as it is written: stacks/guard_plugin.py.)"""
    return EarlyGuardSynthesizer(qualifier=qualifiers[level])


def administrator_synthesizer(qualifiers: Mapping[str, str], level: str) -> cdk.CliCredentialsStackSynthesizer:
    """For the CI stacks: deployed with the administrator's own credentials, not through the bootstrap's roles. The
    bootstrap's CloudFormation execution role could not create them anyway: its boundary refuses a role without the
    boundary and any change to `secure-serverless-ci-*` roles and the `SecureServerless-ci` stack (bootstrap/), and
    CI must never be able to change its own roles. Assets (the template) still go to `level`'s bootstrap bucket."""
    return EarlyGuardCliCredentialsSynthesizer(qualifier=qualifiers[level])


def boundary_name(qualifier: str) -> str:
    """The permissions boundary `make bootstrap` creates for a qualifier (tools/bootstrap.py, same name)."""
    return f"secure-serverless-{qualifier}-boundary"


def apply_boundary(stack: cdk.Stack, qualifier: str) -> None:
    """Every role of `stack` carries its trust level's boundary: the boundary on the CloudFormation execution role
    refuses to create or change a role without it."""
    iam.PermissionsBoundary.of(stack).apply(
        iam.ManagedPolicy.from_managed_policy_name(stack, "PermissionsBoundary", boundary_name(qualifier))
    )


def add_stacks(
    app: cdk.App,
    configs: list[EnvironmentConfig],
    targets: dict[str, AccountTarget] | None = None,
    qualifiers: Mapping[str, str] = DEFAULT_QUALIFIERS,
) -> list[SecureServerlessStack]:
    """One SecureServerlessStack per environment config, in its mapped account/region (else the CLI's), through its
    trust level's bootstrap qualifier, each depending on the account-level stack of that account/region (if managed).
    The account stack goes through the qualifier of the most trusted level of its account (an administrator deploys
    it, like the CI stack; CI deploys one environment with --exclusively)."""
    targets = targets or {}
    mapped = {c.suffix: target_for(c.suffix, c.preset, targets) for c in configs}
    envs = {
        suffix: cdk.Environment(account=t.account, region=t.region) if t else deployment_environment()
        for suffix, t in mapped.items()
    }
    stacks = [
        SecureServerlessStack(
            app, config, env=envs[config.suffix], synthesizer=synthesizer(qualifiers, trust_level(config.preset))
        )
        for config in configs
    ]
    for stack in stacks:
        apply_boundary(stack, qualifiers[trust_level(stack.config.preset)])
    if app.node.try_get_context("apiGatewayAccount") not in (False, "false"):
        accounts: dict[str, AccountStack] = {}
        for stack in stacks:
            target = mapped[stack.config.suffix]
            # The CLI's account keeps the historical construct id; each mapped account/region gets its own stack.
            key = f"{ACCOUNT_STACK_NAME}-{target.account}-{target.region}" if target else ACCOUNT_STACK_NAME
            if key not in accounts:
                level = trust_level(stack.config.preset) if target else "prod"
                accounts[key] = AccountStack(
                    app, key, env=envs[stack.config.suffix], synthesizer=synthesizer(qualifiers, level)
                )
                apply_boundary(accounts[key], qualifiers[level])
            stack.add_stack_dependency(
                accounts[key], "API Gateway needs the account's CloudWatch Logs role before stage logging"
            )
    return stacks


def add_ci_stacks(app: cdk.App, settings: CiSettings, targets: Mapping[str, AccountTarget]) -> list[CiStack]:
    """Deployed once per account and region by an administrator (`cdk deploy <id>`, with the administrator's own
    credentials: administrator_synthesizer): with a mapping, one per mapped
    account and region (`SecureServerless-ci-<account>-<region>`) holding only that account's trust level; without
    one, `SecureServerless-ci` in the CLI's account with staging, prod and (if ciPreviews=true) preview roles."""
    if not targets:
        return [
            CiStack(
                app,
                settings,
                levels=TRUST_LEVELS,
                env=deployment_environment(),
                synthesizer=administrator_synthesizer(settings.qualifiers, "prod"),
            )
        ]
    held: dict[tuple[str, str], str] = {}
    for name, target in targets.items():
        held[(target.account, target.region)] = trust_level(name)  # parse_accounts: one level per account
    return [
        CiStack(
            app,
            settings,
            levels=(level,),
            construct_id=f"{CI_STACK_NAME}-{account}-{region}",
            env=cdk.Environment(account=account, region=region),
            synthesizer=administrator_synthesizer(settings.qualifiers, level),
        )
        for (account, region), level in sorted(held.items())
    ]


def new_app(**props: Any) -> cdk.App:
    """A `cdk.App` for `build_app`: without aws-cdk-lib's built-in CloudFormation validation, which `build_app` adds
    as its own early, out-of-process plugin instead (stacks/cfn_validate_plugin.py); with the built-in one too, every
    template would be validated twice. No tree.json: nothing here reads it (deploys use the manifest and templates),
    and writing the construct tree with each construct's jsii type info is a measurable part of every synth."""
    return cdk.App(builtin_cloud_formation_validation=False, tree_metadata=False, **props)


def start_validation(app: cdk.App) -> EarlyCloudFormationValidate:
    """CDK's CloudFormation validation (resource schemas, cfn-lint's template rules, aws-cdk-lib's default Rego rules:
    the built-in plugin's engine and rules) in a `node` worker started now, fed each template as it is written
    (stacks/cfn_validate_plugin.py): inside the jsii kernel it was most of this app's synth time. First thing in a
    build, so that the engine builds while the stacks are made; `add_validation_plugins` registers it."""
    return start_cloudformation_validation(app)


def add_validation_plugins(app: cdk.App, cloudformation: EarlyCloudFormationValidate | None) -> None:
    """The app's validation plugins, in the order CDK runs them: the nag packs (inside the jsii kernel, on its one
    thread, while the CloudFormation worker and cfn-guard finish on the other core), the CloudFormation validation
    (unless None), cfn-guard with the Control Tower rules."""
    add_nag_packs(app)
    if cloudformation is not None:
        cdk.Validations.of(app).add_plugins(cloudformation)
    add_guard_rules(app)


def add_nag_packs(app: cdk.App) -> None:
    """cdk-nag 3.x packs as policy-validation plugins: any unacknowledged finding fails the synth."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    # The tests add the compliance packs (HIPAA, NIST 800-53 R5, PCI DSS 3.2.1) on every environment: this app opts in.
    acknowledge_opt_in_packs(app, compliance=True, guard=False)


def add_guard_rules(app: cdk.App) -> None:
    """cfn-guard with AWS Control Tower's proactive-control rules, a second policy-validation plugin: any failing
    rule fails the synth unless acknowledged on its resource (`cdk-validator-cfnguard::<rule>`, with a reason).
    Only the rule files of the resource types in the templates (stacks/guard_rules.py), run per template and service
    as each template is written (stacks/guard_plugin.py): the upstream plugin's findings in a fraction of its time."""
    register(app, guard_validator())
    acknowledge_opt_in_packs(app, compliance=False, guard=True)


def build_app(app: cdk.App, *, cloudformation_validation: bool = True) -> cdk.App:
    """Stacks for every `-c env=` suffix and the CI deploy-role stack, all validated first, plus CDK's CloudFormation
    validation (unless `cloudformation_validation` is False: tools that only read templates), the nag packs and the
    Control Tower rules (cfn-guard)."""
    configs = configs_from_context(app.node.try_get_context)
    cloudformation = start_validation(app) if cloudformation_validation else None
    targets = account_targets(app)
    ci_settings = ci_settings_from_context(app.node.try_get_context, separate_preview_account=bool(targets))
    add_stacks(app, configs, targets, ci_settings.qualifiers)
    add_ci_stacks(app, ci_settings, targets)
    add_validation_plugins(app, cloudformation)
    return app


def synthesize(suffixes: list[str], outdir: str, validation: bool = True) -> cdk.cx_api.CloudAssembly:
    """Build the real app for `suffixes` (nag packs on) outside the CLI and synthesize it once into `outdir`."""
    app = new_app(outdir=outdir, context=cdk_json_context(env=",".join(suffixes)))
    build_app(app, cloudformation_validation=validation)
    return app.synth()
