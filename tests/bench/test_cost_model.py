"""The idle-cost model of bench/cost.py counts what it says it counts (benchmarks print; this checks the model)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_cost", ROOT / "bench" / "cost.py")
assert _spec is not None and _spec.loader is not None
cost = importlib.util.module_from_spec(_spec)
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
