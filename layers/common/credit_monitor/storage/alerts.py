"""Alert state per account in DynamoDB, exactly-once delivery through a transactional outbox, and the
record of every alert sent.

A transition and the messages it calls for are written together, in one conditional update on the
alert item's ``version``: when several aggregators (or a redelivered stream batch) decide the same
transition, one write wins and the others re-read and find nothing left to do. Each message gets its
``alert_id`` then (its outbox key: the commit time in nanoseconds and a random suffix, so ids sort in
the order alerts were decided). Messages leave the item's ``outbox`` only after every channel (SNS, the
EventBridge bus) accepted them, sent by whoever holds a short lease on the item:

- a channel accepts: the entry records it (``delivered``), so a later failure (of another channel, or
  of recording the alert) never sends it to this one again.
- a channel fails: the lease is released and the caller raises, so the record is delivered again and
  the message, still in the outbox, goes to the channels that have not taken it. Nothing is lost.
- the last channel accepts: one transaction removes the entry and writes its record (three copies, so
  that GET /alerts reads all alerts, a provider's, or an account's, newest first, with one Query each).
- a publisher dies holding the lease: the scheduled check sends its messages once the lease expires.
- a message arrives while another aggregator publishes: the holder releases the lease only when the
  outbox is empty (a conditional ``size(outbox) = 0``), so it sends that one too.

The one window for a duplicate is a publisher that stalls past its lease after a channel accepted a
message and before it recorded that (LEASE_SECONDS, far longer than a publish takes).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from credit_monitor.model import AlertMessage, AlertState, SentAlert
from credit_monitor.storage.items import (
    ALERT_KIND,
    CONFIG_ALERT_KEY,
    CONFIG_ALERT_KIND,
    alert_key,
    alert_log_items,
    alert_state_from_item,
    from_dynamodb,
    sent_alert_from_item,
    sent_alerts_pk,
    to_dynamodb,
)
from credit_monitor.storage.query import key, newest_first

logger = Logger()

LEASE_SECONDS = 60
MAX_ATTEMPTS = 8

Decision = Callable[[AlertState], tuple[AlertState, list[AlertMessage]]]
Deliver = Callable[[str, AlertMessage, str], None]  # (channel, message, alert_id); raises when not accepted


class TransitionConflict(Exception):
    """Another writer kept changing the alert item; the record should be retried."""


class PublishFailed(Exception):
    """A message was not accepted; it stays in the outbox for the next attempt."""


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _message_item(message: AlertMessage) -> dict[str, Any]:
    return {"subject": message.subject, "body": message.body, "sms": message.sms, "attributes": message.attributes,
            "detail": message.detail}  # fmt: skip


def _message_from_item(item: dict[str, Any]) -> AlertMessage:
    return AlertMessage(item["subject"], item["body"], item["sms"], dict(item["attributes"]), dict(item.get("detail") or {}))


def _cancelled_by_condition(exc: ClientError) -> bool:
    reasons = exc.response.get("CancellationReasons") or []
    return exc.response.get("Error", {}).get("Code") == "TransactionCanceledException" and any(
        r.get("Code") == "ConditionalCheckFailed" for r in reasons
    )


class AlertStore:
    def __init__(self, table: Any, deliver: Deliver, channels: tuple[str, ...], *, log_days: int) -> None:
        self._table = table
        self._deliver = deliver
        self._channels = channels
        self._log_days = log_days
        self._owner = uuid.uuid4().hex  # this container's name on a lease

    # -- deciding a transition exactly once --------------------------------------------------------
    def apply(self, provider: str, account: str, decide: Decision) -> int:
        """Decide from the account's stored alert state and commit the result; then send its outbox.

        Returns the number of messages this call sent.
        """
        identity = {"kind": ALERT_KIND, "provider": provider, "account": account}
        return self._apply(alert_key(provider, account), identity, decide)

    def apply_configuration(self, decide: Decision) -> int:
        """The same, for the alert state of the thresholds document itself."""
        return self._apply(CONFIG_ALERT_KEY, {"kind": CONFIG_ALERT_KIND}, decide)

    def drain_account(self, provider: str, account: str) -> int:
        return self._drain(alert_key(provider, account))

    def drain_configuration(self) -> int:
        return self._drain(CONFIG_ALERT_KEY)

    def _apply(self, key: dict[str, str], identity: dict[str, str], decide: Decision) -> int:
        for attempt in range(MAX_ATTEMPTS):
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            state = alert_state_from_item(item)
            new_state, messages = decide(state)
            if new_state.stored_fields() == state.stored_fields() and not messages:
                pending = bool(item and item.get("outbox"))
                break
            try:
                self._commit(key, identity, state, new_state, messages, exists=item is not None)
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
                time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 - jitter, not crypto
                continue
            pending = bool(messages)
            break
        else:
            raise TransitionConflict(f"alert state {key['sk']} kept changing under {MAX_ATTEMPTS} attempts")
        return self._drain(key) if pending else 0

    def _commit(self, key, identity, state: AlertState, new_state: AlertState, messages: list[AlertMessage], *, exists: bool) -> None:
        names, values, sets = {}, {}, []
        for i, (name, value) in enumerate({**new_state.stored_fields(), **identity}.items()):
            names[f"#f{i}"], values[f":f{i}"] = name, to_dynamodb(value)
            sets.append(f"#f{i} = :f{i}")
        values[":next"] = state.version + 1
        sets.append("version = :next")
        stamped = {f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}": to_dynamodb(_message_item(m)) for m in messages}
        if exists:
            for i, (message_id, message) in enumerate(stamped.items()):
                names[f"#m{i}"], values[f":m{i}"] = message_id, message
                sets.append(f"outbox.#m{i} = :m{i}")
            condition, values[":version"] = "version = :version", state.version
        else:
            values[":outbox"] = stamped
            sets.append("outbox = :outbox")
            condition = "attribute_not_exists(pk)"
        self._table.update_item(
            Key=key,
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    # -- sending the outbox ------------------------------------------------------------------------
    def _drain(self, key: dict[str, str]) -> int:
        """Send the item's pending messages, oldest first, if no one else holds the lease."""
        item = self._claim(key)
        sent = 0
        while item is not None:
            for message_id in sorted(item.get("outbox", {})):
                if not self._send(key, message_id, from_dynamodb(item["outbox"][message_id])):
                    return sent  # the lease was lost: its new holder sends the rest
                sent += 1
            item = self._release_if_empty(key)
        return sent

    def _send(self, key: dict[str, str], message_id: str, entry: dict[str, Any]) -> bool:
        """Deliver one outbox entry to every channel that has not taken it, then record it as sent.

        Returns False when the lease was lost on the way; raises PublishFailed when a channel refused.
        """
        message = _message_from_item(entry)
        pending = [c for c in self._channels if c not in set(entry.get("delivered") or [])]
        for channel in pending:
            try:
                self._deliver(channel, message, message_id)
            except Exception as exc:
                self._release(key)
                raise PublishFailed(f"{channel} did not take {key['sk']} alert {message_id}; it stays queued: {exc}") from exc
            # Marked at once, the last channel too: if recording the alert then fails, the retry records
            # it without sending it anywhere again.
            if not self._mark_delivered(key, message_id, channel):
                return False
        return self._record_sent(key, message_id, message)

    def _holding_lease(self, key: dict[str, str], write: Callable[[], Any]) -> bool:
        """Run a write conditioned on holding the lease; False (and a warning) when the lease was lost."""
        try:
            write()
        except ClientError as exc:
            if _conditional_failed(exc) or _cancelled_by_condition(exc):
                logger.warning("alert lease lost while publishing", extra={"alert": key["sk"]})
                return False
            raise
        return True

    def _mark_delivered(self, key: dict[str, str], message_id: str, channel: str) -> bool:
        return self._holding_lease(key, lambda: self._table.update_item(
            Key=key,
            UpdateExpression="SET outbox.#m.delivered = list_append(if_not_exists(outbox.#m.delivered, :none), :channel)",
            ConditionExpression="lease_owner = :me",
            ExpressionAttributeNames={"#m": message_id},
            ExpressionAttributeValues={":me": self._owner, ":none": [], ":channel": [channel]},
        ))  # fmt: skip

    def _record_sent(self, key: dict[str, str], message_id: str, message: AlertMessage) -> bool:
        """In one transaction: the entry leaves the outbox and its record is written (GET /alerts)."""
        # The Table resource's client converts Python values to DynamoDB's, as the resource itself does.
        name = self._table.name
        remove = {"Update": {"TableName": name, "Key": key, "UpdateExpression": "REMOVE outbox.#m",
                             "ConditionExpression": "lease_owner = :me", "ExpressionAttributeNames": {"#m": message_id},
                             "ExpressionAttributeValues": {":me": self._owner}}}  # fmt: skip
        records = [{"Put": {"TableName": name, "Item": to_dynamodb(item)}} for item in alert_log_items(message_id, message, self._log_days)]
        return self._holding_lease(key, lambda: self._table.meta.client.transact_write_items(TransactItems=[remove, *records]))

    def _claim(self, key: dict[str, str]) -> dict[str, Any] | None:
        now = time.time()
        try:
            return self._table.update_item(
                Key=key,
                UpdateExpression="SET lease_owner = :me, lease_until = :until",
                ConditionExpression=(
                    "attribute_exists(outbox) AND size(outbox) > :zero"
                    " AND (attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me)"
                ),
                ExpressionAttributeValues={
                    ":me": self._owner,
                    ":until": to_dynamodb(now + LEASE_SECONDS),
                    ":now": to_dynamodb(now),
                    ":zero": 0,
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if _conditional_failed(exc):
                return None  # nothing to send, or another aggregator is sending it
            raise

    def _release_if_empty(self, key: dict[str, str]) -> dict[str, Any] | None:
        """Release the lease if the outbox is empty; else return the item to send what arrived meanwhile."""
        try:
            self._table.update_item(
                Key=key,
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :me AND size(outbox) = :zero",
                ExpressionAttributeValues={":me": self._owner, ":zero": 0},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
            return item if item.get("lease_owner") == self._owner else None
        return None

    def _release(self, key: dict[str, str]) -> None:
        try:
            self._table.update_item(
                Key=key,
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :me",
                ExpressionAttributeValues={":me": self._owner},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise


@dataclass(frozen=True)
class SentAlertPage:
    alerts: list[SentAlert]  # newest first
    last_key: str | None  # the alert id to resume after, when there is more


class SentAlertLog:
    """Every alert sent, kept until its TTL: all of them, a provider's, or an account's, newest first."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def page(self, provider: str, account: str, *, since: str | None, limit: int, after: str | None) -> SentAlertPage:
        """Up to ``limit`` alerts, newest first, decided at or after ``since`` (an alert id prefix), resuming
        after the alert id ``after``. The partition always comes from ``provider``/``account``."""
        pk = sent_alerts_pk(provider, account)
        condition = key("pk").eq(pk)
        if since:
            condition &= key("sk").gte(since)
        items, more = newest_first(self._table, pk, condition, limit, after)
        alerts = [sent_alert_from_item(i) for i in items]
        return SentAlertPage(alerts, alerts[-1].alert_id if more and alerts else None)
