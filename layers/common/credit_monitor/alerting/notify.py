"""Every way an alert leaves the system: the SNS alert topic and the EventBridge bus.

- **Alert events** (``to_bus``): one "Credit balance alert" event per alert on the bus in EVENT_BUS_NAME, at
  once, for machines: the generic webhook, PagerDuty (its request pre-rendered in ``payloads.pagerduty``),
  schedulers' own rules. The detail's schema is schemas/credit-balance-alert.v1.json.
- **Notifications** (``to_topic`` and ``to_notifications``), for people: one per notification group
  (alerting.grouping), to the SNS topic (email, SMS, any subscriber, with per-protocol bodies and filterable
  attributes) and as a "Credit balance notification" event, whose ``payloads`` are the requests of the chat
  channels (Amazon Q Developer in chat applications, Slack and Discord webhooks), already escaped.

Nothing else in the package publishes. Delivery (alerting.delivery) calls these once per channel and
remembers which channels accepted a message, so a failure of one never repeats the other. The digest and a
test alert are sent directly (they are not account alerts, and are not kept).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from credit_monitor import aws
from credit_monitor.alerting.notifications import pagerduty, payloads
from credit_monitor.errors import DeliveryRejected
from credit_monitor.model import AlertMessage

logger = Logger()

SOURCE = "credit-monitor"
DETAIL_TYPE = "Credit balance alert"
NOTIFICATION_TYPE = "Credit balance notification"
SCHEMA_VERSION = "1"


def event_detail(message: AlertMessage, alert_id: str, *, test: bool = False) -> dict[str, Any]:
    """An alert event's detail: the message's facts, its words, and who it is (schemas/credit-balance-alert.v1.json)."""
    detail = {"schema_version": SCHEMA_VERSION, "alert_id": alert_id, "labels": {}, "label_pairs": [], **message.detail,
              "subject": message.subject, "message": message.body, "test": test}  # fmt: skip
    detail["payloads"] = {"pagerduty": pagerduty(message, detail)}
    return detail


def notification_detail(message: AlertMessage, notification_id: str, *, test: bool = False) -> dict[str, Any]:
    """A notification event's detail: what people are told (one alert, or a group of them) and each chat
    channel's request (schemas/credit-balance-notification.v1.json)."""
    detail = {"schema_version": SCHEMA_VERSION, "notification_id": notification_id, "count": 1, "labels": {}, "label_pairs": [],
              **message.detail, "subject": message.subject, "message": message.body, "test": test}  # fmt: skip
    detail.setdefault("accounts", [detail.get("account")])
    detail["payloads"] = payloads(message, notification_id, test=test)
    return detail


@dataclass(frozen=True)
class Notifier:
    topic_arn: str
    event_bus: str = "default"

    def send_summary(self, message: AlertMessage) -> str:
        """The digest: to the topic only (it is a summary of every account, not an alert, and is not kept)."""
        return self.to_topic(message)

    def to_topic(self, message: AlertMessage, _notification_id: str = "") -> str:
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
        event_id = self._put(DETAIL_TYPE, event_detail(message, alert_id, test=test))
        logger.info("alert event put", extra={"alert_id": alert_id, "event_bus": self.event_bus, **message.attributes})
        return event_id

    def to_notifications(self, message: AlertMessage, notification_id: str, *, test: bool = False) -> str:
        """Put what people are told on the bus, for the chat channels' rules; returns EventBridge's event id."""
        event_id = self._put(NOTIFICATION_TYPE, notification_detail(message, notification_id, test=test))
        logger.info("notification event put", extra={"notification_id": notification_id, "event_bus": self.event_bus, **message.attributes})
        return event_id

    def _put(self, detail_type: str, detail: dict[str, Any]) -> str:
        # An event is at most 256 KB (PutEvents): a message is a few KB, a group lists at most GROUP_LINES accounts.
        entry = {"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": self.event_bus}
        [result] = aws.events().put_events(Entries=[entry])["Entries"]
        if "EventId" not in result:
            raise DeliveryRejected(f"EventBridge refused the event: {result.get('ErrorCode')}: {result.get('ErrorMessage')}")
        return result["EventId"]
