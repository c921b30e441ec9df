"""Fixed monthly cost of an idle environment per preset, from the synthesized templates and bench/prices.json.

Run: `make bench` or `PATH=node_modules/.bin:$PATH .venv/bin/python bench/cost.py`. Prints one table; no
assertions. What a new `pr-123` environment costs before you deploy it is its preset's (dev) line.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRICES = json.loads((ROOT / "bench" / "prices.json").read_text())


def idle_cost(template: dict) -> dict[str, float]:
    """Monthly USD of each fixed cost item in `template`."""
    hours = PRICES["hours_per_month"]
    resources = list(template["Resources"].values())

    def of(rtype: str) -> list[dict]:
        return [r for r in resources if r["Type"] == rtype]

    interface_azs = sum(
        len(r["Properties"].get("SubnetIds", []))
        for r in of("AWS::EC2::VPCEndpoint")
        if r["Properties"].get("VpcEndpointType") == "Interface"
    )
    capacity = 0.0
    for target in of("AWS::ApplicationAutoScaling::ScalableTarget"):
        dimension = target["Properties"]["ScalableDimension"]
        unit = PRICES["dynamodb_rcu_hour"] if dimension.endswith("ReadCapacityUnits") else PRICES["dynamodb_wcu_hour"]
        capacity += target["Properties"]["MinCapacity"] * unit * hours
    acls = of("AWS::WAFv2::WebACL")
    return {
        "kms keys": len(of("AWS::KMS::Key")) * PRICES["kms_key_month"],
        "interface endpoints": interface_azs * PRICES["interface_endpoint_hour_per_az"] * hours,
        "alarms": len(of("AWS::CloudWatch::Alarm")) * PRICES["cloudwatch_alarm_month"],
        "dashboards": len(of("AWS::CloudWatch::Dashboard")) * PRICES["cloudwatch_dashboard_month"],
        "dynamodb minimum capacity": capacity,
        "waf": len(acls) * PRICES["waf_web_acl_month"]
        + sum(len(a["Properties"]["Rules"]) for a in acls) * PRICES["waf_rule_month"],
    }


def main() -> None:
    from stacks.app_builder import synthesize

    suffixes = ["dev", "staging", "prod"]
    with tempfile.TemporaryDirectory() as outdir:
        assembly = synthesize(suffixes, outdir, validation=False)
        costs = {s: idle_cost(assembly.get_stack_by_name(f"SecureServerless-{s}").template) for s in suffixes}
    items = list(next(iter(costs.values())))
    print(f"idle monthly cost per environment, USD ({PRICES['region']} list prices as of {PRICES['as_of']})")
    print(f"{'item':28}" + "".join(f"{s:>10}" for s in suffixes))
    for item in items:
        print(f"{item:28}" + "".join(f"{costs[s][item]:>10.2f}" for s in suffixes))
    print(f"{'total':28}" + "".join(f"{sum(costs[s].values()):>10.2f}" for s in suffixes))
    print("an extra pr-<n> environment uses the dev preset: "
          f"{sum(costs['dev'].values()):.2f} USD/month idle")  # fmt: skip
    print(f"plus, in every environment, WAF's {PRICES['waf_request_per_million']:.2f} USD per million API requests")


if __name__ == "__main__":
    main()
