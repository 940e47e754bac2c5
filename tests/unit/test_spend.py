"""Spend: falls are spent, rises are top-ups, resets are neither; counted evenly over each interval."""

from datetime import UTC, datetime, timedelta

import pytest

from credit_monitor.alerting import spend
from credit_monitor.alerting.forecast import HistoryPoint

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def at(hours, available, marker=()):
    return HistoryPoint(T0 + timedelta(hours=hours), available, marker)


def test_a_fall_is_spent_a_rise_is_topped_up_and_a_reset_is_neither():
    assert spend.movement(at(0, 100), at(1, 60)) == spend.Movement(T0, T0 + timedelta(hours=1), spent=40)
    assert spend.movement(at(0, 100), at(1, 160)).topped_up == 60
    assert spend.movement(at(0, 100, ("a",)), at(1, 1000, ("b",))).reset


def test_spend_is_taken_as_even_over_its_interval():
    points = [at(0, 100), at(4, 60)]  # 10 an hour
    assert spend.totals(points, T0 + timedelta(hours=1), T0 + timedelta(hours=3)).spent == pytest.approx(20)


def test_totals_over_a_range_with_a_top_up_and_a_reset():
    points = [at(0, 1000, ("a",)), at(1, 800, ("a",)), at(2, 1300, ("a",)), at(3, 1200, ("a",)), at(4, 5000, ("b",))]
    found = spend.totals(points, T0, T0 + timedelta(hours=4))
    assert (found.spent, found.topped_up, found.resets) == (300, 500, 1)


def test_a_reading_counted_once_is_not_counted_again():
    tally = spend.account(spend.Tally(), at(0, 100), at(1, 40), timedelta(days=7))
    again = spend.account(tally, at(0, 100), at(1, 40), timedelta(days=7))
    assert again == tally
    assert tally.days == {"2026-11-02": 60}
    assert tally.hours == {"2026-11-02T08": 60}


def test_the_usual_rate_needs_enough_hours_and_is_their_mean():
    tally = spend.Tally()
    for hour in range(30):
        tally = spend.account(tally, at(hour, 1000 - 10 * hour), at(hour + 1, 1000 - 10 * (hour + 1)), timedelta(days=7))
    assert spend.usual_rate(tally, T0 + timedelta(hours=10), timedelta(days=7), min_hours=24) is None  # 9 hours known
    assert spend.usual_rate(tally, T0 + timedelta(hours=30, minutes=30), timedelta(days=7), min_hours=24) == pytest.approx(10)


def test_the_recent_rate_counts_only_its_window():
    tally = spend.account(spend.Tally(), at(0, 1000), at(1, 900), timedelta(days=7))
    tally = spend.account(tally, at(1, 900), at(1 + 5 / 60, 800), timedelta(days=7))  # 100 in five minutes
    rate = spend.recent_rate(tally, T0 + timedelta(hours=1, minutes=5), timedelta(minutes=10))
    assert rate == pytest.approx((100 + 100 * 5 / 60) * 6)  # 100 in the last 5 min, and 5 min of the 100 an hour before
