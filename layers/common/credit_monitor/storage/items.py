"""Table items: their keys, and the conversions between typed values and what DynamoDB stores."""

from __future__ import annotations

import functools
import math
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from credit_monitor.model import (
    AccountResult,
    AccountSnapshot,
    AlertMessage,
    AlertState,
    BalanceItem,
    HistoryReading,
    Incident,
    IncidentState,
    LastPoll,
    Reading,
    RoundSummary,
    SentAlert,
    format_time,
    parse_time,
)

CONFIG_PK = "CONFIG"
BALANCE_KIND = "balance"
ALERT_KIND = "alert"
ROUND_KIND = "round"
CONFIG_KIND = "config"
CONFIG_ALERT_KIND = "config-alert"
SENT_ALERT_KIND = "sent-alert"
ATTENTION_KIND = "attention"
INCIDENT_KIND = "incident"
GROUP_KIND = "group"
GROUP_MEMBER_KIND = "group-member"
TTL_ATTRIBUTE = "expires_at"

THRESHOLDS_KEY = {"pk": CONFIG_PK, "sk": "thresholds"}
CONFIG_ALERT_KEY = {"pk": CONFIG_PK, "sk": "thresholds#alert"}

# Partitions by writer. A poller may write only its own provider's partitions (IAM dynamodb:LeadingKeys:
# BALANCE#<provider>, HISTORY#<provider>#*, ROUND#<provider>), the aggregator only the alerting ones (ALERT#,
# ATTENTION#, INCIDENT, GROUP*, ALERTS*, CONFIG): neither can overwrite what the other keeps. A partition is
# also a unit of throughput (1,000 writes a second), so a fleet's balances are not one hot partition.
BALANCE_PREFIX, ALERT_PREFIX, HISTORY_PREFIX, ROUND_PREFIX, ATTENTION_PREFIX = "BALANCE#", "ALERT#", "HISTORY#", "ROUND#", "ATTENTION#"


def balance_pk(provider: str) -> str:
    return f"{BALANCE_PREFIX}{provider}"


def alert_pk(provider: str) -> str:
    return f"{ALERT_PREFIX}{provider}"


def balance_key(provider: str, account: str) -> dict[str, str]:
    """An account's latest balance: written only by its provider's poller."""
    return {"pk": balance_pk(provider), "sk": account}


def alert_key(provider: str, account: str) -> dict[str, str]:
    """An account's alert state: written only by the aggregator."""
    return {"pk": alert_pk(provider), "sk": account}


def round_key(provider: str) -> dict[str, str]:
    """The provider's newest poll round (RoundSummary): written by its poller at the end of each round."""
    return {"pk": f"{ROUND_PREFIX}{provider}", "sk": "latest"}


def history_pk(provider: str, account: str) -> str:
    return f"{HISTORY_PREFIX}{provider}#{account}"


def attention_pk(provider: str) -> str:
    """Accounts the scheduled check must look at (a message left queued, a silence holding alerts back, a
    stale balance): a sparse index, so the check never reads every account."""
    return f"{ATTENTION_PREFIX}{provider}"


def incident_key(provider: str) -> dict[str, str]:
    """A provider's incidents (model.IncidentState): written only by the aggregator."""
    return {"pk": "INCIDENT", "sk": provider}


def sent_alerts_pk(provider: str = "", account: str = "") -> str:
    """The partition of every sent alert, of one provider's, or of one account's (each alert is in all three)."""
    return "#".join(part for part in ("ALERTS", provider, account if provider else "") if part)


