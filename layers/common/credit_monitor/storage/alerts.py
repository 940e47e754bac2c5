"""The alerting items and their primitives: a versioned state with an outbox, a lease to send it, the record
of every alert sent, and the markers the scheduled check reads. The delivery loop is alerting's
(alerting.delivery); this module only claims, marks and records, each as one conditional write.

A transition and the messages it calls for are written together, in one conditional update on the
item's ``version``: when several aggregators (or a redelivered stream batch) decide the same transition,
one write wins and the others re-read and find nothing left to do. Each message gets its ``alert_id``
then (its outbox key: the commit time in nanoseconds and a random suffix, so ids sort in the order alerts
were decided). Whoever holds the item's short lease sends its outbox; each channel that accepts a message
is marked on it at once, and the message leaves the outbox (with its record, for alert items) in one
transaction once every channel took it. The one window for a duplicate is a sender that stalls past its
lease after a channel accepted a message and before it marked that (LEASE_SECONDS, far longer than a
send takes).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from credit_monitor.backoff import wait_before_retry
from credit_monitor.errors import TransitionConflict
from credit_monitor.model import AlertMessage, AlertState, IncidentState, SentAlert
from credit_monitor.storage.items import (
    ALERT_KIND,
    ATTENTION_KIND,
    CONFIG_ALERT_KEY,
    CONFIG_ALERT_KIND,
    INCIDENT_KIND,
    alert_key,
    alert_log_items,
    alert_state_from_item,
    attention_pk,
    from_dynamodb,
    incident_key,
    incident_state_from_item,
    sent_alert_from_item,
    sent_alerts_pk,
    to_dynamodb,
)
from credit_monitor.storage.query import key, newest_first

logger = Logger()

LEASE_SECONDS = 60
MAX_ATTEMPTS = 8


class StoredState(Protocol):
    """What an alerting item's state offers its store: the fields it keeps, and its version."""

    version: int

    def stored_fields(self) -> dict[str, Any]: ...


Decision = Callable[[Any], tuple[Any, list[AlertMessage]]]  # (state) -> (new state, messages to send)


def conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def cancelled_by_condition(exc: ClientError) -> bool:
    reasons = exc.response.get("CancellationReasons") or []
    return exc.response.get("Error", {}).get("Code") == "TransactionCanceledException" and any(
        r.get("Code") == "ConditionalCheckFailed" for r in reasons
    )


def message_item(message: AlertMessage) -> dict[str, Any]:
    return {"subject": message.subject, "body": message.body, "sms": message.sms, "attributes": message.attributes,
            "detail": message.detail}  # fmt: skip


def message_from_item(item: dict[str, Any]) -> AlertMessage:
    item = from_dynamodb(item)
    return AlertMessage(item["subject"], item["body"], item["sms"], dict(item["attributes"]), dict(item.get("detail") or {}))


def new_alert_id() -> str:
    """Sorts in the order alerts were decided: the time in nanoseconds, then a random suffix."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Outbox:
    """An item's pending messages, as its lease holder read them: message id -> (message, channels that took it)."""

    entries: dict[str, tuple[AlertMessage, frozenset[str]]]


