"""The balance API's logic: reads through storage, answers in the API's models. Knows nothing of HTTP."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime

from credit_monitor.api.models import Balance, BalanceList, Forecast, HistoryEntry, HistoryPage, Sufficiency
from credit_monitor.model import AccountSnapshot, format_time, parse_time
from credit_monitor.storage import BalanceStore


class NotFound(Exception):
    """An unknown provider or account; the message names it."""


class BadRequest(Exception):
    """A parameter the route cannot use in this combination; the message names it."""


def encode_token(provider: str, account: str, last_key: str) -> str:
    raw = json.dumps({"p": provider, "a": account, "k": last_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, provider: str, account: str) -> str:
    """The sort key to resume after. A token is only good for the account it was issued for."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        last_key, owner = data["k"], (data["p"], data["a"])
        parse_time(last_key)
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise BadRequest("next_token is not a token this API issued") from None
    if owner != (provider, account):
        raise BadRequest("next_token was issued for another account")
    return last_key


def to_balance(snapshot: AccountSnapshot) -> Balance:
    balance, alert = snapshot.balance, snapshot.alert
    forecast = None
    if alert.forecast_at:
        forecast = Forecast(burn_per_day=alert.burn_per_day, days_left=alert.days_left, depletes_at=alert.depletes_at,
                            computed_at=alert.forecast_at)  # fmt: skip
    return Balance(
        provider=balance.provider,
        account=balance.account,
        available=balance.available,
        frozen=balance.frozen,
        total=balance.total,
        unit=balance.unit,
        breakdown=balance.breakdown,
        allowance=balance.allowance,
        resets_at=balance.resets_at,
        fetched_at=balance.fetched_at,
        polled_at=balance.polled_at,
        status="error" if balance.status == "error" else "ok",
        error=balance.error,
        error_kind=balance.error_kind,
        consecutive_failures=balance.consecutive_failures,
        alert_level=alert.level if balance.ever_read else None,
        forecast=forecast,
    )


class BalanceQueries:
    def __init__(self, store: BalanceStore, is_known_provider: Callable[[str], bool]) -> None:
        self._store = store
        self._is_known = is_known_provider

    def all_balances(self) -> BalanceList:
        return BalanceList(balances=[to_balance(s) for s in self._store.accounts() if s.balance is not None])

    def provider_balances(self, provider: str) -> BalanceList:
        balances = [to_balance(s) for s in self._store.accounts(provider) if s.balance is not None]
        if not balances and not self._is_known(provider):
            raise NotFound(f"unknown provider {provider!r}")
        return BalanceList(balances=balances)

    def balance(self, provider: str, account: str) -> Balance:
        found = [s for s in self._store.accounts(provider, account) if s.balance is not None and s.account == account]
        if not found:
            raise NotFound(f"no account {account!r} for provider {provider!r}")
        return to_balance(found[0])

    def history(
        self, provider: str, account: str, *, since: datetime | None, until: datetime | None, limit: int, next_token: str | None
    ) -> HistoryPage:
        self.balance(provider, account)  # 404 for an unknown account, rather than an empty page
        low, high = (format_time(since) if since else None), (format_time(until) if until else None)
        if low and high and low > high:
            raise BadRequest("since must not be after until")
        after = decode_token(next_token, provider, account) if next_token else None
        page = self._store.history_page(provider, account, since=low, until=high, limit=limit, after=after)
        return HistoryPage(
            items=[HistoryEntry(r.fetched_at, r.available, r.frozen, r.total, r.breakdown) for r in page.readings],
            next_token=encode_token(provider, account, page.last_key) if page.last_key else None,
        )

    def check(self, provider: str, account: str, *, required: float, margin_percent: float) -> Sufficiency:
        balance = self.balance(provider, account)
        needed = required * (1 + margin_percent / 100)
        available = balance.available
        return Sufficiency(
            sufficient=available is not None and available >= needed,
            available=available,
            required=_tidy(required),
            shortfall=_tidy(max(0.0, needed - (available or 0))),
            margin_percent=_tidy(margin_percent),
            required_with_margin=_tidy(needed),
            status=balance.status,
            fetched_at=balance.fetched_at,
        )


def _tidy(value: float) -> int | float:
    rounded = round(value, 6)
    return int(rounded) if rounded == int(rounded) else rounded
