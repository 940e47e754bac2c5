"""One poll round of one provider: read its keys, poll its accounts, store the results, emit metrics.

This is the whole of the poller function's logic; the handler only adds Powertools decorators. A round
of more accounts than one run holds is split into shards that AWS runs in parallel (polling.shards); a
round, a shard and a manual refresh all poll and store through :func:`poll_and_store`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from credit_monitor import aws, metrics, settings
from credit_monitor.errors import ConfigurationError, PollFailure
from credit_monitor.model import (
    ACCOUNT_NAME_RULE,
    AccountResult,
    FailureKind,
    LastPoll,
    Number,
    RoundSummary,
    format_time,
    valid_account_name,
    validate_base_url,
)
from credit_monitor.polling.accounts import KeyRing, read_key_ring
from credit_monitor.polling.confirm import confirm, suspicion
from credit_monitor.polling.fanout import poll_accounts
from credit_monitor.polling.providers import Provider, get_provider
from credit_monitor.polling.transport import Deadline
from credit_monitor.settings import PollerSettings
from credit_monitor.storage import BalanceStore
from credit_monitor.tracing import span

logger = Logger()

# Of the time Lambda gives a run, this much is kept back for storing results and flushing metrics.
RESERVE_FRACTION = 0.2
RESERVE_MIN_SECONDS = 1.0


def polling_budget(remaining_ms: int) -> float:
    remaining = remaining_ms / 1000
    return max(0.0, remaining - max(RESERVE_MIN_SECONDS, remaining * RESERVE_FRACTION))


def requested_accounts(event: Any) -> list[str] | None:
    """Accounts named by a manual refresh (``{"accounts": [...]}``), or None to poll all.

    The poller does not depend on the event otherwise: a schedule may deliver ``{}`` or anything else.
    """
    if not isinstance(event, dict) or "accounts" not in event:
        return None
    names = event["accounts"]
    if not isinstance(names, list) or not names or not all(valid_account_name(n) for n in names):
        raise ConfigurationError(f'event "accounts" must be a non-empty list of account names ({ACCOUNT_NAME_RULE})')
    return list(dict.fromkeys(names))


@dataclass
class Tally:
    """What a round (or a shard of one) did, in counts: small enough for a state machine's payload."""

    polled: int = 0
    succeeded: int = 0
    failed: int = 0
    unchanged: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    lowest: Number | None = None

    def add(self, result: AccountResult) -> None:
        self.polled += 1
        if result.reading is None:
            self.failed += 1
            self.failures[result.failure.kind.value] += 1
        else:
            self.succeeded += 1
            available = result.reading.available
            self.lowest = available if self.lowest is None else min(self.lowest, available)

    def counts(self) -> dict[str, Any]:
        return {"polled": self.polled, "succeeded": self.succeeded, "failed": self.failed, "unchanged": self.unchanged,
                "failures": dict(self.failures), "lowest": self.lowest}  # fmt: skip


