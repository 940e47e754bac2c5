"""Grouping: alerts decided together reach people as one message; machines still get one event each.

An alert's ``notify`` channel (its outbox, alerting.delivery) adds it to its notification group: its
provider, event, level, condition and labels (notifications.group_of). The first alert of a group opens a
generation of it and starts its timer: the alert timer state machine (template.yaml ``AlertTimer``, an
Express workflow: a Wait state, then this function's ``{"task": "flush"}``) flushes it GroupWaitSeconds
later, as one message to the SNS topic and one notification event for the chat channels. So no alert waits
longer than GroupWaitSeconds (default 30 s, at most one poll interval) for its group; if a timer is lost,
the scheduled check flushes what waited longer, within one poll interval.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from credit_monitor import aws
from credit_monitor.alerting.delivery import Delivery
from credit_monitor.alerting.notifications import GROUP_LINES, compose, group_of
from credit_monitor.model import AlertMessage
from credit_monitor.storage.groups import GroupStore, group_key

logger = Logger()

Timer = Callable[[dict[str, Any], int], None]  # (task, seconds): run the aggregator's task that much later


def state_machine_timer(state_machine: str) -> Timer:
    """A timer on the alert timer state machine (an execution's input is at most 256 KB: a task is a few bytes)."""

    def start(task: dict[str, Any], seconds: int) -> None:
        aws.stepfunctions().start_execution(stateMachineArn=state_machine, input=json.dumps({"wait": seconds, "task": task}))

    return start


@dataclass
class Grouping:
    store: GroupStore
    delivery: Delivery  # a group's message to people: the SNS topic, then the notification event
    timer: Timer | None  # None: no grouping engine (a local run without one): each alert is flushed at once
    wait: int  # GroupWaitSeconds

    def join(self, message: AlertMessage, alert_id: str) -> None:
        """The ``notify`` channel of an alert: into its group (raises when it could not join: the outbox retries)."""
        group, facts = group_of(message)
        generation, untimed = self.store.join(group, facts, alert_id, message)
        if self.timer is None:
            self.flush(group, generation)
        elif untimed:  # several alerts may start it at once: a flush is done once, whoever comes first
            self.timer({"task": "flush", "group": group, "generation": generation}, self.wait)
            with contextlib.suppress(ClientError):  # flushed meanwhile (the generation moved on): nothing to record
                self.store.timer_started(group, generation)
            logger.info("notification group timed", extra={"group": group, "generation": generation, "wait_seconds": self.wait})

    def flush(self, group: str, generation: int) -> int:
        """Close the generation, compose its one message, and send it (and anything its head still holds)."""
        facts = self.store.close(group, generation)
        if facts is not None:
            members = self.store.members(group, generation, GROUP_LINES)
            message = compose(facts, members) if members.total else None
            if self.store.queue(group, generation, message) and message is not None:
                logger.info("notification group flushed", extra={"group": group, "generation": generation, "alerts": members.total})
        return self.delivery.drain(group_key(group)).sent

    def sweep(self, now: float) -> int:
        """Flush generations whose timer was lost (open for longer than the wait and a minute)."""
        return sum(self.flush(found.group, found.generation) for found in self.store.waiting(now - self.wait - 60))
