"""Balances: one latest item per account and one history item per good poll.

Latest items are written only by the poller: a round is one Query (what it needs of each account's
previous poll, projected), batched writes of the good readings (whole latest items, and history), and
one conditional update per failed poll (which leaves the last good balance as it is).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from credit_monitor import aws
from credit_monitor.model import AccountResult, AccountSnapshot, BalanceItem, HistoryReading, LastPoll
from credit_monitor.storage.items import (
    ACCOUNTS_PK,
    BALANCE_KIND,
    LAST_POLL_FIELDS,
    account_prefix,
    attribute_value,
    balance_from_item,
    balance_item,
    failure_update,
    history_from_item,
    history_item,
    history_pk,
    is_balance_item,
    last_poll_from_item,
    snapshot,
)
from credit_monitor.storage.query import key, newest_first

BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_ATTEMPTS = 8


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
        condition = key("pk").eq(ACCOUNTS_PK)
        prefix = account_prefix(provider, account)
        if prefix:
            condition &= key("sk").begins_with(prefix)
        grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for item in self._query_all(KeyConditionExpression=condition):
            grouped.setdefault((item["provider"], item["account"]), {})[item["kind"]] = item
        return [snapshot(p, a, items) for (p, a), items in sorted(grouped.items())]

    def latest(self, provider: str) -> dict[str, BalanceItem]:
        """Every account's latest balance of ``provider``, by account name."""
        return {s.account: s.balance for s in self.accounts(provider) if s.balance is not None}

    def last_polls(self, provider: str) -> dict[str, LastPoll]:
        """What a poll round needs of each account's previous poll (:class:`LastPoll`), by account name: one
        Query of the provider's latest items, projected to those few fields (a fraction of each item)."""
        names = {f"#p{i}": name for i, name in enumerate(LAST_POLL_FIELDS)}
        items = self._query_all(
            KeyConditionExpression=key("pk").eq(ACCOUNTS_PK) & key("sk").begins_with(account_prefix(provider)),
            ProjectionExpression=", ".join(names),
            FilterExpression="#kind = :balance",
            ExpressionAttributeNames={**names, "#kind": "kind"},
            ExpressionAttributeValues={":balance": BALANCE_KIND},
        )
        return {poll.account: poll for poll in map(last_poll_from_item, items)}

    def history_since(self, provider: str, account: str, since: str) -> list[HistoryReading]:
        """Readings from ``since`` (ISO-8601 UTC) on, oldest first."""
        condition = key("pk").eq(history_pk(provider, account)) & key("sk").gte(since)
        return [history_from_item(i) for i in self._query_all(KeyConditionExpression=condition)]

    def history_at(self, provider: str, account: str, moment: str) -> HistoryReading | None:
        """The newest reading at or before ``moment``: what the balance was then."""
        page = self._table.query(
            KeyConditionExpression=key("pk").eq(history_pk(provider, account)) & key("sk").lte(moment),
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
        condition = key("pk").eq(pk)
        if since and until:
            condition &= key("sk").between(since, until)
        elif since:
            condition &= key("sk").gte(since)
        elif until:
            condition &= key("sk").lte(until)
        items, more = newest_first(self._table, pk, condition, limit, after)
        readings = [history_from_item(i) for i in items]
        return HistoryPage(readings, readings[-1].fetched_at if more and readings else None)

    # -- writes -----------------------------------------------------------------------------------
    def round_writer(self, provider: str, previous: Previous, *, history_days: int) -> RoundWriter:
        """A writer for one poll round, to store each account's result as soon as it arrives (see RoundWriter).

        ``previous`` is the provider's last polls (:meth:`last_polls`), or the future of that read, still
        running while the first requests are out.
        """
        return RoundWriter(self._table.name, provider, previous, history_days)


Previous = Mapping[str, LastPoll] | Future[Mapping[str, LastPoll]]


class RoundWriter:
    """Stores a poll round while it is still polling: every account's latest state, and history for each
    good reading, in batches of 25 sent as soon as they fill, on a few concurrent writers.

    A round of a thousand accounts thus ends one batch after its last answer, not after two thousand more
    writes. Closing waits for every batch and raises what DynamoDB raised: storage faults are the one
    thing a poll round must not swallow (items DynamoDB leaves unprocessed under throttling are sent again
    with backoff first).
    """

    def __init__(self, table_name: str, provider: str, previous: Previous, history_days: int) -> None:
        self._table_name, self._provider, self._previous, self._history_days = table_name, provider, previous, history_days
        self._client = aws.dynamodb_client()
        self._batch: list[dict[str, Any]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._sent: list[Future[None]] = []

    def add(self, result: AccountResult) -> None:
        """Queue one account's result; a full batch goes out at once. Call from one thread."""
        if isinstance(self._previous, Future):
            self._previous = self._previous.result()  # raises what the read raised
        before = self._previous.get(result.account)
        if result.reading is None:
            # A failure changes a few fields of the latest item and keeps its last good balance: an update,
            # conditional so that an overlapping run's newer poll wins.
            self._submit(_record_failure, self._client, self._table_name, self._serialize_update(result, before))
            return
        # An overlapping run that already stored a newer poll keeps its latest state; this run still adds
        # its history. (BatchWriteItem takes no condition: this narrows the window between the read of
        # ``previous`` and the write to the time one round takes.)
        if before is None or before.polled_at <= result.polled_at:
            self._queue(balance_item(BalanceItem.after_poll(self._provider, result, None)))
        self._queue(history_item(self._provider, result.account, result.polled_at, result.reading, self._history_days))

    def _serialize_update(self, result: AccountResult, before: LastPoll | None) -> dict[str, Any]:
        update = failure_update(self._provider, result, before)
        for part in ("Key", "ExpressionAttributeValues"):
            update[part] = {k: attribute_value(v) for k, v in update[part].items()}
        return update

    def _queue(self, item: dict[str, Any]) -> None:
        self._batch.append({"PutRequest": {"Item": {k: attribute_value(v) for k, v in item.items()}}})
        if len(self._batch) == BATCH_SIZE:
            self._send()

    def _send(self) -> None:
        batch, self._batch = self._batch, []
        self._submit(_write_batch, self._client, self._table_name, batch)

    def _submit(self, write: Callable[..., None], *arguments: Any) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(aws.BULK_WRITERS, "store")
        self._sent.append(self._pool.submit(write, *arguments))

    def close(self) -> None:
        """Send what is left and wait for every batch; raises the first failure."""
        if self._batch:
            if self._pool is None:  # a round of one batch is written right here, without a thread
                batch, self._batch = self._batch, []
                _write_batch(self._client, self._table_name, batch)
            else:
                self._send()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            for sent in self._sent:
                sent.result()  # re-raises a batch's failure

    def __enter__(self) -> RoundWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        elif self._pool is not None:  # the round failed: let batches already sent finish, then report that failure
            self._pool.shutdown(wait=True)


def _write_batch(client: Any, table_name: str, batch: list[dict[str, Any]]) -> None:
    pending = {table_name: batch}
    for attempt in range(MAX_ATTEMPTS):
        pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not crypto
    raise RuntimeError(f"DynamoDB left {len(pending[table_name])} item(s) unprocessed after {MAX_ATTEMPTS} attempts")


def _record_failure(client: Any, table_name: str, update: dict[str, Any]) -> None:
    from botocore.exceptions import ClientError  # noqa: PLC0415 - botocore is loaded by then; see aws.dynamodb_client

    try:
        client.update_item(TableName=table_name, **update)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        # An overlapping run stored a newer poll of this account: that one stays.


def balance_from_stream(new_image: dict[str, Any] | None) -> BalanceItem | None:
    """The balance a stream record carries, or None for any other kind of item."""
    return balance_from_item(new_image) if is_balance_item(new_image) else None
