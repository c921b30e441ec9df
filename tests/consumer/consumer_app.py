"""A consumer CDK app, run from outside the repository against the installed secure_serverless wheel.

    python consumer_app.py OUTDIR clean      # zero-config constructs, all constructs composed with plain L2
                                             # resources passed as existing_*, and two zero-config instances of
                                             # every construct in one stack: must pass AwsSolutions and Serverless
    python consumer_app.py OUTDIR wildcard   # one stack per exposed role, each given a wildcard statement: the
                                             # AwsSolutions pack must flag every one (nothing is hidden)

Prints the JSON facts the test checks (the synth's own exit status says whether nag passed).
"""

import json
import sys

import aws_cdk as cdk
from aws_cdk import Acknowledgment
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import Construct

import secure_serverless
from secure_serverless import (
    AlarmThresholds,
    Alerting,
    ApiGatewayAccountLogging,
    EnvironmentKey,
    EventPipeline,
    IdentityPool,
    LoggedApi,
    PrivateNetwork,
    Route,
    ScaledTable,
    SecureBucket,
    SecureFunction,
    acknowledge_grant_wildcards,
)

OUTDIR, MODE = sys.argv[1], sys.argv[2]
CODE = lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")
PK = dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)
app = cdk.App(outdir=OUTDIR, builtin_cloud_formation_validation=False)  # this checks nag, not CFN


def zero_config(stack: cdk.Stack) -> None:
    """The four constructs that need nothing, with no other argument at all."""
    SecureBucket(stack, "Uploads")
    EnvironmentKey(stack, "Key")
    ScaledTable(stack, "Items", partition_key=PK)
    IdentityPool(stack, "Identity")


def composed(stack: cdk.Stack) -> None:
    """Every construct, wired to plain L2 resources the consumer owns (passed as existing_* or as inputs)."""
    key = kms.Key(stack, "TeamKey", enable_key_rotation=True)
    central_logs = s3.Bucket(
        stack, "CentralAccessLogs", enforce_ssl=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED, versioned=True,
    )  # fmt: skip
    cdk.Validations.of(central_logs).acknowledge(
        Acknowledgment(id="AwsSolutions-S1", reason="The consumer's central access-log bucket is itself the target.")
    )
    data = SecureBucket(stack, "Data", existing_access_logs_bucket=central_logs, encryption_key=key)
    table = ScaledTable(stack, "Records", partition_key=PK, encryption_key=key)
    # The consumer's own log groups, named under the team's prefix; the key lets CloudWatch Logs use it for those
    # names only (the encryption context of each group), as the library does for the groups it creates.
    processor_logs = logs.LogGroup(stack, "ProcessorLogs", log_group_name="/team-a/processor", encryption_key=key,
                                   retention=logs.RetentionDays.ONE_MONTH)  # fmt: skip
    key.add_to_resource_policy(iam.PolicyStatement(
        sid="TeamLogGroups", principals=[iam.ServicePrincipal(f"logs.{cdk.Aws.REGION}.amazonaws.com")],
        actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey"],
        resources=["*"], conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": cdk.Arn.format(
            cdk.ArnComponents(service="logs", resource="log-group", resource_name="/team-a/*",
                              arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME), stack)}},
    ))  # fmt: skip
    processor = SecureFunction(
        stack, "Processor", code=CODE, handler="index.handler", encryption_key=key, existing_log_group=processor_logs,
        memory_size=512,
    )  # fmt: skip
    dlq = sqs.Queue(stack, "TeamDeadLetters", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key,
                    enforce_ssl=True)  # fmt: skip
    cdk.Validations.of(dlq).acknowledge(
        Acknowledgment(id="AwsSolutions-SQS3", reason="This queue is the consumer's dead-letter queue itself."),
        Acknowledgment(id="Serverless-SQSRedrivePolicy", reason="This queue is the consumer's dead-letter queue."),
    )
    pipeline = EventPipeline(
        stack, "Pipeline", bucket=data.bucket, processor=processor.function, encryption_key=key,
        existing_dead_letter_queue=dlq,
    )  # fmt: skip
    acknowledge_grant_wildcards(
        processor.function, data.grant_read_objects(processor.function),
        "The processor reads any object of this team's data bucket: object ARNs are patterns by nature.",
    )  # fmt: skip
    table.grant_put_item(processor.function)
    pool = cognito.UserPool(
        stack, "TeamUsers", mfa=cognito.Mfa.REQUIRED, mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
        password_policy=cognito.PasswordPolicy(
            min_length=14, require_symbols=True, require_digits=True, require_uppercase=True
        ),
        feature_plan=cognito.FeaturePlan.PLUS,
        standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
    )  # fmt: skip
    identity = IdentityPool(stack, "Identity", existing_user_pool=pool)
    handler = SecureFunction(stack, "ApiHandler", code=CODE, handler="index.handler", encryption_key=key)
    access_logs = logs.LogGroup(stack, "ApiAccessLogs", log_group_name="/team-a/api-access", encryption_key=key,
                                retention=logs.RetentionDays.ONE_MONTH)  # fmt: skip
    api = LoggedApi(stack, "Api", handler=handler.function, routes=[Route("/items")], encryption_key=key,
                    existing_access_log_group=access_logs)  # fmt: skip
    api.grant_invoke(identity.authenticated_role)
    # Named: the library's key policy names the topic for the e-mail dead-letter queue (a generated ARN would cycle).
    topic = sns.Topic(stack, "TeamAlerts", topic_name="team-a-alerts", master_key=key, enforce_ssl=True)
    alerting = Alerting(stack, "Alerting", existing_topic=topic, encryption_key=key, email="ops@example.com")
    for source in (processor, handler, pipeline, table, api, alerting):
        alerting.add_alarms(source.recommended_alarms(AlarmThresholds()))
    PrivateNetwork(stack, "Network", encryption_key=key)


