"""API and identity as each environment deploys them: trust, attachment, exact permissions, logging, auth."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Capture, Match, Template

from stacks.config import build_config
from tests.support.synth import Synthesized
from tests.support.template import arn_of, granted, has_statement, logical_id

SUFFIXES = ("dev", "staging", "prod", "pr-7")

IDENTITY_POOL, ATTACHMENT = "AWS::Cognito::IdentityPool", "AWS::Cognito::IdentityPoolRoleAttachment"
ROLE, POLICY, FUNCTION, KEY = "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::Lambda::Function", "AWS::KMS::Key"
STAGE, LOG_GROUP = "AWS::ApiGateway::Stage", "AWS::Logs::LogGroup"
API_HANDLER = {"Handler": "objects_api.handler.lambda_handler"}
DATA_BUCKET = {"BucketNamePrefix": Match.not_(Match.string_like_regexp("-logs$"))}
ACCESS_LOGS = {"LogGroupName": Match.string_like_regexp("/api-access$")}


def _attached_role(template: Template, kind: str) -> str:
    """Logical id of the role the one identity pool's one attachment gives `kind` ('authenticated'...) identities."""
    template.resource_count_is(ATTACHMENT, 1)
    role = Capture()
    template.has_resource_properties(
        ATTACHMENT,
        {
            "IdentityPoolId": Match.exact({"Ref": logical_id(template, IDENTITY_POOL)}),
            "Roles": {kind: Match.exact({"Fn::GetAtt": [role, "Arn"]})},
        },
    )
    return role.as_string()


def _json(value: object) -> str:
    """A resource as `granted` spells it."""
    return json.dumps(value, sort_keys=True)


