"""SQS queues the constructs create: KMS-encrypted with the environment key, TLS only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .nag import acknowledge, acknowledge_guard

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


def dead_letter_queue(
    scope: Construct,
    construct_id: str,
    key: kms.IKey,
    of_what: str,
    redrive_source_arns: Sequence[str] = (),
    **props: Any,
) -> sqs.Queue:
    """An encrypted queue that is itself a dead-letter queue (14 days), with the nag findings that implies.

    Its RedriveAllowPolicy names the only queues that may use it as their DLQ (`redrive_source_arns`); with none
    (a DLQ of SNS, EventBridge or Lambda, which do not need one) no queue may (Control Tower CT.SQS.PR.1).
    """
    allow = (
        sqs.RedriveAllowPolicy(
            redrive_permission=sqs.RedrivePermission.BY_QUEUE,
            source_queues=[
                sqs.Queue.from_queue_arn(scope, f"{construct_id}Source{index}", arn)
                for index, arn in enumerate(redrive_source_arns)
            ],
        )
        if redrive_source_arns
        else sqs.RedriveAllowPolicy(redrive_permission=sqs.RedrivePermission.DENY_ALL)
    )
    queue = encrypted_queue(
        scope,
        construct_id,
        key,
        retention_period=props.pop("retention_period", DEAD_LETTER_RETENTION),
        redrive_allow_policy=allow,
        **props,
    )
    acknowledge(
        queue,
        ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"),
        f"This queue is itself the dead-letter queue of {of_what}; it raises an alarm instead of redriving, "
        "since a DLQ of a DLQ would only move the problem.",
    )
    if not redrive_source_arns:
        acknowledge_guard(
            queue,
            "sqs_dlq_check",
            "CT.SQS.PR.1",
            f"This queue is the dead-letter queue of {of_what} (not of an SQS queue): its RedriveAllowPolicy "
            "denies every source queue, which the rule reads as 'not a DLQ'; a DLQ of it would only move the "
            "problem, so it raises an alarm instead.",
        )
    return queue
