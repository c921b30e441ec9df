"""Delivery settings: the CI stack's context (repository, qualifier, environments) and the account mapping. No CDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import ConfigError
from stacks.delivery import AccountTarget, CiSettings, ci_settings_from_context, parse_accounts, target_for

ROOT = Path(__file__).resolve().parents[2]
REGIONS = {"eu-west-1", "us-east-1"}


def _context(**values: object):
    return lambda key: values.get(key)


def test_ci_settings_defaults_and_subjects() -> None:
    settings = ci_settings_from_context(_context(ciRepository="acme/shop"))
    assert settings == CiSettings(repository="acme/shop", qualifier="hnb659fds", environments=("staging", "prod"))
    assert settings.environment_subject("prod") == "repo:acme/shop:environment:prod"
    assert settings.pull_request_subject == "repo:acme/shop:pull_request"


def test_ci_settings_read_every_key() -> None:
    arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    settings = ci_settings_from_context(
        _context(
            ciRepository="acme/shop.api",
            ciQualifier="team1",
            ciEnvironments="prod, prod,qa",
            ciPullRequests="false",
            ciOidcProviderArn=arn,
        )
    )
    assert settings == CiSettings("acme/shop.api", "team1", ("prod", "qa"), False, arn)


def test_ci_qualifier_falls_back_to_the_apps_bootstrap_qualifier() -> None:
    context = _context(ciRepository="acme/shop", **{"@aws-cdk/core:bootstrapQualifier": "abc123"})
    assert ci_settings_from_context(context).qualifier == "abc123"


@pytest.mark.parametrize(
    "key,value,field",
    [
        ("ciRepository", None, "ciRepository"),
        ("ciRepository", "acme/*", "ciRepository"),
        ("ciRepository", "acme", "ciRepository"),
        ("ciRepository", "*/shop", "ciRepository"),
        ("ciRepository", "acme/shop:environment:prod", "ciRepository"),
        ("ciRepository", "acme/..", "ciRepository"),
        ("ciQualifier", "Has-Dash", "ciQualifier"),
        ("ciQualifier", "elevenchars", "ciQualifier"),
        ("ciEnvironments", "prod,Prod*", "ciEnvironments"),
        ("ciPullRequests", "maybe", "ciPullRequests"),
        ("ciOidcProviderArn", "arn:aws:iam::123456789012:oidc-provider/example.com", "ciOidcProviderArn"),
    ],
)
def test_bad_ci_values_name_the_field_and_the_rule(key: str, value: object, field: str) -> None:
    context = {"ciRepository": "acme/shop", key: value}
    with pytest.raises(ConfigError) as error:
        ci_settings_from_context(context.get)
    assert error.value.field_name == field
    assert str(error.value).startswith(f"invalid {field} ") and ": must be " in str(error.value)


def test_accounts_mapping_parses_objects_and_json_strings() -> None:
    mapping = {
        "prod": {"account": "111111111111", "region": "eu-west-1"},
        "dev": {"account": "222222222222", "region": "us-east-1"},
    }
    expected = {"prod": AccountTarget("111111111111", "eu-west-1"), "dev": AccountTarget("222222222222", "us-east-1")}
    assert parse_accounts(mapping, REGIONS) == expected
    assert parse_accounts(json.dumps(mapping), REGIONS) == expected
    assert parse_accounts(None, REGIONS) == {}


def test_target_for_prefers_the_suffix_then_the_preset() -> None:
    targets = {"dev": AccountTarget("222222222222", "us-east-1"), "pr-7": AccountTarget("333333333333", "us-east-1")}
    assert target_for("pr-7", "dev", targets) == targets["pr-7"]
    assert target_for("pr-8", "dev", targets) == targets["dev"]
    assert target_for("prod", "prod", targets) is None


@pytest.mark.parametrize(
    "value,field",
    [
        ({"prod": {"account": "11111111111", "region": "eu-west-1"}}, "accounts.prod.account"),
        ({"prod": {"account": 111111111111, "region": "eu-west-1"}}, "accounts.prod.account"),
        ({"prod": {"account": "1111111111a1", "region": "eu-west-1"}}, "accounts.prod.account"),
        ({"prod": {"account": "111111111111", "region": "eu-west-9"}}, "accounts.prod.region"),
        ({"prod": {"account": "111111111111"}}, "accounts.prod"),
        ({"prod": {"account": "111111111111", "region": "eu-west-1", "profile": "x"}}, "accounts.prod"),
        ({"Prod": {"account": "111111111111", "region": "eu-west-1"}}, "accounts key"),
        ("{not json", "accounts"),
        ('["prod"]', "accounts"),
    ],
)
def test_bad_account_mapping_names_the_field_and_the_rule(value: object, field: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_accounts(value, REGIONS)
    assert error.value.field_name == field


@pytest.mark.parametrize(
    "context,message",
    [
        (
            {"accounts": '{"prod": {"account": "12345", "region": "eu-west-1"}}', "ciRepository": "acme/shop"},
            "secure-serverless: invalid accounts.prod.account '12345': must be 12 digits",
        ),
        (
            {"ciRepository": "acme/*"},
            "secure-serverless: invalid ciRepository 'acme/*': must be owner/name of one GitHub repository",
        ),
    ],
)
def test_app_fails_in_one_line_before_synthesis(context: dict, message: str, tmp_path: Path) -> None:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"env": "prod", **context}), "CDK_OUTDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(("!!", " !!"))]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert not list(tmp_path.glob("*.template.json"))
