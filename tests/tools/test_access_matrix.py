"""The access matrix (tools/access_matrix.py): every request that matters, decided by a real IAM evaluation engine
(@cloud-copilot/iam-simulate, tests/support/iam_eval) against dev's and prod's synthesized policies.

Each row's expected decision and deciding statement(s) are data here, reviewed by hand: a change to any policy that
changes what a row decides fails `test_every_row_decides_as_expected` with the row named. `test_mutation_check`
proves the rows are sharp enough: removing any one Deny statement, or any one condition key of any statement (Allow
statements too), from the bucket, access-log bucket, key, role (identity and trust), queue, topic and VPC endpoint
policies (MUTATED) must change at least one row's decision; the few weakenings that change none are listed in EXEMPT
with the reason the overlap is kept.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any

import pytest

from tools.access_matrix import (
    DOCS,
    MARKER_BEGIN,
    MARKER_END,
    MUTATED,
    Environment,
    Row,
    decide,
    matrix_for,
    mutation_outcomes,
    outcome,
    render,
)

EXPECTED_DEV = {
    "A.put.own": "ImplicitlyDenied",
    "A.put.own.kms": "ImplicitlyDenied",
    "A.put.own.sse-s3": "ExplicitlyDenied bucket#DenyWrongEncryptionHeader",
    "A.put.own.other-key": "ExplicitlyDenied bucket#DenyOtherKmsKey",
    "A.put.own.aws-managed": "ExplicitlyDenied bucket#DenyAwsManagedKmsKey",
    "A.put.own.sse-c": "ExplicitlyDenied bucket#DenySseC",
    "A.part.own": "ImplicitlyDenied",
    "A.part.own.sse-c": "ExplicitlyDenied bucket#DenySseC",
    "A.put.other": "ImplicitlyDenied",
    "A.put.outside": "ImplicitlyDenied",
    "A.put.own.no-tls": "ExplicitlyDenied bucket#1",
    "A.put.own.tls1.1": "ExplicitlyDenied bucket#2",
    "A.get.own": "ImplicitlyDenied",
    "A.get.other": "ImplicitlyDenied",
    "A.delete.own": "ImplicitlyDenied",
    "A.delete.other": "ImplicitlyDenied",
    "A.list.own": "ImplicitlyDenied",
    "A.list.other": "ImplicitlyDenied",
    "A.list.outside": "ImplicitlyDenied",
    "A.kms.generateDataKey.s3.own": "ImplicitlyDenied",
    "A.kms.generateDataKey.s3.other": "ImplicitlyDenied",
    "A.kms.generateDataKey.direct": "ImplicitlyDenied",
    "A.kms.generateDataKey.direct.s3-context": "ImplicitlyDenied",
    "A.kms.decrypt.s3.own": "ImplicitlyDenied",
    "A.kms.decrypt.s3.other": "ImplicitlyDenied",
    "A.kms.decrypt.direct": "ImplicitlyDenied",
    "A.kms.decrypt.direct.s3-context": "ImplicitlyDenied",
    "A.api.list": "Allowed authenticated#1",
    "A.api.get": "Allowed authenticated#1",
    "A.api.upload-grant": "Allowed authenticated#1",
    "A.api.delete": "Allowed authenticated#1",
    "A.api.erasure.request": "Allowed authenticated#1",
    "A.api.erasure.status": "Allowed authenticated#1",
    "A.api.post": "ImplicitlyDenied",
    "A.api.put": "ImplicitlyDenied",
    "A.api.erasure.delete": "ImplicitlyDenied",
    "A.api.download": "Allowed authenticated#1",
    "A.api.download.other": "Allowed authenticated#1",
    "A.api.other-stage": "ImplicitlyDenied",
    "trust.auth.signed-in": "Allowed authenticated-trust#1",
    "trust.auth.unauthenticated": "ImplicitlyDenied",
    "trust.auth.other-pool": "ImplicitlyDenied",
    "trust.unauth.authenticated": "ImplicitlyDenied",
    "trust.unauth.other-pool": "ImplicitlyDenied",
    "U.put.own": "ImplicitlyDenied",
    "U.api.list": "ImplicitlyDenied",
    "U.api.get": "ImplicitlyDenied",
    "U.api.upload-grant": "ImplicitlyDenied",
    "U.api.delete": "ImplicitlyDenied",
    "U.api.erasure.request": "ImplicitlyDenied",
    "U.api.erasure.status": "ImplicitlyDenied",
    "X.get": "ImplicitlyDenied",
    "X.put": "ImplicitlyDenied",
    "X.kms.decrypt": "ImplicitlyDenied",
    "X.sqs.send": "ImplicitlyDenied",
    "X.sns.publish": "ImplicitlyDenied",
    "P.head.uploads": "Allowed processor#5",
    "P.head.outside-uploads": "ImplicitlyDenied",  # grant and endpoint statement: <bucket>/uploads/* only
    "P.put": "ImplicitlyDenied",
    "P.delete": "ImplicitlyDenied",
    "P.delete-version.uploads": "Allowed processor#5",
    "P.delete-version.outside-uploads": "ImplicitlyDenied",
    "P.list": "Allowed processor#6",
    "P.ddb.put": "Allowed processor#7",
    "P.ddb.put.other-table": "ImplicitlyDenied",
    # Records and tombstones (#deleted/<hash of the key>) only; the tombstone check only on tombstones.
    "P.ddb.put.no-key": "ImplicitlyDenied",
    "P.ddb.put.tombstone": "Allowed processor#7",
    "P.ddb.put.usage": "ImplicitlyDenied",
    "P.ddb.delete.record": "Allowed processor#7",
    "P.ddb.delete.tombstone": "Allowed processor#7",
    "P.ddb.delete.usage": "ImplicitlyDenied",
    "P.ddb.check.tombstone": "Allowed processor#8",
    "P.ddb.check.record": "ImplicitlyDenied",
    "P.ddb.check.no-key": "ImplicitlyDenied",
    "P.ddb.get.tombstone": "Allowed processor#11",
    "P.ddb.delete": "ImplicitlyDenied",
    "P.ddb.query": "ImplicitlyDenied",
    "P.ddb.get": "ImplicitlyDenied",
    "P.ddb.get.identity-mapping": "Allowed processor#9",
    "P.ddb.get.record": "Allowed processor#11",
    "P.ddb.get.usage": "Allowed processor#11",
    "P.ddb.get.erasure": "ImplicitlyDenied",
    "P.ddb.update": "ImplicitlyDenied",
    "P.ddb.update.usage": "Allowed processor#10",
    "P.ddb.update.record": "ImplicitlyDenied",
    "P.ddb.update.identity-mapping": "ImplicitlyDenied",
    "P.sqs.visibility": "Allowed processor#2",
    "P.sqs.send": "ImplicitlyDenied",
    "P.kms.decrypt.s3": "Allowed processor#3 processor#4 key#1",
    "F.ddb.query.index": "Allowed api#3",
    "F.ddb.put": "ImplicitlyDenied",
    "F.ddb.put.identity-mapping": "Allowed api#6",
    "F.ddb.put.record": "ImplicitlyDenied",
    "F.ddb.put.sub-identities": "Allowed api#6",
    "F.ddb.update": "ImplicitlyDenied",
    "F.ddb.update.usage": "Allowed api#10",
    "F.ddb.update.record": "ImplicitlyDenied",
    "F.ddb.batch-get.usage": "Allowed api#10",
    "F.ddb.batch-get.record": "ImplicitlyDenied",
    "F.ddb.scan": "ImplicitlyDenied",
    "F.get": "ImplicitlyDenied",
    "F.delete-version.uploads": "Allowed api#5",
    "F.delete-version.outside-uploads": "ImplicitlyDenied",
    "F.delete": "ImplicitlyDenied",
    "F.list-versions.uploads": "Allowed api#7",
    "F.list-versions.all": "ImplicitlyDenied",
    "F.list": "ImplicitlyDenied",
    "F.download.uploads": "Allowed api#5",
    "F.download.outside-uploads": "ImplicitlyDenied",
    "F.put.uploads": "Allowed api#5",
    "F.put.uploads.no-header": "Allowed api#5",
    "F.put.uploads.sse-s3": "ExplicitlyDenied bucket#DenyWrongEncryptionHeader",
    "F.put.uploads.other-key": "ExplicitlyDenied bucket#DenyOtherKmsKey",
    "F.put.uploads.aws-managed": "ExplicitlyDenied bucket#DenyAwsManagedKmsKey",
    "F.put.uploads.sse-c": "ExplicitlyDenied bucket#DenySseC",
    "F.put.uploads.tls1.1": "ExplicitlyDenied bucket#2",
    "F.put.outside-uploads": "ImplicitlyDenied",
    "F.put.root": "ImplicitlyDenied",
    "F.put.uploads.no-tls": "ExplicitlyDenied bucket#1",
    "F.kms.generateDataKey.s3": "Allowed api#2 api#4 key#1",
    "F.kms.decrypt.s3": "Allowed api#2 api#4 key#1",
    "F.kms.decrypt.s3.outside-uploads": "Allowed api#2 key#1",
    "F.kms.decrypt.direct": "Allowed api#2 key#1",
    "trust.processor.lambda": "Allowed processor-trust#1",
    "trust.processor.ec2": "ImplicitlyDenied",
    "trust.api.lambda": "Allowed api-trust#1",
    "trust.api.ec2": "ImplicitlyDenied",
    "ADMIN.get": "Allowed admin#1",
    "ADMIN.delete": "Allowed admin#1",
    "ADMIN.put.outside-uploads": "Allowed admin#1",
    "ADMIN.list": "Allowed admin#1",
    "ADMIN.kms.decrypt": "Allowed admin#1 key#1",
    "ROLE.get": "Allowed admin#1",
    "ROLE.get.via-service": "Allowed admin#1",
    "ROLE.list": "Allowed admin#1",
    "ROLE.list.via-service": "Allowed admin#1",
    "ROLE.logs.get": "Allowed admin#1",
    "ROLE.logs.get.no-tls": "ExplicitlyDenied log-bucket#1",
    "ROLE.logs.get.tls1.1": "ExplicitlyDenied log-bucket#2",
    "ROLE.kms.create-grant": "ExplicitlyDenied key#DenyGrantsExceptForAwsResources",
    "ROLE.kms.create-grant.aws-resource": "Allowed admin#1 key#1",
    "OPS.redrive.move-task": "Allowed operator#Redrive",
    "OPS.redrive.receive": "Allowed operator#RedriveCopy",
    "OPS.redrive.delete": "Allowed operator#RedriveCopy",
    "OPS.redrive.delete.buffer": "ImplicitlyDenied",
    "OPS.resend": "Allowed operator#Resend",
    "OPS.reconcile.scan": "Allowed operator#Records",
    "OPS.reconcile.put-item": "ImplicitlyDenied",
    "OPS.kms.decrypt": "Allowed operator#Key key#1",
    "OPS.reconcile.list-versions": "Allowed operator#Versions",
    "OPS.get": "ImplicitlyDenied",
    "S.events.buffer": "Allowed buffer#AllowObjectCreatedRule",
    "S.events.buffer.other-rule": "ImplicitlyDenied",
    "S.events.buffer.no-tls": "ExplicitlyDenied buffer#1",
    "S.events.dlq": "Allowed dlq#AllowObjectCreatedRule",
    "S.events.dlq.other-rule": "ImplicitlyDenied",
    "S.events.dlq.no-tls": "ExplicitlyDenied dlq#1",
    "S.events.kms": "Allowed key#AllowEventBridgeRuleSecureServerlessDevObjectCreated",
    "S.events.kms.other-rule": "ImplicitlyDenied",
    "S.s3-logging": "Allowed log-bucket#3",
    "S.s3-logging.other-bucket": "ImplicitlyDenied",
    "S.s3-logging.other-account": "ImplicitlyDenied",
    "S.s3-logging.outside-prefix": "ImplicitlyDenied",
    "S.alarm.topic": "Allowed topic#AllowThisEnvironmentsAlarms",
    "S.alarm.topic.other-alarm": "ImplicitlyDenied",
    "S.alarm.topic.no-tls": "ExplicitlyDenied topic#AllowPublishThroughSSLOnly",
    "S.alarm.kms": "Allowed key#AllowCloudWatchAlarms",
    "S.alarm.kms.other-alarm": "ImplicitlyDenied",
    "S.logs.kms": "Allowed key#AllowCloudWatchLogsForThisEnvironment",
    "S.logs.kms.waf": "Allowed key#AllowCloudWatchLogsForWafLogs",
    "S.logs.kms.other-env": "ImplicitlyDenied",
    "S.sns.dlq": "Allowed alerts-dlq#AllowAlertTopic alerts-dlq#3",
    "S.sns.dlq.other-topic": "ImplicitlyDenied",
    "S.sns.dlq.no-tls": "ExplicitlyDenied alerts-dlq#1",
    "S.sns.kms": "Allowed key#AllowAlertTopicDeadLetters",
    "S.sns.kms.other-topic": "ImplicitlyDenied",
}
EXPECTED_PROD = {
    "A.put.own": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpoints",
    "A.put.own.kms": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpoints",
    "A.put.own.sse-s3": "ExplicitlyDenied bucket#DenyWrongEncryptionHeader bucket#DenyUploadsOutsideVpcEndpoints",
    "A.put.own.other-key": "ExplicitlyDenied bucket#DenyOtherKmsKey bucket#DenyUploadsOutsideVpcEndpoints",
    "A.put.own.aws-managed": "ExplicitlyDenied bucket#DenyAwsManagedKmsKey bucket#DenyUploadsOutsideVpcEndpoints",
    "A.put.own.sse-c": "ExplicitlyDenied bucket#DenySseC bucket#DenyUploadsOutsideVpcEndpoints",
    "A.part.own": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpoints",
    "A.part.own.sse-c": "ExplicitlyDenied bucket#DenySseC bucket#DenyUploadsOutsideVpcEndpoints",
    "A.put.other": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpoints",
    "A.put.outside": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpointsElsewhere",
    "A.put.own.no-tls": "ExplicitlyDenied bucket#1 bucket#DenyUploadsOutsideVpcEndpoints",
    "A.put.own.tls1.1": "ExplicitlyDenied bucket#2 bucket#DenyUploadsOutsideVpcEndpoints",
    "A.get.own": "ExplicitlyDenied bucket#DenyDataAccessOutsideVpcEndpoints",
    "A.get.other": "ExplicitlyDenied bucket#DenyDataAccessOutsideVpcEndpoints",
    "A.delete.own": "ExplicitlyDenied bucket#DenyDataAccessOutsideVpcEndpoints",
    "A.delete.other": "ExplicitlyDenied bucket#DenyDataAccessOutsideVpcEndpoints",
    "A.list.own": "ExplicitlyDenied bucket#DenyListingOutsideVpcEndpoints",
    "A.list.other": "ExplicitlyDenied bucket#DenyListingOutsideVpcEndpoints",
    "A.list.outside": "ExplicitlyDenied bucket#DenyListingOutsideVpcEndpoints",
    "A.kms.generateDataKey.s3.own": "ImplicitlyDenied",
    "A.kms.generateDataKey.s3.other": "ImplicitlyDenied",
    "A.kms.generateDataKey.direct": "ImplicitlyDenied",
    "A.kms.generateDataKey.direct.s3-context": "ImplicitlyDenied",
    "A.kms.decrypt.s3.own": "ImplicitlyDenied",
    "A.kms.decrypt.s3.other": "ImplicitlyDenied",
    "A.kms.decrypt.direct": "ImplicitlyDenied",
    "A.kms.decrypt.direct.s3-context": "ImplicitlyDenied",
    "A.api.list": "Allowed authenticated#1",
    "A.api.get": "Allowed authenticated#1",
    "A.api.upload-grant": "Allowed authenticated#1",
    "A.api.delete": "Allowed authenticated#1",
    "A.api.erasure.request": "Allowed authenticated#1",
    "A.api.erasure.status": "Allowed authenticated#1",
    "A.api.post": "ImplicitlyDenied",
    "A.api.put": "ImplicitlyDenied",
    "A.api.erasure.delete": "ImplicitlyDenied",
    "A.api.download": "Allowed authenticated#1",
    "A.api.download.other": "Allowed authenticated#1",
    "A.api.other-stage": "ImplicitlyDenied",
    "trust.auth.signed-in": "Allowed authenticated-trust#1",
    "trust.auth.unauthenticated": "ImplicitlyDenied",
    "trust.auth.other-pool": "ImplicitlyDenied",
    "trust.unauth.authenticated": "ImplicitlyDenied",
    "trust.unauth.other-pool": "ImplicitlyDenied",
    "U.put.own": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpoints",
    "U.api.list": "ImplicitlyDenied",
    "U.api.get": "ImplicitlyDenied",
    "U.api.upload-grant": "ImplicitlyDenied",
    "U.api.delete": "ImplicitlyDenied",
    "U.api.erasure.request": "ImplicitlyDenied",
    "U.api.erasure.status": "ImplicitlyDenied",
    "X.get": "ExplicitlyDenied bucket#DenyDataAccessOutsideVpcEndpoints",
    "X.put": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpoints",
    "X.kms.decrypt": "ImplicitlyDenied",
    "X.sqs.send": "ImplicitlyDenied",
    "X.sns.publish": "ImplicitlyDenied",
    "P.head.uploads": "Allowed processor#6 vpce-s3#ProcessorReadsObjectMetadata",
    "P.head.outside-uploads": "ImplicitlyDenied",  # grant and endpoint statement: <bucket>/uploads/* only
    "P.put": "ImplicitlyDenied",
    "P.delete": "ImplicitlyDenied",
    "P.delete-version.uploads": "Allowed processor#6 vpce-s3#ProcessorRefusesUploads",
    "P.delete-version.outside-uploads": "ImplicitlyDenied",
    "P.list": "Allowed processor#7 vpce-s3#ProcessorTellsDeletedObjects",
    "P.ddb.put": "Allowed processor#8 vpce-dynamodb#ProcessorWritesRecords",
    "P.ddb.put.other-table": "ImplicitlyDenied",
    "P.ddb.put.no-key": "ImplicitlyDenied",
    "P.ddb.put.tombstone": "Allowed processor#8 vpce-dynamodb#ProcessorWritesRecords",
    "P.ddb.put.usage": "ImplicitlyDenied",
    "P.ddb.delete.record": "Allowed processor#8 vpce-dynamodb#ProcessorWritesRecords",
    "P.ddb.delete.tombstone": "Allowed processor#8 vpce-dynamodb#ProcessorWritesRecords",
    "P.ddb.delete.usage": "ImplicitlyDenied",
    "P.ddb.check.tombstone": "Allowed processor#9 vpce-dynamodb#ProcessorWritesRecords",
    "P.ddb.check.record": "ImplicitlyDenied",
    "P.ddb.check.no-key": "ImplicitlyDenied",
    "P.ddb.get.tombstone": "Allowed processor#12 vpce-dynamodb#ProcessorReadsIdentityMappings",
    "P.ddb.delete": "ImplicitlyDenied",
    "P.ddb.query": "ImplicitlyDenied",
    "P.ddb.get": "ImplicitlyDenied",
    "P.ddb.get.identity-mapping": "Allowed processor#10 vpce-dynamodb#ProcessorReadsIdentityMappings",
    "P.ddb.get.record": "Allowed processor#12 vpce-dynamodb#ProcessorReadsIdentityMappings",
    "P.ddb.get.usage": "Allowed processor#12 vpce-dynamodb#ProcessorReadsIdentityMappings",
    "P.ddb.get.erasure": "ImplicitlyDenied",
    "P.ddb.update": "ImplicitlyDenied",
    "P.ddb.update.usage": "Allowed processor#11 vpce-dynamodb#ProcessorCountsUsage",
    "P.ddb.update.record": "ImplicitlyDenied",
    "P.ddb.update.identity-mapping": "ImplicitlyDenied",
    "P.sqs.visibility": "Allowed processor#3 vpce-sqs#ProcessorDelaysFailedRecords",
    "P.sqs.send": "ImplicitlyDenied",
    "P.kms.decrypt.s3": "Allowed processor#4 processor#5 key#1",
    "F.ddb.query.index": "Allowed api#4 vpce-dynamodb#ApiQueriesOwnRecords",
    "F.ddb.put": "ImplicitlyDenied",
    "F.ddb.put.identity-mapping": "Allowed api#7 vpce-dynamodb#ApiRecordsIdentityMappings",
    "F.ddb.put.record": "ImplicitlyDenied",
    "F.ddb.put.sub-identities": "Allowed api#7 vpce-dynamodb#ApiRecordsIdentityMappings",
    "F.ddb.update": "ImplicitlyDenied",
    "F.ddb.update.usage": "Allowed api#11 vpce-dynamodb#ApiReadsErasureJobs vpce-dynamodb#ApiCountsUploadGrants",
    "F.ddb.update.record": "ImplicitlyDenied",
    "F.ddb.batch-get.usage": "Allowed api#11 vpce-dynamodb#ApiCountsUploadGrants",
    "F.ddb.batch-get.record": "ImplicitlyDenied",
    "F.ddb.scan": "ImplicitlyDenied",
    "F.get": "ImplicitlyDenied",
    "F.delete-version.uploads": "Allowed api#6 vpce-s3#ApiDeletesOwnVersions",
    "F.delete-version.outside-uploads": "ImplicitlyDenied",
    "F.delete": "ImplicitlyDenied",
    "F.list-versions.uploads": "Allowed api#8 vpce-s3#ApiListsOwnVersions",
    "F.list-versions.all": "ImplicitlyDenied",
    "F.list": "ImplicitlyDenied",
    "F.download.uploads": "Allowed api#6",
    "F.download.outside-uploads": "ExplicitlyDenied bucket#DenyVersionReadsOutsideVpcEndpointsElsewhere",
    "F.put.uploads": "Allowed api#6",
    "F.put.uploads.no-header": "Allowed api#6",
    "F.put.uploads.sse-s3": "ExplicitlyDenied bucket#DenyWrongEncryptionHeader",
    "F.put.uploads.other-key": "ExplicitlyDenied bucket#DenyOtherKmsKey",
    "F.put.uploads.aws-managed": "ExplicitlyDenied bucket#DenyAwsManagedKmsKey",
    "F.put.uploads.sse-c": "ExplicitlyDenied bucket#DenySseC",
    "F.put.uploads.tls1.1": "ExplicitlyDenied bucket#2",
    "F.put.outside-uploads": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpointsElsewhere",
    "F.put.root": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpointsElsewhere",
    "F.put.uploads.no-tls": "ExplicitlyDenied bucket#1",
    "F.kms.generateDataKey.s3": "Allowed api#3 api#5 key#1",
    "F.kms.decrypt.s3": "Allowed api#3 api#5 key#1",
    "F.kms.decrypt.s3.outside-uploads": "Allowed api#3 key#1",
    "F.kms.decrypt.direct": "Allowed api#3 key#1",
    "trust.processor.lambda": "Allowed processor-trust#1",
    "trust.processor.ec2": "ImplicitlyDenied",
    "trust.api.lambda": "Allowed api-trust#1",
    "trust.api.ec2": "ImplicitlyDenied",
    "ADMIN.get": "Allowed admin#1",
    "ADMIN.delete": "Allowed admin#1",
    "ADMIN.put.outside-uploads": "Allowed admin#1",
    "ADMIN.list": "Allowed admin#1",
    "ADMIN.kms.decrypt": "Allowed admin#1 key#1",
    "ROLE.get": "ExplicitlyDenied bucket#DenyDataAccessOutsideVpcEndpoints",
    "ROLE.get.via-service": "ExplicitlyDenied bucket#DenyDataAccessOutsideVpcEndpoints",
    "ROLE.list": "ExplicitlyDenied bucket#DenyListingOutsideVpcEndpoints",
    "ROLE.list.via-service": "ExplicitlyDenied bucket#DenyListingOutsideVpcEndpoints",
    "ROLE.logs.get": "Allowed admin#1",
    "ROLE.logs.get.no-tls": "ExplicitlyDenied log-bucket#1",
    "ROLE.logs.get.tls1.1": "ExplicitlyDenied log-bucket#2",
    "ROLE.kms.create-grant": "ExplicitlyDenied key#DenyGrantsExceptForAwsResources",
    "ROLE.kms.create-grant.aws-resource": "Allowed admin#1 key#1",
    "OPS.redrive.move-task": "Allowed operator#Redrive",
    "OPS.redrive.receive": "Allowed operator#RedriveCopy",
    "OPS.redrive.delete": "Allowed operator#RedriveCopy",
    "OPS.redrive.delete.buffer": "ImplicitlyDenied",
    "OPS.resend": "Allowed operator#Resend",
    "OPS.reconcile.scan": "Allowed operator#Records",
    "OPS.reconcile.put-item": "ImplicitlyDenied",
    "OPS.kms.decrypt": "Allowed operator#Key key#1",
    "OPS.reconcile.list-versions": "ExplicitlyDenied bucket#DenyListingOutsideVpcEndpoints",
    "OPS.get": "ExplicitlyDenied bucket#DenyDataAccessOutsideVpcEndpoints",
    "S.events.buffer": "Allowed buffer#AllowObjectCreatedRule",
    "S.events.buffer.other-rule": "ImplicitlyDenied",
    "S.events.buffer.no-tls": "ExplicitlyDenied buffer#1",
    "S.events.dlq": "Allowed dlq#AllowObjectCreatedRule",
    "S.events.dlq.other-rule": "ImplicitlyDenied",
    "S.events.dlq.no-tls": "ExplicitlyDenied dlq#1",
    "S.events.kms": "Allowed key#AllowEventBridgeRuleSecureServerlessProdObjectCreated",
    "S.events.kms.other-rule": "ImplicitlyDenied",
    "S.s3-logging": "Allowed log-bucket#3",
    "S.s3-logging.other-bucket": "ImplicitlyDenied",
    "S.s3-logging.other-account": "ImplicitlyDenied",
    "S.s3-logging.outside-prefix": "ImplicitlyDenied",
    "S.alarm.topic": "Allowed topic#AllowThisEnvironmentsAlarms",
    "S.alarm.topic.other-alarm": "ImplicitlyDenied",
    "S.alarm.topic.no-tls": "ExplicitlyDenied topic#AllowPublishThroughSSLOnly",
    "S.alarm.kms": "Allowed key#AllowCloudWatchAlarms",
    "S.alarm.kms.other-alarm": "ImplicitlyDenied",
    "S.logs.kms": "Allowed key#AllowCloudWatchLogsForThisEnvironment",
    "S.logs.kms.waf": "Allowed key#AllowCloudWatchLogsForWafLogs",
    "S.logs.kms.other-env": "ImplicitlyDenied",
    "S.sns.dlq": "Allowed alerts-dlq#AllowAlertTopic alerts-dlq#3",
    "S.sns.dlq.other-topic": "ImplicitlyDenied",
    "S.sns.dlq.no-tls": "ExplicitlyDenied alerts-dlq#1",
    "S.sns.kms": "Allowed key#AllowAlertTopicDeadLetters",
    "S.sns.kms.other-topic": "ImplicitlyDenied",
    "P.head.outside-vpce": "ExplicitlyDenied bucket#DenyDataAccessOutsideVpcEndpoints",
    "P.list.outside-vpce": "ExplicitlyDenied bucket#DenyListingOutsideVpcEndpoints",
    "P.head-version.vpce": "Allowed processor#6 vpce-s3#ProcessorReadsObjectMetadata",
    "P.head-version.outside-uploads.vpce": "ImplicitlyDenied",
    "ADMIN.get-version.outside-uploads": "Allowed admin#1",
    "ADMIN.get-version.uploads": "Allowed admin#1",
    "ROLE.put.uploads": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpoints",
    "ROLE.put.outside-uploads": "ExplicitlyDenied bucket#DenyUploadsOutsideVpcEndpointsElsewhere",
    "ROLE.put.outside-uploads.vpce": "ImplicitlyDenied",
    "F.put.uploads.vpce": "ImplicitlyDenied",
    "P.delete-version.outside-vpce": "ExplicitlyDenied bucket#DenyDataAccessOutsideVpcEndpoints",
    "ROLE.get-version": "ExplicitlyDenied bucket#DenyVersionReadsOutsideVpcEndpoints",
    "A.put.own.vpce": "ImplicitlyDenied",
    "ROLE.get.vpce": "ImplicitlyDenied",
    "ROLE.put.vpce": "ImplicitlyDenied",
    "X.get.vpce": "ImplicitlyDenied",
    "ROLE.vpce.other-bucket": "ImplicitlyDenied",
    "ROLE.ddb.delete.vpce": "ImplicitlyDenied",
    "ROLE.ddb.put.other-table.vpce": "ImplicitlyDenied",
    "P.ddb.put.outside-vpce": "Allowed processor#8",
    "ROLE.sqs.send.vpce": "ImplicitlyDenied",
    "ROLE.sqs.delete.vpce": "ImplicitlyDenied",
}

EXPECTED = {"dev": EXPECTED_DEV, "prod": EXPECTED_PROD}

# Weakenings that flip no row, each kept on purpose (fnmatch patterns over the mutation ids).
EXEMPT = {
    "drop BoolIfExists:aws:PrincipalIsAWSService from key#DenyGrantsExceptForAwsResources": (
        "only service principals carry aws:PrincipalIsAWSService=true and this key policy grants none of them "
        "kms:CreateGrant; the key is kept so AWS services' own grants stay possible if one is ever added"
    ),
    "drop StringEquals:aws:SourceAccount from key#Allow*": (
        "the statement's aws:SourceArn already names this account's exact rule/alarms/topic; aws:SourceAccount is "
        "the second confused-deputy guard AWS recommends beside it"
    ),
    "drop StringEquals:kms:ViaService from processor#*": (
        "the processor's unconditional kms:Decrypt on the key (needed to receive from the KMS-encrypted buffer) "
        "already covers S3's decrypt; the S3-scoped grant stays so the bucket grant is complete on its own"
    ),
    "drop StringLike:kms:EncryptionContext:aws:s3:arn from processor#*": (
        "as above: the buffer's kms:Decrypt grant overlaps the S3-scoped one"
    ),
    "drop String*:kms:* from api#*": (
        "the API function's unconditional kms:Decrypt on the key (Lambda decrypts its environment variables with "
        "the role) already covers S3's decrypt for its presigned downloads; the S3-scoped grant stays so "
        "SecureBucket.grant_read_versions is complete on its own"
    ),
}


@pytest.fixture(scope="module")
def matrices(templates: dict[str, dict[str, Any]]) -> dict[str, tuple[Environment, list[Row], dict[str, Any]]]:
    return {suffix: matrix_for(templates[suffix], suffix) for suffix in EXPECTED}


@pytest.mark.parametrize("suffix", sorted(EXPECTED))
def test_every_row_decides_as_expected(matrices: dict, suffix: str) -> None:
    _, rows, decisions = matrices[suffix]
    assert len(rows) >= 60
    assert {row.id: outcome(decisions[row.id]) for row in rows} == EXPECTED[suffix]


@pytest.mark.parametrize("suffix", sorted(EXPECTED))
def test_mutation_check(matrices: dict, suffix: str) -> None:
    env, rows, _ = matrices[suffix]
    flipped = mutation_outcomes(env, rows, [name for name in MUTATED if name in env.policies])
    assert len(flipped) >= 30  # every Deny and every condition of those policies was tried
    exempt = {m for m in flipped if any(fnmatch.fnmatchcase(m, pattern) for pattern in EXEMPT)}
    assert [m for m, rows_ in flipped.items() if not rows_ and m not in exempt] == []
    assert [m for m in exempt if flipped[m]] == []  # an exemption that is no longer needed must go


def test_exemptions_are_all_used(matrices: dict) -> None:
    used = set()
    for env, rows, _ in matrices.values():
        for m in mutation_outcomes(env, rows, [name for name in MUTATED if name in env.policies]):
            used |= {p for p in EXEMPT if fnmatch.fnmatchcase(m, p)}
    assert used == set(EXEMPT)


def test_a_weakened_policy_flips_its_rows(matrices: dict) -> None:
    """The engine set-up can fail: granting the authenticated role s3:GetObject on the whole bucket lets identity A
    read identity B's object (and its own), and nothing else in the matrix changes."""
    env, rows, decisions = matrices["dev"]
    weakened = dict(env.policies)
    document = env.policies["authenticated"].document
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{env.arn['bucket']}/*"}
    weakened["authenticated"] = type(env.policies["authenticated"])(
        "authenticated", "identity", {**document, "Statement": [*document["Statement"], statement]}
    )
    after = decide(dataclasses.replace(env, policies=weakened), rows)
    changed = sorted(r.id for r in rows if after[r.id].result != decisions[r.id].result)
    assert changed == ["A.get.other", "A.get.own"]


def test_docs_show_the_current_matrix(matrices: dict) -> None:
    page = DOCS.read_text()
    assert MARKER_BEGIN in page and MARKER_END in page
    shown = page.split(MARKER_BEGIN, 1)[1].split(MARKER_END, 1)[0].strip()
    expected = "\n".join(render(*matrices[suffix]) for suffix in ("dev", "prod")).strip()
    assert shown == expected, "docs/security.md is stale: run `make access-matrix-docs`"
