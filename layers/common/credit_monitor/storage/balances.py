"""Balances: one latest item per account, history when a reading changes (or hourly), one round item per provider.

Latest items are written only by the poller: a round reads what it needs of its accounts' previous polls
(one projected Query of its provider's partition), writes a good reading only when it changed (or its hourly
heartbeat is due: the history then keeps a point an hour, which the forecast needs), records a failed poll
as a conditional update (which leaves the last good balance as it is), and ends with its RoundSummary. An
unchanged account is not written at all: the round item says it was read (see items.freshened).

Longer than ~350 lines on purpose: the reads a round makes and the RoundWriter that writes its results share
one item layout and one rule of what is written when; apart, that rule would be stated twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from credit_monitor import aws
from credit_monitor.backoff import wait_before_retry
from credit_monitor.model import AccountResult, AccountSnapshot, BalanceItem, HistoryReading, LastPoll, RoundSummary, parse_time
from credit_monitor.storage.items import (
    BALANCE_KIND,
    LAST_POLL_FIELDS,
    alert_pk,
    attribute_value,
    balance_from_item,
    balance_item,
    balance_key,
    balance_pk,
    failure_update,
    history_from_item,
    history_item,
    history_pk,
    is_balance_item,
    last_poll_from_item,
    round_from_item,
    round_item,
    round_key,
    snapshot,
)
from credit_monitor.storage.query import key, newest_first

BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_ATTEMPTS = 8
HEARTBEAT = timedelta(hours=1)  # an unchanged reading is written again this often: a point an hour for charts and forecasts


@dataclass(frozen=True)
class HistoryReadingPage:
    readings: list[HistoryReading]  # newest first
    last_key: str | None  # the sort key to resume after, when there is more


@dataclass(frozen=True)
class AccountPage:
    accounts: list[AccountSnapshot]  # sorted by account name
    last_account: str | None  # the account to resume after, when there is more


class BalanceStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _query_all(self, **query: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query matches, across pages (each at most 1 MB, DynamoDB's limit)."""
        while True:
            page = self._table.query(**query)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- reads ------------------------------------------------------------------------------------
    def last_round(self, provider: str) -> RoundSummary | None:
        """The provider's newest poll round, or None before its first. A Query: it is all the API's role may do."""
        found = round_key(provider)
        items = self._table.query(KeyConditionExpression=key("pk").eq(found["pk"]) & key("sk").eq(found["sk"])).get("Items", [])
        return round_from_item(items[0]) if items else None

    def page(self, provider: str, *, after: str | None = None, limit: int = 1000) -> AccountPage:
        """Up to ``limit`` accounts of ``provider`` with their alert state, after the account ``after``: two
        Queries of at most one page each (the accounts, then their alert items over the same name range)."""
        # One more than asked, to know whether there is a next page without a second read.
        query: dict[str, Any] = {"KeyConditionExpression": key("pk").eq(balance_pk(provider)), "Limit": limit + 1}
        if after:
            query["ExclusiveStartKey"] = balance_key(provider, after)
        answer = self._table.query(**query)
        items = [item for item in answer.get("Items", []) if is_balance_item(item)][:limit]
        # More follow when DynamoDB read past the page, or stopped at its 1 MB cap before the page was full
        # (large items: a long breakdown): the next page resumes after the last account read, never skips one.
        cut = answer.get("LastEvaluatedKey")
        more = len(answer.get("Items", [])) > limit or cut is not None
        accounts = self._with_alerts(provider, items)
        if not more:
            return AccountPage(accounts, None)
        return AccountPage(accounts, accounts[-1].account if accounts else str(cut["sk"]))

    def accounts(self, provider: str, account: str | None = None) -> list[AccountSnapshot]:
        """Every account of ``provider`` (or that one account), sorted by name, with its alert state."""
        condition = key("pk").eq(balance_pk(provider))
        if account is not None:
            condition &= key("sk").eq(account)
        items = [item for item in self._query_all(KeyConditionExpression=condition) if is_balance_item(item)]
        return self._with_alerts(provider, items)

    def each_account(self, provider: str) -> Iterator[AccountSnapshot]:
        """Every account of ``provider``, one page at a time: never the whole fleet in memory."""
        after: str | None = None
        while True:
            found = self.page(provider, after=after)
            yield from found.accounts
            if found.last_account is None:
                return
            after = found.last_account

    def _with_alerts(self, provider: str, items: list[dict[str, Any]]) -> list[AccountSnapshot]:
        if not items:
            return []
        first, last = items[0]["sk"], items[-1]["sk"]
        condition = key("pk").eq(alert_pk(provider)) & (key("sk").eq(first) if first == last else key("sk").between(first, last))
        alerts = {item["sk"]: item for item in self._query_all(KeyConditionExpression=condition)}
        last_round = self.last_round(provider)
        return [snapshot(item, alerts.get(item["sk"]), last_round) for item in items]

    def failing(self, provider: str) -> Iterator[BalanceItem]:
        """The provider's accounts whose latest poll failed, a page (1 MB of the partition) at a time: the
        filter passes only those, so a page costs what it reads but answers only what matters."""
        query = {"KeyConditionExpression": key("pk").eq(balance_pk(provider)), "FilterExpression": "#status = :error",
                 "ExpressionAttributeNames": {"#status": "status"}, "ExpressionAttributeValues": {":error": "error"}}  # fmt: skip
        for item in self._query_all(**query):
            yield balance_from_item(item)

    def latest(self, provider: str) -> dict[str, BalanceItem]:
        """Every account's latest balance of ``provider``, by account name."""
        return {s.account: s.balance for s in self.accounts(provider) if s.balance is not None}

    def last_polls(self, provider: str, start: str | None = None, stop: str | None = None) -> dict[str, LastPoll]:
        """What a poll round needs of each account's previous poll (:class:`LastPoll`), by account name: one
        Query of the provider's latest items (of the names from ``start`` up to, not including, ``stop``: a
        shard's), projected to those few fields (a fraction of each item)."""
        condition = key("pk").eq(balance_pk(provider))
        if start is not None and stop is not None:
            condition &= key("sk").between(start, stop)
        elif start is not None:
            condition &= key("sk").gte(start)
        elif stop is not None:
            condition &= key("sk").lt(stop)
        names = {f"#p{i}": name for i, name in enumerate(LAST_POLL_FIELDS)}
        items = self._query_all(
            KeyConditionExpression=condition,
            ProjectionExpression=", ".join(names),
            FilterExpression="#kind = :balance",
            ExpressionAttributeNames={**names, "#kind": "kind"},
            ExpressionAttributeValues={":balance": BALANCE_KIND},
        )
        polls = {poll.account: poll for poll in map(last_poll_from_item, items)}
        if stop is not None:
            polls.pop(stop, None)  # BETWEEN includes its upper bound; a shard stops before the next one's first name
        return polls

    def history_since(self, provider: str, account: str, since: str) -> list[HistoryReading]:
        """Readings from ``since`` (ISO-8601 UTC) on, oldest first."""
        condition = key("pk").eq(history_pk(provider, account)) & key("sk").gte(since)
        return [history_from_item(i) for i in self._query_all(KeyConditionExpression=condition)]

    def history_between(self, provider: str, account: str, since: str, until: str) -> list[HistoryReading]:
        """The reading at or before ``since`` (what the balance was then), every one up to ``until``, and the first
        after it (what was spent up to ``until`` in the interval that straddles it), oldest first, a page (1 MB) at a
        time: what a spend report of the account over that range needs."""
        pk = history_pk(provider, account)
        condition = key("pk").eq(pk) & key("sk").between(since, until)
        then = self.history_at(provider, account, since)
        found = [history_from_item(i) for i in self._query_all(KeyConditionExpression=condition)]
        after = self._table.query(KeyConditionExpression=key("pk").eq(pk) & key("sk").gt(until), Limit=1).get("Items", [])
        before = [then] if then is not None and (not found or then.fetched_at < found[0].fetched_at) else []
        return before + found + [history_from_item(i) for i in after]

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
    ) -> HistoryReadingPage:
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
        items, more, last = newest_first(self._table, pk, condition, limit, after)
        return HistoryReadingPage([history_from_item(i) for i in items], last if more else None)

    # -- writes -----------------------------------------------------------------------------------
    def round_writer(self, provider: str, previous: LastPolls, *, history_days: int) -> RoundWriter:
        """A writer for one poll round, to store each account's result as soon as it arrives (see RoundWriter).

        ``previous`` is the provider's last polls (:meth:`last_polls`), or the future of that read, still
        running while the first requests are out.
        """
        return RoundWriter(self._table.name, provider, previous, history_days)

    def record_round(self, summary: RoundSummary) -> bool:
        """Store the provider's newest round, unless an overlapping run already stored a newer one."""
        from botocore.exceptions import ClientError  # noqa: PLC0415 - loaded with boto3 by then

        try:
            self._table.put_item(
                Item=round_item(summary),
                ConditionExpression="attribute_not_exists(#round) OR #round <= :round",
                ExpressionAttributeNames={"#round": "round"},
                ExpressionAttributeValues={":round": summary.round},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def forget_accounts(self, provider: str, accounts: list[str]) -> None:
        """Delete the latest items of accounts no longer in any of the provider's secrets: they are not polled
        any more, and a key pool's rotation must not leave a stale alert per removed key. Their history expires."""
        requests = [
            {"DeleteRequest": {"Key": {k: attribute_value(v) for k, v in balance_key(provider, name).items()}}} for name in accounts
        ]
        for start in range(0, len(requests), BATCH_SIZE):
            _write_batch(aws.dynamodb_client(), self._table.name, requests[start : start + BATCH_SIZE])


LastPolls = Mapping[str, LastPoll] | Future[Mapping[str, LastPoll]]  # each account's last poll, or the read of them still running


def _due(last: str | None, now: str, interval: timedelta) -> bool:
    return last is None or parse_time(now) - parse_time(last) >= interval


class RoundWriter:
    """Stores a poll round while it is still polling, in batches of 25 sent as soon as they fill, on a few
    concurrent writers: a failed poll as a conditional update, a good reading that changed (or whose hourly
    heartbeat is due) as the latest item and a history point, and nothing at all for an unchanged one.

    A round of a thousand accounts thus ends one batch after its last answer, not after two thousand more
    writes. Closing waits for every batch and raises what DynamoDB raised: storage faults are the one
    thing a poll round must not swallow (items DynamoDB leaves unprocessed under throttling are sent again
    with backoff first).
    """

    def __init__(self, table_name: str, provider: str, previous: LastPolls, history_days: int) -> None:
        self._table_name, self._provider, self._previous, self._history_days = table_name, provider, previous, history_days
        self._client = aws.dynamodb_client()
        self._batch: list[dict[str, Any]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._sent: list[Future[None]] = []
        self.skipped: set[str] = set()  # accounts whose good reading equals the stored one: not written

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
        changed = before is None or not before.ever_read or before.digest != result.reading.digest
        heartbeat = before is not None and _due(before.fetched_at, result.polled_at, HEARTBEAT)
        if not (changed or heartbeat or before.status != "ok"):
            self.skipped.add(result.account)  # the round item says it was read; nothing to write
            return
        # An overlapping run that already stored a newer poll keeps its latest state; this run still adds
        # its history. (BatchWriteItem takes no condition: this narrows the window between the read of
        # ``previous`` and the write to the time one round takes.)
        if before is None or before.polled_at <= result.polled_at:
            self._queue(balance_item(BalanceItem.after_poll(self._provider, result, None)))
        if changed or heartbeat:
            self._queue(history_item(self._provider, result.account, result.polled_at, result.reading, self._history_days))

    @property
    def unchanged(self) -> int:
        return len(self.skipped)

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
        wait_before_retry(attempt, base=0.05, cap=2.0, least_share=0.5)
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


def round_from_stream(new_image: dict[str, Any] | None) -> RoundSummary | None:
    """The round summary a stream record carries, or None for any other kind of item."""
    return round_from_item(new_image)