@dataclass(frozen=True)
class Poller:
    """A provider's poller as configured: what every round, shard and refresh of it shares."""

    config: PollerSettings
    provider: Provider
    base_url: str

    @classmethod
    def configured(cls, config: PollerSettings) -> Poller:
        # The function's own configuration: wrong, it fails the run (an alarm), saying what to fix.
        provider = _configured_provider(config.provider)
        base_url = config.base_url or validate_base_url(provider.default_base_url, variable=f"{provider.id} base_url")
        return cls(config, provider, base_url)

    @property
    def store(self) -> BalanceStore:
        return BalanceStore(aws.table(self.config.storage.table_name))

    def key_ring(self) -> KeyRing:
        with span("read keys", provider=self.config.provider):
            return read_key_ring(self.config.secret_name, self.provider.variables, aws.secret_names, aws.get_secret)

    def poll_and_store(self, ring: KeyRing, names: list[str], deadline: Deadline, *, concurrency: int,
                       previous: Any) -> tuple[Tally, list[AccountResult]]:  # fmt: skip
        """Poll ``names`` (accounts of ``ring``) and store each result as it arrives; ``previous`` reads their
        last polls (it runs while the first requests are out: every answer waits for it, none for its start)."""
        config, store = self.config, self.store
        accounts = {name: ring.accounts[name] for name in names if name in ring.accounts}
        refused = [_conflict_result(ring, name) for name in names if name in ring.conflicts]
        tally, doubtful = Tally(), []
        reader = ThreadPoolExecutor(1, "previous")
        polls = reader.submit(previous)
        reader.shutdown(wait=False)

        def repoll(again: list[str]) -> list[AccountResult]:
            return poll_accounts(self.provider, self.base_url, {name: accounts[name] for name in again}, deadline, concurrency=concurrency)

        with (
            span("poll and store", provider=config.provider, accounts=len(names), concurrency=concurrency) as annotate,
            store.round_writer(config.provider, polls, history_days=config.storage.history_days) as writer,
        ):

            def store_or_doubt(result: AccountResult) -> None:
                """Store each answer as it arrives, unless it needs a second look first (polling.confirm)."""
                if suspicion(result, polls.result().get(result.account), config.confirm_drop):
                    doubtful.append(result)
                else:
                    writer.add(result)

            for result in refused:
                writer.add(result)
            results = refused + poll_accounts(self.provider, self.base_url, accounts, deadline, concurrency=concurrency,
                                              on_result=store_or_doubt)  # fmt: skip
            if doubtful:
                confirmed = {r.account: r for r in confirm(config.provider, doubtful, polls.result(), config.confirm_drop, repoll)}
                for result in confirmed.values():
                    writer.add(result)
                results = [confirmed.get(result.account, result) for result in results]
            for result in results:
                tally.add(result)
            annotate(failed=tally.failed)
        tally.unchanged = writer.unchanged
        for result in results:
            # A line per account stored (changed, failed, or its hourly heartbeat): the dashboard's tables read
            # these with Logs Insights, no series needed. An unchanged reading is counted in the round's line
            # instead: at 100,000 accounts a line each per poll would be ~380 GB of logs a month.
            if result.account not in writer.skipped:
                logger.info("account polled", extra=_log_fields(result))
            if config.account_metrics and result.reading is not None:
                metrics.record_available(config.provider, result.account, result.reading.available)
        return tally, results

    def forget_removed(self, ring: KeyRing, stored: Iterable[str]) -> None:
        """Delete the latest items of the ``stored`` accounts no longer in any secret (every secret was read
        cleanly, or the round would not have started): a key rotated out of a pool stops being monitored.
        ``stored`` is what the round (or shard) already read of its previous polls: no second read."""
        removed = sorted(set(stored) - set(ring.names))
        if removed:
            self.store.forget_accounts(self.config.provider, removed)
            logger.info("accounts no longer in the provider's secrets are no longer monitored",
                        extra={"removed": len(removed), "first": removed[:10]})  # fmt: skip

    def record_round(self, round_id: str, started: datetime, accounts: int, tally: Tally, *, shards: int = 1,
                      shards_failed: int = 0) -> RoundSummary:  # fmt: skip
        """Store the round as a whole: a full one makes every account it read unchanged fresh as of its start."""
        full = shards_failed == 0
        store = self.store
        previous = None if full else store.last_round(self.config.provider)
        summary = RoundSummary(
            provider=self.config.provider, round=round_id, started_at=format_time(started), finished_at=format_time(datetime.now(UTC)),
            accounts=accounts, polled=tally.polled, succeeded=tally.succeeded, failed=tally.failed, failures=dict(tally.failures),
            unchanged=tally.unchanged, shards=shards, shards_failed=shards_failed, full=full,
            last_full_at=format_time(started) if full else (previous.last_full_at if previous else None), lowest=tally.lowest,
        )  # fmt: skip
        store.record_round(summary)
        return summary


