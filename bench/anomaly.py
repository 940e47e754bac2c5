"""The anomaly rule's cost: computing one account's usual and recent rate from a week of history, and what it
adds to the aggregator's work per balance record.

Two figures, each compared within this run:

- **one account's baseline**: a week of readings five minutes apart (2,016 changes, a busy account) counted
  into the spend tally the alert item keeps, then its usual rate (the mean hourly spend over the baseline)
  and its recent rate; pure CPU, in ms (the tally is kept on the alert item, so a record redoes only the
  intervals since the last count: this is the worst case, a tally rebuilt from scratch).
- **per-record cost with and without a rule**: the same accounts' balance records, each a change, applied by
  the aggregator's own logic (``alerting.stream.handle_balance``, its DynamoDB reads and writes included,
  against the local stack) on a stack whose configuration has no anomaly rule, then one with a rule for
  every account. Turns (an hour of records each) alternate so machine noise falls on both; medians compared.

`python -m bench.anomaly` runs it alone; `make bench` records it in bench/results.json.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import boto3

from credit_monitor.alerting import spend
from credit_monitor.alerting.forecast import HistoryPoint
from credit_monitor.alerting.service import build as build_alerting
from credit_monitor.alerting.stream import handle_balance
from credit_monitor.alerting.thresholds import AnomalyRule
from credit_monitor.model import BalanceItem, Reading, format_time
from credit_monitor.settings import AggregatorSettings
from credit_monitor.storage.items import balance_item, history_item
from devstack.invoke import function_environment, reset_warm_state
from devstack.moto_stack import LocalStack

PROVIDER = "crun"
ACCOUNTS = 12  # accounts whose records are applied, per turn
HISTORY_HOURS = 48  # history each account has before the measured records (hourly readings, as an idle account's)
RECORDS = 12  # changed readings per account and turn, five minutes apart: an hour, so each turn holds one hourly forecast
TURNS = 3  # turns of each configuration, alternating
BASELINE_REPEATS = 20
WITHOUT = {"default": {"warning": 500, "critical": 100}}
WITH = {**WITHOUT, "anomaly": {"default": {"factor": 5, "floor": 50}}}


def week_of_history(now: datetime, step: timedelta = timedelta(minutes=5)) -> list[HistoryPoint]:
    """A busy account's week: a reading every poll, each lower than the last."""
    count = int(timedelta(days=7) / step)
    return [HistoryPoint(now - (count - i) * step, 1_000_000.0 - 8.0 * i) for i in range(count + 1)]


def baseline_ms(repeats: int = BASELINE_REPEATS) -> dict:
    """Median ms to count a week of readings into a tally and read its usual and recent rates."""
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    points, rule = week_of_history(now), AnomalyRule()
    timings, usual, recent = [], None, 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        tally = spend.Tally()
        for before, after in pairwise(points):
            tally = spend.account(tally, before, after, rule.baseline)
        usual = spend.usual_rate(tally, now, rule.baseline, int(rule.min_hours))
        recent = spend.recent_rate(tally, now, rule.recent)
        timings.append((time.perf_counter() - started) * 1000)
    return {"readings": len(points), "median_ms": statistics.median(timings), "usual_per_hour": usual, "recent_per_hour": recent}


class Accounts:
    """``ACCOUNTS`` accounts of one provider, their history and latest item written as the poller writes them."""

    def __init__(self, stack: LocalStack, start: datetime) -> None:
        self.stack, self.now = stack, start
        self.spend_per_record = 9.0  # each record: 9 credits in 5 minutes, about the usual 100 an hour
        self.latest: dict[str, BalanceItem] = {}
        with function_environment(stack.environment("Aggregator")):
            self.settings = AggregatorSettings.from_env()

    def write(self, account: str, available: float) -> BalanceItem:
        when = format_time(self.now)
        reading = Reading(available=available)
        self.stack.table().put_item(Item=history_item(PROVIDER, account, when, reading, 400))
        balance = BalanceItem(PROVIDER, account, when, "ok", available, 0, available, fetched_at=when, digest=reading.digest)
        self.stack.table().put_item(Item=balance_item(balance))
        return balance

    def seed(self) -> None:
        """``HISTORY_HOURS`` of hourly readings per account, spending 100 credits an hour."""
        for hour in range(HISTORY_HOURS):
            self.now += timedelta(hours=1)
            for i in range(ACCOUNTS):
                self.latest[f"acct-{i:02d}"] = self.write(f"acct-{i:02d}", 500_000.0 - 100 * hour)

    def apply(self) -> list[float]:
        """``RECORDS`` changes per account, each applied by the aggregator's logic; seconds per record."""
        service = build_alerting(self.settings, boto3.resource("dynamodb").Table(self.settings.storage.table_name), clock=lambda: self.now)
        timings = []
        for _ in range(RECORDS):
            self.now += timedelta(minutes=5)
            for account, previous in list(self.latest.items()):
                balance = self.write(account, float(previous.available) - self.spend_per_record)
                started = time.perf_counter()
                handle_balance(service, balance, previous)
                timings.append(time.perf_counter() - started)
                self.latest[account] = balance
        return timings


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Without the aggregator's JSON log lines (Lambda sends them to CloudWatch; here they would flood the terminal)."""
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def start_time() -> datetime:
    """When the seeded history begins: far enough back that the measured records end before now."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=HISTORY_HOURS + 2 * TURNS + 2)


def per_record() -> dict:
    """Median seconds per balance record with and without an anomaly rule, in alternating turns on one stack."""
    seconds: dict[str, list[float]] = {"without": [], "with": []}
    with LocalStack(stack_name="credit-monitor-bench-anomaly") as stack:
        stack.create_resources()
        accounts = Accounts(stack, start_time())
        accounts.seed()
        with quiet():
            accounts.apply()  # a first turn not counted: the accounts' first forecast, and warm clients
        for turn in range(TURNS * 2):
            name, document = ("without", WITHOUT) if turn % 2 == 0 else ("with", WITH)
            stack.set_thresholds(json.dumps(document))
            reset_warm_state()
            with quiet():
                seconds[name] += accounts.apply()
    median = {name: statistics.median(values) for name, values in seconds.items()}
    return {"accounts": ACCOUNTS, "records": len(seconds["with"]), "history_hours": HISTORY_HOURS,
            "median_ms": {name: value * 1000 for name, value in median.items()}, "ratio": median["with"] / median["without"]}  # fmt: skip


def anomaly() -> dict:
    return {"baseline": baseline_ms(), "per_record": per_record()}


def main() -> int:
    print(json.dumps(anomaly(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