class AlertStore:
    """Versioned alerting items (an account's alert state, a provider's incidents, the thresholds' state, a
    notification group) and the lease that sends their outbox."""

    def __init__(self, table: Any, *, log_days: int) -> None:
        self._table = table
        self._log_days = log_days
        self.owner = uuid.uuid4().hex  # this container's name on a lease

    # -- the items ----------------------------------------------------------------------------------
    @staticmethod
    def account_key(provider: str, account: str) -> dict[str, str]:
        return alert_key(provider, account)

    @staticmethod
    def incident_key(provider: str) -> dict[str, str]:
        return incident_key(provider)

    @staticmethod
    def configuration_key() -> dict[str, str]:
        return CONFIG_ALERT_KEY

    def decide_account(self, provider: str, account: str, decide: Decision) -> tuple[AlertState, bool]:
        identity = {"kind": ALERT_KIND, "provider": provider, "account": account}
        return self.decide(alert_key(provider, account), identity, alert_state_from_item, decide)

    def decide_incidents(self, provider: str, decide: Decision) -> tuple[IncidentState, bool]:
        return self.decide(incident_key(provider), {"kind": INCIDENT_KIND, "provider": provider}, incident_state_from_item, decide)

    def incident_state(self, provider: str) -> IncidentState:
        """A provider's incidents as they stand (to know which accounts' alerts they hold back)."""
        return incident_state_from_item(self._table.get_item(Key=incident_key(provider), ConsistentRead=True).get("Item"))

    def decide_configuration(self, decide: Decision) -> tuple[AlertState, bool]:
        return self.decide(CONFIG_ALERT_KEY, {"kind": CONFIG_ALERT_KIND}, alert_state_from_item, decide)

    # -- deciding a transition exactly once --------------------------------------------------------
    def decide(self, key: dict[str, str], identity: dict[str, Any], load: Callable[[dict | None], StoredState],
               decide: Decision) -> tuple[Any, bool]:  # fmt: skip
        """Decide from the item's stored state and commit the result with its messages, exactly once.

        Returns the state in force and whether the item's outbox holds messages to send.
        """
        for attempt in range(MAX_ATTEMPTS):
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            state = load(item)
            new_state, messages = decide(state)
            if new_state.stored_fields() == state.stored_fields() and not messages:
                return state, bool(item and item.get("outbox"))
            try:
                self._commit(key, identity, state, new_state, messages, exists=item is not None)
            except ClientError as exc:
                if not conditional_failed(exc):
                    raise
                wait_before_retry(attempt, base=0.02)
                continue
            return new_state, bool(messages) or bool(item and item.get("outbox"))
        raise TransitionConflict(f"alerting item {key['pk']}/{key['sk']} kept changing under {MAX_ATTEMPTS} attempts")

    def _commit(self, key, identity, state: StoredState, new_state: StoredState, messages: list[AlertMessage], *, exists: bool) -> None:
        names, values, sets = {}, {}, []
        for i, (name, value) in enumerate({**new_state.stored_fields(), **identity}.items()):
            names[f"#f{i}"], values[f":f{i}"] = name, to_dynamodb(value)
            sets.append(f"#f{i} = :f{i}")
        values[":next"] = state.version + 1
        sets.append("version = :next")
        stamped = {new_alert_id(): to_dynamodb(message_item(m)) for m in messages}
        if exists:
            for i, (message_id, message) in enumerate(stamped.items()):
                names[f"#m{i}"], values[f":m{i}"] = message_id, message
                sets.append(f"outbox.#m{i} = :m{i}")
            condition, values[":version"] = "version = :version", state.version
        else:
            values[":outbox"] = stamped
            sets.append("outbox = :outbox")
            condition = "attribute_not_exists(pk)"
        self._table.update_item(Key=key, UpdateExpression="SET " + ", ".join(sets), ConditionExpression=condition,
                                ExpressionAttributeNames=names, ExpressionAttributeValues=values)  # fmt: skip

    # -- the lease and the outbox ------------------------------------------------------------------
    def claim(self, key: dict[str, str]) -> Outbox | None:
        """Take the item's lease if it has messages to send and no one else holds it; its outbox then."""
        now = time.time()
        try:
            item = self._table.update_item(
                Key=key,
                UpdateExpression="SET lease_owner = :me, lease_until = :until",
                ConditionExpression=(
                    "attribute_exists(outbox) AND size(outbox) > :zero"
                    " AND (attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me)"
                ),
                ExpressionAttributeValues={
                    ":me": self.owner,
                    ":until": to_dynamodb(now + LEASE_SECONDS),
                    ":now": to_dynamodb(now),
                    ":zero": 0,
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if conditional_failed(exc):
                return None  # nothing to send, or another aggregator is sending it
            raise
        return _outbox(item)

    def mark_delivered(self, key: dict[str, str], message_id: str, channel: str) -> bool:
        """Record that ``channel`` took the message, at once (a later failure never sends it there again)."""
        return self._holding_lease(key, lambda: self._table.update_item(
            Key=key,
            UpdateExpression="SET outbox.#m.delivered = list_append(if_not_exists(outbox.#m.delivered, :none), :channel)",
            ConditionExpression="lease_owner = :me",
            ExpressionAttributeNames={"#m": message_id},
            ExpressionAttributeValues={":me": self.owner, ":none": [], ":channel": [channel]},
        ))  # fmt: skip

    def complete(self, key: dict[str, str], message_id: str, message: AlertMessage, *, record: bool) -> bool:
        """In one transaction: the message leaves the outbox and, for an alert, its record is written (three
        copies, so GET /alerts reads all alerts, a provider's or an account's newest first with one Query)."""
        name = self._table.name
        remove = {"Update": {"TableName": name, "Key": key, "UpdateExpression": "REMOVE outbox.#m",
                             "ConditionExpression": "lease_owner = :me", "ExpressionAttributeNames": {"#m": message_id},
                             "ExpressionAttributeValues": {":me": self.owner}}}  # fmt: skip
        records = [{"Put": {"TableName": name, "Item": to_dynamodb(item)}} for item in alert_log_items(message_id, message, self._log_days)]
        # The Table resource's client converts Python values to DynamoDB's, as the resource itself does.
        return self._holding_lease(
            key, lambda: self._table.meta.client.transact_write_items(TransactItems=[remove, *(records if record else [])])
        )

    def release_if_empty(self, key: dict[str, str]) -> Outbox | None:
        """Release the lease if the outbox is empty; else the outbox again, to send what arrived meanwhile."""
        try:
            self._table.update_item(Key=key, UpdateExpression="REMOVE lease_owner, lease_until",
                                    ConditionExpression="lease_owner = :me AND size(outbox) = :zero",
                                    ExpressionAttributeValues={":me": self.owner, ":zero": 0})  # fmt: skip
        except ClientError as exc:
            if not conditional_failed(exc):
                raise
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
            return _outbox(item) if item.get("lease_owner") == self.owner else None
        return None

    def release(self, key: dict[str, str]) -> None:
        try:
            self._table.update_item(Key=key, UpdateExpression="REMOVE lease_owner, lease_until", ConditionExpression="lease_owner = :me",
                                    ExpressionAttributeValues={":me": self.owner})  # fmt: skip
        except ClientError as exc:
            if not conditional_failed(exc):
                raise

    def _holding_lease(self, key: dict[str, str], write: Callable[[], Any]) -> bool:
        """Run a write conditioned on holding the lease; False (and a warning) when the lease was lost."""
        try:
            write()
        except ClientError as exc:
            if conditional_failed(exc) or cancelled_by_condition(exc):
                logger.warning("alert lease lost while publishing", extra={"alert": f"{key['pk']}/{key['sk']}"})
                return False
            raise
        return True

    # -- what the scheduled check looks at ----------------------------------------------------------
    def mark(self, provider: str, account: str, reason: str) -> None:
        """Ask the scheduled check to look at this account (``reason``: outbox, silence, stale)."""
        self._table.put_item(Item={"pk": attention_pk(provider), "sk": f"{account}#{reason}", "kind": ATTENTION_KIND, "account": account,
                                   "reason": reason})  # fmt: skip

    def unmark(self, provider: str, account: str, reason: str) -> None:
        self._table.delete_item(Key={"pk": attention_pk(provider), "sk": f"{account}#{reason}"})

    def marked(self, provider: str) -> list[tuple[str, str]]:
        """(account, reason) of every marker of ``provider``: a few items, however large the fleet."""
        found, query = [], {"KeyConditionExpression": key("pk").eq(attention_pk(provider))}
        while True:
            page = self._table.query(**query)
            found += [(item["account"], item["reason"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _outbox(item: dict[str, Any]) -> Outbox:
    entries = {}
    for message_id, entry in (item.get("outbox") or {}).items():
        entries[message_id] = (message_from_item(entry), frozenset(entry.get("delivered") or []))
    return Outbox(entries)


@dataclass(frozen=True)
class SentAlertPage:
    alerts: list[SentAlert]  # newest first
    last_key: str | None  # the alert id to resume after, when there is more


class SentAlertLog:
    """Every alert sent, kept until its TTL: all of them, a provider's, or an account's, newest first."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def page(
        self, provider: str, account: str, *, since: str | None, limit: int, after: str | None, label: str | None = None
    ) -> SentAlertPage:
        """Up to ``limit`` alerts, newest first, decided at or after ``since`` (an alert id prefix), resuming
        after the alert id ``after``; with ``label`` (``name=value``), only those carrying it (a filter on one
        page: a page may hold fewer, never more). The partition always comes from ``provider``/``account``."""
        pk = sent_alerts_pk(provider, account)
        condition = key("pk").eq(pk)
        if since:
            condition &= key("sk").gte(since)
        extra = {}
        if label:
            extra = {"FilterExpression": "contains(#pairs, :pair)", "ExpressionAttributeNames": {"#pairs": "label_pairs"},
                     "ExpressionAttributeValues": {":pair": label}}  # fmt: skip
        items, more, last = newest_first(self._table, pk, condition, limit, after, **extra)
        alerts = [sent_alert_from_item(i) for i in items]
        return SentAlertPage(alerts, last if more else None)
