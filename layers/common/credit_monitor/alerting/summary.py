"""One figure across vendors whose credits are not comparable: what every balance is worth in one
currency (the ``prices`` of the alerting configuration), and which account runs out first."""

from __future__ import annotations

from dataclasses import dataclass

from credit_monitor.alerting.thresholds import Prices
from credit_monitor.model import AccountSnapshot


@dataclass(frozen=True)
class RunsOut:
    provider: str
    account: str
    days_left: float
    depletes_at: str | None


@dataclass(frozen=True)
class Summary:
    currency: str | None  # None when no prices are configured
    total_value: float | None  # the sum over priced accounts; None without prices
    priced: int  # accounts counted in the total
    unpriced: list[str]  # provider/account of balances with no price (and not in the currency already)
    runs_out_first: RunsOut | None  # the account with the fewest days left by its forecast


def summarize(accounts: list[AccountSnapshot], prices: Prices | None) -> Summary:
    total, priced, unpriced = 0.0, 0, []
    first: RunsOut | None = None
    for snapshot in accounts:
        balance, state = snapshot.balance, snapshot.alert
        if balance is None or balance.available is None:
            continue
        if prices is not None:
            value = prices.value(snapshot.provider, snapshot.account, float(balance.available), balance.unit)
            if value is None:
                unpriced.append(snapshot.name)
            else:
                total, priced = total + value, priced + 1
        if state.days_left is not None and (first is None or state.days_left < first.days_left):
            first = RunsOut(snapshot.provider, snapshot.account, state.days_left, state.depletes_at)
    if prices is None:
        return Summary(None, None, 0, [], first)
    return Summary(prices.currency, round(total, 6), priced, unpriced, first)
