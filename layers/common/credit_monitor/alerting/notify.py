"""Every way an alert leaves the system: the SNS alert topic and the EventBridge bus.

- **SNS** (``sns``): email, SMS and any subscriber of the alert topic, with per-protocol bodies.
- **EventBridge** (``events``): one event per alert on the bus in EVENT_BUS_NAME, source
  ``credit-monitor``, detail-type ``Credit balance alert``. Chat (Amazon Q Developer in chat
  applications) and webhooks (API destinations: Slack, Discord, any JSON endpoint, PagerDuty) are rules
  on that bus, declared in template.yaml; schedulers add their own. The detail's schema is
  schemas/credit-balance-alert.v1.json.

Nothing else in the package publishes. The outbox (storage.alerts) calls :meth:`Notifier.deliver` once
per channel and remembers which channels accepted a message, so a failure of one never repeats the
other. The digest and a test alert are sent directly (they are not account alerts, and are not kept).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from credit_monitor import aws
from credit_monitor.model import AlertMessage, format_time

logger = Logger()

SOURCE = "credit-monitor"
DETAIL_TYPE = "Credit balance alert"
SCHEMA_VERSION = "1"
CHANNELS = ("sns", "events")


class DeliveryRejected(Exception):
    """A channel answered but did not take the alert (an EventBridge entry failed); the outbox keeps it."""


def event_detail(message: AlertMessage, alert_id: str, *, test: bool = False) -> dict[str, Any]:
    """The event's detail: the message's facts, its words, and who it is (schemas/credit-balance-alert.v1.json)."""
    return {"schema_version": SCHEMA_VERSION, "alert_id": alert_id, **message.detail, "subject": message.subject,
            "message": message.body, "test": test}  # fmt: skip


class Notifier:
    channels = CHANNELS

    def __init__(self, topic_arn: str, event_bus: str = "default") -> None:
        self.topic_arn = topic_arn
        self.event_bus = event_bus

    def deliver(self, channel: str, message: AlertMessage, alert_id: str) -> None:
        """Hand ``message`` to one channel; raises when it was not accepted (the outbox retries that channel)."""
        senders: dict[str, Callable[[], Any]] = {
            "sns": lambda: self.to_topic(message),
            "events": lambda: self.to_bus(message, alert_id),
        }
        senders[channel]()

    def send_summary(self, message: AlertMessage) -> str:
        """The digest: to the topic only (it is a summary of every account, not an alert, and is not kept)."""
        return self.to_topic(message)

    def to_topic(self, message: AlertMessage) -> str:
        """Publish to the alert topic; returns SNS's message id."""
        answer = aws.sns().publish(
            TopicArn=self.topic_arn,
            Subject=message.subject,
            # Per-protocol bodies: SMS subscribers get the one-line version, everyone else the full text.
            Message=json.dumps({"default": message.body, "email": message.body, "sms": message.sms}),
            MessageStructure="json",
            MessageAttributes={name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()},
        )
        logger.info("alert published", extra={"subject": message.subject, **message.attributes})
        return answer["MessageId"]

    def to_bus(self, message: AlertMessage, alert_id: str, *, test: bool = False) -> str:
        """Put the alert on the bus; returns EventBridge's event id."""
        entry = {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(event_detail(message, alert_id, test=test)),
                 "EventBusName": self.event_bus}  # fmt: skip
        [result] = aws.events().put_events(Entries=[entry])["Entries"]
        if "EventId" not in result:
            raise DeliveryRejected(f"EventBridge refused the event: {result.get('ErrorCode')}: {result.get('ErrorMessage')}")
        logger.info("alert event put", extra={"alert_id": alert_id, "event_bus": self.event_bus, **message.attributes})
        return result["EventId"]


def marked_test_alert(now: datetime | None = None) -> AlertMessage:
    """A clearly marked test alert: it passes every channel's filter (``test`` is true) and says what it is."""
    when = format_time(now or datetime.now(UTC))
    subject = "[TEST] credit-monitor test alert"
    body = (f"{subject}, sent {when} by credit-monitor test-alert.\n\nThis is not about any account: it checks that this "
            "channel receives the monitor's alerts.\n\nWhat to do: nothing.")  # fmt: skip
    detail = {"provider": "credit-monitor", "account": "test-alert", "event": "test", "level": "warning", "previous_level": None,
              "condition": "test", "resolved": True, "severity": "info", "reminder": False, "available": None, "unit": None,
              "threshold": None, "threshold_days": None, "days_left": None, "fetched_at": when, "error_kind": None}  # fmt: skip
    attributes = {"provider": "credit-monitor", "account": "test-alert", "level": "warning", "event": "test"}
    return AlertMessage(subject, body, f"{subject} ({when})", attributes, detail)


def marked_alert_id() -> str:
    """A test alert's id: like an alert's, marked (schemas/credit-balance-alert.v1.json)."""
    return f"test-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RuleDeliveries:
    invocations: int  # events the rule's target was invoked for (each counted once, after its retries)
    failed: int  # of those, the ones that failed for good (dead-lettered)


def rule_deliveries(rule_names: list[str], since: datetime) -> dict[str, RuleDeliveries]:
    """What EventBridge reports (AWS/Events metrics) each rule delivered since ``since``."""
    cloudwatch = aws.cloudwatch()
    end = datetime.now(UTC) + timedelta(minutes=1)
    found = {}
    for name in rule_names:
        totals = {}
        for metric in ("Invocations", "FailedInvocations"):
            dimensions = [{"Name": "RuleName", "Value": name}]
            window = {"StartTime": since - timedelta(minutes=1), "EndTime": end, "Period": 60}
            answer = cloudwatch.get_metric_statistics(
                Namespace="AWS/Events", MetricName=metric, Dimensions=dimensions, Statistics=["Sum"], **window
            )
            points = answer["Datapoints"]
            totals[metric] = int(sum(p["Sum"] for p in points))
        found[name] = RuleDeliveries(totals["Invocations"], totals["FailedInvocations"])
    return found
