"""Spend: what a balance lost between confirmed readings, and how fast.

Pure. A fall between two readings is spend; a rise is a top-up; a change across an allowance reset (a
plan's reset time moved, srtgen-style) is neither, since the unused allowance expiring is not spending and
the refill is not a purchase. Glitches never get here: a suspicious reading is polled again before it is
stored (polling.confirm). Spend within an interval is taken as even over it, so it can be counted per
hour and per day, and for any window.

Two uses:

- **Reports** (GET /spend, ``credit-monitor spend``, the digest): spend and top-ups over a time range, from
  the account's history (a reading when it changed, and hourly otherwise);
- **Anomalies**: the aggregator keeps, on each account's alert item, its spend per hour over the baseline
  window, per day for a month, and the last intervals, counted hourly from the history it reads for the
  forecast; the usual rate comes from that tally. A balance record reads the recent window of history only
  when its own interval (the reading it replaced to this one) spends at the anomaly line or faster, or an
  anomaly stands: an account's usual records cost no more with an anomaly rule than without.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from credit_monitor.alerting.forecast import HistoryPoint
from credit_monitor.model import format_time, parse_time

HOUR = timedelta(hours=1)
DEFAULT_BASELINE = timedelta(days=7)  # hours kept without an anomaly rule (the digest needs only days)
DAYS_KEPT = 35  # spend per day, for the digest's week and month
RECENT_KEPT = timedelta(hours=6)  # intervals kept for the recent rate (its window is at most this)


@dataclass(frozen=True)
class Movement:
    start: datetime
    end: datetime
    spent: float = 0.0
    topped_up: float = 0.0
    reset: bool = False


def movement(before: HistoryPoint, after: HistoryPoint) -> Movement:
    if after.reset_marker != before.reset_marker:
        return Movement(before.at, after.at, reset=True)
    change = after.available - before.available
    return Movement(before.at, after.at, spent=max(0.0, -change), topped_up=max(0.0, change))


def spread(move: Movement, since: datetime, until: datetime) -> float:
    """The part of ``move``'s spend that falls within [since, until), taken as even over the interval."""
    if move.spent <= 0 or move.end <= since or move.start >= until:
        return 0.0
    length = (move.end - move.start).total_seconds()
    if length <= 0:
        return move.spent if since <= move.end < until else 0.0
    overlap = (min(move.end, until) - max(move.start, since)).total_seconds()
    return move.spent * max(0.0, overlap) / length


@dataclass(frozen=True)
class Totals:
    spent: float = 0.0
    topped_up: float = 0.0
    resets: int = 0


def totals(readings: Iterable[HistoryPoint], since: datetime, until: datetime) -> Totals:
    """Spend, top-ups and resets between ``since`` and ``until``; ``readings`` sorted by time, from the one at
    or before ``since`` (what the balance was then) on."""
    spent = topped = 0.0
    resets = 0
    for before, after in pairwise(readings):
        move = movement(before, after)
        if move.reset:
            resets += since <= move.end <= until
            continue
        spent += spread(move, since, until)
        if since < move.end <= until:
            topped += move.topped_up
    return Totals(round(spent, 6), round(topped, 6), resets)


# -- what the aggregator keeps per account -----------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """An account's recent spending, as its alert item keeps it (bounded whatever it does)."""

    accounted_at: str | None = None  # the newest reading counted: a record redelivered or older is not counted again
    tracked_since: str | None = None  # when counting began (a baseline needs enough of it)
    hours: dict[str, float] = field(default_factory=dict)  # "YYYY-MM-DDTHH" -> spend, within the baseline window (0 left out)
    days: dict[str, float] = field(default_factory=dict)  # "YYYY-MM-DD" -> spend, DAYS_KEPT of them
    recent: tuple[tuple[str, str, float], ...] = ()  # (start, end, spend) of the intervals of the last hours


def account(tally: Tally, before: HistoryPoint, after: HistoryPoint, baseline: timedelta) -> Tally:
    """The tally with the interval from ``before`` to ``after`` counted (once: ``after`` newer than what was)."""
    end = format_time(after.at)
    if tally.accounted_at is not None and end <= tally.accounted_at:
        return tally
    move = movement(before, after)
    hours, days = dict(tally.hours), dict(tally.days)
    kept_after = format_time(after.at - RECENT_KEPT)  # stored times are fixed-width: their text sorts as time does
    recent = [r for r in tally.recent if r[1] > kept_after]
    if move.spent > 0:
        moment = move.start.replace(minute=0, second=0, microsecond=0)
        while moment < move.end:
            part = spread(move, moment, moment + HOUR)
            if part:
                hours[_hour(moment)] = round(hours.get(_hour(moment), 0.0) + part, 6)
                day = _day(moment)
                days[day] = round(days.get(day, 0.0) + part, 6)
            moment += HOUR
        recent.append((format_time(move.start), end, round(move.spent, 6)))
    oldest_hour = _hour(after.at - baseline)
    oldest_day = _day(after.at - timedelta(days=DAYS_KEPT))
    return Tally(end, tally.tracked_since or format_time(before.at), {k: v for k, v in hours.items() if k >= oldest_hour},
                 {k: v for k, v in days.items() if k >= oldest_day}, tuple(recent))  # fmt: skip


def recent_rate(tally: Tally, now: datetime, window: timedelta) -> float:
    """Credits per hour over the last ``window``."""
    spent = sum(spread(Movement(parse_time(start), parse_time(end), spent), now - window, now + timedelta(seconds=1))
                for start, end, spent in tally.recent)  # fmt: skip
    return spent / (window / HOUR)


def usual_rate(tally: Tally, now: datetime, baseline: timedelta, min_hours: int) -> float | None:
    """The mean hourly spend over the baseline window before the current hour (the hours counting began in
    and after): None without ``min_hours`` of it. The mean, not the median: an account that spends in a burst
    a day has a median of 0, and every burst would look like a leak."""
    if tally.tracked_since is None:
        return None
    current = now.replace(minute=0, second=0, microsecond=0)
    start = max(current - baseline, parse_time(tally.tracked_since).replace(minute=0, second=0) + HOUR)
    covered = int((current - start) / HOUR)
    if covered < min_hours:
        return None
    first, last = _hour(start), _hour(current)
    return sum(v for k, v in tally.hours.items() if first <= k < last) / covered


def spent_days(tally: Tally, now: datetime, days: int) -> float:
    """Spend over the last ``days`` days, today included (the digest's week and month)."""
    oldest = _day(now - timedelta(days=days - 1))
    return round(sum(v for k, v in tally.days.items() if k >= oldest), 6)


def _hour(moment: datetime) -> str:
    """The hour a tally keys a moment's spend by: the stored time cut to the hour (``2026-11-21T08``)."""
    return format_time(moment)[:13]


def _day(moment: datetime) -> str:
    """The day a tally keys a moment's spend by: the stored time cut to the day (``2026-11-21``)."""
    return format_time(moment)[:10]
