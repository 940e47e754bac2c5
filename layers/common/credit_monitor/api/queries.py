"""The balance API's logic: reads through storage, answers in the API's models. Knows nothing of HTTP.

Longer than ~350 lines on purpose: every route's query shares the paging tokens and the conversions into the
API's models defined here; split by route, each part would import all of them back.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from credit_monitor.alerting import spend as spending
from credit_monitor.alerting.forecast import point_from_reading
from credit_monitor.alerting.labels import NAME as LABEL_NAME
from credit_monitor.alerting.labels import parse_pair
from credit_monitor.alerting.summary import summarize
from credit_monitor.alerting.thresholds import Thresholds, threshold_for
from credit_monitor.api.models import (
    AccountSpend,
    Balance,
    BalanceList,
    BalanceSummary,
    Forecast,
    HistoryEntry,
    HistoryPage,
    RunsOutFirst,
    SentAlertBody,
    SentAlertList,
    SilenceInForce,
    SpendGroup,
    SpendReport,
    Sufficiency,
    ThresholdInForce,
)
from credit_monitor.errors import BadRequest, NotFound
from credit_monitor.model import AccountSnapshot, format_time, parse_time, valid_account_name, valid_provider_id
from credit_monitor.storage import BalanceStore, SentAlertLog

ALERT_ID = re.compile(r"\d{20}-[0-9a-f]{8}")


def encode_token(provider: str, account: str, last_key: str, listing: str = "history") -> str:
    raw = json.dumps({"l": listing, "p": provider, "a": account, "k": last_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, provider: str, account: str, listing: str = "history") -> str:
    """The sort key to resume after. A token is only good for the listing (and account) it was issued for."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        last_key, issued_for, owner = data["k"], data.get("l", "history"), (data["p"], data["a"])
        if not isinstance(last_key, str):
            raise TypeError(last_key)
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise BadRequest("next_token is not a token this API issued") from None
    if issued_for != listing:
        raise BadRequest("next_token was issued for another listing")
    try:
        if listing == "history":
            parse_time(last_key)
        elif not ALERT_ID.fullmatch(last_key):
            raise ValueError(last_key)
    except ValueError:
        raise BadRequest("next_token is not a token this API issued") from None
    if owner != (provider, account):
        raise BadRequest("next_token was issued for another account")
    return last_key


PAGE = 1000  # balances a page holds without limit= (DESIGN: at most 1,000)
SPEND_PAGE = 20  # accounts a spend page reads the history of without limit= (a busy month is ~9,000 points, 1 MB, per account)


def encode_cursor(scope: str, provider: str, account: str | None) -> str:
    """A balances listing's next_token: its scope ("" for every provider, or the provider listed) and where to go on."""
    raw = json.dumps({"l": "balances", "s": scope, "p": provider, "k": account}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, scope: str) -> tuple[str, str | None]:
    """(provider, account to resume after) from a token this API issued for this very listing."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        listing, issued_for, provider, account = data["l"], data["s"], data["p"], data["k"]
        if not isinstance(provider, str) or not isinstance(issued_for, str) or not (account is None or isinstance(account, str)):
            raise TypeError(provider)
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise BadRequest("next_token is not a token this API issued") from None
    if listing != "balances":
        raise BadRequest("next_token was issued for another listing")
    if issued_for != scope:
        raise BadRequest("next_token was issued for another listing of balances")
    if not valid_provider_id(provider) or (account is not None and not valid_account_name(account)):
        raise BadRequest("next_token is not a token this API issued")
    return provider, account


def alert_id_floor(moment: datetime) -> str:
    """The smallest alert id decided at or after ``moment`` (ids start with their time in nanoseconds)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{max(0, int(aware.timestamp() * 1_000_000_000)):020d}"


def to_balance(snapshot: AccountSnapshot, config: Thresholds | None = None, now: datetime | None = None) -> Balance:
    balance, alert = snapshot.balance, snapshot.alert
    forecast = None
    if alert.forecast_at:
        forecast = Forecast(burn_per_day=alert.burn_per_day, days_left=alert.days_left, depletes_at=alert.depletes_at,
                            computed_at=alert.forecast_at)  # fmt: skip
    threshold, silence, value = None, None, None
    if config is not None:
        found = threshold_for(config, balance, alert)
        threshold = ThresholdInForce(_round_off(found.warning), _round_off(found.critical), found.warning_days, found.critical_days,
                                     found.key, found.basis)  # fmt: skip
        covering = config.covering(balance.provider, balance.account, now or datetime.now(UTC))
        if covering is not None:
            silence = SilenceInForce(covering.reason, covering.until, _listed(covering.levels), _listed(covering.events))
        if config.prices is not None:
            value = config.prices.value(balance.provider, balance.account, balance.available, balance.unit)
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
        threshold=threshold,
        silence=silence,
        value=value,
        labels=config.labels.for_account(balance.provider, balance.account) if config is not None else {},
    )


def _listed(values: tuple[str, ...] | None) -> list[str] | None:
    return list(values) if values is not None else None