def run_poll(event: Any, remaining_ms: int, config: PollerSettings | None = None) -> dict[str, Any]:
    """Poll, store and report one round (or a shard of one, or the end of a sharded one). Returns a summary;
    raises only when storage fails."""
    from credit_monitor.polling import shards  # noqa: PLC0415 - the sharding module is this module's client

    config = config or settings.current(PollerSettings)
    logger.append_keys(provider=config.provider)
    poller = Poller.configured(config)
    if isinstance(event, dict) and "shard" in event:
        return shards.run_shard(poller, event["shard"], remaining_ms)
    if isinstance(event, dict) and "round_summary" in event:
        return shards.finish_round(poller, event["round_summary"])
    summary: dict[str, Any] = {"provider": config.provider, "polled": 0, "succeeded": 0, "failed": 0, "accounts": []}
    try:
        wanted = requested_accounts(event)
        ring = poller.key_ring()
    except ConfigurationError as exc:
        # Retrying cannot fix configuration: say what is wrong and count it, but do not fail the run.
        logger.error("poll round not started: configuration error", extra={"error": str(exc)})
        metrics.record_poll_failures(config.provider, 1)
        return {**summary, "error": str(exc)}
    names = ring.names
    if wanted is not None:
        summary["unknown_accounts"] = [name for name in wanted if name not in names]
        names = [name for name in wanted if name in names]
    if not names:
        # Nothing to poll is not a fault: no alarm, no metric series (each is billed), no table access.
        logger.warning("no accounts configured yet" if wanted is None else "none of the accounts asked for is configured",
                       extra={"secrets": list(ring.secrets)})  # fmt: skip
        if wanted is None:
            poller.forget_removed(ring, poller.store.last_polls(config.provider))
        return summary
    started = datetime.now(UTC)
    if wanted is None and len(names) > config.shard_size and config.shard_machine:
        return shards.start_shards(poller, ring, started)

    store, read = poller.store, {}

    def previous() -> dict[str, LastPoll]:
        read.update(_read_last_polls(store, config.provider))
        return read

    tally, results = poller.poll_and_store(ring, names, Deadline(polling_budget(remaining_ms)), concurrency=config.concurrency,
                                           previous=previous)  # fmt: skip
    if wanted is None:  # a full round: every configured account was polled (or recorded as failed)
        poller.forget_removed(ring, read)
        poller.record_round(new_round_id(started), started, len(names), tally)
    metrics.record_poll_failures(config.provider, tally.failed)
    if tally.lowest is not None:
        metrics.record_lowest_available(config.provider, tally.lowest)
    summary.update(polled=tally.polled, succeeded=tally.succeeded, failed=tally.failed, unchanged=tally.unchanged,
                   accounts=[_reported_result(r) for r in results])  # fmt: skip
    logger.info("poll round stored", extra={k: summary[k] for k in ("polled", "succeeded", "failed", "unchanged")})
    return summary


def new_round_id(started: datetime) -> str:
    """Sorts by start time (a round item keeps the newest), unique to the microsecond."""
    return format_time(started, microseconds=True)


def _read_last_polls(store: BalanceStore, provider: str, start: str | None = None, stop: str | None = None) -> dict[str, LastPoll]:
    with span("read previous polls", provider=provider):
        return store.last_polls(provider, start, stop)


def _conflict_result(ring: KeyRing, account: str) -> AccountResult:
    """An account two secrets name is not polled: its failure says which secrets, never a key."""
    return AccountResult(
        account, format_time(datetime.now(UTC)), failure=PollFailure(FailureKind.CONFIGURATION, ring.conflict_message(account))
    )


def _configured_provider(provider_id: str) -> Provider:
    try:
        return get_provider(provider_id)
    except LookupError as exc:
        raise ConfigurationError(f"PROVIDER: {exc}") from None


def _log_fields(result: AccountResult) -> dict[str, Any]:
    if result.reading is not None:
        return {"account": result.account, "status": "ok", "available": result.reading.available, "unit": result.reading.unit}
    return {"account": result.account, "status": "error", "error_kind": result.failure.kind.value}


def _reported_result(result: AccountResult) -> dict[str, Any]:
    if result.reading is not None:
        return {"account": result.account, "status": "ok", "available": result.reading.available, "frozen": result.reading.frozen}
    return {"account": result.account, "status": "error", "error_kind": result.failure.kind.value, "error": result.failure.message}
