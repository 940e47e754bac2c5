"""The project's CloudWatch metrics, written as EMF log lines (no API call) through Powertools.

Every value is emitted as its own EMF record from its own metric set, so what one call emits never
depends on what another left pending. Each record carries exactly the dimensions given: Powertools'
``service`` dimension is turned off (``service=""``), because every extra dimension set is another
series billed each month.
"""

from __future__ import annotations

import os

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

DEFAULT_NAMESPACE = "CreditMonitor"


def emit(name: str, value: float, dimensions: dict[str, str], unit: MetricUnit = MetricUnit.Count) -> None:
    """Print one EMF record: ``name`` = ``value`` with exactly ``dimensions``."""
    record = AmazonCloudWatchEMFProvider(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE, service="")
    for dimension, dimension_value in dimensions.items():
        record.add_dimension(name=dimension, value=dimension_value)
    record.add_metric(name=name, unit=unit, value=value)
    record.flush_metrics()


def record_available(provider: str, account: str, available: float) -> None:
    """One series per account: only with AccountMetrics=ENABLED (each series is billed every month)."""
    emit("AvailableCredits", available, {"Provider": provider, "Account": account})


def record_lowest_available(provider: str, available: float) -> None:
    """The lowest balance among a provider's accounts this round: one series per provider, to alarm on."""
    emit("LowestAvailable", available, {"Provider": provider})


def record_heartbeat() -> None:
    """The scheduled check ran: one series, with no dimension, that the heartbeat alarm watches."""
    emit("MonitorHeartbeat", 1, {})


def record_poll_failures(provider: str, failures: int) -> None:
    # Emitted every round, 0 included, so an alarm can tell "no failures" from "no data".
    emit("PollFailures", failures, {"Provider": provider})
