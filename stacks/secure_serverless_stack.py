"""The per-environment stack: wires the secure_serverless constructs with values from EnvironmentConfig."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Tags

from constructs import Construct
from secure_serverless import EnvironmentKey, EnvironmentKeyProps, SecureBucket, SecureBucketProps
from stacks.config import EnvironmentConfig


class SecureServerlessStack(Stack):
    """One environment: key, bucket (and, in later parts, the data path, API, identity and alarms)."""

    def __init__(self, scope: Construct, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            config.stack_name,
            stack_name=config.stack_name,
            description=f"secure-serverless environment {config.suffix} ({config.preset} preset)",
            termination_protection=config.termination_protection,
            **kwargs,
        )
        self.config = config
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)
        removal = RemovalPolicy.DESTROY if config.destroyable else RemovalPolicy.RETAIN

        self.key = EnvironmentKey(
            self,
            "Key",
            EnvironmentKeyProps(name_prefix=config.resource_prefix, removal_policy=removal),
        )
        self.data = SecureBucket(
            self,
            "Data",
            SecureBucketProps(
                name_prefix=config.bucket_prefix,
                encryption_key=self.key.key,
                noncurrent_version_expiration=Duration.days(config.noncurrent_version_expiration_days),
                access_log_expiration=Duration.days(config.access_log_retention_days),
                removal_policy=removal,
            ),
        )
        CfnOutput(self, "BucketName", value=self.data.bucket.bucket_name, description="Data bucket")
        CfnOutput(self, "KeyArn", value=self.key.key.key_arn, description="Environment KMS key")
