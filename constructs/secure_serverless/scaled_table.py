"""ScaledTable: a KMS-encrypted DynamoDB table with PITR, TTL and read/write target-tracking auto scaling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from . import defaults
from .alarms import AlarmSpec, AlarmThresholds
from .encryption_key import own_key
from .inputs import KeyLike, key_of
from .naming import path_name
from .overrides import equals, merge_props


@dataclass(frozen=True)
class CapacityRange:
    """Minimum and maximum provisioned capacity units for one dimension."""

    minimum: int = 1  # units auto scaling never goes below
    maximum: int = 10  # units auto scaling never goes above

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(
                f"invalid capacity range ({self.minimum}, {self.maximum}): must be 1 <= minimum <= maximum"
            )


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index (projection ALL)."""

    name: str  # index name
    partition_key: dynamodb.Attribute  # index partition key
    sort_key: dynamodb.Attribute | None = None  # index sort key


class ScaledTable(Construct):
    """A DynamoDB table (customer-managed key, PITR, TTL) whose every provisioned dimension tracks a utilisation target.

    Minimal use: ``ScaledTable(self, "Items", partition_key=dynamodb.Attribute(name="id",
    type=dynamodb.AttributeType.STRING))``.

    Args:
        scope: the parent construct.
        construct_id: the construct id.
        partition_key: the table's partition key (required).
        encryption_key: customer-managed key for encryption at rest. Default: None (a rotating key is created).
        sort_key: the table's sort key. Default: None.
        indexes: global secondary indexes (projection ALL, each auto scaled like the table). Default: none.
        on_demand: PAY_PER_REQUEST instead of provisioned capacity with auto scaling. Default: False.
        read_capacity: read auto-scaling range (table and every index). Default: ``CapacityRange(1, 10)``.
        write_capacity: write auto-scaling range (table and every index). Default: ``CapacityRange(1, 10)``.
        target_utilization_percent: target-tracking utilisation, 20 to 90. Default: 70.
        time_to_live_attribute: TTL attribute (epoch seconds); None disables TTL. Default: ``"expires_at"``.
        point_in_time_recovery: continuous backups for 35 days. Default: True.
        deletion_protection: refuse DeleteTable while on. Default: True.
        purpose: short name of this instance in its alarm names, e.g. ``"table"``. Default: None (a name
            unique in the app, built from the construct path, so two instances' alarms never collide in one
            Alerting).
        table_props: further ``dynamodb.Table`` keyword arguments, merged over the defaults. Refused: encryption
            other than the customer-managed key; what an argument above controls. Default: None.

    Removal: the table is retained; use ``RemovalPolicies.of(table).destroy()`` for a disposable one.

    Attributes:
        table: the ``dynamodb.Table``.
        encryption_key: its key.
        index_names: the names of its global secondary indexes.
    """

    table: dynamodb.Table
    encryption_key: kms.IKey
    index_names: list[str]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        partition_key: dynamodb.Attribute,
        encryption_key: KeyLike | None = None,
        sort_key: dynamodb.Attribute | None = None,
        indexes: Sequence[IndexSpec] = (),
        on_demand: bool = False,
        read_capacity: CapacityRange = CapacityRange(),
        write_capacity: CapacityRange = CapacityRange(),
        target_utilization_percent: int = 70,
        time_to_live_attribute: str | None = "expires_at",
        point_in_time_recovery: bool = True,
        deletion_protection: bool = True,
        purpose: str | None = None,
        table_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        encryption_key = key_of(encryption_key)
        if not 20 <= target_utilization_percent <= 90:
            raise ValueError(
                f"invalid target_utilization_percent {target_utilization_percent!r}: must be from 20 to 90"
            )
        self._alarm_label = purpose if purpose is not None else path_name(self)
        self.encryption_key = encryption_key or own_key(self)
        self._read_capacity, self._write_capacity = read_capacity, write_capacity
        self._target_utilization_percent = target_utilization_percent
        self.index_names = [index.name for index in indexes]
        provisioned = not on_demand
        owned = {
            name: name
            for name in ("partition_key", "sort_key", "encryption_key", "time_to_live_attribute", "deletion_protection")
        }
        owned |= {
            "billing_mode": "on_demand",
            "read_capacity": "read_capacity",
            "write_capacity": "write_capacity",
            "point_in_time_recovery_specification": "point_in_time_recovery",
            "removal_policy": "RemovalPolicies.of(construct)",
            "point_in_time_recovery": "point_in_time_recovery",
        }
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=partition_key,
            sort_key=sort_key,
            billing_mode=dynamodb.BillingMode.PROVISIONED if provisioned else dynamodb.BillingMode.PAY_PER_REQUEST,
            read_capacity=read_capacity.minimum if provisioned else None,
            write_capacity=write_capacity.minimum if provisioned else None,
            encryption_key=self.encryption_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=point_in_time_recovery
            ),
            time_to_live_attribute=time_to_live_attribute,
            deletion_protection=deletion_protection,
            removal_policy=defaults.STATEFUL_REMOVAL_POLICY,
            **merge_props(
                "table_props",
                {"encryption": dynamodb.TableEncryption.CUSTOMER_MANAGED},
                table_props,
                guards={
                    "encryption": equals(
                        dynamodb.TableEncryption.CUSTOMER_MANAGED, "must stay CUSTOMER_MANAGED (the table's own key)"
                    )
                },
                owned=owned,
                target=dynamodb.Table,
            ),
        )
        for index in indexes:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=index.partition_key,
                sort_key=index.sort_key,
                projection_type=dynamodb.ProjectionType.ALL,
                read_capacity=read_capacity.minimum if provisioned else None,
                write_capacity=write_capacity.minimum if provisioned else None,
            )
        if provisioned:
            self._auto_scale()

    def _auto_scale(self) -> None:
        """A ScalableTarget per dimension with a TargetTrackingScaling policy that references it by id only."""
        target = self._target_utilization_percent
        read_capacity, write_capacity = self._read_capacity, self._write_capacity
        read = self.table.auto_scale_read_capacity(
            min_capacity=read_capacity.minimum, max_capacity=read_capacity.maximum
        )
        read.scale_on_utilization(target_utilization_percent=target)
        write = self.table.auto_scale_write_capacity(
            min_capacity=write_capacity.minimum, max_capacity=write_capacity.maximum
        )
        write.scale_on_utilization(target_utilization_percent=target)
        for name in self.index_names:
            self.table.auto_scale_global_secondary_index_read_capacity(
                name, min_capacity=read_capacity.minimum, max_capacity=read_capacity.maximum
            ).scale_on_utilization(target_utilization_percent=target)
            self.table.auto_scale_global_secondary_index_write_capacity(
                name, min_capacity=write_capacity.minimum, max_capacity=write_capacity.maximum
            ).scale_on_utilization(target_utilization_percent=target)

    # ---------------------------------------------------------------- grants (exact actions, exact ARNs)
    def _grant_item_action(
        self, grantee: iam.IGrantable, action: str, key_actions: Sequence[str], leading_keys: Sequence[str]
    ) -> iam.Grant:
        """`action` on the table's items (with `leading_keys`, only on items whose partition key matches one of them)
        and `key_actions` on its key: the one shape of every single-action item grant below."""
        self.encryption_key.grant(grantee, *key_actions)
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[action],
            resource_arns=[self.table.table_arn],
            conditions=_leading_keys_conditions(leading_keys),
        )

    def grant_put_item(self, grantee: iam.IGrantable, *, leading_keys: Sequence[str] = ()) -> iam.Grant:
        """Allow dynamodb:PutItem on the table (and kms:Decrypt/GenerateDataKey on its key); with `leading_keys`
        (partition-key patterns, ``*`` and ``?`` wildcards), only on items whose partition key matches one of them
        (``dynamodb:LeadingKeys``, required present). Default: every item."""
        return self._grant_item_action(
            grantee, "dynamodb:PutItem", ("kms:Decrypt", "kms:GenerateDataKey"), leading_keys
        )

    def grant_get_item(self, grantee: iam.IGrantable, *, leading_keys: Sequence[str] = ()) -> iam.Grant:
        """Allow dynamodb:GetItem on the table (and kms:Decrypt on its key); with `leading_keys` (partition-key
        patterns), only on items whose partition key matches one of them. Default: every item."""
        return self._grant_item_action(grantee, "dynamodb:GetItem", ("kms:Decrypt",), leading_keys)

    def grant_update_item(self, grantee: iam.IGrantable, *, leading_keys: Sequence[str] = ()) -> iam.Grant:
        """Allow dynamodb:UpdateItem on the table (and kms:Decrypt/GenerateDataKey on its key), e.g. counters updated
        with a condition, alone or inside TransactWriteItems (authorized per item action); with `leading_keys`
        (partition-key patterns), only on items whose partition key matches one of them. Default: every item."""
        return self._grant_item_action(
            grantee, "dynamodb:UpdateItem", ("kms:Decrypt", "kms:GenerateDataKey"), leading_keys
        )

    def grant_delete_item(self, grantee: iam.IGrantable, *, leading_keys: Sequence[str] = ()) -> iam.Grant:
        """Allow dynamodb:DeleteItem on the table (and kms:Decrypt/GenerateDataKey on its key), alone or inside
        TransactWriteItems (authorized per item action); with `leading_keys` (partition-key patterns), only of items
        whose partition key matches one of them. Default: every item."""
        return self._grant_item_action(
            grantee, "dynamodb:DeleteItem", ("kms:Decrypt", "kms:GenerateDataKey"), leading_keys
        )

    def grant_condition_check_item(self, grantee: iam.IGrantable, *, leading_keys: Sequence[str] = ()) -> iam.Grant:
        """Allow dynamodb:ConditionCheckItem on the table (and kms:Decrypt on its key): the ConditionCheck items of
        TransactWriteItems (e.g. "this item must not exist" beside a put); with `leading_keys` (partition-key
        patterns), only on items whose partition key matches one of them. Default: every item."""
        return self._grant_item_action(grantee, "dynamodb:ConditionCheckItem", ("kms:Decrypt",), leading_keys)

    def grant_batch_get_item(self, grantee: iam.IGrantable, *, leading_keys: Sequence[str] = ()) -> iam.Grant:
        """Allow dynamodb:BatchGetItem on the table (and kms:Decrypt on its key); with `leading_keys` (partition-key
        patterns), only of items whose partition key matches one of them. Default: every item."""
        return self._grant_item_action(grantee, "dynamodb:BatchGetItem", ("kms:Decrypt",), leading_keys)

    def grant_query(self, grantee: iam.IGrantable, *index_names: str, leading_keys: Sequence[str] = ()) -> iam.Grant:
        """Allow dynamodb:Query on the table and on the named indexes (and kms:Decrypt on its key); with
        `leading_keys` (partition-key patterns), queries of the table only for those partition keys (the indexes
        stay granted as a whole, in a statement of their own: their partition key is another attribute).
        Default: every partition key."""
        unknown = [name for name in index_names if name not in self.index_names]
        if unknown:
            raise ValueError(f"invalid index_names {unknown!r}: must be among {self.index_names}")
        self.encryption_key.grant(grantee, "kms:Decrypt")
        indexes = [f"{self.table.table_arn}/index/{name}" for name in index_names]
        if not leading_keys:
            return iam.Grant.add_to_principal(
                grantee=grantee, actions=["dynamodb:Query"], resource_arns=[self.table.table_arn, *indexes]
            )
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:Query"],
            resource_arns=[self.table.table_arn],
            conditions=_leading_keys_conditions(leading_keys),
        )
        if indexes:
            grant = grant.combine(
                iam.Grant.add_to_principal(grantee=grantee, actions=["dynamodb:Query"], resource_arns=indexes)
            )
        return grant

    def grant_batch_write_item(self, grantee: iam.IGrantable, *, leading_keys: Sequence[str] = ()) -> iam.Grant:
        """Allow dynamodb:BatchWriteItem on the table (and kms:Decrypt/GenerateDataKey on its key); with
        `leading_keys`, only for items whose partition key matches one of them (checked per item). IAM cannot
        tell a batch's deletes from its puts: grant it to code that only deletes, or narrow the keys. Default:
        every item."""
        self.encryption_key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:BatchWriteItem"],
            resource_arns=[self.table.table_arn],
            conditions=_leading_keys_conditions(leading_keys),
        )

    # ---------------------------------------------------------------- metrics
    def metric_throttled_requests(self, operation: str, period: Duration = defaults.METRIC_PERIOD) -> cloudwatch.Metric:
        """Sum of throttled requests for `operation` (e.g. PutItem, Query) on the table."""
        return cloudwatch.Metric(
            namespace="AWS/DynamoDB",
            metric_name="ThrottledRequests",
            dimensions_map={"TableName": self.table.table_name, "Operation": operation},
            statistic="Sum",
            period=period,
        )

    def metric_throttle_events(
        self, kind: str, index_name: str | None = None, period: Duration = defaults.METRIC_PERIOD
    ) -> cloudwatch.Metric:
        """Sum of `ReadThrottleEvents` or `WriteThrottleEvents` on the table or one of its indexes."""
        if kind not in ("ReadThrottleEvents", "WriteThrottleEvents"):
            raise ValueError(f"invalid kind {kind!r}: must be ReadThrottleEvents or WriteThrottleEvents")
        dimensions = {"TableName": self.table.table_name}
        if index_name is not None:
            dimensions["GlobalSecondaryIndexName"] = index_name
        return cloudwatch.Metric(
            namespace="AWS/DynamoDB", metric_name=kind, dimensions_map=dimensions, statistic="Sum", period=period
        )

    def recommended_alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """Read and write throttle events on the table and on every index."""
        specs = []
        for index in (None, *self.index_names):
            where = "table" if index is None else f"index {index}"
            for kind, short in (("ReadThrottleEvents", "read"), ("WriteThrottleEvents", "write")):
                specs.append(
                    AlarmSpec(
                        name=f"{self._alarm_label}-{'' if index is None else index + '-'}{short}-throttles",
                        metric=self.metric_throttle_events(kind, index, thresholds.period),
                        threshold=thresholds.throttles,
                        evaluation_periods=thresholds.evaluation_periods,
                        description=f"DynamoDB throttled {short}s on the {where}: capacity is below demand.",
                    )
                )
        return specs


def _leading_keys_conditions(leading_keys: Sequence[str]) -> dict[str, Any] | None:
    """Item-level access by partition key (``dynamodb:LeadingKeys``); None without patterns."""
    if not leading_keys:
        return None
    return {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(leading_keys)},
        # ForAllValues is true when the key is absent: require it, so no request escapes the pattern.
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
