"""Burn rate and depletion forecast from an account's balance history.

The rate is the credits consumed between consecutive readings over the time those readings cover.
An interval in which the balance rose (a top-up, the monthly refill of pixverse's and srtgen's
allowances) says nothing about spending, since the top-up hides what was used meanwhile, so it is left
out of both the credits and the time; so is an interval across a plan reset (srtgen's ``resets_at``
moved), where a drop is unused allowance expiring rather than being spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from credit_monitor.model import HistoryReading, format_time, parse_time

MIN_SPAN = timedelta(hours=1)  # less history than this says nothing reliable about a daily rate
MIN_POINTS = 3


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    available: float
    reset_marker: tuple = ()


@dataclass(frozen=True)
class BurnForecast:
    burn_per_day: float | None  # None: not enough history
    days_left: float | None  # None: not burning, or not enough history
    depletes_at: str | None


def reset_marker(breakdown: dict) -> tuple:
    """What says an allowance was reset between two readings: the plans' reset times (one moved: a reset)."""
    plans = breakdown.get("plans") or []
    return tuple(sorted(str(p.get("resets_at")) for p in plans if isinstance(p, dict) and p.get("resets_at")))


def point_from_reading(reading: HistoryReading) -> HistoryPoint:
    return HistoryPoint(parse_time(reading.fetched_at), float(reading.available), reset_marker(reading.breakdown))


def burn_rate_per_day(points: list[HistoryPoint]) -> float | None:
    """Credits per day, or None when fewer than MIN_POINTS readings span less than MIN_SPAN of spending."""
    if len(points) < MIN_POINTS:
        return None
    consumed, span = 0.0, timedelta(0)
    for before, after in pairwise(sorted(points, key=lambda p: p.at)):
        if after.available > before.available or after.reset_marker != before.reset_marker:
            continue
        consumed += before.available - after.available
        span += after.at - before.at
    if span < MIN_SPAN:
        return None
    return consumed / (span / timedelta(days=1))


def forecast(points: list[HistoryPoint], available: float, now: datetime) -> BurnForecast:
    rate = burn_rate_per_day(points)
    if rate is None or rate <= 0:
        return BurnForecast(burn_per_day=rate, days_left=None, depletes_at=None)
    days_left = max(0.0, available) / rate
    depletes_at = format_time(now + timedelta(days=days_left))
    return BurnForecast(burn_per_day=round(rate, 3), days_left=round(days_left, 2), depletes_at=depletes_at)