def to_dynamodb(value: Any) -> Any:
    """Floats become Decimals (DynamoDB has no float type); containers are converted recursively."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: to_dynamodb(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamodb(v) for v in value]
    return value


def attribute_value(value: Any) -> dict[str, Any]:
    """A value as DynamoDB's own JSON, as boto3's TypeSerializer writes it, for what items hold (str, bool,
    int, float, Decimal, None, dict, list); without its generality, which a round of a thousand accounts
    would notice (the poller's bulk writes go through a plain client)."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if kind is int or kind is Decimal:
        return {"N": str(_dynamodb_number(value))}
    if kind is float:
        if not math.isfinite(value):
            raise TypeError(f"DynamoDB cannot store {value}")
        return {"N": str(_dynamodb_number(Decimal(str(value))))}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {k: attribute_value(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [attribute_value(v) for v in value]}
    if isinstance(value, str | int | Decimal):  # a subclass (an enum's value, say)
        return attribute_value(str(value) if isinstance(value, str) else value + 0)
    raise TypeError(f"DynamoDB cannot store a {type(value).__name__}")


@functools.cache
def _dynamodb_context() -> Any:
    from boto3.dynamodb.types import DYNAMODB_CONTEXT  # noqa: PLC0415 - boto3 is loaded by whoever writes

    return DYNAMODB_CONTEXT


def _dynamodb_number(number: int | Decimal) -> Decimal:
    """The number as DynamoDB holds it (38 digits); raises decimal's error for one it cannot hold."""
    if type(number) is Decimal and not number.is_finite():
        raise TypeError(f"DynamoDB cannot store {number}")
    return _dynamodb_context().create_decimal(number)


def from_dynamodb(value: Any) -> Any:
    """Decimals back to int or float, recursively, for JSON and arithmetic."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamodb(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamodb(v) for v in value]
    return value


# -- balances -------------------------------------------------------------------------------------

_BALANCE_FIELDS = tuple(f.name for f in fields(BalanceItem))
# Left out of an item when at these defaults (balance_from_item restores them); a balance of 0 is kept.
_DEFAULTS = {"breakdown": {}, "consecutive_failures": 0}


def balance_item(balance: BalanceItem) -> dict[str, Any]:
    """The latest-balance item of an account, ready to write. Fields at their empty default (None, no
    breakdown, no failures) are left out: every attribute is stored, streamed and read at every poll."""
    values = {name: value for name in _BALANCE_FIELDS  # shallow: asdict copies deep
              if (value := getattr(balance, name)) is not None and (name not in _DEFAULTS or value != _DEFAULTS[name])}  # fmt: skip
    return to_dynamodb({**balance_key(balance.provider, balance.account), "kind": BALANCE_KIND, **values})


def balance_from_item(item: dict[str, Any]) -> BalanceItem:
    values = from_dynamodb({k: v for k, v in item.items() if k in _BALANCE_FIELDS})
    values["consecutive_failures"] = int(values.get("consecutive_failures") or 0)
    values["breakdown"] = values.get("breakdown") or {}
    return BalanceItem(**values)


# What a poll round reads of each latest item (a projection: the round never needs the rest).
LAST_POLL_FIELDS = tuple(f.name for f in fields(LastPoll))


def last_poll_from_item(item: dict[str, Any]) -> LastPoll:
    values = from_dynamodb({k: v for k, v in item.items() if k in LAST_POLL_FIELDS})
    values["consecutive_failures"] = int(values.get("consecutive_failures") or 0)
    return LastPoll(**values)


def failure_update(provider: str, result: AccountResult, previous: LastPoll | None) -> dict[str, Any]:
    """An UpdateItem's arguments (values as plain Python) recording a failed poll on the account's latest
    item: the poll's outcome is set, the last good balance is left as it is, and a newer poll stored by an
    overlapping run wins (the condition)."""
    values = {**balance_key(provider, result.account), "kind": BALANCE_KIND, "provider": provider, "account": result.account,
              **BalanceItem.failure_fields(result, previous)}  # fmt: skip
    changed = {name: value for name, value in values.items() if name not in ("pk", "sk")}
    aliases = {name: i for i, name in enumerate(changed)}
    polled = aliases["polled_at"]
    return {
        "Key": {"pk": values["pk"], "sk": values["sk"]},
        "UpdateExpression": "SET " + ", ".join(f"#f{i} = :f{i}" for i in aliases.values()),
        "ConditionExpression": f"attribute_not_exists(#f{polled}) OR #f{polled} <= :f{polled}",
        "ExpressionAttributeNames": {f"#f{i}": name for name, i in aliases.items()},
        "ExpressionAttributeValues": {f":f{aliases[name]}": to_dynamodb(value) for name, value in changed.items()},
    }


def is_balance_item(item: dict[str, Any] | None) -> bool:
    return bool(item) and item.get("kind") == BALANCE_KIND


def history_item(provider: str, account: str, fetched_at: str, reading: Reading, history_days: int) -> dict[str, Any]:
    """One reading of an account's history: only what the history says (the partition names the account,
    the sort key is the time). Every byte is stored, backed up (PITR) and read by the forecast for
    ``history_days``, once per poll of every account."""
    expires = parse_time(fetched_at) + timedelta(days=history_days)
    item = {"pk": history_pk(provider, account), "sk": fetched_at, "available": reading.available}
    if reading.frozen:
        item["frozen"] = reading.frozen
    if reading.breakdown:
        item["breakdown"] = reading.breakdown
    item[TTL_ATTRIBUTE] = int(expires.timestamp())
    return to_dynamodb(item)


def history_from_item(item: dict[str, Any]) -> HistoryReading:
    values = from_dynamodb(item)
    available = values["available"]
    frozen = values.get("frozen", 0)
    return HistoryReading(
        fetched_at=values.get("fetched_at") or values["sk"],  # items written before 0.3 also hold fetched_at
        available=available,
        frozen=frozen,
        total=values.get("total", available + frozen),
        breakdown=values.get("breakdown") or {},
    )


# -- rounds ---------------------------------------------------------------------------------------

_ROUND_FIELDS = tuple(f.name for f in fields(RoundSummary))


def round_item(summary: RoundSummary) -> dict[str, Any]:
    values = {name: value for name in _ROUND_FIELDS if (value := getattr(summary, name)) is not None}
    return to_dynamodb({**round_key(summary.provider), "kind": ROUND_KIND, **values})


def round_from_item(item: dict[str, Any] | None) -> RoundSummary | None:
    if not item or item.get("kind") != ROUND_KIND:
        return None
    values = from_dynamodb({k: v for k, v in item.items() if k in _ROUND_FIELDS})
    values["failures"] = {str(k): int(v) for k, v in (values.get("failures") or {}).items()}
    for name in ("accounts", "polled", "succeeded", "failed", "unchanged", "shards", "shards_failed"):
        values[name] = int(values.get(name) or 0)
    return RoundSummary(**values)


def freshened(balance: BalanceItem, last_round: RoundSummary | None) -> BalanceItem:
    """The balance as of the provider's newest full round: an account whose latest poll succeeded was read
    again in that round (a round polls every configured account), and an unchanged reading is not written
    again, so its item's times are those of its last change (or hourly heartbeat) until this is applied."""
    full_at = last_round.last_full_at if last_round is not None else None
    if full_at is None or balance.status != "ok" or not balance.ever_read or (balance.fetched_at or "") >= full_at:
        return balance
    return replace(balance, fetched_at=full_at, polled_at=max(balance.polled_at, full_at))


# -- alert state ----------------------------------------------------------------------------------

_ALERT_FIELDS = {f.name for f in fields(AlertState)}


def alert_state_from_item(item: dict[str, Any] | None) -> AlertState:
    if not item:
        return AlertState()
    return AlertState(**from_dynamodb({k: v for k, v in item.items() if k in _ALERT_FIELDS}))


def incident_state_from_item(item: dict[str, Any] | None) -> IncidentState:
    if not item:
        return IncidentState()
    values = from_dynamodb(item)
    incidents = {kind: Incident(**{**found, "accounts": int(found["accounts"]), "of": int(found["of"]), "streak": int(found["streak"])})
                 for kind, found in (values.get("incidents") or {}).items()}  # fmt: skip
    return IncidentState(values.get("assessed_round"), incidents, int(values.get("version") or 0))


def snapshot(balance: dict[str, Any], alert: dict[str, Any] | None, last_round: RoundSummary | None) -> AccountSnapshot:
    """An account's latest item and alert item as one typed snapshot, fresh as of its provider's newest full round."""
    item = freshened(balance_from_item(balance), last_round)
    return AccountSnapshot(provider=item.provider, account=item.account, balance=item, alert=alert_state_from_item(alert))


# -- sent alerts ----------------------------------------------------------------------------------

_SENT_FIELDS = [f.name for f in fields(SentAlert)]


def decided_at(alert_id: str) -> str:
    """An alert id starts with its commit time in nanoseconds since the epoch."""
    return format_time(datetime.fromtimestamp(int(alert_id.split("-", 1)[0]) / 1e9, UTC))


def alert_log_items(alert_id: str, message: AlertMessage, days: int) -> list[dict[str, Any]]:
    """The record of a sent alert, once in each partition GET /alerts reads (all, provider, account)."""
    now = datetime.now(UTC)
    detail = message.detail
    record = {name: detail.get(name) for name in _SENT_FIELDS}
    record.update(alert_id=alert_id, subject=message.subject, message=message.body, decided_at=decided_at(alert_id),
                  sent_at=format_time(now), resolved=bool(detail.get("resolved")))  # fmt: skip
    labels = detail.get("labels") or {}
    record["labels"] = labels or None
    record["label_pairs"] = [f"{name}={value}" for name, value in sorted(labels.items())] or None  # GET /alerts?label=name=value
    values = {k: v for k, v in record.items() if v is not None}
    provider, account = str(detail.get("provider", "")), str(detail.get("account", ""))
    expires = int((now + timedelta(days=days)).timestamp())
    partitions = [sent_alerts_pk(), sent_alerts_pk(provider), sent_alerts_pk(provider, account)]
    return [{"pk": pk, "sk": alert_id, "kind": SENT_ALERT_KIND, **values, TTL_ATTRIBUTE: expires} for pk in partitions]


def sent_alert_from_item(item: dict[str, Any]) -> SentAlert:
    values = from_dynamodb(item)
    found = {name: values.get(name) for name in _SENT_FIELDS}
    found["labels"] = found["labels"] or {}
    return SentAlert(**found)
