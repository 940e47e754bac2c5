"""The project's CloudWatch metrics (EMF through Powertools), kept to the two series DESIGN.md names.

Powertools adds a ``service`` dimension to every metric when POWERTOOLS_SERVICE_NAME is set; each extra
dimension set is another billed series, so it is turned off here (``service=""``). Handlers decorate
with this same instance's ``log_metrics``.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

DEFAULT_NAMESPACE = "CreditMonitor"

metrics = Metrics(service="", namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE)


def record_available(provider: str, account: str, available: float) -> None:
    # Each account needs its own dimension set, so each value is flushed as its own EMF record.
    metrics.add_dimension(name="Provider", value=provider)
    metrics.add_dimension(name="Account", value=account)
    metrics.add_metric(name="AvailableCredits", unit=MetricUnit.Count, value=available)
    metrics.flush_metrics()


def record_poll_failures(provider: str, failures: int) -> None:
    # Emitted every round, 0 included, so an alarm can tell "no failures" from "no data".
    metrics.add_dimension(name="Provider", value=provider)
    metrics.add_metric(name="PollFailures", unit=MetricUnit.Count, value=failures)
