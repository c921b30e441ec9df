"""SQS queues the constructs create: KMS-encrypted with the environment key, TLS only."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .nag import acknowledge

DATA_KEY_REUSE = Duration.hours(1)  # fewer KMS calls per message; the key itself still rotates
DEAD_LETTER_RETENTION = Duration.days(14)  # SQS maximum: time to inspect and redrive


def encrypted_queue(scope: Construct, construct_id: str, key: kms.IKey, **props: Any) -> sqs.Queue:
    """A queue encrypted with `key` that denies non-TLS requests; `props` are further sqs.Queue arguments."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        data_key_reuse=DATA_KEY_REUSE,
        enforce_ssl=True,
        **props,
    )


def dead_letter_queue(scope: Construct, construct_id: str, key: kms.IKey, of_what: str, **props: Any) -> sqs.Queue:
    """An encrypted queue that is itself a dead-letter queue (14 days), with the nag findings that implies."""
    queue = encrypted_queue(
        scope, construct_id, key, retention_period=props.pop("retention_period", Duration.days(14)), **props
    )
    acknowledge(
        queue,
        ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"),
        f"This queue is itself the dead-letter queue of {of_what}; it raises an alarm instead of redriving, "
        "since a DLQ of a DLQ would only move the problem.",
    )
    return queue
