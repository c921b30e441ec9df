"""API and identity as each environment deploys them: trust, attachment, exact permissions, logging, auth."""

from __future__ import annotations

import json
import re

import pytest

from stacks.config import build_config
from tests.support.synth import Synthesized
from tests.support.template import as_list, resources_of, single

SUFFIXES = ("dev", "staging", "prod", "pr-7")


def _grants(template: dict, role_id: str) -> set[tuple[str, str]]:
    """(action, resource JSON) pairs that the role's own policies allow."""
    return {
        (action, json.dumps(resource, sort_keys=True))
        for _, policy in resources_of(template, "AWS::IAM::Policy")
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


def _id(template: dict, rtype: str, where=lambda r: True) -> str:  # noqa: ANN001
    return single(template, rtype, where)[0]


# ---------------------------------------------------------------------------------------------------------- identity
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_authenticated_role_trusts_only_this_pools_authenticated_identities(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    pool_id = _id(template, "AWS::Cognito::IdentityPool")
    _, attachment = single(template, "AWS::Cognito::IdentityPoolRoleAttachment")
    assert attachment["Properties"]["IdentityPoolId"] == {"Ref": pool_id}
    auth_role_id = attachment["Properties"]["Roles"]["authenticated"]["Fn::GetAtt"][0]
    (statement,) = template["Resources"][auth_role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement == {
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Effect": "Allow",
        "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Condition": {
            "StringEquals": {"cognito-identity.amazonaws.com:aud": {"Ref": pool_id}},
            "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
        },
    }


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_api_handler_knows_this_environments_identity_pool(templates: dict, suffix: str) -> None:
    # The handler compares requestContext.identity.cognitoIdentityPoolId with this value (lambda/api domain).
    template = templates[suffix]
    pool_id = _id(template, "AWS::Cognito::IdentityPool")
    _, handler = single(
        template, "AWS::Lambda::Function", lambda r: r["Properties"]["Handler"] == "objects_api.handler.lambda_handler"
    )
    assert handler["Properties"]["Environment"]["Variables"]["IDENTITY_POOL_ID"] == {"Ref": pool_id}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_identity_pool_has_no_unauthenticated_access(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    _, pool = single(template, "AWS::Cognito::IdentityPool")
    assert pool["Properties"]["AllowUnauthenticatedIdentities"] is False
    assert pool["Properties"]["AllowClassicFlow"] is False
    assert pool["Properties"]["IdentityPoolName"] == f"secure-serverless-{suffix}-identities"
    (provider,) = pool["Properties"]["CognitoIdentityProviders"]
    assert provider["ServerSideTokenCheck"] is True
    _, attachment = single(template, "AWS::Cognito::IdentityPoolRoleAttachment")
    unauth = attachment["Properties"]["Roles"].get("unauthenticated")
    if unauth is not None:  # CDK always creates one; it must hold no permission at all
        assert _grants(template, unauth["Fn::GetAtt"][0]) == set()
        assert "ManagedPolicyArns" not in template["Resources"][unauth["Fn::GetAtt"][0]]["Properties"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_authenticated_role_may_invoke_the_api_and_upload_to_its_own_prefix_only(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    _, attachment = single(template, "AWS::Cognito::IdentityPoolRoleAttachment")
    role_id = attachment["Properties"]["Roles"]["authenticated"]["Fn::GetAtt"][0]
    api_id = _id(template, "AWS::ApiGateway::RestApi")
    stage_id = _id(template, "AWS::ApiGateway::Stage")
    key_id = _id(template, "AWS::KMS::Key")
    bucket_id = _id(template, "AWS::S3::Bucket", lambda r: not r["Properties"]["BucketNamePrefix"].endswith("-logs"))

    def route(path: str) -> str:
        parts = ["arn:", {"Ref": "AWS::Partition"}, ":execute-api:", {"Ref": "AWS::Region"}, ":",
                 {"Ref": "AWS::AccountId"}, ":", {"Ref": api_id}, "/", {"Ref": stage_id}, f"/GET{path}"]  # fmt: skip
        return json.dumps({"Fn::Join": ["", parts]}, sort_keys=True)

    own_prefix = {
        "Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/uploads/${cognito-identity.amazonaws.com:sub}/*"]]
    }
    assert _grants(template, role_id) == {
        ("execute-api:Invoke", route("/objects")),
        ("execute-api:Invoke", route("/objects/*")),
        ("s3:PutObject", json.dumps(own_prefix, sort_keys=True)),
        ("kms:GenerateDataKey", json.dumps({"Fn::GetAtt": [key_id, "Arn"]}, sort_keys=True)),
        ("kms:Decrypt", json.dumps({"Fn::GetAtt": [key_id, "Arn"]}, sort_keys=True)),  # multipart uploads
    }


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_signed_in_users_can_use_the_key_only_through_s3_uploads_to_this_bucket(templates: dict, suffix: str) -> None:
    # Without these conditions any user could call KMS directly and burn the account's shared request quota.
    template = templates[suffix]
    _, attachment = single(template, "AWS::Cognito::IdentityPoolRoleAttachment")
    role_id = attachment["Properties"]["Roles"]["authenticated"]["Fn::GetAtt"][0]
    bucket_id = _id(template, "AWS::S3::Bucket", lambda r: not r["Properties"]["BucketNamePrefix"].endswith("-logs"))
    kms_statements = [
        statement
        for _, policy in resources_of(template, "AWS::IAM::Policy")
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(action.startswith("kms:") for action in as_list(statement["Action"]))
    ]
    assert kms_statements
    for statement in kms_statements:
        condition = statement["Condition"]
        assert condition["StringEquals"]["kms:ViaService"] == {
            "Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
        }
        contexts = as_list(condition["StringLike"]["kms:EncryptionContext:aws:s3:arn"])
        assert contexts[0] == {"Fn::GetAtt": [bucket_id, "Arn"]}  # S3 Bucket Keys: the bucket ARN
        assert "/uploads/${cognito-identity.amazonaws.com:sub}/*" in json.dumps(contexts[1])


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_user_pool_settings(templates: dict, suffix: str) -> None:
    config = build_config(suffix)
    _, pool = single(templates[suffix], "AWS::Cognito::UserPool")
    props = pool["Properties"]
    assert props["UserPoolName"] == f"secure-serverless-{suffix}-users"
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is (not config.self_sign_up)
    assert props["UsernameAttributes"] == ["email"]
    assert props["AccountRecoverySetting"] == {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]}
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 14
    assert all(policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"))
    assert props["MfaConfiguration"] == {"required": "ON", "optional": "OPTIONAL", "off": "OFF"}[config.mfa]
    if config.mfa != "off":
        assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["DeletionProtection"] == ("INACTIVE" if config.destroyable else "ACTIVE")
    assert props["UserPoolTier"] == ("PLUS" if config.threat_protection else "ESSENTIALS")
    assert pool["DeletionPolicy"] == ("Delete" if config.destroyable else "Retain")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_app_client_is_public_srp_only(templates: dict, suffix: str) -> None:
    _, client = single(templates[suffix], "AWS::Cognito::UserPoolClient")
    props = client["Properties"]
    assert props["GenerateSecret"] is False
    assert sorted(props["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    assert "AllowedOAuthFlows" not in props and "CallbackURLs" not in props
    assert props["AllowedOAuthFlowsUserPoolClient"] is False


# ---------------------------------------------------------------------------------------------------------- API
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_stage_logging_tracing_throttling(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    config = build_config(suffix)
    access_id = _id(
        template, "AWS::Logs::LogGroup", lambda r: str(r["Properties"]["LogGroupName"]).endswith("/api-access")
    )
    _, stage = single(template, "AWS::ApiGateway::Stage")
    props = stage["Properties"]
    assert props["StageName"] == suffix
    assert props["TracingEnabled"] is True
    destination = json.dumps(props["AccessLogSetting"]["DestinationArn"])
    assert f'{{"Ref": "{access_id}"}}' in destination and ":log-group:" in destination
    log_format = json.loads(_render_access_log(props["AccessLogSetting"]["Format"], "hostile"))
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
        assert log_format[field] == value
    (settings,) = props["MethodSettings"]
    assert settings["LoggingLevel"] == config.api_execution_log_level
    assert settings["DataTraceEnabled"] is False
    assert settings["MetricsEnabled"] is True
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert settings["ThrottlingRateLimit"] == config.api_throttle_rate_limit
    assert settings["ThrottlingBurstLimit"] == config.api_throttle_burst_limit
    assert "CacheClusterEnabled" not in props or props["CacheClusterEnabled"] is False


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
def test_access_log_line_survives_a_hostile_user_agent(templates: dict, suffix: str) -> None:
    # A User-Agent (or path, or client request id) with quotes must not forge fields nor break the JSON line.
    _, stage = single(templates[suffix], "AWS::ApiGateway::Stage")
    log_format = stage["Properties"]["AccessLogSetting"]["Format"]
    line = _render_access_log(log_format, HOSTILE)
    record = json.loads(line)  # still one valid JSON object
    assert "forged" not in record
    assert record["status"] == "<$context.status>"
    assert record["cognitoIdentityId"] == "<$context.identity.cognitoIdentityId>"
    assert record["errorMessage"] == HOSTILE  # the message is kept, escaped
    assert "\n" not in line
    assert set(_VARIABLE.findall(log_format)) & CALLER_CHOSEN_VARIABLES == set()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_access_and_execution_logs_are_encrypted_with_retention(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    config = build_config(suffix)
    key_id = _id(template, "AWS::KMS::Key")
    api_id = _id(template, "AWS::ApiGateway::RestApi")
    execution_id, execution = single(
        template, "AWS::Logs::LogGroup", lambda r: "API-Gateway-Execution-Logs_" in json.dumps(r["Properties"])
    )
    assert execution["Properties"]["LogGroupName"] == {
        "Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api_id}, f"/{suffix}"]]
    }
    _, access = single(
        template, "AWS::Logs::LogGroup", lambda r: str(r["Properties"]["LogGroupName"]).endswith("/api-access")
    )
    assert access["Properties"]["LogGroupName"] == f"/secure-serverless-{suffix}/api-access"
    for group in (execution, access):
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert group["Properties"]["RetentionInDays"] == config.log_retention_days
    _, stage = single(template, "AWS::ApiGateway::Stage")
    assert execution_id in as_list(stage.get("DependsOn", []))  # created encrypted before API Gateway writes to it
    _, key = single(template, "AWS::KMS::Key")
    sids = {s.get("Sid") for s in key["Properties"]["KeyPolicy"]["Statement"]}
    assert "AllowCloudWatchLogsForApiExecutionLogs" in sids


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_method_is_iam_authorised_and_validated(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    validator_id, validator = single(template, "AWS::ApiGateway::RequestValidator")
    assert validator["Properties"]["ValidateRequestParameters"] is True
    methods = [m["Properties"] for _, m in resources_of(template, "AWS::ApiGateway::Method")]
    assert len(methods) == 2
    for method in methods:
        assert method["AuthorizationType"] == "AWS_IAM"
        assert method["HttpMethod"] == "GET"
        assert method["RequestValidatorId"] == {"Ref": validator_id}
        assert method["Integration"]["Type"] == "AWS_PROXY"
    parameters = [m.get("RequestParameters", {}) for m in methods]
    assert {"method.request.querystring.limit": False, "method.request.querystring.cursor": False} in parameters
    assert {"method.request.path.key": True} in parameters


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_gateway_errors_are_json(templates: dict, suffix: str) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for _, r in resources_of(templates[suffix], "AWS::ApiGateway::GatewayResponse")
    }
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        assert "$context.error.messageString" in response["ResponseTemplates"]["application/json"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_api_handler_is_read_only_on_the_table(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    table_id = _id(template, "AWS::DynamoDB::Table")
    key_id = _id(template, "AWS::KMS::Key")
    function_id, function = single(
        template, "AWS::Lambda::Function", lambda r: r["Properties"]["Handler"] == "objects_api.handler.lambda_handler"
    )
    env = function["Properties"]["Environment"]["Variables"]
    assert env["TABLE_NAME"] == {"Ref": table_id} and env["OWNER_INDEX_NAME"] == "by-owner"
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
    index_arn = {"Fn::Join": ["", [table_arn, "/index/by-owner"]]}
    data = {(a, r) for a, r in _grants(template, role_id) if a.startswith(("dynamodb:", "kms:", "s3:", "sqs:"))}
    assert data == {
        ("dynamodb:Query", json.dumps(table_arn, sort_keys=True)),
        ("dynamodb:Query", json.dumps(index_arn, sort_keys=True)),
        ("kms:Decrypt", json.dumps({"Fn::GetAtt": [key_id, "Arn"]}, sort_keys=True)),
    }
    permissions = [p["Properties"] for _, p in resources_of(template, "AWS::Lambda::Permission")
                   if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}]  # fmt: skip
    assert permissions and all(p["Principal"] == "apigateway.amazonaws.com" for p in permissions)
    api_id = _id(template, "AWS::ApiGateway::RestApi")
    assert all(f'"Ref": "{api_id}"' in json.dumps(p["SourceArn"]) for p in permissions)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_waf_everywhere_managed_rule_groups_where_configured(templates: dict, suffix: str) -> None:
    template = templates[suffix]
    ((_, acl),) = list(resources_of(template, "AWS::WAFv2::WebACL"))
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL" and props["Name"] == f"secure-serverless-{suffix}-api"
    groups = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in props["Rules"]
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
        assert sorted(r["Name"] for r in props["Rules"]) == [
            "QueryStringTooLong",
            "RateLimitPerIdentity",
            "RateLimitPerIp",
            "UriPathTooLong",
        ]
    assert sorted(r["Priority"] for r in props["Rules"]) == list(range(len(props["Rules"])))
    stage_id = _id(template, "AWS::ApiGateway::Stage")
    _, association = single(template, "AWS::WAFv2::WebACLAssociation")
    assert stage_id in json.dumps(association["Properties"]["ResourceArn"])
    _, logging = single(template, "AWS::WAFv2::LoggingConfiguration")
    redacted = [f["SingleHeader"]["Name"] for f in logging["Properties"]["RedactedFields"]]
    assert sorted(redacted) == ["authorization", "x-amz-security-token"]


# ---------------------------------------------------------------------------------------------------------- account
def test_no_environment_owns_the_api_gateway_account_setting(templates: dict) -> None:
    for template in templates.values():
        assert list(resources_of(template, "AWS::ApiGateway::Account")) == []


def test_account_stack_sets_the_logging_role_once_and_retains_it(synthesized: Synthesized) -> None:
    template = synthesized.account_template
    assert template is not None
    role_id, role = single(template, "AWS::IAM::Role")
    _, account = single(template, "AWS::ApiGateway::Account")
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert account["DeletionPolicy"] == "Retain" and role["DeletionPolicy"] == "Retain"
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(role["Properties"]["ManagedPolicyArns"])


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_environments_deploy_after_the_account_stack(synthesized: Synthesized, suffix: str) -> None:
    dependencies = [d.id for d in synthesized.artifacts[suffix].dependencies]
    assert "SecureServerless-account" in dependencies
