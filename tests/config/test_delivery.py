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


IDS = {"ciRepository": "acme/shop", "ciRepositoryOwnerId": "5001", "ciRepositoryId": "7002"}


def test_ci_settings_default_to_immutable_id_subjects_and_a_qualifier_per_trust_level() -> None:
    settings = ci_settings_from_context(_context(**IDS))
    assert settings == CiSettings(repository="acme/shop", owner_id="5001", repository_id="7002")
    assert settings.qualifiers == {"preview": "hnb659fds", "staging": "secslsstg", "prod": "secslsprd"}
    assert settings.environment_subject("prod") == "repo:acme@5001/shop@7002:environment:prod"
    assert settings.pull_request_subject == "repo:acme@5001/shop@7002:pull_request"
    assert settings.workflow_ref() == "acme/shop/.github/workflows/main.yml@refs/heads/main"
    assert settings.previews is False  # one account: previews only when explicitly enabled


def test_previews_default_on_only_with_an_account_of_their_own() -> None:
    assert ci_settings_from_context(_context(**IDS), separate_preview_account=True).previews is True
    assert ci_settings_from_context(_context(**IDS, ciPreviews="true")).previews is True
    assert ci_settings_from_context(_context(**IDS, ciPreviews=False), separate_preview_account=True).previews is False


def test_the_name_only_subject_is_an_explicit_opt_in() -> None:
    settings = ci_settings_from_context(_context(ciRepository="acme/shop", ciSubjectForm="name"))
    assert settings.environment_subject("staging") == "repo:acme/shop:environment:staging"


def test_ci_settings_read_every_key() -> None:
    arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    qualifiers = {"preview": "pv1", "staging": "st1", "prod": "pr1"}
    settings = ci_settings_from_context(
        _context(**IDS, ciQualifiers=json.dumps(qualifiers), ciPreviews="true", ciOidcProviderArn=arn)
    )
    assert settings == CiSettings("acme/shop", "5001", "7002", "immutable", qualifiers, True, arn)


@pytest.mark.parametrize(
    "key,value,field",
    [
        ("ciRepository", None, "ciRepository"),
        ("ciRepository", "acme/*", "ciRepository"),
        ("ciRepository", "acme", "ciRepository"),
        ("ciRepository", "*/shop", "ciRepository"),
        ("ciRepository", "acme/shop:environment:prod", "ciRepository"),
        ("ciRepository", "acme@5001/shop@7002", "ciRepository"),
        ("ciRepository", "acme/..", "ciRepository"),
        ("ciRepositoryOwnerId", None, "ciRepositoryOwnerId"),
        ("ciRepositoryOwnerId", "acme", "ciRepositoryOwnerId"),
        ("ciRepositoryId", "7002*", "ciRepositoryId"),
        ("ciRepositoryId", "0", "ciRepositoryId"),
        ("ciSubjectForm", "names", "ciSubjectForm"),
        ("ciQualifiers", '{"preview": "a", "staging": "a", "prod": "b"}', "ciQualifiers"),
        ("ciQualifiers", '{"staging": "a", "prod": "b"}', "ciQualifiers"),
        ("ciQualifiers", "{not json", "ciQualifiers"),
        ("ciQualifiers", '{"preview": "Has-Dash", "staging": "a", "prod": "b"}', "ciQualifiers.preview"),
        ("ciQualifiers", '{"preview": "elevenchars", "staging": "a", "prod": "b"}', "ciQualifiers.preview"),
        ("ciPreviews", "maybe", "ciPreviews"),
        ("ciOidcProviderArn", "arn:aws:iam::123456789012:oidc-provider/example.com", "ciOidcProviderArn"),
    ],
)
def test_bad_ci_values_name_the_field_and_the_rule(key: str, value: object, field: str) -> None:
    context = {**IDS, key: value}
    with pytest.raises(ConfigError) as error:
        ci_settings_from_context(context.get)
    assert error.value.field_name == field
    assert str(error.value).startswith(f"invalid {field} ") and ": must be " in str(error.value)


@pytest.mark.parametrize(
    "mapping",
    [
        {"dev": "111111111111", "prod": "111111111111"},
        {"pr-7": "111111111111", "staging": "111111111111"},
        {"staging": "111111111111", "prod": "111111111111"},
    ],
)
def test_two_trust_levels_never_share_an_account(mapping: dict[str, str]) -> None:
    value = {name: {"account": account, "region": "eu-west-1"} for name, account in mapping.items()}
    with pytest.raises(ConfigError) as error:
        parse_accounts(value, REGIONS)
    assert str(error.value).endswith(
        "must be one trust level per account (previews and dev; staging; prod never share an account)"
    )
    assert "111111111111" in str(error.value)


def test_previews_and_dev_may_share_their_account() -> None:
    value = {n: {"account": "111111111111", "region": "eu-west-1"} for n in ("dev", "pr-7", "qa")}
    assert len(parse_accounts(value, REGIONS)) == 3


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
            {"accounts": '{"prod": {"account": "12345", "region": "eu-west-1"}}', **IDS},
            "secure-serverless: invalid accounts.prod.account '12345': must be 12 digits",
        ),
        (
            {"ciRepository": "acme/*"},
            "secure-serverless: invalid ciRepository 'acme/*': must be owner/name of one GitHub repository",
        ),
        (
            {
                **IDS,
                "accounts": '{"dev": {"account": "111111111111", "region": "eu-west-1"}, '
                '"prod": {"account": "111111111111", "region": "eu-west-1"}}',
            },
            "secure-serverless: invalid accounts 'dev, prod in 111111111111': must be one trust level per account",
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
