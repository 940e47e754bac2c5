"""Skipping the history read for slow changes never changes an anomaly decision.

The aggregator reads an account's recent window of history only when ``rules.anomaly_window_needed`` says a
change could matter. Here every sequence of spending (any rates, any poll spacing, the usual rate drifting as
the hours pass) is checked record by record against the decision made by always reading the window: wherever
the full read would raise the anomaly, the window was read.
"""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from credit_monitor.alerting import spend
from credit_monitor.alerting.forecast import HistoryPoint
from credit_monitor.alerting.rules import anomaly_window_needed, tally_fields, tally_of
from credit_monitor.alerting.thresholds import AnomalyRule
from credit_monitor.model import AlertState, BalanceItem, format_time

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULE = AnomalyRule(factor=5, floor=50)  # a 10-minute window: two polls at the default interval


def usual_state(per_hour: float = 100.0) -> AlertState:
    """An account whose tally knows two days of spending ``per_hour``: a usual rate, as the hourly count leaves it."""
    hours = {format_time(START - timedelta(hours=h))[:13]: per_hour for h in range(1, 49)}
    tally = spend.Tally(format_time(START), format_time(START - timedelta(hours=49)), hours, {}, ())  # counted from the hour after
    return AlertState(level="ok", spend=tally_fields(tally))


def item(at: datetime, available: float) -> BalanceItem:
    when = format_time(at)
    return BalanceItem("crun", "prod", when, "ok", available, 0, available, fetched_at=when, digest=f"{available:.6f}")


def full_read_alerts(points: list[HistoryPoint], state: AlertState, now: datetime) -> bool:
    """What the aggregator decides when it reads the window at every change (evaluate_anomaly's condition)."""
    usual = spend.usual_rate(tally_of(state), now, RULE.baseline, int(RULE.min_hours))
    recent = spend.totals(points, now - RULE.recent, now).spent / (RULE.recent / spend.HOUR)
    return usual is not None and recent > 0 and recent >= RULE.floor and recent >= RULE.factor * usual


intervals = st.lists(
    st.tuples(st.sampled_from([1, 2, 3, 5, 7, 10, 15, 30]),  # minutes since the last reading
              st.sampled_from([0, 0, 50, 100, 240, 260, 300, 400, 490, 500, 510, 800, 990, 2_000, 20_000])),  # credits an hour
    min_size=1, max_size=40,
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(intervals)
def test_wherever_a_full_read_would_alert_the_window_is_read(sequence):
    state, now, available = usual_state(), START, 1_000_000.0
    points, previous = [HistoryPoint(now, available)], item(now, available)
    for minutes, per_hour in sequence:
        now += timedelta(minutes=minutes)
        available -= per_hour * minutes / 60
        points.append(HistoryPoint(now, available))
        balance = item(now, available)
        state, read = anomaly_window_needed(state, previous, balance, RULE, now)
        if full_read_alerts(points, state, now):
            assert read, f"an anomaly the full read raises at {format_time(now)} was skipped"
            return  # from here an anomaly stands, and every record reads the window
        previous = balance


def test_the_usual_rate_here_is_100_an_hour():
    assert spend.usual_rate(tally_of(usual_state()), START + timedelta(minutes=5), RULE.baseline, int(RULE.min_hours)) == 100


def test_a_usual_account_reads_nothing_and_writes_nothing():
    state, now, available = usual_state(), START, 1_000_000.0
    previous = item(now, available)
    for _ in range(24):  # two hours at the usual 100 an hour, polled every 5 minutes
        now += timedelta(minutes=5)
        available -= 100 / 12
        new, read = anomaly_window_needed(state, previous, item(now, available), RULE, now)
        assert (read, new) == (False, state)
        previous = item(now, available)


def test_a_burst_that_the_next_slow_interval_carries_over_the_line_is_still_read():
    # The line is 500 an hour. 990/h for 5 minutes with nothing before it averages 495/h over the window: no
    # alert yet. The next 5 minutes at 240/h (under half the line) make it 615/h: the full read alerts there.
    state, now = usual_state(), START
    previous = item(now, 1_000_000.0)
    now += timedelta(minutes=5)
    burst = item(now, 1_000_000.0 - 990 / 12)
    state, read = anomaly_window_needed(state, previous, burst, RULE, now)
    assert (read, state.fast_rate) == (True, 990)
    now += timedelta(minutes=5)
    _, read = anomaly_window_needed(state, burst, item(now, float(burst.available) - 240 / 12), RULE, now)
    assert read  # the burst is still in the window: remembered on the alert item
