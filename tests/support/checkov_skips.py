"""Every checkov check this project skips, where, and why: the one place (docs/checks.md lists them).

A finding is skipped only if a row names its check, the resource's logical-id prefix and the presets where it
applies; tests/stacks/test_checkov.py fails on any other finding and on any row that no longer matches one.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_PRESETS = frozenset({"dev", "staging", "prod"})
ACCOUNT = frozenset({"account"})  # the account-level stack (SecureServerless-account)


@dataclass(frozen=True)
class CheckovSkip:
    check: str  # checkov id, e.g. CKV_AWS_18
    resource: str  # logical-id prefix (the construct path), e.g. DataAccessLogs
    presets: frozenset[str]  # presets (or ACCOUNT) whose templates may fail it
    reason: str

    def covers(self, check: str, logical_id: str, preset: str) -> bool:
        return check == self.check and logical_id.startswith(self.resource) and preset in self.presets


CHECKOV_SKIPS: tuple[CheckovSkip, ...] = (
    CheckovSkip(
        "CKV_AWS_18",
        "DataAccessLogs",
        ALL_PRESETS,
        "The access-log bucket is the server-access-log destination of the data bucket; logging it into itself "
        "would loop and into another bucket would only move the finding. It is private, TLS-only and expires.",
    ),
    CheckovSkip(
        "CKV_AWS_116",
        "ApiHandlerFunction",
        ALL_PRESETS,
        "The API handler is invoked synchronously by API Gateway: a failure is returned to the caller, there is "
        "no asynchronous event a function DLQ would ever receive.",
    ),
    CheckovSkip(
        "CKV_AWS_116",
        "ProcessorFunction",
        ALL_PRESETS,
        "The processor is invoked by an SQS event source mapping: failed records go back to the buffer and from "
        "there to its dead-letter queue (maxReceiveCount); a function DLQ applies only to asynchronous invokes.",
    ),
    CheckovSkip(
        "CKV_AWS_115",
        "ApiHandlerFunction",
        frozenset({"dev"}),
        "dev/pr-N keep the account's unreserved concurrency pool: reserving some for each short-lived environment "
        "would starve the others (staging/prod reserve concurrency, see the preset table).",
    ),
    CheckovSkip(
        "CKV_AWS_115",
        "ProcessorFunction",
        frozenset({"dev"}),
        "dev/pr-N keep the account's unreserved concurrency pool; the event source mapping's maximum concurrency "
        "(processor_max_concurrency) already bounds the processor there.",
    ),
    CheckovSkip(
        "CKV_AWS_117",
        "ApiHandlerFunction",
        frozenset({"dev"}),
        "Private network mode (VPC, endpoints) is off in dev: interface endpoints cost money every hour; staging "
        "and prod run both functions in isolated subnets.",
    ),
    CheckovSkip(
        "CKV_AWS_117",
        "ProcessorFunction",
        frozenset({"dev"}),
        "Private network mode (VPC, endpoints) is off in dev: interface endpoints cost money every hour; staging "
        "and prod run both functions in isolated subnets.",
    ),
    CheckovSkip(
        "CKV_AWS_116",
        "ErasureFunction",
        ALL_PRESETS,
        "The erasure worker is invoked by an SQS event source mapping: a failed job message returns to the erasure "
        "queue and from there to its dead-letter queue (maxReceiveCount 5, alarmed); a function DLQ applies only "
        "to asynchronous invokes.",
    ),
    CheckovSkip(
        "CKV_AWS_115",
        "ErasureFunction",
        ALL_PRESETS,
        "The erasure worker's concurrency is bounded by its event source mapping's maximum concurrency (2): erasure "
        "jobs are rare and may wait; reserving concurrency would only take it from the other functions.",
    ),
    CheckovSkip(
        "CKV_AWS_117",
        "ErasureFunction",
        frozenset({"dev"}),
        "Private network mode (VPC, endpoints) is off in dev: interface endpoints cost money every hour; staging "
        "and prod run the erasure worker in isolated subnets.",
    ),
    CheckovSkip(
        "CKV_AWS_115",
        "NetworkPrefixListLookupFunction",
        frozenset({"staging", "prod"}),
        "The prefix-list lookup is a custom-resource function CloudFormation invokes once per deployment; "
        "reserving concurrency for it would only take capacity from the account's other functions.",
    ),
    CheckovSkip(
        "CKV_AWS_116",
        "NetworkPrefixListLookupFunction",
        frozenset({"staging", "prod"}),
        "CloudFormation invokes the prefix-list lookup and waits for its answer: a failure fails the deployment "
        "with the reason, so a DLQ would never hold anything to act on.",
    ),
    CheckovSkip(
        "CKV_AWS_117",
        "NetworkPrefixListLookupFunction",
        frozenset({"staging", "prod"}),
        "The prefix-list lookup calls the EC2 API, which the isolated VPC has no endpoint for; it runs only "
        "during deployments and holds one read-only Describe action.",
    ),
    CheckovSkip(
        "CKV_AWS_120",
        "ApiDeploymentStage",
        ALL_PRESETS,
        "Every response is one caller's private data (Cache-Control: no-store); a stage cache keyed without the "
        "caller's identity could serve one user's records to another, and costs money every hour.",
    ),
    CheckovSkip(
        "CKV_AWS_192",
        "ApiWebAcl",
        frozenset({"dev"}),
        "dev/pr-N's web ACL carries only the rate (per identity, per IP) and size rules: the AWS managed groups "
        "(KnownBadInputs with its Log4j rule among them) are off there by configuration (waf_managed_rules), and "
        "every function behind the API is Python, with no Log4j to exploit; staging/prod include the group.",
    ),
    CheckovSkip(
        "CKV_AWS_111",
        "NetworkVpcAccess",
        frozenset({"staging", "prod"}),
        "The dedicated VPC-access policy PrivateNetwork attaches to each function role holds only the Lambda "
        "network-interface actions (ec2:CreateNetworkInterface, ...): EC2 offers no narrower resource for them; "
        "every other grant names exact ARNs.",
    ),
)
