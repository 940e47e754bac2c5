"""DynamoDB storage of balances: one latest item per account and one history item per good poll.

Layout (single table, ``pk``/``sk``):

- latest: ``pk = "ACCOUNTS"``, ``sk = "<provider>#<account>#balance"``, ``kind = "balance"``. All
  accounts share one partition so that listing every balance is one Query; later kinds of per-account
  items (alert state) sit beside it under ``<provider>#<account>#<kind>``.
- history: ``pk = "HISTORY#<provider>#<account>"``, ``sk = fetched_at``, expiring via ``expires_at``.

Latest items are written only by the poller, as whole items, so a round is one Query (previous state,
to keep the last good balance on failure) and batched writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key

from credit_monitor.model import AccountResult, Reading, parse_time

ACCOUNTS_PK = "ACCOUNTS"
BALANCE_KIND = "balance"
HISTORY_KIND = "history"
TTL_ATTRIBUTE = "expires_at"
BALANCE_FIELDS = ("available", "frozen", "total", "unit", "breakdown", "fetched_at")


def balance_key(provider: str, account: str) -> dict[str, str]:
    return {"pk": ACCOUNTS_PK, "sk": f"{provider}#{account}#{BALANCE_KIND}"}


def history_pk(provider: str, account: str) -> str:
    return f"HISTORY#{provider}#{account}"


def to_dynamodb(value: Any) -> Any:
    """Floats become Decimals (DynamoDB has no float type); containers are converted recursively."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: to_dynamodb(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamodb(v) for v in value]
    return value


def from_dynamodb(value: Any) -> Any:
    """Decimals back to int or float, recursively, for JSON and arithmetic."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamodb(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamodb(v) for v in value]
    return value


class BalanceStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _query_all(self, **query: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query matches, across pages, as plain Python values."""
        while True:
            page = self._table.query(**query)
            yield from (from_dynamodb(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def latest_for_provider(self, provider: str) -> dict[str, dict[str, Any]]:
        """Every account's latest item of ``provider``, by account name."""
        return {account: items[BALANCE_KIND] for (_, account), items in self.account_items(f"{provider}#").items() if BALANCE_KIND in items}

    def account_items(self, prefix: str = "") -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
        """Every account's items (latest balance, alert state...) by (provider, account), in one Query.

        ``prefix`` narrows it to a provider (``"crun#"``) or one account (``"crun#prod#"``).
        """
        condition = Key("pk").eq(ACCOUNTS_PK)
        if prefix:
            condition &= Key("sk").begins_with(prefix)
        grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for item in self._query_all(KeyConditionExpression=condition):
            grouped.setdefault((item["provider"], item["account"]), {})[item["kind"]] = item
        return grouped

    def history_since(self, provider: str, account: str, since: str) -> list[dict[str, Any]]:
        """History items from ``since`` (ISO-8601 UTC) on, oldest first."""
        condition = Key("pk").eq(history_pk(provider, account)) & Key("sk").gte(since)
        return list(self._query_all(KeyConditionExpression=condition, ProjectionExpression="fetched_at, available, breakdown"))

    def history_at(self, provider: str, account: str, moment: str) -> dict[str, Any] | None:
        """The newest history item at or before ``moment``: what the balance was then."""
        page = self._table.query(
            KeyConditionExpression=Key("pk").eq(history_pk(provider, account)) & Key("sk").lte(moment),
            ScanIndexForward=False,
            Limit=1,
        )
        items = page.get("Items", [])
        return from_dynamodb(items[0]) if items else None

    def record_round(self, provider: str, results: list[AccountResult], *, history_days: int) -> None:
        """Write the round: every account's latest state, and history for each good reading.

        Raises whatever DynamoDB raises: storage faults are the one thing a poll round must not swallow.
        """
        if not results:
            return
        previous = self.latest_for_provider(provider)
        with self._table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for result in results:
                before = previous.get(result.account)
                # An overlapping run that already stored a newer poll keeps its latest state; this run
                # still adds its history. (BatchWriteItem takes no condition: this narrows the window
                # between the read above and the write to the time one batch takes.)
                if not before or before.get("polled_at", "") <= result.polled_at:
                    batch.put_item(Item=to_dynamodb(latest_item(provider, result, before)))
                if result.reading is not None:
                    batch.put_item(Item=to_dynamodb(history_item(provider, result.account, result.polled_at, result.reading, history_days)))


def reading_fields(reading: Reading, fetched_at: str) -> dict[str, Any]:
    return {
        "available": reading.available,
        "frozen": reading.frozen,
        "total": reading.total,
        "unit": reading.unit,
        "breakdown": reading.breakdown,
        "fetched_at": fetched_at,
    }


def latest_item(provider: str, result: AccountResult, previous: dict[str, Any] | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        **balance_key(provider, result.account),
        "kind": BALANCE_KIND,
        "provider": provider,
        "account": result.account,
        "polled_at": result.polled_at,
    }
    if result.reading is not None:
        return {**item, **reading_fields(result.reading, result.polled_at), "status": "ok", "consecutive_failures": 0}
    # A failed poll keeps the last good balance and says why the latest poll failed.
    failure = result.failure
    last_good = {k: previous[k] for k in BALANCE_FIELDS if previous and previous.get(k) is not None}
    was_failing = bool(previous and previous.get("status") == "error")
    return {
        **item,
        **last_good,
        "status": "error",
        "error": failure.message,
        "error_kind": failure.kind.value,
        "failing_since": previous.get("failing_since", result.polled_at) if was_failing else result.polled_at,
        "consecutive_failures": (int(previous.get("consecutive_failures", 0)) if was_failing else 0) + 1,
    }


def history_item(provider: str, account: str, fetched_at: str, reading: Reading, history_days: int) -> dict[str, Any]:
    expires = parse_time(fetched_at) + timedelta(days=history_days)
    return {
        "pk": history_pk(provider, account),
        "sk": fetched_at,
        "kind": HISTORY_KIND,
        "provider": provider,
        "account": account,
        **reading_fields(reading, fetched_at),
        TTL_ATTRIBUTE: int(expires.timestamp()),
    }
