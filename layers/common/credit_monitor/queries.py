"""The balance API's logic: reads from the table, answers in the API's models. Knows nothing of HTTP."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.conditions import Key

from credit_monitor.accounts import valid_account_name
from credit_monitor.api_models import Balance, BalanceList, Forecast, HistoryEntry, HistoryPage, Sufficiency
from credit_monitor.providers import known_providers
from credit_monitor.store import BalanceStore, from_dynamodb, history_pk
from credit_monitor.thresholds import PROVIDER_ID

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class NotFound(Exception):
    """An unknown provider or account; the message names it."""


class BadRequest(Exception):
    """A parameter the route cannot use; the message names it."""


def utc_key(moment: datetime) -> str:
    """A datetime as the history sort key format (naive times are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_token(provider: str, account: str, last_key: str) -> str:
    raw = json.dumps({"p": provider, "a": account, "k": last_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, provider: str, account: str) -> str:
    """The sort key to resume after. A token is only good for the account it was issued for."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        last_key = data["k"]
        owner = (data["p"], data["a"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise BadRequest("next_token is not a token this API issued") from None
    if owner != (provider, account):
        raise BadRequest("next_token was issued for another account")
    if not isinstance(last_key, str) or not TIMESTAMP.fullmatch(last_key):
        raise BadRequest("next_token is not a token this API issued")
    return last_key


def to_balance(items: dict[str, dict[str, Any]]) -> Balance:
    balance, alert = items["balance"], items.get("alert") or {}
    forecast = None
    if alert.get("forecast_at"):
        forecast = Forecast(
            burn_per_day=alert.get("burn_per_day"),
            days_left=alert.get("days_left"),
            depletes_at=alert.get("depletes_at"),
            computed_at=alert.get("forecast_at"),
        )
    return Balance(
        provider=balance["provider"],
        account=balance["account"],
        available=balance.get("available"),
        frozen=balance.get("frozen"),
        total=balance.get("total"),
        unit=balance.get("unit", "credits"),
        breakdown=balance.get("breakdown") or {},
        fetched_at=balance.get("fetched_at"),
        polled_at=balance.get("polled_at"),
        status=balance.get("status", "ok"),
        error=balance.get("error"),
        error_kind=balance.get("error_kind"),
        consecutive_failures=int(balance.get("consecutive_failures") or 0),
        alert_level=alert.get("level", "ok"),
        forecast=forecast,
    )


class BalanceQueries:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._store = BalanceStore(table)

    def _grouped(self, prefix: str = "") -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
        # One Query on the ACCOUNTS partition, where balances and alert state sit side by side.
        return {key: items for key, items in self._store.account_items(prefix).items() if "balance" in items}

    def all_balances(self) -> BalanceList:
        return BalanceList(balances=[to_balance(items) for _, items in sorted(self._grouped().items())])

    def provider_balances(self, provider: str) -> BalanceList:
        check_provider(provider)
        grouped = self._grouped(f"{provider}#")
        if not grouped and provider not in known_providers():
            raise NotFound(f"unknown provider {provider!r}")
        return BalanceList(balances=[to_balance(items) for _, items in sorted(grouped.items())])

    def balance(self, provider: str, account: str) -> Balance:
        check_provider(provider)
        check_account(account)
        grouped = self._grouped(f"{provider}#{account}#")
        if (provider, account) not in grouped:
            raise NotFound(f"no account {account!r} for provider {provider!r}")
        return to_balance(grouped[(provider, account)])

    def history(
        self, provider: str, account: str, *, since: datetime | None, until: datetime | None, limit: int, next_token: str | None
    ) -> HistoryPage:
        self.balance(provider, account)  # 404 for an unknown account, rather than an empty page
        low, high = (utc_key(since) if since else None), (utc_key(until) if until else None)
        if low and high and low > high:
            raise BadRequest("since must not be after until")
        pk = history_pk(provider, account)
        condition = Key("pk").eq(pk)
        if low and high:
            condition &= Key("sk").between(low, high)
        elif low:
            condition &= Key("sk").gte(low)
        elif high:
            condition &= Key("sk").lte(high)
        # One more than asked, to know whether there is a next page without a second read.
        query: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": False, "Limit": limit + 1}
        if next_token:
            # The partition comes from the path, never from the token: it cannot reach another account.
            query["ExclusiveStartKey"] = {"pk": pk, "sk": decode_token(next_token, provider, account)}
        items = [from_dynamodb(i) for i in self._table.query(**query).get("Items", [])]
        page, more = items[:limit], len(items) > limit
        return HistoryPage(
            items=[
                HistoryEntry(**{k: i[k] for k in ("fetched_at", "available", "frozen", "total")}, breakdown=i.get("breakdown") or {})
                for i in page
            ],
            next_token=encode_token(provider, account, page[-1]["sk"]) if more and page else None,
        )

    def check(self, provider: str, account: str, *, required: float, margin_percent: float) -> Sufficiency:
        balance = self.balance(provider, account)
        needed = required * (1 + margin_percent / 100)
        available = balance.available
        shortfall = max(0.0, needed - (available or 0))
        return Sufficiency(
            sufficient=available is not None and available >= needed,
            available=available,
            required=_tidy(required),
            shortfall=_tidy(shortfall),
            margin_percent=_tidy(margin_percent),
            required_with_margin=_tidy(needed),
            status=balance.status,
            fetched_at=balance.fetched_at,
        )


def _tidy(value: float) -> int | float:
    rounded = round(value, 6)
    return int(rounded) if rounded == int(rounded) else rounded


def check_provider(provider: str) -> None:
    if not PROVIDER_ID.fullmatch(provider):
        raise BadRequest(f"provider {provider[:40]!r} is not a provider id (lowercase letters, digits, _ and -)")


def check_account(account: str) -> None:
    if not valid_account_name(account):
        raise BadRequest(f"account {account[:70]!r} is not an account name (1-64 of A-Z a-z 0-9 _ . -)")
