"""Recommended alarms as data: each construct says what to watch; Alerting decides where the alarm goes."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch


@dataclass(frozen=True)
class AlarmThresholds:
    """Thresholds and periods of the recommended alarms; every value can be overridden per environment."""

    period: Duration = Duration.minutes(5)  # metric period of every alarm
    evaluation_periods: int = 1  # periods over the threshold before ALARM
    errors: float = 1  # Lambda errors (sum per period) that alarm
    throttles: float = 1  # Lambda/DynamoDB throttles (sum per period) that alarm
    duration_fraction_of_timeout: float = 0.8  # Lambda max duration near its timeout
    api_5xx: float = 1  # API 5XX responses (sum per period) that alarm
    api_p99_latency_ms: float = 3000  # API p99 latency that alarms
    dead_letters: float = 1  # messages visible in any DLQ that alarm
    new_dead_letters: float = 1  # rise of a DLQ's visible messages over one period that alarms (again)
    dead_letter_age_fraction_of_retention: float = 0.25  # oldest dead letter's age, as a share of the DLQ retention
    oldest_buffered_age_seconds: float = 900  # age of the oldest buffered event that alarms
    failed_invocations: float = 1  # EventBridge failed deliveries (sum per period) that alarm

    def __post_init__(self) -> None:
        if self.evaluation_periods < 1:
            raise ValueError(f"invalid evaluation_periods {self.evaluation_periods!r}: must be 1 or more")
        if not 0 < self.dead_letter_age_fraction_of_retention < 1:
            raise ValueError(
                f"invalid dead_letter_age_fraction_of_retention {self.dead_letter_age_fraction_of_retention!r}: "
                "must be in (0, 1), so the alarm fires before SQS deletes the message"
            )
        if not 0 < self.duration_fraction_of_timeout <= 1:
            raise ValueError(
                f"invalid duration_fraction_of_timeout {self.duration_fraction_of_timeout!r}: must be in (0, 1]"
            )


@dataclass(frozen=True)
class AlarmSpec:
    """One recommended alarm: alarm when `metric` >= `threshold` (missing data is not breaching)."""

    name: str  # short name, unique within the environment (the alarm is named <prefix>-<name>)
    metric: cloudwatch.IMetric  # what to watch (with its statistic and period)
    threshold: float  # alarm at or above this value
    description: str  # what it means for an operator
    evaluation_periods: int = 1  # periods over the threshold before ALARM
