"""A leaked key or a runaway job: an account spending far faster than its usual rate alerts within two polls
of the spike, once, and recovers once; top-ups and allowance resets are not spending.

The week is simulated: the poller's writes (its latest item and history points, hourly while idle and at
every change) are made as the poller makes them, and each one's stream record is handed to the real
aggregator's logic with the clock of that moment (a real week would take a week).
"""

import json
import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from credit_monitor.alerting.service import build as build_alerting
from credit_monitor.alerting.stream import handle_balance
from credit_monitor.alerting.tasks import run_digest
from credit_monitor.model import BalanceItem, Reading, format_time
from credit_monitor.settings import AggregatorSettings
from credit_monitor.storage import BalanceStore
from credit_monitor.storage.items import balance_item, history_item
from devstack.invoke import function_environment, reset_warm_state

pytestmark = pytest.mark.integration

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=8)


class Week:
    """crun/prod polled through a simulated week: every reading stored as the poller stores it, every change
    applied by the aggregator at that moment."""

    def __init__(self, stack):
        self.stack, self.now, self.available, self.plan = stack, START, 100_000.0, "2026-12-01T00:00:00Z"
        with function_environment(stack.environment("Aggregator")):
            settings = AggregatorSettings.from_env()
        self.service = build_alerting(settings, boto3.resource("dynamodb").Table(settings.storage.table_name), clock=lambda: self.now)
        self.previous = None
        self.sent = 0

    def poll(self, minutes: float, spent: float = 0.0, added: float = 0.0, reset: str | None = None) -> None:
        self.now += timedelta(minutes=minutes)
        self.available = self.available - spent + added
        self.plan = reset or self.plan
        when = format_time(self.now)
        reading = Reading(available=round(self.available, 3), breakdown={"plans": [{"resets_at": self.plan}]})
        self.stack.table().put_item(Item=history_item("crun", "prod", when, reading, 400))
        balance = BalanceItem("crun", "prod", when, "ok", reading.available, 0, reading.available, breakdown=reading.breakdown,
                              fetched_at=when, digest=reading.digest)  # fmt: skip
        self.stack.table().put_item(Item=balance_item(balance))
        self.sent += handle_balance(self.service, balance, self.previous)
        self.previous = balance


@pytest.fixture
def week(stack):
    stack.set_thresholds(json.dumps({"default": {"warning": 500, "critical": 100}, "anomaly": {"default": {"factor": 5, "floor": 50}}}))
    reset_warm_state()
    return Week(stack)


def test_ten_times_the_usual_spending_alerts_within_two_polls_and_recovers_once(stack, week, aggregate, inbox):
    for hour in range(7 * 24):  # a week of steady spending, 100 credits an hour, read hourly
        week.poll(60, spent=100, added=20_000 if hour == 50 else 0, reset="2026-12-08T00:00:00Z" if hour == 120 else None)
    aggregate.run_machines()
    assert inbox.fetch() == []  # a top-up and an allowance reset in the week: no anomaly

    for _ in range(12):  # the last hour at the usual pace, polled every 5 minutes
        week.poll(5, spent=100 / 12)
    first = week.sent
    week.poll(5, spent=1000 / 12)  # ten times faster: a leaked key
    aggregate.run_machines()
    alerted_after = 1 if week.sent > first else 2
    if alerted_after == 2:
        week.poll(5, spent=1000 / 12)
        aggregate.run_machines()
    [alert] = inbox.fetch()
    assert alert["attributes"]["event"] == "anomaly"
    assert alert["subject"].startswith("crun/prod ANOMALY: spending ")
    usual = float(re.search(r"usually ([\d.,]+)/h", alert["subject"]).group(1).replace(",", ""))
    assert usual == pytest.approx(100, rel=0.05)  # the mean hourly spend of the week
    assert alerted_after <= 2  # within two polls of the spike

    for _ in range(6):  # still spending fast: nothing more
        week.poll(5, spent=1000 / 12)
    aggregate.run_machines()
    assert inbox.fetch() == []

    for _ in range(4):  # calm again
        week.poll(5, spent=100 / 12)
    aggregate.run_machines()
    [recovery] = inbox.fetch()
    assert recovery["subject"].startswith("crun/prod spending back to usual")
    assert (recovery["attributes"]["event"], recovery["attributes"]["level"]) == ("recovery", "ok")
    for _ in range(3):
        week.poll(5, spent=100 / 12)
    aggregate.run_machines()
    assert inbox.fetch() == []


