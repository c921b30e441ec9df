"""A small consumer CDK app, run from outside the repository against the installed secure_serverless wheel.

It overrides a few defaults and must pass the AwsSolutions pack. Prints the JSON facts the test checks.
"""

import json
import sys

import aws_cdk as cdk
from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from cdk_nag import AwsSolutionsChecks

import secure_serverless
from secure_serverless import (
    BucketNaming,
    CapacityRange,
    EnvironmentKey,
    ScaledTable,
    SecureBucket,
)

app = cdk.App(outdir=sys.argv[1], builtin_cloud_formation_validation=False)  # this checks nag, not CFN
stack = cdk.Stack(app, "ConsumerStack")
key = EnvironmentKey(stack, "Key", name_prefix="consumer-app")
bucket = SecureBucket(
    stack,
    "Uploads",
    name_prefix="consumer-app",
    naming=BucketNaming.GLOBAL_WITH_ACCOUNT_REGION,  # override: global-name fallback
    encryption_key=key.key,
    noncurrent_version_expiration=Duration.days(7),  # override
)
table = ScaledTable(
    stack,
    "Items",
    partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
    encryption_key=key.key,
    read_capacity=CapacityRange(2, 4),  # override
    deletion_protection=False,
)
cdk.RemovalPolicies.of(stack).destroy()  # a disposable consumer stack
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
assembly = app.synth()
template = assembly.get_stack_by_name("ConsumerStack").template
print(
    json.dumps(
        {
            "version": secure_serverless.__version__,
            "module": secure_serverless.__file__,
            "types": sorted({r["Type"] for r in template["Resources"].values()}),
        }
    )
)
