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


class SummaryBuilder:
    """The summary, one account at a time: a fleet's is built a page at a time, never all accounts at once.
    ``unpriced`` keeps the first UNPRICED_SHOWN names and ``unpriced_count`` counts them all."""

    UNPRICED_SHOWN = 100

    def __init__(self, prices: Prices | None) -> None:
        self.prices = prices
        self.total, self.priced, self.unpriced, self.unpriced_count = 0.0, 0, [], 0
        self.first: RunsOut | None = None

    def add(self, snapshot: AccountSnapshot) -> None:
        balance, state = snapshot.balance, snapshot.alert
        if balance is None or balance.available is None:
            return
        if self.prices is not None:
            value = self.prices.value(snapshot.provider, snapshot.account, float(balance.available), balance.unit)
            if value is None:
                self.unpriced_count += 1
                if len(self.unpriced) < self.UNPRICED_SHOWN:
                    self.unpriced.append(snapshot.name)
            else:
                self.total, self.priced = self.total + value, self.priced + 1
        if state.days_left is not None and (self.first is None or state.days_left < self.first.days_left):
            self.first = RunsOut(snapshot.provider, snapshot.account, state.days_left, state.depletes_at)

    def summary(self) -> Summary:
        if self.prices is None:
            return Summary(None, None, 0, [], self.first)
        return Summary(self.prices.currency, round(self.total, 6), self.priced, self.unpriced, self.first)


def summarize(accounts: list[AccountSnapshot], prices: Prices | None) -> Summary:
    builder = SummaryBuilder(prices)
    for snapshot in accounts:
        builder.add(snapshot)
    return builder.summary()
