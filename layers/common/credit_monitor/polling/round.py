"""One poll round of one provider: read its keys, poll its accounts, store the results, emit metrics.

This is the whole of the poller function's logic; the handler only adds Powertools decorators.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from credit_monitor import aws, metrics, settings
from credit_monitor.model import ACCOUNT_NAME_RULE, AccountResult, ConfigurationError, LastPoll, valid_account_name
from credit_monitor.polling.accounts import parse_accounts
from credit_monitor.polling.confirm import confirm, suspicion
from credit_monitor.polling.fanout import poll_accounts
from credit_monitor.polling.providers import get_provider
from credit_monitor.polling.transport import Deadline
from credit_monitor.polling.urls import validate_base_url
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


def run_poll(event: Any, remaining_ms: int, config: PollerSettings | None = None) -> dict[str, Any]:
    """Poll, store and report one round. Returns a summary; raises only when storage fails."""
    config = config or settings.current(PollerSettings)
    logger.append_keys(provider=config.provider)
    summary: dict[str, Any] = {"provider": config.provider, "polled": 0, "succeeded": 0, "failed": 0, "accounts": []}
    # The function's own configuration: wrong, it fails the run (an alarm), saying what to fix.
    provider = _provider(config.provider)
    base_url = config.base_url or validate_base_url(provider.default_base_url, variable=f"{provider.id} base_url")
    try:
        wanted = requested_accounts(event)
        with span("read keys", provider=config.provider):
            accounts = parse_accounts(config.secret_name, aws.get_secret(config.secret_name), provider.variables)
    except ConfigurationError as exc:
        # Retrying cannot fix configuration: say what is wrong and count it, but do not fail the run.
        logger.error("poll round not started: configuration error", extra={"error": str(exc)})
        metrics.record_poll_failures(config.provider, 1)
        return {**summary, "error": str(exc)}
    if wanted is not None:
        summary["unknown_accounts"] = [name for name in wanted if name not in accounts]
        accounts = {name: accounts[name] for name in wanted if name in accounts}
    if not accounts:
        # Nothing to poll is not a fault: no alarm, no metric series (each is billed), no table access.
        logger.warning("no accounts configured yet" if wanted is None else "none of the accounts asked for is configured",
                       extra={"secret": config.secret_name})  # fmt: skip
        return summary

    deadline = Deadline(polling_budget(remaining_ms))
    store = BalanceStore(aws.table(config.storage.table_name))
    doubtful: list[AccountResult] = []

    def read_previous() -> dict[str, LastPoll]:
        with span("read previous polls", provider=config.provider):
            return store.last_polls(config.provider)

    def repoll(names: list[str]) -> list[AccountResult]:
        return poll_accounts(provider, base_url, {name: accounts[name] for name in names}, deadline, concurrency=config.concurrency)

    # The accounts' previous state (to keep the last good balance, to doubt a sudden drop) is read while the
    # first requests are out: every answer waits for it, none waits for the read to start.
    reader = ThreadPoolExecutor(1, "previous")
    previous = reader.submit(read_previous)
    reader.shutdown(wait=False)  # the read goes on; the first answer waits for it
    with (
        span("poll and store", provider=config.provider, accounts=len(accounts), concurrency=config.concurrency) as note,
        store.round_writer(config.provider, previous, history_days=config.storage.history_days) as writer,
    ):

        def settle(result: AccountResult) -> None:
            """Store each answer as it arrives, unless it needs a second look first (polling.confirm)."""
            if suspicion(result, previous.result().get(result.account), config.confirm_drop):
                doubtful.append(result)
            else:
                writer.add(result)

        results = poll_accounts(provider, base_url, accounts, deadline, concurrency=config.concurrency, on_result=settle)
        if doubtful:
            confirmed = {r.account: r for r in confirm(config.provider, doubtful, previous.result(), config.confirm_drop, repoll)}
            for result in confirmed.values():
                writer.add(result)
            results = [confirmed.get(result.account, result) for result in results]
        failed = sum(1 for result in results if not result.ok)
        note(failed=failed)
    for result in results:
        # One line per account: the dashboard's tables read these with Logs Insights (no metric series needed).
        logger.info("account polled", extra=_log_fields(result))
        if config.account_metrics and result.reading is not None:
            metrics.record_available(config.provider, result.account, result.reading.available)
    metrics.record_poll_failures(config.provider, failed)
    readings = [result.reading.available for result in results if result.reading is not None]
    if readings:
        metrics.record_lowest_available(config.provider, min(readings))
    summary.update(polled=len(results), succeeded=len(results) - failed, failed=failed, accounts=[_outcome(r) for r in results])
    logger.info("poll round stored", extra={k: summary[k] for k in ("polled", "succeeded", "failed")})
    return summary


def _provider(provider_id: str):
    try:
        return get_provider(provider_id)
    except LookupError as exc:
        raise ConfigurationError(f"PROVIDER: {exc}") from None


def _log_fields(result: AccountResult) -> dict[str, Any]:
    if result.reading is not None:
        return {"account": result.account, "status": "ok", "available": result.reading.available, "unit": result.reading.unit}
    return {"account": result.account, "status": "error", "error_kind": result.failure.kind.value}


def _outcome(result: AccountResult) -> dict[str, Any]:
    if result.reading is not None:
        return {"account": result.account, "status": "ok", "available": result.reading.available, "frozen": result.reading.frozen}
    return {"account": result.account, "status": "error", "error_kind": result.failure.kind.value, "error": result.failure.message}
