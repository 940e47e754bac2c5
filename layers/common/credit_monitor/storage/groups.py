"""Notification groups: the alerts people get as one message, and the primitives that keep it exactly once.

A group is a head item (``GROUPS`` / ``<group key>``) with a ``generation`` and a ``state`` (open, closing,
sent) and an outbox (the composed message, sent as any outbox is), and one member item per alert
(``GROUP#<group key>#<generation>`` / ``<alert id>``: the alert's message; expires in a day).

- joining is a transaction: a condition check that the head's generation is open, and the member's put.
  Once a flush closed the generation no alert can join it, so the flush's listing is complete; a late alert
  opens the next generation (and its own timer).
- flushing closes the generation (a lease on it: a flush that dies is taken over once it expires), lists its
  members, and queues the composed message on the head's outbox, state "sent".

A head takes at most 1,000 writes a second (a partition's limit): joining only checks it, and only opening
or closing a generation writes it, so a storm of one group is bounded by the stream, not by its head.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from credit_monitor.errors import TransitionConflict
from credit_monitor.model import AlertMessage
from credit_monitor.storage.alerts import (
    LEASE_SECONDS,
    MAX_ATTEMPTS,
    cancelled_by_condition,
    conditional_failed,
    message_from_item,
    message_item,
    new_alert_id,
)
from credit_monitor.storage.items import GROUP_KIND, GROUP_MEMBER_KIND, TTL_ATTRIBUTE, to_dynamodb
from credit_monitor.storage.query import key

GROUPS_PK = "GROUPS"
MEMBER_DAYS = 1


def group_key(group: str) -> dict[str, str]:
    return {"pk": GROUPS_PK, "sk": group}


def members_pk(group: str, generation: int) -> str:
    return f"GROUP#{group}#{generation}"


@dataclass(frozen=True)
class Members:
    first: list[tuple[str, AlertMessage]]  # (alert id, message) of the first few, oldest first
    total: int


@dataclass(frozen=True)
class OpenGroup:
    group: str
    generation: int
    opened_at: float  # epoch seconds


class GroupStore:
    def __init__(self, table: Any, owner: str) -> None:
        self._table = table
        self._owner = owner

    def join(self, group: str, facts: dict[str, Any], alert_id: str, message: AlertMessage) -> tuple[int, bool]:
        """Add the alert to the group's open generation (opening one if needed); returns the generation and
        whether its timer is not known to be started (then the caller starts it, and says so: timer_started).
        Whoever fails between opening a generation and starting its timer leaves that to the next alert
        joining, or to the retry of its own delivery: a generation is never left without a timer."""
        head_key = group_key(group)
        member = {"kind": GROUP_MEMBER_KIND, "message": message_item(message), TTL_ATTRIBUTE: int(time.time()) + MEMBER_DAYS * 86400}
        for _ in range(MAX_ATTEMPTS):
            head = self._table.get_item(Key=head_key, ConsistentRead=True).get("Item")
            if head is None or head.get("state") != "open":
                generation = int(head["generation"]) + 1 if head else 1
                if not self._open(head_key, facts, generation, exists=head is not None):
                    continue  # another alert opened it first: join that one
                timed = False
            else:
                generation = int(head["generation"])
                timed = int(head.get("timer_generation") or 0) == generation
            check = {"ConditionCheck": {"TableName": self._table.name, "Key": head_key,
                                        "ConditionExpression": "generation = :g AND #state = :open",
                                        "ExpressionAttributeNames": {"#state": "state"},
                                        "ExpressionAttributeValues": {":g": generation, ":open": "open"}}}  # fmt: skip
            put = {
                "Put": {"TableName": self._table.name, "Item": to_dynamodb({"pk": members_pk(group, generation), "sk": alert_id, **member})}
            }
            try:
                self._table.meta.client.transact_write_items(TransactItems=[check, put])
            except ClientError as exc:
                if cancelled_by_condition(exc):
                    continue  # closed meanwhile: join the next generation
                raise
            return generation, not timed
        raise TransitionConflict(f"notification group {group} kept closing under {MAX_ATTEMPTS} attempts")

    def _open(self, head_key: dict[str, str], facts: dict[str, Any], generation: int, *, exists: bool) -> bool:
        condition = "generation = :previous AND #state <> :open" if exists else "attribute_not_exists(pk)"
        values = {":g": generation, ":open": "open", ":at": to_dynamodb(time.time()), ":facts": to_dynamodb(facts), ":kind": GROUP_KIND}
        if exists:
            values[":previous"] = generation - 1
        try:
            update = (
                "SET generation = :g, #state = :open, opened_at = :at, facts = :facts, kind = :kind, outbox = if_not_exists(outbox, :empty)"
            )
            values[":empty"] = {}
            self._table.update_item(Key=head_key, UpdateExpression=update,
                                    ConditionExpression=condition, ExpressionAttributeNames={"#state": "state"},
                                    ExpressionAttributeValues=values)  # fmt: skip
        except ClientError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

    def timer_started(self, group: str, generation: int) -> None:
        self._table.update_item(Key=group_key(group), UpdateExpression="SET timer_generation = :g", ConditionExpression="generation = :g",
                                ExpressionAttributeValues={":g": generation})  # fmt: skip

    def close(self, group: str, generation: int) -> dict[str, Any] | None:
        """Take the generation to flush it (open, or closing under a lease that expired); the head's facts."""
        now = time.time()
        try:
            head = self._table.update_item(
                Key=group_key(group),
                UpdateExpression="SET #state = :closing, closing_owner = :me, closing_until = :until",
                ConditionExpression=(
                    "generation = :g AND (#state = :open OR (#state = :closing AND (closing_until < :now OR closing_owner = :me)))"
                ),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":g": generation,
                    ":open": "open",
                    ":closing": "closing",
                    ":me": self._owner,
                    ":until": to_dynamodb(now + LEASE_SECONDS),
                    ":now": to_dynamodb(now),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if conditional_failed(exc):
                return None  # flushed already, or being flushed
            raise
        return dict(head.get("facts") or {})

    def members(self, group: str, generation: int, first: int) -> Members:
        """The first ``first`` members (oldest first) and how many there are, a page at a time."""
        found, total, query = [], 0, {"KeyConditionExpression": key("pk").eq(members_pk(group, generation)), "ConsistentRead": True}
        while True:
            page = self._table.query(**query)
            for item in page.get("Items", []):
                total += 1
                if len(found) < first:
                    found.append((item["sk"], message_from_item(item["message"])))
            if "LastEvaluatedKey" not in page:
                return Members(found, total)
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def queue(self, group: str, generation: int, message: AlertMessage | None) -> bool:
        """The composed message into the head's outbox (None: an empty generation, nothing to say); the
        generation is sent. False if the lease was lost."""
        names: dict[str, str] = {"#state": "state"}
        values: dict[str, Any] = {
            ":g": generation,
            ":sent": "sent",
            ":closing": "closing",
            ":me": self._owner,
            ":now": to_dynamodb(time.time()),
        }
        update = "SET #state = :sent, sent_at = :now"
        if message is not None:
            # One write: the generation is sent exactly when its message is queued (the head's outbox exists from
            # its first opening on).
            names["#m"], values[":m"] = new_alert_id(), to_dynamodb(message_item(message))
            update += ", outbox.#m = :m"
        try:
            self._table.update_item(Key=group_key(group), UpdateExpression=update + " REMOVE closing_owner, closing_until",
                                    ConditionExpression="generation = :g AND #state = :closing AND closing_owner = :me",
                                    ExpressionAttributeNames=names, ExpressionAttributeValues=values)  # fmt: skip
        except ClientError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

    def waiting(self, older_than: float) -> list[OpenGroup]:
        """Generations open (or closing under an expired lease) since before ``older_than``, whose timer was lost,
        and groups whose message a channel refused (still queued on the head)."""
        found, query = [], {"KeyConditionExpression": key("pk").eq(GROUPS_PK)}
        now = time.time()
        while True:
            page = self._table.query(**query)
            for item in page.get("Items", []):
                state = item.get("state")
                stuck = state == "closing" and float(item.get("closing_until") or 0) < now
                unsent = bool(item.get("outbox"))  # composed, but a channel refused it: the drain is retried
                if (state == "open" and float(item.get("opened_at") or 0) < older_than) or stuck or unsent:
                    found.append(OpenGroup(item["sk"], int(item["generation"]), float(item.get("opened_at") or 0)))
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
