"""LoggedApi: a REST API with JSON access and execution logs, tracing, throttling, validation and auth everywhere."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Fn
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from . import defaults
from .alarms import AlarmSpec, AlarmThresholds
from .encryption_key import key_for_logs
from .inputs import FunctionLike, KeyLike, function_of, key_of
from .log_groups import encrypted_log_group
from .nag import acknowledge, acknowledge_guard, compliance_rules
from .naming import alarm_label, log_group_arn, log_group_name, namespace, prefixed, validate_name_prefix
from .overrides import merge_props

# What every access-log line records (JSON). API Gateway substitutes these variables into the line as they are,
# without JSON escaping, so a value the caller chooses could close its string and forge fields (a User-Agent of
# `x", "status": "200`). Only values API Gateway generates or has verified appear between quotes here; the
# caller's free text (User-Agent, raw path, error message) is left out or goes through an escaped variable.
# Correlate on extendedRequestId: `$context.requestId` can be set by the client (x-amzn-requestid).
ACCESS_LOG_FIELDS = {
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "user": "$context.identity.user",
    "userArn": "$context.identity.userArn",
    "cognitoIdentityId": "$context.identity.cognitoIdentityId",
    "cognitoUser": "$context.authorizer.claims.sub",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "errorType": "$context.error.responseType",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}
# Variables API Gateway renders as a complete, escaped JSON string (quotes included): written without quotes.
ESCAPED_ACCESS_LOG_FIELDS = {"errorMessage": "$context.error.messageString"}


def access_log_format() -> str:
    """The JSON access-log line: ACCESS_LOG_FIELDS quoted, ESCAPED_ACCESS_LOG_FIELDS as they are."""
    quoted = json.dumps(ACCESS_LOG_FIELDS)
    escaped = "".join(f", {json.dumps(name)}: {variable}" for name, variable in ESCAPED_ACCESS_LOG_FIELDS.items())
    return quoted[:-1] + escaped + "}"


ERROR_BODY = '{"error": {"code": "$context.error.responseType", "message": $context.error.messageString}}'
COMMON_RULE_SET_SIZE_RULES = ("SizeRestrictions_URIPATH", "SizeRestrictions_QUERYSTRING")
# The limits of those two rules (AWS WAF Developer Guide, "Core rule set (CRS) managed rule group"): the defaults of
# the size rules that replace them.
COMMON_RULE_SET_MAX_URI_PATH_BYTES = 1024
COMMON_RULE_SET_MAX_QUERY_STRING_BYTES = 2048
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
# SigV4 query-string authentication parameters (X-Amz-Signature, ...), matched after URL-decoding and lowercasing.
SIGV4_QUERY_PARAMETERS = ("x-amz-signature", "x-amz-credential", "x-amz-security-token")
# What WAF accepts as the limit of a rate-based rule (requests per evaluation window).
WAF_RATE_LIMIT_MIN, WAF_RATE_LIMIT_MAX = 10, 2_000_000_000


class ApiAuthorization(enum.Enum):
    """How every method is authorised."""

    IAM = "iam"  # SigV4 with IAM credentials (e.g. from the identity pool)
    COGNITO = "cognito"  # a Cognito user-pool authorizer (ID/access token)


ROUTE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Route:
    """One route served by the handler: its path, HTTP method and the query-string parameters it accepts.

    Args:
        path: e.g. ``"/items"`` or ``"/items/{key+}"`` (required).
        query_parameters: optional query-string parameters. Default: none.
        method: one of GET, POST, PUT, PATCH, DELETE. Default: ``"GET"``.
        throttle_rate_limit: steady requests per second for this method alone (stage method throttling), below the
            stage's. Default: None (the stage's limits).
        throttle_burst_limit: burst for this method alone. Default: None (the stage's).
    """

    path: str
    query_parameters: Sequence[str] = ()
    method: str = "GET"
    throttle_rate_limit: float | None = None
    throttle_burst_limit: int | None = None

    def __post_init__(self) -> None:
        if self.method not in ROUTE_METHODS:
            raise ValueError(f"Route method {self.method!r}: must be one of {', '.join(ROUTE_METHODS)} (upper case)")
        for name, value in (
            ("throttle_rate_limit", self.throttle_rate_limit),
            ("throttle_burst_limit", self.throttle_burst_limit),
        ):
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ValueError(f"Route {name} {value!r}: must be a positive number or None")


class LoggedApi(Construct):
    """A REST API whose every request is logged, traced, throttled, validated and authorised.

    Minimal use: ``LoggedApi(self, "Api", handler=function, routes=[Route("/items")])``.

    Args:
        scope: the parent construct.
        construct_id: the construct id.
        handler: the Lambda proxy integration serving every route: a ``lambda_.IFunction`` or a SecureFunction
            (required).
        routes: the routes (``Route``: path, method, query-string parameters, optional per-method throttling)
            (required).
        name_prefix: environment prefix for the API, log-group and WAF names. Default: None (the stack name is the
            log-group namespace; the API is named after the construct id).
        stage_name: the stage. Default: ``"prod"`` (CDK's default).
        encryption_key: encrypts the access, execution and WAF log groups. Default: None (a rotating key is created).
        authorization: ``ApiAuthorization.IAM`` (SigV4) or ``ApiAuthorization.COGNITO`` on every method.
            Default: ``ApiAuthorization.IAM``.
        user_pool: the user pool for COGNITO authorization. Default: None.
        execution_log_level: execution logging, INFO or ERROR (OFF is refused). Default: ERROR.
        throttle_rate_limit: steady requests per second for the stage. Default: 20.
        throttle_burst_limit: burst for the stage. Default: 10.
        log_retention: retention of every log group. Default: ``RetentionDays.ONE_YEAR``.
        waf: attach a WAF web ACL with the per-identity and per-IP rate limits, the size limits below, a rule
            refusing requests signed in the query string (SigV4 query authentication would escape the per-identity
            limit) and logging (credentials and the query string redacted). Default: True.
        waf_managed_rules: also evaluate the AWS managed rule groups (common rule set, known bad inputs, IP
            reputation list; 1 USD per group per month each). Only with ``waf``. Default: True.
        waf_rate_limit: requests per 5 minutes per IP before WAF blocks (WAF accepts 10 to 2,000,000,000).
            Default: 1000.
        waf_identity_rate_limit: requests per 5 minutes per set of temporary credentials (the SigV4
            x-amz-security-token header: one signed-in identity's session) before WAF blocks (10 to
            2,000,000,000). Default: 300.
        waf_max_uri_path_bytes: longest URI path WAF lets through (with or without the managed groups; the common
            rule set's own SizeRestrictions_URIPATH is counted instead, so raising this raises the limit). Raise
            it when the API accepts longer paths (long, percent-encoded path parameters). Default: 1024 (the
            common rule set's own limit).
        waf_max_query_string_bytes: longest query string WAF lets through, likewise in place of
            SizeRestrictions_QUERYSTRING. Default: 2048 (the common rule set's own limit).
        existing_access_log_group: write access logs to this group instead of creating one. Default: None.
        api_props: further ``apigw.RestApi`` keyword arguments, merged over the defaults. Refused: the
            account-wide ``cloud_watch_role``; ``deploy_options``, ``default_method_options`` and what an argument
            above controls. Default: None.

    Removal: the log groups are retained; ``RemovalPolicies.of(api)`` changes that.

    Attributes:
        api: the ``apigw.RestApi``.
        stage: its stage.
        access_log_group: the JSON access log.
        execution_log_group: API Gateway's execution log (pre-created: encrypted, with retention).
        web_acl: the WAF web ACL (None when waf is False).
        methods: every method created.
        encryption_key: the key of the log groups.
    """

    api: apigw.RestApi
    stage: apigw.Stage
    access_log_group: logs.ILogGroup
    execution_log_group: logs.LogGroup
    web_acl: wafv2.CfnWebACL | None
    methods: list[apigw.Method]
    encryption_key: kms.IKey

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: FunctionLike,
        routes: Sequence[Route],
        name_prefix: str | None = None,
        stage_name: str = "prod",
        encryption_key: KeyLike | None = None,
        authorization: ApiAuthorization = ApiAuthorization.IAM,
        user_pool: cognito.IUserPool | None = None,
        execution_log_level: apigw.MethodLoggingLevel = apigw.MethodLoggingLevel.ERROR,
        throttle_rate_limit: float = 20,
        throttle_burst_limit: int = 10,
        log_retention: logs.RetentionDays = defaults.LOG_RETENTION,
        waf: bool = True,
        waf_managed_rules: bool = True,
        waf_rate_limit: int = 1000,
        waf_identity_rate_limit: int = 300,
        waf_max_uri_path_bytes: int = COMMON_RULE_SET_MAX_URI_PATH_BYTES,
        waf_max_query_string_bytes: int = COMMON_RULE_SET_MAX_QUERY_STRING_BYTES,
        existing_access_log_group: logs.ILogGroup | None = None,
        api_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if name_prefix is not None:
            validate_name_prefix("name_prefix", name_prefix)
        if authorization is ApiAuthorization.COGNITO and user_pool is None:
            raise ValueError("invalid user_pool None: must be given when authorization is COGNITO")
        if execution_log_level is apigw.MethodLoggingLevel.OFF:
            raise ValueError("invalid execution_log_level OFF: must be INFO or ERROR")
        for name, limit in (("waf_rate_limit", waf_rate_limit), ("waf_identity_rate_limit", waf_identity_rate_limit)):
            in_range = isinstance(limit, int) and WAF_RATE_LIMIT_MIN <= limit <= WAF_RATE_LIMIT_MAX
            if isinstance(limit, bool) or not in_range:
                raise ValueError(
                    f"invalid {name} {limit!r}: must be an integer from {WAF_RATE_LIMIT_MIN} to {WAF_RATE_LIMIT_MAX:,} "
                    "(WAF's range for a rate-based rule)"
                )
        for name, size in (
            ("waf_max_uri_path_bytes", waf_max_uri_path_bytes),
            ("waf_max_query_string_bytes", waf_max_query_string_bytes),
        ):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"invalid {name} {size!r}: must be a positive number of bytes")
        encryption_key = key_of(encryption_key)
        prefix = self._prefix = namespace(self, name_prefix)
        self._alarm_label = alarm_label(self, None, name_prefix, "api")
        self._stage_name, self._log_retention = stage_name, log_retention
        access_log_name = log_group_name(prefix, "api-access")
        self.encryption_key = encryption_key = key_for_logs(
            self,
            encryption_key,
            log_group_name=access_log_name,
            creates_log_group=existing_access_log_group is None,
            sid="AllowCloudWatchLogsForApiAccessLogs",
        )
        self.access_log_group = existing_access_log_group or encrypted_log_group(
            self,
            "AccessLogs",
            name=access_log_name,
            key=encryption_key,
            retention=log_retention,
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            cloud_watch_role=False,  # account-wide singleton: see ApiGatewayAccountLogging
            **merge_props(
                "api_props",
                {
                    "rest_api_name": prefixed(name_prefix, "api") or prefix,
                    "description": f"{prefix} API",
                    "endpoint_types": [apigw.EndpointType.REGIONAL],
                },
                api_props,
                owned={
                    "cloud_watch_role": "ApiGatewayAccountLogging (an account-wide singleton)",
                    "deploy_options": "stage_name/execution_log_level/throttle_*",
                    "default_method_options": "authorization",
                },
                target=apigw.RestApi,
            ),
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.custom(access_log_format()),
                logging_level=execution_log_level,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                method_options={
                    # A method's own settings replace the stage's for that method, not merge with them: repeat the
                    # logging, data-trace and metrics settings, or the method would log and measure nothing.
                    f"{route.path}/{route.method}": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=route.throttle_rate_limit,
                        throttling_burst_limit=route.throttle_burst_limit,
                        logging_level=execution_log_level,
                        data_trace_enabled=False,
                        metrics_enabled=True,
                    )
                    for route in routes
                    if route.throttle_rate_limit is not None or route.throttle_burst_limit is not None
                }
                or None,
            ),
        )
        self.stage = self.api.deployment_stage
        self.execution_log_group = self._execution_log_group()
        self._gateway_responses()
        self.methods = self._routes(function_of(handler), routes, authorization, user_pool)
        self.web_acl = (
            self._waf(
                waf_managed_rules,
                waf_rate_limit,
                waf_identity_rate_limit,
                waf_max_uri_path_bytes,
                waf_max_query_string_bytes,
            )
            if waf
            else None
        )
        self._acknowledge(authorization)

    # ---------------------------------------------------------------- pieces
    def _execution_log_group(self) -> logs.LogGroup:
        """Execution logs go to `API-Gateway-Execution-Logs_<id>/<stage>`: create that group first, encrypted."""
        name = Fn.join("", ["API-Gateway-Execution-Logs_", self.api.rest_api_id, f"/{self._stage_name}"])
        group = encrypted_log_group(
            self,
            "ExecutionLogs",
            name=name,
            key=self.encryption_key,
            retention=self._log_retention,
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
            key_policy_sid="AllowCloudWatchLogsForApiExecutionLogs",
        )
        self.stage.node.add_dependency(group)  # else API Gateway may create it first, unencrypted
        return group

    def _gateway_responses(self) -> None:
        """JSON error bodies for API Gateway's own 4XX/5XX responses."""
        for name, response_type in (
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX),
        ):
            self.api.add_gateway_response(name, type=response_type, templates={"application/json": ERROR_BODY})

    def _routes(
        self,
        handler: lambda_.IFunction,
        routes: Sequence[Route],
        authorization: ApiAuthorization,
        user_pool: cognito.IUserPool | None,
    ) -> list[apigw.Method]:
        validator = self.api.add_request_validator(
            "Validate", validate_request_parameters=True, validate_request_body=True
        )
        # No test-invoke-stage permission: the console's "Test" button would invoke the handler outside any stage's
        # throttling, logging and WAF.
        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False)
        authorizer = (
            apigw.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[user_pool])
            if authorization is ApiAuthorization.COGNITO and user_pool is not None
            else None
        )
        methods = []
        for route in routes:
            resource = self.api.root.resource_for_path(route.path)
            parameters = {f"method.request.querystring.{name}": False for name in route.query_parameters}
            parameters |= {f"method.request.path.{name}": True for name in _path_parameters(route.path)}
            methods.append(
                resource.add_method(
                    route.method,
                    integration,
                    authorization_type=apigw.AuthorizationType.COGNITO if authorizer else apigw.AuthorizationType.IAM,
                    authorizer=authorizer,
                    request_validator=validator,
                    request_parameters=parameters,
                )
            )
        return methods

    def _waf(
        self,
        managed_rules: bool,
        waf_rate_limit: int,
        identity_rate_limit: int,
        max_uri_path_bytes: int,
        max_query_string_bytes: int,
    ) -> wafv2.CfnWebACL:
        """A regional web ACL: AWS managed rule groups (if `managed_rules`), size limits that agree with the API's
        own, a per-IP and a per-identity rate limit, associated with the stage."""
        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=group,
                        # The common rule set blocks URI paths over 1,024 bytes and query strings over 2,048, with
                        # no way to raise them. Those two rules only count; the size rules below enforce the limits
                        # the caller gives (by default the same ones), so an API that accepts longer paths or
                        # queries raises them without losing the rest of the group.
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in COMMON_RULE_SET_SIZE_RULES
                        ]
                        if group == "AWSManagedRulesCommonRuleSet"
                        else None,
                    )
                ),
                visibility_config=_visibility(f"{self._prefix}-{group}"),
            )
            for priority, group in enumerate(MANAGED_RULE_GROUPS if managed_rules else ())
        ]
        no_transformation = [wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")]
        blocking: list[tuple[str, str, wafv2.CfnWebACL.StatementProperty]] = [
            (
                name,
                name,
                wafv2.CfnWebACL.StatementProperty(
                    size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                        field_to_match=field,
                        comparison_operator="GT",
                        size=limit,
                        text_transformations=no_transformation,
                    )
                ),
            )
            for name, field, limit in (
                ("UriPathTooLong", wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}), max_uri_path_bytes),
                ("QueryStringTooLong", wafv2.CfnWebACL.FieldToMatchProperty(query_string={}), max_query_string_bytes),
            )
        ]
        # execute-api also accepts SigV4 in the query string (X-Amz-Credential, X-Amz-Signature, ...). Such a request
        # carries no x-amz-security-token header, so the per-identity rule below would never count it (one set of
        # credentials limited only per IP), and a signed URL is a bearer token that logs and referrers keep.
        # Clients here sign headers; a request naming any SigV4 query parameter is refused. Decoded and lowercased
        # first, so neither %-encoding nor case hides the name.
        decoded = [
            wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="URL_DECODE"),
            wafv2.CfnWebACL.TextTransformationProperty(priority=1, type="LOWERCASE"),
        ]
        blocking.append(
            (
                "SignatureInQueryString",
                "query-string-signature",
                wafv2.CfnWebACL.StatementProperty(
                    or_statement=wafv2.CfnWebACL.OrStatementProperty(
                        statements=[
                            wafv2.CfnWebACL.StatementProperty(
                                byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(query_string={}),
                                    positional_constraint="CONTAINS",
                                    search_string=parameter,
                                    text_transformations=decoded,
                                )
                            )
                            for parameter in SIGV4_QUERY_PARAMETERS
                        ]
                    )
                ),
            )
        )
        # One signed-in identity cannot use up everyone's capacity: its temporary credentials (the SigV4 session
        # token) are rate limited apart from its IP. This is the most stable per-identity value WAF can see: the
        # Cognito identity id is resolved by API Gateway after WAF, and the access key id sits in the Authorization
        # header next to a per-request signature and date (keying on that header would count every request apart).
        # A caller who keeps fetching new credentials starts a fresh count each time; then only the per-IP rule
        # holds. WAF skips a request without the header for this rule (the per-IP rule still counts it).
        identity_key = wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
            header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                name="x-amz-security-token", text_transformations=no_transformation
            )
        )
        blocking += [
            (
                "RateLimitPerIdentity",
                "identity-rate-limit",
                wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=identity_rate_limit, aggregate_key_type="CUSTOM_KEYS", custom_keys=[identity_key]
                    )
                ),
            ),
            (
                "RateLimitPerIp",
                "rate-limit",
                wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=waf_rate_limit, aggregate_key_type="IP"
                    )
                ),
            ),
        ]
        for name, metric, statement in blocking:
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name=name,
                    priority=len(rules),
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=statement,
                    visibility_config=_visibility(f"{self._prefix}-{metric}"),
                )
            )
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=f"{self._prefix}-api",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"{self._prefix}-api"),
            rules=rules,
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.stage.stage_arn, web_acl_arn=acl.attr_arn
        )
        self._waf_logging(acl)
        return acl

    def _waf_logging(self, acl: wafv2.CfnWebACL) -> None:
        """WAF logs to an encrypted log group (its name must start with aws-waf-logs-), credentials redacted: the
        Authorization and session-token headers, and the query string (a request signed in it carries its
        credential, signature and session token there, replayable until it expires)."""
        name = f"aws-waf-logs-{self._prefix}"
        group = encrypted_log_group(
            self,
            "WafLogs",
            name=name,
            key=self.encryption_key,
            retention=self._log_retention,
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
            key_policy_sid="AllowCloudWatchLogsForWafLogs",
        )
        logging = wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=acl.attr_arn,
            log_destination_configs=[log_group_arn(self, name)],
            redacted_fields=[
                *(
                    wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                    for header in ("authorization", "x-amz-security-token")
                ),
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(query_string={}),
            ],
        )
        logging.node.add_dependency(group)

    def _acknowledge(self, authorization: ApiAuthorization) -> None:
        acknowledge_guard(
            self.api,
            "lambda_function_public_access_prohibited_check",
            "CT.LAMBDA.PR.2",
            "Each Lambda permission of the API names apigateway.amazonaws.com with a SourceArn of this API's "
            "execute-api ARN (stage, method and path); the rule accepts only a literal or a Ref/GetAtt, and CDK "
            "builds the ARN with Fn::Join from the API id, region and account.",
        )
        acknowledge(
            self.stage,
            "Serverless-APIGWStructuredLogging",
            "The access log is JSON once API Gateway renders it: $context.error.messageString is substituted by a "
            "quoted, escaped JSON string, so the format is written without quotes around it (the rule parses the "
            "format before substitution), and a hostile User-Agent still yields one valid JSON line.",
        )
        if authorization is ApiAuthorization.IAM:
            acknowledge(
                self.api,
                "AwsSolutions-COG4",
                "Every method uses IAM (SigV4) authorization with temporary credentials from the Cognito identity "
                "pool, which authenticates against the user pool; a user-pool authorizer would be redundant.",
            )
        acknowledge(
            self.stage,
            compliance_rules("APIGWCacheEnabledAndEncrypted"),
            "The construct leaves stage caching off: every method is authorised per caller, and a cache keyed on "
            "the path alone would serve one caller's authorised response to another.",
        )
        acknowledge(
            self.stage,
            compliance_rules("APIGWSSLEnabled"),
            "The only integration is a Lambda proxy invoked through the Lambda API over TLS with IAM; a client "
            "certificate applies to HTTP backends only.",
        )

    # ---------------------------------------------------------------- grants and metrics
    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow execute-api:Invoke on exactly this stage's routes, each with its own method."""
        arns = [
            self.api.arn_for_execute_api(m.http_method, _arn_path(m.resource.path), self.stage.stage_name)
            for m in self.methods
        ]
        return iam.Grant.add_to_principal(grantee=grantee, actions=["execute-api:Invoke"], resource_arns=arns)

    def metric_server_errors(self, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.Metric:
        """Sum of 5XX responses of the stage."""
        return self.api.metric_server_error(period=period, statistic="Sum", dimensions_map=self._dimensions())

    def metric_latency_p99(self, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.Metric:
        """p99 latency of the stage in milliseconds."""
        return self.api.metric_latency(period=period, statistic="p99", dimensions_map=self._dimensions())

    def _dimensions(self) -> dict[str, str]:
        return {"ApiName": self.api.rest_api_name, "Stage": self.stage.stage_name}

    def recommended_alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """5XX responses and p99 latency of the stage."""
        return [
            AlarmSpec(
                name=f"{self._alarm_label}-5xx",
                metric=self.metric_server_errors(thresholds.period),
                threshold=thresholds.api_5xx,
                evaluation_periods=thresholds.evaluation_periods,
                description="The API returned server errors (5XX).",
            ),
            AlarmSpec(
                name=f"{self._alarm_label}-p99-latency",
                metric=self.metric_latency_p99(thresholds.period),
                threshold=thresholds.api_p99_latency_ms,
                evaluation_periods=thresholds.evaluation_periods,
                description="The API's p99 latency is above its threshold.",
            ),
        ]


def _path_parameters(path: str) -> list[str]:
    return [part.strip("{}+") for part in path.split("/") if part.startswith("{")]


def _arn_path(path: str) -> str:
    """A resource path as it appears in an execute-api ARN: path parameters become wildcards."""
    return "/".join("*" if part.startswith("{") else part for part in path.split("/")) or "/"


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )
