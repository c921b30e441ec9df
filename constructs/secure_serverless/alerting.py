"""Alerting: an encrypted SNS topic with an e-mail subscription, the alarms wired to it, and a dashboard."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import jsii
from aws_cdk import ArnFormat, IStableListProducer, Lazy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .alarms import AlarmSpec, AlarmThresholds
from .encryption_key import allow_service_publisher, own_key
from .inputs import KeyLike, key_of
from .naming import namespace, prefixed, validate_name_prefix
from .overrides import equals, merge_props, refuse_both
from .queues import dead_letter_queue


class Alerting(Construct):
    """Alarms that reach a human: each alarm notifies an encrypted topic on ALARM and on OK; the topic e-mails.

    Minimal use: ``Alerting(self, "Alerting", email="ops@example.com")``, then
    ``alerting.add_alarms(construct.recommended_alarms(AlarmThresholds()))`` for each construct.

    Args:
        scope: the parent construct.
        construct_id: the construct id.
        name_prefix: environment prefix of the topic, alarm and dashboard names; the key and topic policies admit
            only alarms named ``<prefix>-*``. Default: None (the stack name).
        encryption_key: encrypts the topic and the subscription's dead-letter queue. Default: None (a rotating key
            is created).
        email: the alert address (may be a CloudFormation parameter's value). Default: None (no subscription).
        dashboard: build a dashboard with every alarm's metric and a status widget. Default: True.
        existing_topic: notify this topic instead of creating one (its owner keeps it encrypted and TLS-only).
            With ``email``, the key policy names it for the subscription's dead-letter queue: a topic of this stack
            encrypted with ``encryption_key`` needs a ``topic_name`` (its generated ARN would make the key and the
            topic depend on each other; refused in one line). Default: None.
        topic_props: further ``sns.Topic`` keyword arguments, merged over the defaults (refused with
            existing_topic). Refused: turning TLS-only off; ``master_key`` and ``topic_name`` (set by the arguments
            above). Default: None.

    Attributes:
        topic: the alert topic.
        subscription_dead_letter_queue: undeliverable notifications (None without an e-mail).
        encryption_key: the key of the topic and the DLQ.
        alarms: every alarm added.
        dashboard: the operations dashboard (None when dashboard is False).
    """

    topic: sns.ITopic
    subscription_dead_letter_queue: sqs.Queue | None
    encryption_key: kms.IKey
    alarms: list[cloudwatch.Alarm]
    dashboard: cloudwatch.Dashboard | None

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str | None = None,
        encryption_key: KeyLike | None = None,
        email: str | None = None,
        dashboard: bool = True,
        existing_topic: sns.ITopic | None = None,
        topic_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        encryption_key = key_of(encryption_key)
        if name_prefix is not None:
            validate_name_prefix("name_prefix", name_prefix)
        # Alarm and topic names are matched by the key and topic policies before they exist: always named.
        self._prefix = prefix = namespace(self, name_prefix)
        self.encryption_key = encryption_key = encryption_key or own_key(self)
        topic_name = f"{prefix}-alerts"
        refuse_both("existing_topic", existing_topic, "topic_props", topic_props)
        self.topic = existing_topic or sns.Topic(
            self,
            "Topic",
            topic_name=topic_name,
            master_key=encryption_key,
            **merge_props(
                "topic_props",
                {"enforce_ssl": True},
                topic_props,
                guards={"enforce_ssl": equals(True, "must stay True (non-TLS publishing is denied)")},
                owned={"master_key": "encryption_key", "topic_name": "name_prefix"},
                target=sns.Topic,
            ),
        )
        # CloudWatch publishes alarms into the encrypted topic: only the exact alarms added here (a `<prefix>-*`
        # pattern would also match another environment's `<prefix>-x-...` alarms). Built from the alarm names,
        # lazily, once every add_alarms call is done: an alarm attribute would make the key depend on the alarm.
        self._alarm_names: list[str] = []
        alarm_arns = Lazy.list(_ExactAlarmArns(self, prefix))
        allow_service_publisher(encryption_key, "cloudwatch.amazonaws.com", alarm_arns, "AllowCloudWatchAlarms")
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisEnvironmentsAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": alarm_arns}},
            )
        )
        self.subscription_dead_letter_queue = None
        if email is not None:
            self.subscription_dead_letter_queue = self._email_subscription(
                # Built from the name for a topic created here: its ARN attribute in the key policy would make a cycle.
                _existing_topic_arn(self, existing_topic, encryption_key)
                if existing_topic
                else Stack.of(self).format_arn(service="sns", resource=topic_name),
                encryption_key,
                email,
            )
        self.alarms = []
        self.dashboard = (
            cloudwatch.Dashboard(self, "Dashboard", dashboard_name=prefixed(name_prefix, "operations"))
            if dashboard
            else None
        )

    def _email_subscription(self, topic_arn: str, encryption_key: kms.IKey, email: str) -> sqs.Queue:
        """The e-mail subscription, with a dead-letter queue only the topic may send to."""
        queue = dead_letter_queue(self, "SubscriptionDeadLetters", encryption_key, "the alert e-mail subscription")
        queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlertTopic",
                principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": self.topic.topic_arn}},
            )
        )
        allow_service_publisher(encryption_key, "sns.amazonaws.com", [topic_arn], "AllowAlertTopicDeadLetters")
        sns.Subscription(
            self,
            "Email",
            topic=self.topic,
            protocol=sns.SubscriptionProtocol.EMAIL,
            endpoint=email,
            dead_letter_queue=queue,
        )
        return queue

    def add_alarms(self, specs: Iterable[AlarmSpec]) -> list[cloudwatch.Alarm]:
        """Create one alarm per spec, named `<prefix>-<name>`, notifying the topic on ALARM and OK."""
        created = []
        action = actions.SnsAction(self.topic)
        for spec in specs:
            self._alarm_names.append(f"{self._prefix}-{spec.name}")
            alarm = cloudwatch.Alarm(
                self,
                f"Alarm-{spec.name}",
                alarm_name=self._alarm_names[-1],
                alarm_description=spec.description,
                metric=spec.metric,
                threshold=spec.threshold,
                evaluation_periods=spec.evaluation_periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            created.append(alarm)
            if self.dashboard is not None:
                self.dashboard.add_widgets(
                    cloudwatch.GraphWidget(
                        title=spec.name, left=[spec.metric], left_annotations=[alarm.to_annotation()], width=8
                    )
                )
        self.alarms.extend(created)
        return created

    def add_status_widget(self) -> None:
        """Put a status widget of every alarm at the end of the dashboard (call after the last add_alarms)."""
        if self.dashboard is not None and self.alarms:
            self.dashboard.add_widgets(cloudwatch.AlarmStatusWidget(alarms=list(self.alarms), title="Alarms", width=24))

    def recommended_alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """Undeliverable alert notifications (none without an e-mail subscription)."""
        if self.subscription_dead_letter_queue is None:
            return []
        return [
            AlarmSpec(
                name="alerts-undeliverable",
                metric=self.subscription_dead_letter_queue.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=thresholds.period
                ),
                threshold=thresholds.dead_letters,
                description="Alert notifications could not be delivered to the e-mail subscription.",
            )
        ]


@jsii.implements(IStableListProducer)
class _ExactAlarmArns:
    """The ARNs of the alarms an Alerting has created, resolved at synthesis (after every add_alarms)."""

    def __init__(self, alerting: Alerting, prefix: str) -> None:
        self._alerting, self._prefix = alerting, prefix

    def produce(self) -> list[str]:
        # No alarm yet: an ARN no alarm of this construct has, rather than an empty (invalid) condition.
        names = self._alerting._alarm_names or [f"{self._prefix}-no-alarm"]
        return [
            Stack.of(self._alerting).format_arn(
                service="cloudwatch", resource="alarm", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )
            for name in names
        ]


def _existing_topic_arn(scope: Construct, topic: sns.ITopic, key: kms.IKey) -> str:
    """The existing topic's ARN as `key`'s policy may name it: built from its name when it has one, its own ARN when
    that does not depend on `key`; a topic of this stack encrypted with `key` and without a name is refused (its
    generated ARN in the key policy would make the key and the topic depend on each other, a cycle)."""
    cfn = topic.node.default_child
    if not isinstance(cfn, sns.CfnTopic):
        return topic.topic_arn  # imported: its ARN is a plain value
    if cfn.topic_name is not None and not Token.is_unresolved(cfn.topic_name):
        return Stack.of(cfn).format_arn(service="sns", resource=cfn.topic_name)
    key_resource = key.node.default_child
    if isinstance(key_resource, kms.CfnKey) and Stack.of(key_resource) is Stack.of(cfn):
        key_id = Stack.of(cfn).get_logical_id(key_resource)
        if f'"{key_id}"' in json.dumps(Stack.of(cfn).resolve(cfn.kms_master_key_id)):
            raise ValueError(
                f"invalid existing_topic of {scope.node.path}: it is encrypted with encryption_key and has no "
                "topic_name, so the key policy that lets SNS reach the subscription's dead-letter queue would name "
                "its generated ARN and make the key and the topic depend on each other; give the topic a topic_name"
            )
    return topic.topic_arn
