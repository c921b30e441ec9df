"""No app-specific leakage (issue 19 item 8): the library's defaults and texts are generic; the app passes its own
values (WAF size limits for its API, its VPC address range) from the stack.

- Every string the library's source holds (docstrings, messages, alarm and acknowledgment texts, defaults) is free of
  this app's names: the project name, its qualifiers, its environment presets, its API's routes and its upload
  layout, and of test names.
- Every construct's default argument values are generic, and the two that were tuned to this app now default to
  AWS's or CDK's own values: the WAF size rules to the common rule set's limits, the VPC range to CDK's default.
- The app still passes its values: its web ACL admits what its API accepts (tests/stacks/test_hardening.py) and its
  VPC keeps its range.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

import secure_serverless
from secure_serverless import LoggedApi, PrivateNetwork, Route
from secure_serverless.logged_api import COMMON_RULE_SET_MAX_QUERY_STRING_BYTES, COMMON_RULE_SET_MAX_URI_PATH_BYTES
from stacks.secure_serverless_stack import VPC_CIDR
from tests.support.build import INLINE_CODE as CODE
from tools.construct_docs import CONSTRUCTS

LIBRARY = Path(secure_serverless.__file__).resolve().parent
# This app's own names, as they would leak: project, stack and qualifier names, presets, routes, upload layout, tests.
APP_SPECIFIC = re.compile(
    r"secure-serverless(?!-constructs)|SecureServerless|secsls|\bpr-\d|\b(?:dev|staging)\b|/objects\b|uploads/"
    r"|upload events?|objects api|records table|test_\w+|tests/",
    re.IGNORECASE,
)


def _strings(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module (docstrings, messages, f-string parts), with its line."""
    tree = ast.parse(path.read_text())
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def leaks(paths: list[Path]) -> list[str]:
    return [
        f"{path.name}:{line}: {match.group(0)!r}"
        for path in paths
        for line, text in _strings(path)
        for match in APP_SPECIFIC.finditer(text)
    ]


def test_no_string_in_the_library_names_this_app() -> None:
    modules = sorted(LIBRARY.rglob("*.py"))
    assert len(modules) > 15
    assert leaks(modules) == []


def test_the_leak_check_finds_an_app_name(tmp_path: Path) -> None:
    module = tmp_path / "leaky.py"
    module.write_text('"""Alarm when upload events pile up."""\nNAME = f"secsls-{1}"\nPATH = "/objects"\n')
    assert len(leaks([module])) == 3


@pytest.mark.parametrize("name", CONSTRUCTS)
def test_default_values_are_generic(name: str) -> None:
    signature = inspect.signature(getattr(secure_serverless, name).__init__)
    defaults = {p.name: p.default for p in signature.parameters.values() if p.default is not inspect.Parameter.empty}
    assert not [f"{k}={v!r}" for k, v in defaults.items() if APP_SPECIFIC.search(repr(v))]


def test_waf_size_rules_default_to_the_common_rule_sets_limits_and_take_the_callers() -> None:
    def sizes(**kwargs: object) -> dict[str, int]:
        stack = cdk.Stack(cdk.App(), "Waf")
        handler = lambda_.Function(stack, "H", code=CODE, handler="index.handler", runtime=lambda_.Runtime.PYTHON_3_14)
        LoggedApi(stack, "Api", handler=handler, routes=[Route("/x")], **kwargs)  # type: ignore[arg-type]
        (acl,) = Template.from_stack(stack).find_resources("AWS::WAFv2::WebACL").values()
        return {
            rule["Name"]: rule["Statement"]["SizeConstraintStatement"]["Size"]
            for rule in acl["Properties"]["Rules"]
            if "SizeConstraintStatement" in rule["Statement"]
        }

    assert (COMMON_RULE_SET_MAX_URI_PATH_BYTES, COMMON_RULE_SET_MAX_QUERY_STRING_BYTES) == (1024, 2048)
    assert sizes() == {"UriPathTooLong": 1024, "QueryStringTooLong": 2048}
    assert sizes(waf_max_uri_path_bytes=5000, waf_max_query_string_bytes=9000) == {
        "UriPathTooLong": 5000,
        "QueryStringTooLong": 9000,
    }


@pytest.mark.parametrize("bad", [0, -1, True, 10.5])
def test_a_waf_size_that_is_not_a_positive_integer_is_refused_in_one_line(bad: object) -> None:
    stack = cdk.Stack(cdk.App(), "Waf")
    handler = lambda_.Function(stack, "H", code=CODE, handler="index.handler", runtime=lambda_.Runtime.PYTHON_3_14)
    refused = r"^invalid waf_max_query_string_bytes .*: must be a positive number of bytes$"
    with pytest.raises(ValueError, match=refused):
        LoggedApi(stack, "Api", handler=handler, routes=[Route("/x")], waf_max_query_string_bytes=bad)  # type: ignore[arg-type]


def test_the_vpc_range_defaults_to_cdks_and_the_app_passes_its_own() -> None:
    stack = cdk.Stack(cdk.App(), "Net", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    PrivateNetwork(stack, "Default")
    PrivateNetwork(stack, "Planned", cidr="10.20.0.0/16")
    vpcs = Template.from_stack(stack).find_resources("AWS::EC2::VPC")
    assert sorted(v["Properties"]["CidrBlock"] for v in vpcs.values()) == ["10.0.0.0/16", "10.20.0.0/16"]
    assert ec2.Vpc.DEFAULT_CIDR_RANGE == "10.0.0.0/16"
    assert VPC_CIDR != ec2.Vpc.DEFAULT_CIDR_RANGE  # the app's plan, passed from the stack
