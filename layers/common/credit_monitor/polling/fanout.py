"""Poll every account of one provider concurrently, each to a reading or a classified failure."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger

from credit_monitor.model import AccountResult, FailureKind, PollFailure, utc_now
from credit_monitor.polling.providers import Provider, parse_response
from credit_monitor.polling.transport import Deadline, get_json, new_session

MAX_CONCURRENCY = 64

logger = Logger()


def poll_accounts(provider: Provider, base_url: str, keys: dict[str, str], deadline: Deadline) -> list[AccountResult]:
    """One result per account, in the order of ``keys``. Never raises for a provider's fault."""
    if not keys:
        return []
    workers = min(len(keys), MAX_CONCURRENCY)
    url = provider.url(base_url)
    with new_session(deadline, pool_size=workers) as session, ThreadPoolExecutor(workers, "poll") as pool:
        futures = [pool.submit(poll_account, provider, url, account, key, session, deadline) for account, key in keys.items()]
        return [future.result() for future in futures]


def poll_account(provider, url, account, key, session, deadline) -> AccountResult:
    try:
        params = dict(provider.query_params(key)) if provider.query_params else None
        status, body = get_json(session, url, dict(provider.auth_headers(key)), deadline, params)
        reading = parse_response(provider, status, body)
    except PollFailure as failure:
        failure = PollFailure(failure.kind, redact(failure.message, key))
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


def redact(text: str, key: str) -> str:
    """Providers sometimes echo what they were sent; a key must never reach storage or logs."""
    return text.replace(key, "***") if key else text