# ---------------------------------------------------------------------------------------------------------- identity
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_authenticated_role_trusts_only_this_pools_authenticated_identities(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    role_id = _attached_role(template, "authenticated")
    trust = {
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Effect": "Allow",
        "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Condition": {
            "StringEquals": {"cognito-identity.amazonaws.com:aud": {"Ref": logical_id(template, IDENTITY_POOL)}},
            "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
        },
    }
    trusting = template.find_resources(
        ROLE, {"Properties": {"AssumeRolePolicyDocument": {"Statement": Match.exact([trust])}}}
    )
    assert role_id in trusting, f"{role_id} does not trust exactly {trust}"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_api_handler_knows_this_environments_identity_pool(stack_templates: dict[str, Template], suffix: str) -> None:
    # The handler compares requestContext.identity.cognitoIdentityPoolId with this value (lambda/api domain).
    template = stack_templates[suffix]
    pool = Match.exact({"Ref": logical_id(template, IDENTITY_POOL)})
    logical_id(template, FUNCTION, API_HANDLER)  # exactly one API handler
    template.has_resource_properties(
        FUNCTION, {**API_HANDLER, "Environment": {"Variables": {"IDENTITY_POOL_ID": pool}}}
    )
    # ... and the user pool's provider name, which cognitoAuthenticationProvider carries before the caller's sub.
    provider = ["cognito-idp.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}, "/"]
    user_pool = {"Ref": logical_id(template, "AWS::Cognito::UserPool")}
    template.has_resource_properties(
        FUNCTION,
        {
            **API_HANDLER,
            "Environment": {
                "Variables": {"USER_POOL_PROVIDER": Match.exact({"Fn::Join": ["", [*provider, user_pool]]})}
            },
        },
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_identity_pool_has_no_unauthenticated_access(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    template.resource_count_is(IDENTITY_POOL, 1)
    template.has_resource_properties(
        IDENTITY_POOL,
        {
            "AllowUnauthenticatedIdentities": False,
            "AllowClassicFlow": False,
            "IdentityPoolName": f"secure-serverless-{suffix}-identities",
            "CognitoIdentityProviders": [Match.object_like({"ServerSideTokenCheck": True})],  # exactly one provider
        },
    )
    # CDK always attaches an unauthenticated role; it must hold no permission at all.
    unauthenticated = _attached_role(template, "unauthenticated")
    assert granted(template, unauthenticated) == set()
    bare = template.find_resources(
        ROLE, {"Properties": {"ManagedPolicyArns": Match.absent(), "Policies": Match.absent()}}
    )
    assert unauthenticated in bare, f"{unauthenticated} has managed or inline policies"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_authenticated_role_may_only_invoke_the_apis_routes(stack_templates: dict[str, Template], suffix: str) -> None:
    """Users upload through grants the API signs (POST /uploads): the authenticated role holds no S3 and no KMS
    right at all (no s3:PutObject anywhere: an unbounded direct upload is impossible), only each route's method."""
    template = stack_templates[suffix]
    role_id = _attached_role(template, "authenticated")
    api_id = logical_id(template, "AWS::ApiGateway::RestApi")
    stage_id = logical_id(template, STAGE)

    def route(method: str, path: str) -> str:
        parts = ["arn:", {"Ref": "AWS::Partition"}, ":execute-api:", {"Ref": "AWS::Region"}, ":",
                 {"Ref": "AWS::AccountId"}, ":", {"Ref": api_id}, "/", {"Ref": stage_id},
                 f"/{method}{path}"]  # fmt: skip
        return _json({"Fn::Join": ["", parts]})

    # The exact permission set is the point: compared whole.
    assert granted(template, role_id) == {
        ("execute-api:Invoke", route("GET", "/objects")),
        ("execute-api:Invoke", route("GET", "/objects/*")),
        ("execute-api:Invoke", route("GET", "/downloads/*")),
        ("execute-api:Invoke", route("POST", "/uploads")),
        ("execute-api:Invoke", route("DELETE", "/objects/*")),
        ("execute-api:Invoke", route("POST", "/erasure")),
        ("execute-api:Invoke", route("GET", "/erasure")),
    }
    statements = [
        statement
        for policy in template.find_resources(POLICY).values()
        if {"Ref": role_id} in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"execute-api:Invoke"}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_api_function_signs_upload_grants_under_uploads_only(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    """The upload grants are the API function's role putting one object: s3:PutObject under uploads/ (and the key
    through S3 only, for that bucket), beside its exact-version reads for presigned downloads and the exact-version
    deletes (with version listings, s3:prefix-scoped: test_api_handler_is_read_only_on_the_table) of DELETE."""
    template = stack_templates[suffix]
    bucket_arn = arn_of(logical_id(template, "AWS::S3::Bucket", DATA_BUCKET))
    function_id = logical_id(template, FUNCTION, API_HANDLER)
    role = template.to_json()["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    uploads = _json({"Fn::Join": ["", [bucket_arn, "/uploads/*"]]})
    s3_rights = {(action, resource) for action, resource in granted(template, role) if action.startswith("s3:")}
    assert s3_rights == {
        ("s3:PutObject", uploads),
        ("s3:GetObjectVersion", uploads),
        ("s3:DeleteObjectVersion", uploads),
        ("s3:ListBucketVersions", _json(bucket_arn)),
    }


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_grant_signer_uses_the_key_for_uploads_only_through_s3_for_this_bucket(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    # The encryption of a grant-signed upload is the API function's role asking KMS through S3, for this bucket's
    # uploads/ only (kms:GenerateDataKey; kms:Decrypt for multipart). Signed-in users hold no KMS right at all.
    template = stack_templates[suffix]
    function_id = logical_id(template, FUNCTION, API_HANDLER)
    role_id = template.to_json()["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    bucket_arn = arn_of(logical_id(template, "AWS::S3::Bucket", DATA_BUCKET))
    only_via_s3_uploads = {
        "StringEquals": {
            "kms:ViaService": Match.exact({"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]})
        },
        "StringLike": {
            "kms:EncryptionContext:aws:s3:arn": Match.exact(
                [bucket_arn, {"Fn::Join": ["", [bucket_arn, "/uploads/*"]]}]
            )
        },
    }
    statement = has_statement(
        Action=Match.exact(["kms:Decrypt", "kms:GenerateDataKey"]), Condition=Match.exact(only_via_s3_uploads)
    )
    on_role = {"Roles": Match.array_with([{"Ref": role_id}]), "PolicyDocument": {"Statement": statement}}
    assert template.find_resources(POLICY, {"Properties": on_role})
    authenticated = _attached_role(template, "authenticated")
    assert not [action for action, _ in granted(template, authenticated) if action.startswith("kms:")]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_prod_retains_its_user_pool_and_identity_pool(stack_templates: dict[str, Template], suffix: str) -> None:
    """Replacing either pool would give every user a new identity id and orphan their objects and records; prod
    keeps both, staging and the dev preset stay destroyable."""
    policy = "Delete" if build_config(suffix).destroyable else "Retain"
    assert (suffix == "prod") is (policy == "Retain")
    for resource_type in ("AWS::Cognito::UserPool", "AWS::Cognito::IdentityPool"):
        stack_templates[suffix].resource_count_is(resource_type, 1)
        stack_templates[suffix].all_resources(resource_type, {"DeletionPolicy": policy, "UpdateReplacePolicy": policy})


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_user_pool_settings(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    template.resource_count_is("AWS::Cognito::UserPool", 1)
    minimum_length = Capture()
    template.has_resource(
        "AWS::Cognito::UserPool",
        {
            "DeletionPolicy": "Delete" if config.destroyable else "Retain",
            "Properties": {
                "UserPoolName": f"secure-serverless-{suffix}-users",
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": not config.self_sign_up},
                "UsernameAttributes": Match.exact(["email"]),
                "AccountRecoverySetting": Match.exact(
                    {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]}
                ),
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": minimum_length,
                        **dict.fromkeys(
                            ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"), True
                        ),
                    }
                },
                "MfaConfiguration": {"required": "ON", "optional": "OPTIONAL", "off": "OFF"}[config.mfa],
                **({"EnabledMfas": Match.exact(["SOFTWARE_TOKEN_MFA"])} if config.mfa != "off" else {}),
                "DeletionProtection": "INACTIVE" if config.destroyable else "ACTIVE",
                "UserPoolTier": "PLUS" if config.threat_protection else "ESSENTIALS",
            },
        },
    )
    assert minimum_length.as_number() >= 14


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_app_client_is_public_srp_only(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    template.resource_count_is("AWS::Cognito::UserPoolClient", 1)
    flows = Capture()
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "GenerateSecret": False,
            "ExplicitAuthFlows": flows,
            "PreventUserExistenceErrors": "ENABLED",
            "AllowedOAuthFlows": Match.absent(),
            "CallbackURLs": Match.absent(),
            "AllowedOAuthFlowsUserPoolClient": False,
        },
    )
    assert sorted(flows.as_array()) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]  # in any order


# ---------------------------------------------------------------------------------------------------------- API
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_stage_logging_tracing_throttling(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    access_id = logical_id(template, LOG_GROUP, ACCESS_LOGS)
    template.resource_count_is(STAGE, 1)
    log_format = Capture()
    template.has_resource_properties(
        STAGE,
        {
            "StageName": suffix,
            "TracingEnabled": True,
            "AccessLogSetting": {
                "DestinationArn": {"Fn::Join": ["", Match.array_with([":log-group:", {"Ref": access_id}])]},
                "Format": log_format,
            },
            "MethodSettings": [  # every method, then POST /uploads with its own throttling (half the stage's)
                {
                    "HttpMethod": "*",
                    "ResourcePath": "/*",
                    "LoggingLevel": config.api_execution_log_level,
                    "DataTraceEnabled": False,
                    "MetricsEnabled": True,
                    "ThrottlingRateLimit": config.api_throttle_rate_limit,
                    "ThrottlingBurstLimit": config.api_throttle_burst_limit,
                },
                {
                    "HttpMethod": "POST",
                    "ResourcePath": "/~1uploads",
                    "LoggingLevel": config.api_execution_log_level,
                    "DataTraceEnabled": False,
                    "MetricsEnabled": True,
                    "ThrottlingRateLimit": config.api_throttle_rate_limit // 2,
                    "ThrottlingBurstLimit": config.api_throttle_burst_limit // 2,
                },
            ],
            "CacheClusterEnabled": Match.absent(),
        },
    )
    # Rendered as API Gateway would, then parsed: an evaluation of the format string, so plain JSON.
    record = json.loads(_render_access_log(log_format.as_string(), "hostile"))
    for field, value in {
        "extendedRequestId": "<$context.extendedRequestId>",
        "cognitoIdentityId": "<$context.identity.cognitoIdentityId>",
        "caller": "<$context.identity.caller>",
        "httpMethod": "<$context.httpMethod>",
        "resourcePath": "<$context.resourcePath>",
        "status": "<$context.status>",
        "responseLatency": "<$context.responseLatency>",
        "integrationLatency": "<$context.integration.latency>",
        "errorMessage": "hostile",
    }.items():
        assert record[field] == value


# $context variables whose value the caller chooses (headers, raw path, client-set request id, messages that echo
# input). API Gateway writes them into the access-log line without escaping.
CALLER_CHOSEN_VARIABLES = {
    "$context.identity.userAgent",
    "$context.path",
    "$context.requestId",
    "$context.error.message",
    "$context.authorizer.error",
}
# The escaped variant: API Gateway renders it as a complete JSON string literal.
ESCAPED_VARIABLES = {"$context.error.messageString"}
HOSTILE = 'curl/8" , "status": "200", "cognitoIdentityId": "us-east-1:victim\n{"forged": "'
_VARIABLE = re.compile(r"\$context\.[A-Za-z0-9_.]+")


def _render_access_log(log_format: str, hostile: str) -> str:
    """One access-log line as API Gateway writes it when every caller-chosen value is `hostile`: raw substitution,
    except the documented escaped variables; other variables become `<name>`."""

    def value(match: re.Match[str]) -> str:
        variable = match.group(0)
        if variable in ESCAPED_VARIABLES:
            return json.dumps(hostile)
        return hostile if variable in CALLER_CHOSEN_VARIABLES else f"<{variable}>"

    return _VARIABLE.sub(value, log_format)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_access_log_line_survives_a_hostile_user_agent(stack_templates: dict[str, Template], suffix: str) -> None:
    # A User-Agent (or path, or client request id) with quotes must not forge fields nor break the JSON line.
    template = stack_templates[suffix]
    template.resource_count_is(STAGE, 1)
    log_format = Capture()
    template.has_resource_properties(STAGE, {"AccessLogSetting": {"Format": log_format}})
    # Rendered with a hostile value, then parsed: an evaluation of the format string, so plain JSON.
    line = _render_access_log(log_format.as_string(), HOSTILE)
    record = json.loads(line)  # still one valid JSON object
    assert "forged" not in record
    assert record["status"] == "<$context.status>"
    assert record["cognitoIdentityId"] == "<$context.identity.cognitoIdentityId>"
    assert record["errorMessage"] == HOSTILE  # the message is kept, escaped
    assert "\n" not in line
    assert set(_VARIABLE.findall(log_format.as_string())) & CALLER_CHOSEN_VARIABLES == set()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_access_and_execution_logs_are_encrypted_with_retention(
    stack_templates: dict[str, Template], suffix: str
) -> None:
    template = stack_templates[suffix]
    config = build_config(suffix)
    encrypted = {
        "KmsKeyId": Match.exact(arn_of(logical_id(template, KEY))),
        "RetentionInDays": config.log_retention_days,
    }
    api_id = logical_id(template, "AWS::ApiGateway::RestApi")
    # Exactly one execution log group, and it is this API's for this stage.
    logical_id(
        template, LOG_GROUP, {"LogGroupName": {"Fn::Join": ["", Match.array_with(["API-Gateway-Execution-Logs_"])]}}
    )
    execution_name = {"Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api_id}, f"/{suffix}"]]}
    execution_id = logical_id(template, LOG_GROUP, {"LogGroupName": Match.exact(execution_name), **encrypted})
    logical_id(template, LOG_GROUP, ACCESS_LOGS)  # exactly one access log group
    template.has_resource_properties(
        LOG_GROUP, {"LogGroupName": f"/secure-serverless-{suffix}/api-access", **encrypted}
    )
    template.resource_count_is(STAGE, 1)
    # Created encrypted before API Gateway writes to it.
    template.has_resource(STAGE, {"DependsOn": Match.array_with([execution_id])})
    template.resource_count_is(KEY, 1)
    template.has_resource_properties(
        KEY, {"KeyPolicy": {"Statement": has_statement(Sid="AllowCloudWatchLogsForApiExecutionLogs")}}
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_method_is_iam_authorised_and_validated(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    template.resource_count_is("AWS::ApiGateway::RequestValidator", 1)
    validator_id = logical_id(template, "AWS::ApiGateway::RequestValidator", {"ValidateRequestParameters": True})
    method = "AWS::ApiGateway::Method"
    template.resource_count_is(method, 7)
    template.all_resources_properties(
        method,
        {
            "AuthorizationType": "AWS_IAM",
            "HttpMethod": Match.string_like_regexp("^(GET|POST|DELETE)$"),
            "RequestValidatorId": Match.exact({"Ref": validator_id}),
            "Integration": {"Type": "AWS_PROXY"},
        },
    )
    methods = sorted(m["Properties"]["HttpMethod"] for m in template.find_resources(method).values())
    assert methods == ["DELETE", "GET", "GET", "GET", "GET", "POST", "POST"]
    for parameters in (
        {"method.request.querystring.limit": False, "method.request.querystring.cursor": False},
        {"method.request.path.key": True},
        {"method.request.querystring.version_id": False, "method.request.path.key": True},
    ):
        template.has_resource_properties(method, {"RequestParameters": Match.exact(parameters)})
    template.has_resource_properties(
        method,
        {
            "HttpMethod": "DELETE",
            "RequestParameters": Match.exact(
                {"method.request.querystring.version_id": False, "method.request.path.key": True}
            ),
        },
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_gateway_errors_are_json(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    response = "AWS::ApiGateway::GatewayResponse"
    template.resource_count_is(response, 2)
    for response_type in ("DEFAULT_4XX", "DEFAULT_5XX"):
        template.has_resource_properties(response, {"ResponseType": response_type})
    template.all_resources_properties(
        response,
        {"ResponseTemplates": {"application/json": Match.string_like_regexp(r"\$context\.error\.messageString")}},
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_api_handler_is_read_only_on_the_table(stack_templates: dict[str, Template], suffix: str) -> None:
    """Queries on the table, identity-mapping items its only write; in S3, what it signs for users' devices (reading
    an exact version under uploads/ for presigned downloads, putting an object under uploads/ for upload grants) and
    what DELETE /objects/{key+} needs (listing versions under uploads/ only, deleting exact versions under uploads/):
    GetObject or DeleteObject without a version id stay denied."""
    template = stack_templates[suffix]
    table_id = logical_id(template, "AWS::DynamoDB::Table")
    bucket_id = logical_id(template, "AWS::S3::Bucket", DATA_BUCKET)
    function_id = logical_id(template, FUNCTION, API_HANDLER)
    role = Capture()
    template.has_resource_properties(
        FUNCTION,
        {
            **API_HANDLER,
            "Role": Match.exact({"Fn::GetAtt": [role, "Arn"]}),
            "Environment": {
                "Variables": {
                    "TABLE_NAME": Match.exact({"Ref": table_id}),
                    "OWNER_INDEX_NAME": "by-owner",
                    "BUCKET_NAME": Match.exact({"Ref": bucket_id}),
                    "EXPECTED_BUCKET_OWNER": {"Ref": "AWS::AccountId"},
                }
            },
        },
    )
    table_arn = arn_of(table_id)
    index_arn = {"Fn::Join": ["", [table_arn, "/index/by-owner"]]}
    data_services = ("dynamodb:", "kms:", "s3:", "sqs:")
    # The exact data permission set is the point: compared whole.
    assert {(a, r) for a, r in granted(template, role.as_string()) if a.startswith(data_services)} == {
        ("dynamodb:Query", _json(table_arn)),
        ("dynamodb:Query", _json(index_arn)),
        ("kms:Decrypt", _json(arn_of(logical_id(template, KEY)))),
        ("s3:GetObjectVersion", _json({"Fn::Join": ["", [arn_of(bucket_id), "/uploads/*"]]})),
        ("s3:DeleteObjectVersion", _json({"Fn::Join": ["", [arn_of(bucket_id), "/uploads/*"]]})),
        ("s3:ListBucketVersions", _json(arn_of(bucket_id))),  # only listings under uploads/: see below
        ("s3:PutObject", _json({"Fn::Join": ["", [arn_of(bucket_id), "/uploads/*"]]})),
        ("dynamodb:PutItem", _json(table_arn)),  # identity mappings only: see the next assertion
        ("kms:GenerateDataKey", _json(arn_of(logical_id(template, KEY)))),
        # POST/GET /erasure: the caller's job (#erasure/* only, tests/stacks/test_erasure.py) and its start.
        ("dynamodb:GetItem", _json(table_arn)),
        ("dynamodb:UpdateItem", _json(table_arn)),  # also the upload grants' counters (#usage/* only)
        ("dynamodb:BatchGetItem", _json(table_arn)),  # the upload grants' counters (#usage/* only)
        (
            "sqs:SendMessage",
            _json(
                arn_of(
                    logical_id(template, "AWS::SQS::Queue", {"QueueName": Match.string_like_regexp("erasure-jobs$")})
                )
            ),
        ),
    }
    # Its mapping writes: items whose partition key is an identity mapping's (both directions), only with the key.
    mappings_only = {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#identity/*", "#sub/*"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    template.has_resource_properties(
        POLICY,
        {
            "Roles": Match.array_with([{"Ref": role.as_string()}]),
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "dynamodb:PutItem",
                            "Effect": "Allow",
                            "Condition": mappings_only,
                            "Resource": table_arn,
                        }
                    ]
                )
            },
        },
    )
    # Its version listings name a prefix under uploads/ (the handler's: the caller's own key), or are denied.
    template.has_resource_properties(
        POLICY,
        {
            "Roles": Match.array_with([{"Ref": role.as_string()}]),
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "s3:ListBucketVersions",
                            "Effect": "Allow",
                            "Condition": {"StringLike": {"s3:prefix": "uploads/*"}},
                            "Resource": arn_of(bucket_id),
                        }
                    ]
                )
            },
        },
    )
    # Every permission to invoke the handler is API Gateway's, for this API.
    for_handler = {"FunctionName": Match.exact(arn_of(function_id))}
    this_api = {
        "Principal": "apigateway.amazonaws.com",
        "SourceArn": {"Fn::Join": ["", Match.array_with([{"Ref": logical_id(template, "AWS::ApiGateway::RestApi")}])]},
    }
    permissions = template.find_resources("AWS::Lambda::Permission", {"Properties": for_handler})
    from_this_api = template.find_resources("AWS::Lambda::Permission", {"Properties": {**for_handler, **this_api}})
    assert permissions and from_this_api.keys() == permissions.keys()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_waf_everywhere_managed_rule_groups_where_configured(stack_templates: dict[str, Template], suffix: str) -> None:
    template = stack_templates[suffix]
    template.resource_count_is("AWS::WAFv2::WebACL", 1)
    captured = Capture()
    template.has_resource_properties(
        "AWS::WAFv2::WebACL", {"Scope": "REGIONAL", "Name": f"secure-serverless-{suffix}-api", "Rules": captured}
    )
    # The exact sets of rule groups, names and priorities are the point: read from the captured rules, compared whole.
    rules = captured.as_array()
    groups = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    if build_config(suffix).waf_managed_rules:
        assert groups == {
            "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet",
            "AWSManagedRulesAmazonIpReputationList",
        }
    else:  # dev/pr-N: only the rate and size rules (1 USD a month each)
        assert groups == set()
        assert sorted(r["Name"] for r in rules) == [
            "QueryStringTooLong",
            "RateLimitPerIdentity",
            "RateLimitPerIp",
            "SignatureInQueryString",  # SigV4 in the query string would escape the per-identity limit
            "UriPathTooLong",
        ]
    assert sorted(r["Priority"] for r in rules) == list(range(len(rules)))
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
    stage = {"Ref": logical_id(template, STAGE)}
    template.has_resource_properties(
        "AWS::WAFv2::WebACLAssociation", {"ResourceArn": {"Fn::Join": ["", Match.array_with([stage])]}}
    )
    template.resource_count_is("AWS::WAFv2::LoggingConfiguration", 1)
    redacted = [
        {"SingleHeader": {"Name": "authorization"}},
        {"SingleHeader": {"Name": "x-amz-security-token"}},
        {"QueryString": {}},  # a request signed in the query string carries its credentials there
    ]
    template.has_resource_properties("AWS::WAFv2::LoggingConfiguration", {"RedactedFields": Match.exact(redacted)})


# ---------------------------------------------------------------------------------------------------------- account
def test_no_environment_owns_the_api_gateway_account_setting(stack_templates: dict[str, Template]) -> None:
    for template in stack_templates.values():
        template.resource_count_is("AWS::ApiGateway::Account", 0)


def test_account_stack_sets_the_logging_role_once_and_retains_it(synthesized: Synthesized) -> None:
    assert synthesized.account_template is not None
    template = Template.from_json(synthesized.account_template)  # the session's synthesis, read (no second synth)
    template.resource_count_is(ROLE, 1)
    template.resource_count_is("AWS::ApiGateway::Account", 1)
    template.has_resource(
        "AWS::ApiGateway::Account",
        {
            "DeletionPolicy": "Retain",
            "Properties": {"CloudWatchRoleArn": Match.exact(arn_of(logical_id(template, ROLE)))},
        },
    )
    push_to_logs = Match.string_like_regexp("AmazonAPIGatewayPushToCloudWatchLogs$")
    template.has_resource(
        ROLE,
        {
            "DeletionPolicy": "Retain",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        Match.object_like({"Principal": Match.exact({"Service": "apigateway.amazonaws.com"})})
                    ]
                },
                "ManagedPolicyArns": Match.array_with([{"Fn::Join": ["", Match.array_with([push_to_logs])]}]),
            },
        },
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_environments_deploy_after_the_account_stack(synthesized: Synthesized, suffix: str) -> None:
    dependencies = [d.id for d in synthesized.artifacts[suffix].dependencies]
    assert "SecureServerless-account" in dependencies
