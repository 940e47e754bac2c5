"""Balances: one latest item per account and one history item per good poll.

Latest items are written only by the poller, as whole items, so a round is one Query (the previous
state, to keep the last good balance on failure) and batched writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from credit_monitor.model import AccountResult, AccountSnapshot, BalanceItem, HistoryReading
from credit_monitor.storage.items import (
    ACCOUNTS_PK,
    account_prefix,
    balance_from_item,
    balance_item,
    history_from_item,
    history_item,
    history_pk,
    is_balance_item,
    snapshot,
)
from credit_monitor.storage.query import newest_first


@dataclass(frozen=True)
class HistoryPage:
    readings: list[HistoryReading]  # newest first
    last_key: str | None  # the sort key to resume after, when there is more


class BalanceStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _query_all(self, **query: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query matches, across pages."""
        while True:
            page = self._table.query(**query)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- reads ------------------------------------------------------------------------------------
    def accounts(self, provider: str = "", account: str = "") -> list[AccountSnapshot]:
        """Every account (of ``provider``, or that one account) with its latest balance and alert state,
        sorted by provider and account, in one Query."""
        condition = Key("pk").eq(ACCOUNTS_PK)
        prefix = account_prefix(provider, account)
        if prefix:
            condition &= Key("sk").begins_with(prefix)
        grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for item in self._query_all(KeyConditionExpression=condition):
            grouped.setdefault((item["provider"], item["account"]), {})[item["kind"]] = item
        return [snapshot(p, a, items) for (p, a), items in sorted(grouped.items())]

    def latest(self, provider: str) -> dict[str, BalanceItem]:
        """Every account's latest balance of ``provider``, by account name."""
        return {s.account: s.balance for s in self.accounts(provider) if s.balance is not None}

    def history_since(self, provider: str, account: str, since: str) -> list[HistoryReading]:
        """Readings from ``since`` (ISO-8601 UTC) on, oldest first."""
        condition = Key("pk").eq(history_pk(provider, account)) & Key("sk").gte(since)
        return [history_from_item(i) for i in self._query_all(KeyConditionExpression=condition)]

    def history_at(self, provider: str, account: str, moment: str) -> HistoryReading | None:
        """The newest reading at or before ``moment``: what the balance was then."""
        page = self._table.query(
            KeyConditionExpression=Key("pk").eq(history_pk(provider, account)) & Key("sk").lte(moment),
            ScanIndexForward=False,
            Limit=1,
        )
        items = page.get("Items", [])
        return history_from_item(items[0]) if items else None

    def history_page(
        self, provider: str, account: str, *, since: str | None, until: str | None, limit: int, after: str | None
    ) -> HistoryPage:
        """Up to ``limit`` readings newest first, resuming after the sort key ``after``.

        The partition always comes from ``provider``/``account``: a resume key cannot reach another account.
        """
        pk = history_pk(provider, account)
        condition = Key("pk").eq(pk)
        if since and until:
            condition &= Key("sk").between(since, until)
        elif since:
            condition &= Key("sk").gte(since)
        elif until:
            condition &= Key("sk").lte(until)
        items, more = newest_first(self._table, pk, condition, limit, after)
        readings = [history_from_item(i) for i in items]
        return HistoryPage(readings, readings[-1].fetched_at if more and readings else None)

    # -- writes -----------------------------------------------------------------------------------
    def record_round(
        self, provider: str, results: list[AccountResult], *, history_days: int, previous: dict[str, BalanceItem] | None = None
    ) -> list[BalanceItem]:
        """Write the round: every account's latest state, and history for each good reading.

        ``previous`` is the provider's latest states read before the round (read here when not given).
        Returns the latest states written. Raises whatever DynamoDB raises: storage faults are the one
        thing a poll round must not swallow.
        """
        if not results:
            return []
        previous = self.latest(provider) if previous is None else previous
        written = []
        with self._table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for result in results:
                before = previous.get(result.account)
                # An overlapping run that already stored a newer poll keeps its latest state; this run
                # still adds its history. (BatchWriteItem takes no condition: this narrows the window
                # between the read above and the write to the time one batch takes.)
                if before is None or before.polled_at <= result.polled_at:
                    latest = BalanceItem.after_poll(provider, result, before)
                    batch.put_item(Item=balance_item(latest))
                    written.append(latest)
                if result.reading is not None:
                    batch.put_item(Item=history_item(provider, result.account, result.polled_at, result.reading, history_days))
        return written


def balance_from_stream(new_image: dict[str, Any] | None) -> BalanceItem | None:
    """The balance a stream record carries, or None for any other kind of item."""
    return balance_from_item(new_image) if is_balance_item(new_image) else None