def to_summary(snapshots: list[AccountSnapshot], config: Thresholds | None) -> BalanceSummary:
    found = summarize(snapshots, config.prices if config else None)
    first = found.runs_out_first
    return BalanceSummary(
        currency=found.currency,
        total_value=_round_off(found.total_value) if found.total_value is not None else None,
        priced=found.priced,
        unpriced=found.unpriced,
        lowest_days_left=first.days_left if first else None,
        runs_out_first=RunsOutFirst(first.provider, first.account, first.days_left, first.depletes_at) if first else None,
    )


class BalanceQueries:
    def __init__(
        self,
        store: BalanceStore,
        is_known_provider: Callable[[str], bool],
        sent: SentAlertLog | None = None,
        configuration: Callable[[], Thresholds | None] = lambda: None,
        providers: tuple[str, ...] = (),
    ) -> None:
        self._store = store
        self._is_known = is_known_provider
        self._sent = sent
        self._configuration = configuration  # the alerting configuration in force (the last good one)
        self._providers = providers  # the stack's, in the order GET /balances lists them

    def _list(self, snapshots: list[AccountSnapshot], next_token: str | None) -> BalanceList:
        config, now = self._configuration(), datetime.now(UTC)
        listed = [s for s in snapshots if s.balance is not None]
        return BalanceList(balances=[to_balance(s, config, now) for s in listed], next_token=next_token, summary=to_summary(listed, config))

    def all_balances(self, *, limit: int = PAGE, next_token: str | None = None) -> BalanceList:
        """A page of every provider's balances, in the stack's Providers order: at most ``limit`` accounts, read
        as one Query of each provider the page spans (a Lambda answer is at most 6 MB: 1,000 balances are ~0.5 MB)."""
        providers = list(self._providers)
        start, after = (providers[0] if providers else "", None)
        if next_token:
            start, after = decode_cursor(next_token, scope="")
            if start not in providers:
                raise BadRequest("next_token is not a token this API issued")
        found: list[AccountSnapshot] = []
        for index in range(providers.index(start) if providers else 0, len(providers)):
            provider = providers[index]
            page = self._store.page(provider, after=after, limit=limit - len(found))
            found += page.accounts
            after = None
            if page.last_account is not None:
                return self._list(found, encode_cursor("", provider, page.last_account))
            if len(found) == limit:
                following = next((p for p in providers[index + 1 :] if self._store.page(p, limit=1).accounts), None)
                return self._list(found, encode_cursor("", following, None) if following else None)
        return self._list(found, None)

    def provider_balances(self, provider: str, *, limit: int = PAGE, next_token: str | None = None) -> BalanceList:
        after = decode_cursor(next_token, scope=provider)[1] if next_token else None
        page = self._store.page(provider, after=after, limit=limit)
        if not page.accounts and not after and not self._is_known(provider):
            raise NotFound(f"unknown provider {provider!r}")
        return self._list(page.accounts, encode_cursor(provider, provider, page.last_account) if page.last_account else None)

    def balance(self, provider: str, account: str) -> Balance:
        found = [s for s in self._store.accounts(provider, account) if s.balance is not None and s.account == account]
        if not found:
            raise NotFound(f"no account {account!r} for provider {provider!r}")
        return to_balance(found[0], self._configuration())

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

    def alerts(
        self, provider: str | None, account: str | None, *, since: datetime | None, limit: int, next_token: str | None,
        label: str | None = None,
    ) -> SentAlertList:  # fmt: skip
        """Sent alerts, newest first: all of them, a provider's, or an account's; with ``label``, those carrying it."""
        if account and not provider:
            raise BadRequest("account needs provider: alerts are listed for all, for a provider, or for one account of it")
        provider, account = provider or "", account or ""
        after = decode_token(next_token, provider, account, listing="alerts") if next_token else None
        page = self._sent.page(provider, account, since=alert_id_floor(since) if since else None, limit=limit, after=after, label=label)
        if provider and not page.alerts and not after and not self._is_known(provider) and not self._store.accounts(provider):
            raise NotFound(f"unknown provider {provider!r}")
        return SentAlertList(
            items=[SentAlertBody(**dataclasses.asdict(alert)) for alert in page.alerts],
            next_token=encode_token(provider, account, page.last_key, listing="alerts") if page.last_key else None,
        )

    def spend(self, *, since: datetime | None, until: datetime | None, provider: str | None, account: str | None, label: str | None,
              group_by: str, limit: int, next_token: str | None) -> SpendReport:  # fmt: skip
        """Spend and top-ups per account over a range, a page of accounts at a time (each page reads the history of
        at most ``limit`` accounts over the range, never the fleet's), summed per group and unit."""
        if account and not provider:
            raise BadRequest("account needs provider: spend is reported for all, for a provider, or for one account of it")
        until = until or datetime.now(UTC)
        since = since or until - timedelta(days=7)
        low, high = format_time(since), format_time(until)
        if low > high:
            raise BadRequest("since must not be after until")
        wanted = parse_pair(label) if label else None
        grouping = _grouping(group_by)
        config = self._configuration()
        providers = [provider] if provider else list(self._providers)
        scope = "|".join(["spend", provider or "", account or "", label or "", low, high, group_by])
        start, after = (providers[0] if providers else "", None)
        if next_token:
            start, after = decode_cursor(next_token, scope=scope)
            if start not in providers:
                raise BadRequest("next_token is not a token this API issued")
        if provider and not self._is_known(provider) and not self._store.page(provider, limit=1).accounts:
            raise NotFound(f"unknown provider {provider!r}")
        rows: list[AccountSpend] = []
        next_cursor = None
        for index in range(providers.index(start) if providers else 0, len(providers)):
            name = providers[index]
            page = self._store.page(name, after=after, limit=limit - len(rows)) if not account else _one(self._store, name, account)
            after = None
            for snapshot in page.accounts:
                labels = config.labels.for_account(snapshot.provider, snapshot.account) if config else {}
                if wanted is not None and labels.get(wanted[0]) != wanted[1]:
                    continue
                rows.append(self._account_spend(snapshot, since, until, low, high, config, labels))
            if page.last_account is not None:
                next_cursor = encode_cursor(scope, name, page.last_account)
                break
            if len(rows) >= limit and index + 1 < len(providers):
                next_cursor = encode_cursor(scope, providers[index + 1], None)
                break
        values = [row.value for row in rows if row.value is not None]
        return SpendReport(since=low, until=high, currency=config.prices.currency if config and config.prices else None, accounts=rows,
                           totals=_totals(rows, grouping), value_total=_round_off(sum(values)) if values else None,
                           next_token=next_cursor)  # fmt: skip

    def _account_spend(self, snapshot: AccountSnapshot, since: datetime, until: datetime, low: str, high: str,
                       config: Thresholds | None, labels: dict[str, str]) -> AccountSpend:  # fmt: skip
        readings = self._store.history_between(snapshot.provider, snapshot.account, low, high)
        found = spending.totals([point_from_reading(r) for r in readings], since, until)
        unit = snapshot.balance.unit if snapshot.balance else "credits"
        price = config.prices.price(snapshot.provider, snapshot.account, unit) if config and config.prices else None
        return AccountSpend(provider=snapshot.provider, account=snapshot.account, unit=unit, spent=_round_off(found.spent),
                            top_ups=_round_off(found.topped_up), resets=found.resets,
                            value=_round_off(found.spent * price) if price is not None else None, labels=labels)  # fmt: skip

    def check(self, provider: str, account: str, *, required: float, margin_percent: float) -> Sufficiency:
        balance = self.balance(provider, account)
        needed = required * (1 + margin_percent / 100)
        available = balance.available
        never = available is None
        return Sufficiency(
            sufficient=not never and available >= needed,
            available=available,
            required=_round_off(required),
            shortfall=None if never else _round_off(max(0.0, needed - available)),
            margin_percent=_round_off(margin_percent),
            required_with_margin=_round_off(needed),
            status=balance.status,
            fetched_at=balance.fetched_at,
            reason=f"no balance has been read for this account yet ({balance.error_kind or 'not polled'}): cannot tell" if never else None,
        )


