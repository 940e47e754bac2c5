"""Every way an alert leaves the system. Today: the SNS alert topic (email, SMS and any subscriber).

Nothing else in the package publishes; the outbox (storage.alerts) calls :meth:`Notifier.send` and
removes a message only once it returned.
"""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger

from credit_monitor import aws
from credit_monitor.model import AlertMessage

logger = Logger()


class Notifier:
    def __init__(self, topic_arn: str) -> None:
        self.topic_arn = topic_arn

    def send(self, message: AlertMessage) -> None:
        """Publish ``message``; raises when SNS does not accept it (the outbox keeps it for a retry)."""
        aws.sns().publish(
            TopicArn=self.topic_arn,
            Subject=message.subject,
            # Per-protocol bodies: SMS subscribers get the one-line version, everyone else the full text.
            Message=json.dumps({"default": message.body, "email": message.body, "sms": message.sms}),
            MessageStructure="json",
            MessageAttributes={name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()},
        )
        logger.info("alert published", extra={"subject": message.subject, **message.attributes})
