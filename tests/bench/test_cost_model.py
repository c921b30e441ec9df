"""The idle-cost model of bench/cost.py counts what it says it counts (benchmarks print; this checks the model)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_cost", ROOT / "bench" / "cost.py")
assert _spec is not None and _spec.loader is not None
cost = importlib.util.module_from_spec(_spec)
sys.modules["bench_cost"] = cost  # dataclasses look their module up there
_spec.loader.exec_module(cost)


def test_fixed_costs_are_counted_from_the_template() -> None:
    prices = cost.PRICES
    template = {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
            "Xray": {
                "Type": "AWS::EC2::VPCEndpoint",
                "Properties": {"VpcEndpointType": "Interface", "SubnetIds": ["a", "b"]},
            },
            "S3": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Gateway"}},
            "A1": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
            "A2": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
            "Read": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                     "Properties": {"ScalableDimension": "dynamodb:table:ReadCapacityUnits", "MinCapacity": 5}},
            "Write": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                      "Properties": {"ScalableDimension": "dynamodb:index:WriteCapacityUnits", "MinCapacity": 2}},
            "Acl": {"Type": "AWS::WAFv2::WebACL", "Properties": {"Rules": [{}, {}, {}]}},
        }
    }  # fmt: skip
    hours = prices["hours_per_month"]
    result = cost.idle_cost(template)
    assert result["kms keys"] == pytest.approx(prices["kms_key_month"])
    assert result["interface endpoints"] == pytest.approx(2 * prices["interface_endpoint_hour_per_az"] * hours)
    assert result["alarms"] == pytest.approx(2 * prices["cloudwatch_alarm_month"])
    assert result["dashboards"] == 0
    expected_capacity = (5 * prices["dynamodb_rcu_hour"] + 2 * prices["dynamodb_wcu_hour"]) * hours
    assert result["dynamodb minimum capacity"] == pytest.approx(expected_capacity)
    assert result["waf"] == pytest.approx(prices["waf_web_acl_month"] + 3 * prices["waf_rule_month"])


def test_price_table_is_dated() -> None:
    assert cost.PRICES["as_of"] and cost.PRICES["region"]


# --- cost per million uploads (issue 18 item 4) ----------------------------------------------------------------


def test_every_term_has_a_source_and_the_trickle_pays_per_invocation() -> None:
    full, trickle = cost.per_million("full"), cost.per_million("trickle")
    assert [t.name for t in full] == [t.name for t in trickle]
    for term in full + trickle:
        assert term.source.startswith("https://"), term
        assert term.usd >= 0, term
    by_name = {t.name: (f.usd, t.usd) for f, t in zip(full, trickle, strict=True)}
    # A trickle: 3 SQS requests per upload (send, receive, delete), 10x the Lambda requests, every invocation traced.
    assert by_name["SQS requests"] == pytest.approx((1.2 * 0.4, 3.0 * 0.4))
    assert by_name["Lambda requests"][1] == pytest.approx(10 * by_name["Lambda requests"][0])
    assert by_name["X-Ray traces"][1] == pytest.approx(cost.PER["xray_trace_recorded_per_million"])
    # The record's transaction (put, tombstone check, bytes-held and day counters) at 2 units each, the index at 1.
    assert cost.record_write_units() == 9
    assert by_name["DynamoDB writes (on demand)"] == pytest.approx(
        (9 * cost.PER["dynamodb_on_demand_write_per_million"],) * 2
    )
    with pytest.raises(ValueError, match="mode"):
        cost.per_million("burst")


@pytest.mark.parametrize(
    ("rate", "fraction"), [(0.2, 1.0), (1.0, 1.0), (10.0, (1 + 0.45) / 10), (101.0, (1 + 5.0) / 101)]
)
def test_xray_samples_one_invocation_a_second_and_five_percent_more(rate: float, fraction: float) -> None:
    assert cost.xray_traced_fraction(rate) == pytest.approx(fraction)


def test_the_data_key_reuse_period_changes_the_kms_term() -> None:
    short = {t.name: t.usd for t in cost.per_million("full", data_key_reuse_seconds=300)}
    long = {t.name: t.usd for t in cost.per_million("full", data_key_reuse_seconds=3600)}
    assert short["KMS requests"] > long["KMS requests"]


def test_the_idle_cost_counts_pollers_and_key_rotations() -> None:
    template = {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True}},
            "Mapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {}},
        }
    }
    result = cost.idle_cost(template)
    assert result["kms rotations (year 3 on)"] == pytest.approx(2 * cost.PER["kms_rotation_month_per_rotation"])
    polls = cost.ASSUME["idle_pollers"] * cost.MONTH_SECONDS / cost.ASSUME["long_poll_seconds"]
    assert polls == pytest.approx(648_000)
    assert result["idle sqs pollers"] == pytest.approx(polls / 1e6 * cost.PER["sqs_request_per_million"])


def test_docs_show_the_per_million_table_the_model_prints() -> None:
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    begin, end = "<!-- cost-per-million:begin -->\n", "\n<!-- cost-per-million:end -->"
    assert text[text.index(begin) + len(begin) : text.index(end)] == cost.markdown_table()
    totals = [sum(t.usd for t in cost.per_million(mode)) for mode in ("full", "trickle")]
    assert f"{totals[0]:.2f} USD in full batches, {totals[1]:.2f} at a trickle" in text
