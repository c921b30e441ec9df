"""The docs say what the code does: the README's architecture picture and the preset table come from the real thing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacks.config import build_config
from tests.support.docs import DOCS, page
from tools.diagram import BEGIN, END, mermaid, readme_block

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CONFIGURATION = page("configuration.md")


def test_architecture_picture_matches_the_synthesized_prod_template(templates: dict) -> None:
    block = README[README.index(BEGIN) : README.index(END) + len(END)]
    assert block == readme_block(mermaid(templates["prod"])), "run `make diagram` and commit the README"


def test_picture_lists_every_component_of_the_template(templates: dict) -> None:
    components = {
        r["Metadata"]["aws:cdk:path"].split("/")[1]
        for r in templates["prod"]["Resources"].values()
        if r["Type"] != "AWS::CDK::Metadata"
    }
    for component in components:
        assert f'    {component}["{component}' in README


def _row(label: str) -> list[str]:
    (line,) = [line for line in CONFIGURATION.splitlines() if line.startswith(f"| {label} |")]
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


@pytest.mark.parametrize(
    "label,field",
    [
        ("`log_retention_days`", "log_retention_days"),
        ("`access_log_retention_days`", "access_log_retention_days"),
        ("`noncurrent_version_expiration_days`", "noncurrent_version_expiration_days"),
        ("`table_target_utilization_percent`", "table_target_utilization_percent"),
    ],
)
def test_preset_table_numbers_are_the_configs(label: str, field: str) -> None:
    assert _row(label) == [str(getattr(build_config(s), field)) for s in ("dev", "staging", "prod")]


def test_preset_table_rows_with_several_values() -> None:
    for suffix, cell in zip(("dev", "staging", "prod"), _row("API throttling rate / burst"), strict=True):
        config = build_config(suffix)
        assert cell == f"{config.api_throttle_rate_limit} / {config.api_throttle_burst_limit}"
    for suffix, cell in zip(("dev", "staging", "prod"), _row("API execution log level"), strict=True):
        assert cell == build_config(suffix).api_execution_log_level
    for suffix, cell in zip(("dev", "staging", "prod"), _row("alarm period"), strict=True):
        assert cell == f"{build_config(suffix).alarm_period_minutes} min"
    for suffix, cell in zip(("dev", "staging", "prod"), _row("table read / write capacity (min, max)"), strict=True):
        config = build_config(suffix)
        assert cell == f"{config.table_read_capacity} / {config.table_write_capacity}"
    for suffix, cell in zip(("dev", "staging", "prod"), _row("private network (VPC, endpoints)"), strict=True):
        assert cell == ("on" if build_config(suffix).private_network else "off")
    for suffix, cell in zip(
        ("dev", "staging", "prod"), _row("WAF web ACL (`waf_enabled`: rate and size rules)"), strict=True
    ):
        assert cell == ("on" if build_config(suffix).waf_enabled else "off")
    for suffix, cell in zip(
        ("dev", "staging", "prod"), _row("WAF AWS managed rule groups (`waf_managed_rules`)"), strict=True
    ):
        assert cell == ("on" if build_config(suffix).waf_managed_rules else "off")
    label = "WAF per-identity / per-IP limit, requests per 5 min (`api_identity_rate_limit` / `api_ip_rate_limit`)"
    for suffix, cell in zip(("dev", "staging", "prod"), _row(label), strict=True):
        config = build_config(suffix)
        assert cell == f"{config.api_identity_rate_limit} / {config.api_ip_rate_limit}"


def test_api_limits_table_states_total_per_identity_and_per_ip_limits_of_every_preset() -> None:
    """Issue 11 item 2: the configuration reference states the per-identity and total limits per preset."""
    rows = {
        "**total** (stage throttling, all callers together)": lambda c: (
            f"{c.api_throttle_rate_limit} / {c.api_throttle_burst_limit}"
        ),
        "**per identity** (WAF rate rule keyed on the SigV4 `x-amz-security-token` header)": lambda c: str(
            c.api_identity_rate_limit
        ),
        "**per IP** (WAF rate rule on the source address)": lambda c: str(c.api_ip_rate_limit),
    }
    for label, expected in rows.items():
        cells = _row(label)[1:]
        assert cells == [expected(build_config(s)) for s in ("dev", "staging", "prod")], label


def test_readme_names_both_setup_commands_that_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("make test", "make synth"):
        assert command in README and command in ci
    assert re.search(r"make synth\s+# set everything up", README)


def test_readme_is_a_short_front_page_that_links_every_docs_page() -> None:
    assert len(README.splitlines()) <= 150
    for doc in DOCS.glob("*.md"):
        if doc.name != "index.md":
            assert f"(docs/{doc.name})" in README, f"link docs/{doc.name} from the README's 'Where to go next'"


@pytest.mark.parametrize("document", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(document: Path) -> None:
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.DOTALL)
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    broken = [t for t in targets if "://" not in t and not (document.parent / t).exists()]
    assert broken == []
