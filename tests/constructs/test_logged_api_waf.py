"""LoggedApi's web ACL: rate limits (per identity, per IP) and size rules always with WAF; managed groups optional."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from secure_serverless import LoggedApi, Route
from secure_serverless.logged_api import MANAGED_RULE_GROUPS
from tests.support.build import INLINE_CODE as CODE

OWN_RULES = ["UriPathTooLong", "QueryStringTooLong", "SignatureInQueryString", "RateLimitPerIdentity", "RateLimitPerIp"]


def _api(**kwargs: object) -> tuple[LoggedApi, Template]:
    stack = cdk.Stack(cdk.App(), "Waf", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    handler = lambda_.Function(
        stack, "Handler", code=CODE, handler="index.handler", runtime=lambda_.Runtime.PYTHON_3_14
    )
    api = LoggedApi(stack, "Api", name_prefix="unit-waf", handler=handler, routes=[Route("/x")], **kwargs)  # type: ignore[arg-type]
    return api, Template.from_stack(stack)


def _rule_names(template: Template) -> list[str]:
    (acl,) = template.find_resources("AWS::WAFv2::WebACL").values()
    return [rule["Name"] for rule in sorted(acl["Properties"]["Rules"], key=lambda r: r["Priority"])]


def test_default_web_acl_has_managed_groups_then_size_and_rate_rules() -> None:
    _, template = _api()
    assert _rule_names(template) == [*MANAGED_RULE_GROUPS, *OWN_RULES]


def test_without_managed_groups_the_rate_and_size_rules_stay() -> None:
    api, template = _api(waf_managed_rules=False, waf_identity_rate_limit=50, waf_rate_limit=500)
    assert api.web_acl is not None
    assert _rule_names(template) == OWN_RULES
    template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Rules": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Name": "RateLimitPerIdentity",
                            "Priority": 3,
                            "Action": {"Block": {}},
                            "Statement": {
                                "RateBasedStatement": {
                                    "AggregateKeyType": "CUSTOM_KEYS",
                                    "Limit": 50,
                                    "CustomKeys": [{"Header": Match.object_like({"Name": "x-amz-security-token"})}],
                                }
                            },
                        }
                    ),
                    Match.object_like(
                        {
                            "Name": "RateLimitPerIp",
                            "Statement": {"RateBasedStatement": {"AggregateKeyType": "IP", "Limit": 500}},
                        }
                    ),
                ]
            )
        },
    )
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
    template.resource_count_is("AWS::WAFv2::LoggingConfiguration", 1)


def test_waf_off_means_no_web_acl_whatever_the_managed_choice() -> None:
    api, template = _api(waf=False, waf_managed_rules=True)
    assert api.web_acl is None
    template.resource_count_is("AWS::WAFv2::WebACL", 0)
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 0)


@pytest.mark.parametrize(
    "argument,value", [("waf_identity_rate_limit", 9), ("waf_rate_limit", 2_000_000_001), ("waf_rate_limit", True)]
)
def test_rate_limits_outside_wafs_range_are_refused(argument: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"invalid {argument} {value!r}: must be an integer from 10 to 2,000,000,000"):
        _api(**{argument: value})


def test_requests_signed_in_the_query_string_are_blocked_before_the_rate_rules() -> None:
    """execute-api accepts SigV4 in the query string; such a request has no x-amz-security-token header, so the
    per-identity rate rule would never count it. Any SigV4 query parameter, whatever its case or %-encoding, is
    refused."""
    _, template = _api(waf_managed_rules=False)
    (acl,) = template.find_resources("AWS::WAFv2::WebACL").values()
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    rule = rules["SignatureInQueryString"]
    assert rule["Action"] == {"Block": {}}
    assert rule["Priority"] < rules["RateLimitPerIdentity"]["Priority"]
    decoded = [{"Priority": 0, "Type": "URL_DECODE"}, {"Priority": 1, "Type": "LOWERCASE"}]
    matches = [
        {
            "ByteMatchStatement": {
                "FieldToMatch": {"QueryString": {}},
                "PositionalConstraint": "CONTAINS",
                "SearchString": name,
                "TextTransformations": decoded,
            }
        }
        for name in ("x-amz-signature", "x-amz-credential", "x-amz-security-token")
    ]
    assert rule["Statement"] == {"OrStatement": {"Statements": matches}}

    # What the rule matches, applied to the query strings a client could send (WAF: URL-decode, lowercase, contains).
    def blocked(query: str) -> bool:
        from urllib.parse import unquote

        text = unquote(query).lower()
        return any(m["ByteMatchStatement"]["SearchString"] in text for m in matches)

    assert blocked("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261203&X-Amz-Signature=ab")
    assert blocked("x-amz-signature=ab")
    assert blocked("X%2DAmz%2DSignature=ab")
    assert not blocked("cursor=eyJrIjoiYSJ9&limit=10")


def test_waf_logs_redact_credentials_and_the_query_string() -> None:
    _, template = _api()
    template.has_resource_properties(
        "AWS::WAFv2::LoggingConfiguration",
        {
            "RedactedFields": Match.exact(
                [
                    {"SingleHeader": {"Name": "authorization"}},
                    {"SingleHeader": {"Name": "x-amz-security-token"}},
                    {"QueryString": {}},
                ]
            )
        },
    )


def test_access_log_line_has_no_query_string() -> None:
    """Signed query strings must not reach the access log either: it records the route template, not the raw
    path or the query string (no $input.params, no $context.requestOverride)."""
    from secure_serverless.logged_api import access_log_format

    line = access_log_format().lower()
    assert "querystring" not in line and "$input" not in line and "$context.path" not in line
    assert '"resourcepath": "$context.resourcepath"' in line