def twins(stack: cdk.Stack) -> None:
    """Two zero-config instances of every construct in one stack, without a prefix: TeamA and TeamB use the same
    construct ids (those of ZeroConfig too), so only the construct path tells their physical names apart.
    ApiGatewayAccountLogging is the one exception: it sets the account's single API Gateway logging role."""
    for team in ("TeamA", "TeamB"):
        scope = Construct(stack, team)
        EnvironmentKey(scope, "Key")
        bucket = SecureBucket(scope, "Uploads")
        table = ScaledTable(scope, "Items", partition_key=PK)
        IdentityPool(scope, "Identity")
        worker = SecureFunction(scope, "Worker", code=CODE, handler="index.handler")
        handler = SecureFunction(scope, "Handler", code=CODE, handler="index.handler")
        pipeline = EventPipeline(scope, "Pipeline", bucket=bucket.bucket, processor=worker.function)
        api = LoggedApi(scope, "Api", handler=handler.function, routes=[Route("/items")])
        PrivateNetwork(scope, "Network")
        alerting = Alerting(scope, "Alerting")
        for source in (worker, handler, pipeline, api, table, alerting):
            alerting.add_alarms(source.recommended_alarms(AlarmThresholds()))


def wildcard_stacks() -> list[str]:
    """One stack per role a construct exposes; the consumer adds `s3:GetObject` on `*` to it."""
    builders = {
        "Function": lambda s: SecureFunction(s, "F", code=CODE, handler="index.handler").role,
        "Identity": lambda s: IdentityPool(s, "I").authenticated_role,
        "ApiGatewayLogging": lambda s: ApiGatewayAccountLogging(s, "L").role,
    }
    for name, build in builders.items():
        role = build(cdk.Stack(app, f"Wildcard{name}"))
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    return [f"Wildcard{name}" for name in builders]


if MODE == "clean":
    zero_config(cdk.Stack(app, "ZeroConfig"))
    composed(cdk.Stack(app, "Composed"))
    twins(cdk.Stack(app, "Twins"))
    cdk.RemovalPolicies.of(app).destroy()  # a disposable consumer app
    stacks = ["ZeroConfig", "Composed", "Twins"]
else:
    stacks = wildcard_stacks()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
try:
    assembly = app.synth()
    synthesized = True
except RuntimeError:  # cdk-nag 3.x: an unacknowledged finding fails the synth
    synthesized = False
facts = {"version": secure_serverless.__version__, "module": secure_serverless.__file__, "synthesized": synthesized}
if synthesized:
    facts["types"] = {name: sorted({r["Type"] for r in assembly.get_stack_by_name(name).template["Resources"].values()})
                      for name in stacks}  # fmt: skip
print(json.dumps(facts))
