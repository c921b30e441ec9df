"""A key fits what it encrypts (issue 19 item 2): whatever prefixes the caller gives the key and the constructs, the
key policy admits CloudWatch Logs for every log group encrypted with it, by that group's own ARN; a key whose
policy cannot be extended is refused in one line.

The emulator applies no log-group encryption and no key policy, so the policy is checked here twice: read from the
template (the logs service's Allow statements, their actions, and the `kms:EncryptionContext:aws:logs:arn` pattern
each group's ARN must match), and decided by the IAM evaluation engine (tests/support/log_keys.py, as in the access
matrix): the regional logs service may Encrypt/Decrypt/ReEncrypt/GenerateDataKey with each group's own ARN as the
encryption context, and not with another group's ARN nor the same name in another account. Every key kind is covered:
each construct's own key (no `encryption_key`), EnvironmentKey with and without a prefix, and a caller's `kms.Key`.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms

from secure_serverless import EnvironmentKey, LoggedApi, PrivateNetwork, Route, SecureFunction
from secure_serverless.defaults import KMS_LOGS_ACTIONS
from stacks.app_builder import cdk_json_context
from tests.support.build import INLINE_CODE as CODE
from tests.support.log_keys import STRAY_GROUP, evaluate_rows, wrong
from tests.support.resolve import StandIns

ENV = cdk.Environment(account="111122223333", region="eu-west-1")
KEYS = ("environment key without prefix", "environment key team-a", "plain kms.Key", "own key of each construct")
PREFIXES = (None, "team-a", "team-b")


def _key(stack: cdk.Stack, kind: str) -> kms.IKey | None:
    if kind == "own key of each construct":
        return None
    if kind == "plain kms.Key":
        return kms.Key(stack, "CallerKey", enable_key_rotation=True)
    return EnvironmentKey(stack, "Env", name_prefix="team-a" if kind.endswith("team-a") else None).key


def _resolve(node: Any, template: dict[str, Any]) -> Any:
    """A template value with the stack's pseudo parameters and the ids of its resources filled in."""
    if isinstance(node, dict):
        if "Ref" in node:
            return {"AWS::Partition": "aws", "AWS::Region": ENV.region, "AWS::AccountId": ENV.account}.get(
                node["Ref"], f"id-of-{node['Ref']}"
            )
        if "Fn::Join" in node:
            separator, parts = node["Fn::Join"]
            return separator.join(str(_resolve(part, template)) for part in parts)
        if "Fn::GetAtt" in node:
            return f"{node['Fn::GetAtt'][1]}-of-{node['Fn::GetAtt'][0]}"
        return {k: _resolve(v, template) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, template) for v in node]
    return node