def test_an_account_without_a_days_history_has_no_baseline_and_raises_nothing(stack, week, aggregate, inbox):
    for _ in range(20):  # less than the rule's min_hours (24) of history
        week.poll(60, spent=10)
    for _ in range(6):
        week.poll(5, spent=5000)
    aggregate.run_machines()
    assert [m["attributes"]["event"] for m in inbox.fetch()] == []


def test_a_quiet_account_spending_a_little_more_is_under_the_floor(stack, week, aggregate, inbox):
    for _ in range(48):
        week.poll(60, spent=1)  # 1 credit an hour
    for _ in range(4):
        week.poll(5, spent=0.5)  # 6 an hour: six times the usual, but under the floor of 50 an hour
    aggregate.run_machines()
    assert inbox.fetch() == []


def test_the_digest_says_what_was_spent_this_week_and_month_per_provider_and_label(stack, week, aggregate, inbox):
    stack.set_thresholds(json.dumps({"default": {"warning": 500, "critical": 100}, "labels": {"crun": {"team": "video"}},
                                     "prices": {"currency": "USD", "crun": 0.01}}))  # fmt: skip
    reset_warm_state()
    week.service.configuration._in_force = None  # this container reads the new document at once
    for _ in range(10 * 24):  # ten days at 100 credits an hour
        week.poll(60, spent=100)
    week.poll(60)  # the hour's tally is counted with the forecast, hourly

    run_digest(week.service, {})

    [digest] = inbox.fetch()
    lines = digest["message"].splitlines()
    start = lines.index("Spend, last 7 days / last 30 days (per provider, then per label):")
    crun, video = lines[start + 1], lines[start + 2]
    figures = re.match(r"  crun: ([\d,]+) / ([\d,]+) credits \(([\d,.]+) / ([\d,.]+) USD\)", crun)
    assert figures, crun
    week_spent, month_spent = (float(figures.group(i).replace(",", "")) for i in (1, 2))
    assert 6 * 24 * 100 <= week_spent <= 7 * 24 * 100  # today and the six days before it
    assert month_spent == pytest.approx(10 * 24 * 100, rel=0.02)
    assert video.startswith("  team=video: ")


def test_an_account_at_rest_is_not_forecast_again_until_it_spends(stack, week, aggregate, inbox):
    """An idle key of a pool costs its hourly heartbeat's one read, no history read and no write; its first
    spend is forecast and counted at once."""
    for _ in range(6):
        week.poll(60)  # hourly heartbeats of an unchanged balance: forecast once there is a rate (0)
    settled = BalanceStore(stack.table()).accounts("crun", "prod")[0].alert
    assert (settled.burn_per_day, settled.days_left) == (0, None)

    stack.calls.clear()
    for _ in range(3):
        week.poll(60)
    made = {call: n for call, n in stack.calls.items() if call.startswith("dynamodb:") and call != "dynamodb:PutItem"}
    assert made == {"dynamodb:GetItem": 3}  # its alert state read; no history Query, no write
    assert BalanceStore(stack.table()).accounts("crun", "prod")[0].alert.forecast_at == settled.forecast_at

    week.poll(60, spent=2_400)  # it spends: forecast again at once, with what it spent
    spent = BalanceStore(stack.table()).accounts("crun", "prod")[0].alert
    assert spent.forecast_at > settled.forecast_at
    assert spent.burn_per_day > 0
    assert inbox.fetch() == []
