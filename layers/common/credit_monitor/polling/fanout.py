"""Poll every account of one provider concurrently, each to a reading or a classified failure."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout

from aws_lambda_powertools import Logger

from credit_monitor.errors import PollFailure
from credit_monitor.model import AccountResult, FailureKind, utc_now
from credit_monitor.polling.providers import Credentials, Provider
from credit_monitor.polling.redaction import REDACTOR
from credit_monitor.polling.transport import Deadline, get_json, new_session

DEFAULT_CONCURRENCY = 256  # POLL_CONCURRENCY: requests in flight at once (some vendors limit them per IP)
# Past the deadline, how long polls get to see the watchdog shut their sockets and say so; a poll still
# running then (blocked where no socket can be shut, such as a DNS lookup) is recorded as a timeout and left.
GRACE_SECONDS = 0.25

logger = Logger()


def poll_accounts(provider: Provider, base_url: str, accounts: dict[str, Credentials], deadline: Deadline, *,
                  concurrency: int = DEFAULT_CONCURRENCY, trust_env: bool = False,
                  on_result: Callable[[AccountResult], None] | None = None) -> list[AccountResult]:  # fmt: skip
    """One result per account, in the order of ``accounts``, with at most ``concurrency`` requests in
    flight. Never raises for a provider's fault, and returns by the deadline (and GRACE_SECONDS): an
    account without an answer by then is a ``timeout``.

    ``on_result`` is called in the calling thread with each result as soon as it arrives (the round's
    writer stores it while the other accounts are still being polled).
    """
    if not accounts:
        return []
    REDACTOR.remember(credentials.key for credentials in accounts.values())  # before any request can log one
    workers = max(1, min(len(accounts), concurrency))
    results: dict[str, AccountResult] = {}

    def keep_result(result: AccountResult) -> None:
        results[result.account] = result
        if on_result is not None:
            on_result(result)

    # Not a `with` block: leaving one waits for every thread, and a thread stuck past the deadline must not hold the round.
    pool = ThreadPoolExecutor(workers, "poll")
    try:
        with new_session(deadline, pool_size=workers, trust_env=trust_env) as session:
            futures = {pool.submit(poll_account, provider, base_url, name, credentials, session, deadline): name
                       for name, credentials in accounts.items()}  # fmt: skip
            try:
                for future in as_completed(futures, timeout=deadline.remaining() + GRACE_SECONDS):
                    keep_result(future.result())
            except FuturesTimeout:
                for future, name in futures.items():
                    if name not in results and not future.done():
                        future.cancel()
                        keep_result(_out_of_time(provider, name))
                    elif name not in results:
                        keep_result(future.result())  # done in the meantime
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # storing failed, or the round is over: nothing more is started
    return [results[name] for name in accounts]


def _out_of_time(provider: Provider, account: str) -> AccountResult:
    failure = PollFailure(FailureKind.TIMEOUT, "no answer within the round's time budget")
    fields = {"provider": provider.id, "account": account, "error_kind": failure.kind.value, "error": failure.message}
    logger.warning("poll failed", extra=fields)
    return AccountResult(account, utc_now(), failure=failure)


def poll_account(provider: Provider, base_url: str, account: str, credentials: Credentials, session, deadline) -> AccountResult:
    try:
        answer = get_json(session, provider.request(base_url, credentials), deadline)
        try:
            reading = provider.parse(answer.status, answer.body)
        except PollFailure as failure:
            if failure.kind is not FailureKind.RATE_LIMITED or answer.status != 429:
                raise
            wait = f"retry after {answer.retry_after}" if answer.retry_after else "no Retry-After given"
            raise PollFailure(failure.kind, f"{failure.message} ({wait})") from None
    except PollFailure as failure:
        # Every vendor string in it passed vendor_text already; this catches a key our own words might carry.
        failure = PollFailure(failure.kind, REDACTOR.redact_fragments(failure.message))
        logger.warning(
            "poll failed", extra={"provider": provider.id, "account": account, "error_kind": failure.kind.value, "error": failure.message}
        )
        return AccountResult(account, utc_now(), failure=failure)
    except Exception as exc:  # a response shape no check foresaw must not stop the other accounts
        logger.error(
            "could not interpret the response",
            extra={"provider": provider.id, "account": account, "exception": type(exc).__name__},
        )
        failure = PollFailure(FailureKind.BAD_RESPONSE, f"could not interpret the response ({type(exc).__name__})")
        return AccountResult(account, utc_now(), failure=failure)
    return AccountResult(account, utc_now(), reading=reading)
