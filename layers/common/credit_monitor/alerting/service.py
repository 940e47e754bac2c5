"""The aggregator's parts, wired once per container: the stores, the pipeline, grouping, the configuration.

alerting.stream (the balance stream) and alerting.tasks (the schedules and the timer) work through this;
alerting.handler is the Lambda entry point that dispatches to them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from credit_monitor import aws, settings
from credit_monitor.alerting.configuration import Configuration
from credit_monitor.alerting.delivery import Delivery
from credit_monitor.alerting.grouping import Grouping, state_machine_timer
from credit_monitor.alerting.incidents import IncidentRule
from credit_monitor.alerting.notify import Notifier
from credit_monitor.alerting.pipeline import AccountPipeline
from credit_monitor.settings import AggregatorSettings
from credit_monitor.storage import BalanceStore, ConfigStore
from credit_monitor.storage.alerts import AlertStore
from credit_monitor.storage.groups import GroupStore


@dataclass
class Alerting:
    settings: AggregatorSettings
    balances: BalanceStore
    alerts: AlertStore
    pipeline: AccountPipeline  # an account's alerts
    incident_delivery: Delivery  # incidents and the configuration's own alerts: the same channels as an account's
    grouping: Grouping
    configuration: Configuration
    notifier: Notifier
    clock: Callable[[], datetime]

    @property
    def incident_rule(self) -> IncidentRule:
        alert = self.settings.alert
        return IncidentRule(self.settings.incident_min_accounts, self.settings.incident_min_share, alert.failure_after)

    def send(self, key: dict[str, str]) -> int:
        """Deliver an incident's or the configuration's outbox."""
        return self.incident_delivery.drain(key).sent


def build(
    config: AggregatorSettings, table: Any, notifier: Notifier | None = None, clock: Callable[[], datetime] | None = None
) -> Alerting:
    notifier = notifier or Notifier(config.topic_arn, config.event_bus)
    clock = clock or (lambda: datetime.now(UTC))
    alerts = AlertStore(table, log_days=config.storage.history_days)
    groups = GroupStore(table, alerts.owner)
    to_people = Delivery(alerts, {"sns": notifier.to_topic, "notifications": notifier.to_notifications}, record=False)
    timer = state_machine_timer(config.timer_machine) if config.timer_machine else None
    grouping = Grouping(groups, to_people, timer, config.group_wait)
    # An alert's channels: its event for machines at once, then its group for people (alerting.grouping).
    alert_delivery = Delivery(alerts, {"events": notifier.to_bus, "notify": grouping.join}, record=True)
    service = Alerting(
        settings=config, balances=BalanceStore(table), alerts=alerts, pipeline=AccountPipeline(alerts, alert_delivery),
        incident_delivery=alert_delivery, grouping=grouping, configuration=None, notifier=notifier, clock=clock,  # type: ignore[arg-type]
    )  # fmt: skip
    service.configuration = Configuration(config.thresholds_parameter, ConfigStore(table), alerts, service.send, clock)
    return service


@functools.cache
def alerting() -> Alerting:
    """One per container, created on first use (clients and settings are reused while warm)."""
    config = settings.current(AggregatorSettings)
    return build(config, aws.table(config.storage.table_name))


def epoch() -> float:
    return time.time()
