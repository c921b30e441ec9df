"""Evaluate, with the IAM evaluation engine, whether CloudWatch Logs may use each log group's key for that group.

The emulator applies neither log-group encryption nor key policies, so a key that does not fit its log group would
fail only in AWS, at deploy. Here every `AWS::Logs::LogGroup` with a `KmsKeyId` of a key in the same template yields
requests by the regional logs service principal (`logs.<region>.amazonaws.com`) on that key, with the encryption
context CloudWatch Logs sends (`kms:EncryptionContext:aws:logs:arn` = the group's ARN, without the `:*` suffix):

- for the group's own ARN, every action CloudWatch Logs calls on a log group's key: expected Allowed;
- for another group's ARN (a name no construct gives, and the same name in another account): expected denied.

Templates are resolved with tests/support/resolve.py (deterministic stand-in ids); the key policies go to the engine
as resource policies, one batch for every template (one Node start-up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.iam_eval import Decision, Policy, Request, ctx_arn, evaluate
from tests.support.resolve import Resolver, StandIns

# What CloudWatch Logs calls on the key of an encrypted log group (AWS's key-policy guidance for log groups:
# Encrypt, Decrypt, ReEncrypt, GenerateDataKey). Written out here, not imported from the library, so a library that
# narrowed its statement would fail this check.
LOGS_SERVICE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo")
OTHER_ACCOUNT = "999988887777"
STRAY_GROUP = "/someone-else/not-ours"


@dataclass(frozen=True)
class Row:
    """One request and the decision it must get."""

    request: Request
    stack: str
    group: str  # the log group's logical id
    expect_allowed: bool


def _group_arn(partition: str, region: str, account: str, name: str) -> str:
    return f"arn:{partition}:logs:{region}:{account}:log-group:{name}"


def rows_for(template: Mapping[str, Any], stand_ins: StandIns) -> tuple[list[Policy], list[Row]]:
    """The key policies of `template` and the rows of every log group encrypted with one of its keys."""
    resolver = Resolver(template, stand_ins)
    stack, region, account = stand_ins.stack_name, stand_ins.region, stand_ins.account
    logs = f"logs.{region}.amazonaws.com"
    policies: dict[str, Policy] = {}
    rows: list[Row] = []
    for logical_id, props in resolver.of_type("AWS::Logs::LogGroup").items():
        raw_key = template["Resources"][logical_id]["Properties"].get("KmsKeyId")
        if not (isinstance(raw_key, dict) and "Fn::GetAtt" in raw_key):
            continue  # unencrypted, or a key from elsewhere: not this template's to prove
        key_id = raw_key["Fn::GetAtt"][0]
        policy_name = f"{stack}/{key_id}"
        if policy_name not in policies:
            document = resolver.resource_properties(key_id)["KeyPolicy"]
            policies[policy_name] = Policy(policy_name, "resource", document)
        key_arn = resolver.get_att(key_id, "Arn")
        own = _group_arn(stand_ins.partition, region, account, props["LogGroupName"])
        cases = [(own, True)]
        cases += [(_group_arn(stand_ins.partition, region, account, STRAY_GROUP), False)]
        cases += [(_group_arn(stand_ins.partition, region, OTHER_ACCOUNT, props["LogGroupName"]), False)]
        for context_arn, allowed in cases:
            for action in LOGS_SERVICE_ACTIONS if allowed else ("kms:GenerateDataKey", "kms:Decrypt"):
                rid = f"{stack}/{logical_id}/{action}/{'own' if allowed else context_arn}"
                request = Request(
                    rid,
                    logs,
                    action,
                    key_arn,
                    context={"kms:EncryptionContext:aws:logs:arn": ctx_arn(context_arn)},
                    resource_policy=policy_name,
                    resource_account=account,
                )
                rows.append(Row(request, stack, logical_id, allowed))
    return list(policies.values()), rows


def evaluate_rows(templates: Mapping[str, tuple[Mapping[str, Any], StandIns]]) -> list[tuple[Row, Decision]]:
    """Every row of every template, decided in one batch."""
    policies: list[Policy] = []
    rows: list[Row] = []
    for template, stand_ins in templates.values():
        more_policies, more_rows = rows_for(template, stand_ins)
        policies += more_policies
        rows += more_rows
    decisions = evaluate(policies, [row.request for row in rows])
    return list(zip(rows, decisions, strict=True))


def wrong(decided: list[tuple[Row, Decision]]) -> list[str]:
    """The rows whose decision is not the expected one, each as `<request id>: <result>`."""
    return [f"{row.request.id}: {d.result}" for row, d in decided if d.allowed != row.expect_allowed]