def unadmitted_log_groups(template: dict[str, Any]) -> list[str]:
    """Log groups whose key's policy lets the logs service use the key for no pattern their ARN matches."""
    resources = template["Resources"]
    missing = []
    for group in (r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"):
        name = _resolve(group["Properties"]["LogGroupName"], template)
        arn = f"arn:aws:logs:{ENV.region}:{ENV.account}:log-group:{name}"
        key = resources[group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]]
        statements = _resolve(key["Properties"]["KeyPolicy"]["Statement"], template)
        admitted = any(
            s["Effect"] == "Allow"
            and s["Principal"] == {"Service": f"logs.{ENV.region}.amazonaws.com"}
            and set(KMS_LOGS_ACTIONS) <= set(s["Action"])
            and any(
                fnmatch.fnmatchcase(arn, pattern)
                for pattern in _as_list(s["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
            )
            for s in statements
            if "ArnLike" in s.get("Condition", {})
        )
        if not admitted:
            missing.append(name)
    return missing


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _compose(stack: cdk.Stack, key_kind: str, prefix: str | None) -> None:
    key = _key(stack, key_kind)
    worker = SecureFunction(stack, "Worker", code=CODE, handler="index.handler", name_prefix=prefix, encryption_key=key)
    SecureFunction(stack, "Other", code=CODE, handler="index.handler", encryption_key=key)  # never a prefix
    LoggedApi(stack, "Api", handler=worker.function, routes=[Route("/items")], name_prefix=prefix, encryption_key=key)
    LoggedApi(stack, "Api2", handler=worker.function, routes=[Route("/items")], encryption_key=key)
    PrivateNetwork(stack, "Network", name_prefix=prefix, encryption_key=key)


def _stack_name(key_kind: str, prefix: str | None) -> str:
    return f"Key{KEYS.index(key_kind)}-{prefix or 'none'}"


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    """Every key kind x prefix in one app (one synthesis), a stack each."""
    app = cdk.App(context=cdk_json_context(), builtin_cloud_formation_validation=False)
    for key_kind in KEYS:
        for prefix in PREFIXES:
            _compose(cdk.Stack(app, _stack_name(key_kind, prefix), env=ENV), key_kind, prefix)
    assembly = app.synth()
    return {stack.stack_name: stack.template for stack in assembly.stacks}


def _build(key_kind: str, prefix: str | None, templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return json.loads(json.dumps(templates[_stack_name(key_kind, prefix)]))  # a copy a test may change


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("key_kind", KEYS)
def test_every_log_group_is_admitted_by_its_key(
    key_kind: str, prefix: str | None, templates: dict[str, dict[str, Any]]
) -> None:
    template = _build(key_kind, prefix, templates)
    groups = [r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) >= 9  # two functions, two APIs' access, execution and WAF logs, flow logs, the lookup
    assert unadmitted_log_groups(template) == []


def test_the_check_sees_a_group_the_key_does_not_admit(templates: dict[str, dict[str, Any]]) -> None:
    template = _build("environment key team-a", "team-a", templates)
    groups = [r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
    groups[0]["Properties"]["LogGroupName"] = "/team-b/stray"
    assert unadmitted_log_groups(template) == ["/team-b/stray"]


def test_a_key_that_already_admits_the_group_gets_no_second_statement(
    templates: dict[str, dict[str, Any]],
) -> None:
    template = _build("environment key team-a", "team-a", templates)
    (key,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    logs = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if "logs" in str(s["Principal"])]
    patterns = [str(s["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]) for s in logs]
    assert sum("/team-a/" in p for p in patterns) == 1  # `/team-a/*`: the team-a function, API and network logs
    assert len({s["Sid"] for s in logs}) == len(logs)  # unique statement ids, even with two APIs on one key


def test_an_imported_key_is_refused_in_one_line() -> None:
    stack = cdk.Stack(cdk.App(), "Imported", env=ENV)
    key = kms.Key.from_key_arn(
        stack, "Key", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    with pytest.raises(ValueError) as raised:
        SecureFunction(stack, "Worker", code=CODE, handler="index.handler", encryption_key=key)
    message = str(raised.value)
    assert "\n" not in message
    assert "encryption_key" in message and "/Worker" in message and "kms:EncryptionContext:aws:logs:arn" in message


def _stand_ins(name: str) -> StandIns:
    return StandIns(account=str(ENV.account), region=str(ENV.region), stack_name=name)


def test_the_iam_engine_lets_the_logs_service_use_each_key_for_its_own_groups_only(
    templates: dict[str, dict[str, Any]],
) -> None:
    decided = evaluate_rows({name: (template, _stand_ins(name)) for name, template in templates.items()})
    groups = {(row.stack, row.group) for row, _ in decided}
    assert len(groups) >= 9 * len(templates)  # every log group of every stack was asked about
    assert {row.expect_allowed for row, _ in decided} == {True, False}
    assert wrong(decided) == []


def test_the_iam_engine_rows_can_fail(templates: dict[str, dict[str, Any]]) -> None:
    """A key policy without the logs statements denies the group's own rows; one whose logs statement lost its
    encryption-context condition lets another group use the key. Both must show up as wrong rows."""
    stripped, unconditioned = _build("plain kms.Key", None, templates), _build("plain kms.Key", None, templates)
    for template, change in ((stripped, "strip"), (unconditioned, "widen")):
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::KMS::Key":
                continue
            statements = resource["Properties"]["KeyPolicy"]["Statement"]
            logs = [s for s in statements if "logs" in json.dumps(s.get("Principal"))]
            assert logs
            for statement in logs:
                if change == "strip":
                    statements.remove(statement)
                else:
                    del statement["Condition"]
    decided = evaluate_rows({n: (t, _stand_ins(n)) for n, t in (("stripped", stripped), ("widened", unconditioned))})
    stripped_wrong = [row.request.id for row, d in decided if d.allowed != row.expect_allowed and row.expect_allowed]
    widened_wrong = [row.request.id for row, d in decided if d.allowed != row.expect_allowed and not row.expect_allowed]
    assert stripped_wrong and all(rid.endswith("/own") for rid in stripped_wrong)
    assert widened_wrong and any(STRAY_GROUP in rid for rid in widened_wrong)