def _round_off(value: float) -> int | float:
    """The number rounded to 6 places (0.30000000000000004 -> 0.3), a whole one as an int (1000.0 -> 1000)."""
    rounded = round(value, 6)
    return int(rounded) if rounded == int(rounded) else rounded


def _one(store: BalanceStore, provider: str, account: str):
    """A page of one account (GET /spend?provider=&account=)."""
    from credit_monitor.storage.balances import AccountPage  # noqa: PLC0415 - the one place a page is made here

    found = [s for s in store.accounts(provider, account) if s.account == account]
    if not found:
        raise NotFound(f"no account {account!r} for provider {provider!r}")
    return AccountPage(found, None)


GROUPINGS = ("provider", "account", "unit", "label:<name>")


def _grouping(group_by: str) -> Callable[[AccountSpend], str]:
    if group_by == "provider":
        return lambda row: row.provider
    if group_by == "account":
        return lambda row: f"{row.provider}/{row.account}"
    if group_by == "unit":
        return lambda row: row.unit
    name = group_by.removeprefix("label:")
    if group_by.startswith("label:") and LABEL_NAME.fullmatch(name):
        return lambda row: row.labels.get(name, "(none)")
    raise BadRequest(f"group_by {group_by[:40]!r} must be one of {', '.join(GROUPINGS)}")


def _totals(rows: list[AccountSpend], group: Callable[[AccountSpend], str]) -> list[SpendGroup]:
    sums: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        entry = sums.setdefault((group(row), row.unit), [0.0, 0.0, None, 0])
        entry[0] += row.spent
        entry[1] += row.top_ups
        if row.value is not None:
            entry[2] = (entry[2] or 0.0) + row.value
        entry[3] += 1
    return [SpendGroup(key, unit, _round_off(spent), _round_off(topped), _round_off(value) if value is not None else None, count)
            for (key, unit), (spent, topped, value, count) in sorted(sums.items())]  # fmt: skip
