"""Environment configuration: presets, suffix/e-mail rules, context parsing. No CDK needed."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import (
    ConfigError,
    EnvironmentConfig,
    build_config,
    configs_from_context,
    parse_suffixes,
    preset_for,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("suffix", ["dev", "prod", "staging", "pr-123", "a", "a1", "feature-x9", "abcdefghijkl"])
def test_good_suffixes(suffix: str) -> None:
    assert parse_suffixes(suffix) == [suffix]


@pytest.mark.parametrize(
    "suffix",
    ["Bad_Name", "Dev", "1dev", "-dev", "dev-", "abcdefghijklm", "pr_1", "pr 1", "", "dév", "pr.1", "a--"],
)
def test_bad_suffixes_name_the_value_and_the_rule(suffix: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_suffixes(suffix)
    message = str(error.value)
    assert repr(suffix) in message
    assert "at most 12 characters" in message and "lowercase letter first" in message


@pytest.mark.parametrize("suffix", ["dev-logs", "prod-logs", "a-logs"])
def test_suffix_that_would_take_another_environments_log_bucket_name_is_refused(suffix: str) -> None:
    # `dev`'s access-log bucket is secsls-dev-logs-...: the suffix `dev-logs` would name its data bucket the same.
    with pytest.raises(ConfigError) as error:
        parse_suffixes(f"dev,{suffix}")
    assert repr(suffix) in str(error.value) and "'-logs'" in str(error.value)


def test_placeholder_alert_email_is_refused_at_deploy_only_where_alarms_matter() -> None:
    assert {s: build_config(s).require_real_alert_email for s in ("dev", "pr-7", "staging", "prod")} == {
        "dev": False,
        "pr-7": False,
        "staging": True,
        "prod": True,
    }


def test_comma_list_is_parsed_in_order_without_duplicates() -> None:
    assert parse_suffixes("dev, staging,prod,dev") == ["dev", "staging", "prod"]


def test_no_env_means_dev() -> None:
    assert parse_suffixes(None) == ["dev"]


def test_one_bad_item_in_a_list_fails_the_whole_list() -> None:
    with pytest.raises(ConfigError, match="'Prod'"):
        parse_suffixes("dev,Prod")


@pytest.mark.parametrize("suffix,preset", [("dev", "dev"), ("staging", "staging"), ("prod", "prod"), ("pr-7", "dev")])
def test_unknown_suffix_uses_dev_preset(suffix: str, preset: str) -> None:
    assert preset_for(suffix) == preset
    assert build_config(suffix).preset == preset


def test_presets_differ_where_the_design_says() -> None:
    dev, staging, prod = build_config("dev"), build_config("staging"), build_config("prod")
    assert dev.destroyable and staging.destroyable and not prod.destroyable
    assert prod.termination_protection and not staging.termination_protection and not dev.termination_protection
    assert prod.private_network and not dev.private_network
    assert prod.log_retention_days > staging.log_retention_days > dev.log_retention_days
    assert prod.api_execution_log_level == "ERROR" and dev.api_execution_log_level == "INFO"
    assert dev.table_read_capacity[0] <= prod.table_read_capacity[0]


def test_config_is_immutable() -> None:
    config = build_config("dev")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.suffix = "prod"  # type: ignore[misc]


def test_names_carry_the_suffix() -> None:
    config = build_config("pr-7")
    assert config.stack_name == "SecureServerless-pr-7"
    assert config.resource_prefix == "secure-serverless-pr-7"
    assert config.bucket_prefix.endswith("pr-7")
    assert config.tags["environment"] == "pr-7"


@pytest.mark.parametrize("email", ["ops@example.com", "first.last+alerts@sub.example.co.uk"])
def test_good_alert_emails(email: str) -> None:
    assert build_config("dev", {"alert_email": email}).alert_email == email


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@example.com", "@example.com", "ops@example.com,x@y.z"])
def test_bad_alert_emails(email: str) -> None:
    with pytest.raises(ConfigError) as error:
        build_config("dev", {"alert_email": email})
    assert "alertEmail" in str(error.value) and repr(email) in str(error.value)


def test_context_overrides_apply_to_every_environment() -> None:
    context = {"env": "dev,prod", "alertEmail": "oncall@example.com", "owner": "team-a", "costCenter": "cc-42"}
    configs = configs_from_context(context.get)
    assert [c.suffix for c in configs] == ["dev", "prod"]
    assert {c.alert_email for c in configs} == {"oncall@example.com"}
    assert {c.tags["owner"] for c in configs} == {"team-a"}
    assert {c.tags["cost-center"] for c in configs} == {"cc-42"}


def test_unknown_override_is_rejected_with_the_allowed_names() -> None:
    with pytest.raises(ConfigError, match="override 'colour'"):
        build_config("dev", {"colour": "blue"})


def test_capacity_rules() -> None:
    with pytest.raises(ConfigError, match="tableReadCapacity"):
        build_config("dev", {"table_read_capacity": (5, 1)})
    with pytest.raises(ConfigError, match="tableTargetUtilizationPercent"):
        build_config("dev", {"table_target_utilization_percent": 99})


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ConfigError):
        EnvironmentConfig(suffix="Bad_Name", preset="dev")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["-c", "env=Bad_Name"], "invalid environment suffix 'Bad_Name'"),
        (["-c", "env=averyveryverylongname"], "at most 12 characters"),
        (["-c", "alertEmail=nope"], "invalid alertEmail 'nope'"),
    ],
)
def test_app_fails_before_synthesis_with_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    """app.py exits 2 with one line on stderr (no traceback) when the CLI passes bad context."""
    context = dict(arg.split("=", 1) for arg in args[1::2])
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(("!!", " !!"))]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


# --------------------------------------------------------------------- WAF: per-identity limit vs managed groups
@pytest.mark.parametrize("suffix", ["dev", "pr-7", "staging", "prod"])
def test_every_preset_has_the_per_identity_limit_and_only_staging_prod_pay_for_managed_groups(suffix: str) -> None:
    config = build_config(suffix)
    assert config.waf_enabled
    assert config.waf_managed_rules == (config.preset in ("staging", "prod"))
    assert 10 <= config.api_identity_rate_limit <= config.api_ip_rate_limit


def test_managed_rule_groups_are_a_separate_choice_from_the_web_acl() -> None:
    assert build_config("dev", {"waf_managed_rules": True}).waf_managed_rules
    assert not build_config("prod", {"waf_managed_rules": False}).waf_managed_rules


@pytest.mark.parametrize("suffix", ["dev", "prod"])
def test_turning_waf_off_is_refused_because_it_is_the_per_identity_limit(suffix: str) -> None:
    with pytest.raises(ConfigError) as error:
        build_config(suffix, {"waf_enabled": False})
    assert "invalid wafEnabled False" in str(error.value) and "per-identity" in str(error.value)


@pytest.mark.parametrize(
    "field,name,value",
    [
        ("api_identity_rate_limit", "apiIdentityRateLimit", 9),
        ("api_ip_rate_limit", "apiIpRateLimit", 2_000_000_001),
        ("api_identity_rate_limit", "apiIdentityRateLimit", True),
        ("api_ip_rate_limit", "apiIpRateLimit", 100.5),
    ],
)
def test_rate_limits_outside_wafs_range_name_the_field(field: str, name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"invalid {name} {value!r}: must be an integer from 10 to 2,000,000,000"):
        build_config("dev", {field: value})


@pytest.mark.parametrize(
    "field,name,value,rule",
    [
        ("upload_max_object_bytes", "uploadMaxObjectBytes", 0, "an integer from 1 to 5 GiB"),
        ("upload_max_object_bytes", "uploadMaxObjectBytes", 5 * 1024**3 + 1, "an integer from 1 to 5 GiB"),
        ("uploads_per_minute", "uploadsPerMinute", True, "an integer from 1 to 10,000"),
        ("uploads_per_day", "uploadsPerDay", 19, "an integer from uploadsPerMinute to 1,000,000"),
        ("upload_max_bytes_held", "uploadMaxBytesHeld", 1024, "an integer from uploadMaxObjectBytes to 5 TiB"),
        ("upload_grant_seconds", "uploadGrantSeconds", 3600, "an integer from 10 to 900"),
    ],
)
def test_upload_limits_outside_their_rule_name_the_field(field: str, name: str, value: object, rule: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"invalid {name} {value!r}: must be {rule}")):
        build_config("dev", {field: value})


@pytest.mark.parametrize("suffix", ["dev", "pr-7", "staging", "prod"])
def test_every_preset_has_consistent_upload_limits(suffix: str) -> None:
    config = build_config(suffix)
    assert 0 < config.upload_max_object_bytes <= config.upload_max_bytes_held
    assert 0 < config.uploads_per_minute <= config.uploads_per_day
