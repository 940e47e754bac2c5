"""The alert state machine: given an account's alert state and what just happened, the next state and
the messages it calls for. Pure: no AWS, no clock (``now`` is passed in), so every rule is testable.

Levels fall ok -> warning -> critical -> depleted (<= 0). A fall publishes one message for the lowest
level reached; rising publishes one recovery, but only once the balance clears the threshold it fell
through plus a hysteresis margin, so a balance hovering at the line does not flap. An account has no
level until its balance is first read; its first level alerts only if it is not ok.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise

from credit_monitor.alerting import spend
from credit_monitor.alerting.forecast import BurnForecast, HistoryPoint, reset_marker
from credit_monitor.alerting.rule_settings import AlertSettings
from credit_monitor.alerting.thresholds import AnomalyRule, Threshold, top_up_base
from credit_monitor.model import RANK, AlertState, BalanceItem, format_time, parse_time

# Message attribute ``event`` values.
THRESHOLD, RECOVERY, FAILURE, STALE, FORECAST, DIGEST, CONFIGURATION, INCIDENT, ANOMALY = (
    "threshold", "recovery", "failure", "stale", "forecast", "digest", "configuration", "incident", "anomaly",
)  # fmt: skip


@dataclass(frozen=True)
class AlertEvent:
    event: str
    level: str
    previous_level: str | None = None
    reminder: bool = False
    about: str = ""  # what recovered or failed: "level", "polls", "staleness", a failure kind...


def credit_level(available: float, threshold: Threshold, margin: float) -> str:
    """The level the credits say; with ``margin`` > 0 every line is raised by that fraction (to rise past it)."""
    if available <= margin * threshold.critical:
        return "depleted"
    if available <= threshold.critical * (1 + margin):
        return "critical"
    if available <= threshold.warning * (1 + margin):
        return "warning"
    return "ok"


def _days_level(days_left: float | None, threshold: Threshold, margin: float) -> str:
    """The level the forecast says (days-left thresholds); ok without a forecast or day lines."""
    if days_left is None or not threshold.has_days:
        return "ok"
    if days_left <= threshold.critical_days * (1 + margin):
        return "critical"
    if days_left <= threshold.warning_days * (1 + margin):
        return "warning"
    return "ok"


def raw_level(available: float, threshold: Threshold, days_left: float | None = None) -> str:
    return max(credit_level(available, threshold, 0), _days_level(days_left, threshold, 0), key=RANK.__getitem__)


def next_level(current: str | None, available: float, threshold: Threshold, hysteresis: float, days_left: float | None = None) -> str:
    """Falling is immediate; rising leaves a level only when the balance (and the days left) clear its
    lines plus the hysteresis margin."""
    target = raw_level(available, threshold, days_left)
    if current is None or RANK[target] >= RANK[current]:
        return target
    with_margin = max(credit_level(available, threshold, hysteresis), _days_level(days_left, threshold, hysteresis), key=RANK.__getitem__)
    return min(current, with_margin, key=RANK.__getitem__)


def evaluate_level(
    state: AlertState, available: float, days_left: float | None, threshold: Threshold, settings: AlertSettings, now: datetime
) -> tuple[AlertState, list[AlertEvent]]:
    """Move the level to where the balance and the forecast put it; one event per change (or reminder)."""
    level = next_level(state.level, available, threshold, settings.hysteresis, days_left)
    if level != state.level:
        worse = state.level is None or RANK[level] > RANK[state.level]
        events = []
        if level != "ok" or state.level is not None:  # a first reading that is ok is no news
            events.append(AlertEvent(THRESHOLD if worse else RECOVERY, level, state.level_name, about="level"))
        return replace(state, level=level, notified_at=format_time(now) if level != "ok" else None), events
    if level != "ok" and settings.reminder and _due(state.notified_at, settings.reminder, now):
        return replace(state, notified_at=format_time(now)), [AlertEvent(THRESHOLD, level, level, reminder=True, about="level")]
    return state, []


def evaluate_balance(
    state: AlertState, balance: BalanceItem, threshold: Threshold, settings: AlertSettings, now: datetime, previous: float | None = None
) -> tuple[AlertState, list[AlertEvent]]:
    """Apply one latest balance written by a poller (``previous``: the balance before it, when known).

    A balance that changes nothing returns the state as it was: the alert item is written only when
    something it keeps changed, not on every poll (``seen_polled_at`` then moves with the next change).
    """
    if state.seen_polled_at and balance.polled_at < state.seen_polled_at:
        return state, []
    new = replace(state, seen_polled_at=balance.polled_at)
    events: list[AlertEvent] = []

    if balance.available is not None:
        available = float(balance.available)
        new = replace(new, top_up_base=top_up_base(state, available, previous))
        new, events = evaluate_level(new, available, state.days_left, threshold, settings, now)

    if balance.status == "ok":  # a failure is decided with its round (evaluate_failure), knowing whether its provider is down
        if new.failure is not None:
            events.append(AlertEvent(RECOVERY, new.level_name, new.level_name, about="polls"))
            new = replace(new, failure=None)
        if new.stale:
            events.append(AlertEvent(RECOVERY, new.level_name, new.level_name, about="staleness"))
            new = replace(new, stale=False)
    if not events and replace(new, seen_polled_at=state.seen_polled_at) == state:
        return state, []  # nothing to remember: no write
    return new, events


def evaluate_failure(state: AlertState, balance: BalanceItem, settings: AlertSettings) -> tuple[AlertState, list[AlertEvent]]:
    """An account whose polls keep failing: one alert once ``failure_after`` polls in a row failed.

    Decided when its round is assessed (alerting.stream), so that an incident covering its provider's
    outage is known first; recovering is decided with the next good balance (evaluate_balance).
    """
    if balance.status != "error" or state.failure is not None or balance.consecutive_failures < settings.failure_after:
        return state, []
    kind = balance.error_kind or "provider_error"
    return replace(state, failure=kind), [AlertEvent(FAILURE, state.level_name, state.level_name, about=kind)]


def evaluate_silence_end(state: AlertState, still_silenced: bool) -> tuple[AlertState, list[AlertEvent]]:
    """A silence that held back alerts of this account is over: say once what is still wrong, if anything."""
    if state.silenced_at is None or still_silenced:
        return state, []
    new = replace(state, silenced_at=None, silence_reason=None)
    events = []
    if state.level in ("warning", "critical", "depleted"):
        events.append(AlertEvent(THRESHOLD, state.level, state.level, reminder=True, about="silence"))
    if state.failure is not None:
        events.append(AlertEvent(FAILURE, state.level_name, state.level_name, reminder=True, about=state.failure))
    return new, events


def evaluate_staleness(
    state: AlertState, balance: BalanceItem, settings: AlertSettings, now: datetime
) -> tuple[AlertState, list[AlertEvent]]:
    """The scheduled check: has the last good balance grown older than its window?

    (An account already alerted for failing polls is not also alerted as stale: that is the pipeline's
    inhibition, alerting.pipeline, not a rule of the state machine.)
    """
    if not balance.fetched_at:
        return state, []  # never polled successfully: the failure alert covers it
    too_old = now - parse_time(balance.fetched_at) > settings.stale_after
    if too_old and not state.stale:
        return replace(state, stale=True), [AlertEvent(STALE, state.level_name, state.level_name, about="staleness")]
    if not too_old and state.stale:
        return replace(state, stale=False), [AlertEvent(RECOVERY, state.level_name, state.level_name, about="staleness")]
    return state, []


def evaluate_forecast(
    state: AlertState,
    result: BurnForecast,
    settings: AlertSettings,
    now: datetime,
    threshold: Threshold | None = None,
    available: float | None = None,
) -> tuple[AlertState, list[AlertEvent]]:
    """Store the forecast; with days-left thresholds, move the level by it; else alert once when credits
    are forecast to run out within ``forecast_days``."""
    new = replace(state, burn_per_day=result.burn_per_day, days_left=result.days_left, depletes_at=result.depletes_at,
                  forecast_at=format_time(now))  # fmt: skip
    if threshold is not None and threshold.has_days and available is not None:
        return evaluate_level(new, available, result.days_left, threshold, settings, now)
    soon = result.days_left is not None and result.days_left < settings.forecast_days
    if soon and not state.forecast_alerted and state.level != "depleted":
        return replace(new, forecast_alerted=True), [AlertEvent(FORECAST, state.level_name, state.level_name, about="forecast")]
    clear_above = settings.forecast_days * (1 + settings.hysteresis)
    if state.forecast_alerted and (result.days_left is None or result.days_left >= clear_above):
        new = replace(new, forecast_alerted=False)  # re-armed quietly; a later fall alerts again
    return new, []


def evaluate_configuration(state: AlertState, rejected: str | None) -> tuple[AlertState, list[AlertEvent]]:
    """``rejected`` is the digest of a rejected thresholds document, or None when the current one is good."""
    if rejected is not None and state.failure != rejected:
        return replace(state, failure=rejected), [AlertEvent(CONFIGURATION, "warning", about="rejected")]
    if rejected is None and state.failure is not None:
        return replace(state, failure=None), [AlertEvent(RECOVERY, "ok", about="configuration")]
    return state, []


def _due(notified_at: str | None, interval: timedelta, now: datetime) -> bool:
    return notified_at is not None and now - parse_time(notified_at) >= interval


def count_spend(state: AlertState, points: list[HistoryPoint], baseline: timedelta) -> AlertState:
    """The account's spend tally with every interval of ``points`` (history, oldest first) not yet counted.
    Done hourly, with the forecast and from the same read: spend is counted from history, never per record."""
    tally = tally_of(state)
    for before, after in pairwise(points):
        tally = spend.account(tally, before, after, baseline)
    if tally.days == tally_of(state).days and tally.tracked_since == tally_of(state).tracked_since:
        return state  # nothing spent since: no write (an idle account's tally stays as it was)
    return replace(state, spend=tally_fields(tally))


def evaluate_anomaly(state: AlertState, recent: float, spent: float, rule: AnomalyRule | None, now: datetime,
                     since_began: float | None = None) -> tuple[AlertState, list[AlertEvent]]:  # fmt: skip
    """Alert once when the account spends far faster than its usual rate (a leaked key, a runaway job): ``recent``
    credits an hour over the rule's recent window (``spent`` in it), against the mean hourly spend its tally knows.
    Recover once it calms down: under half the line it crossed (``since_began``: spent since the anomaly began,
    for the recovery to say). An account without enough history has no usual rate and raises nothing."""
    if rule is None:
        return state, []
    usual = spend.usual_rate(tally_of(state), now, rule.baseline, int(rule.min_hours))
    if state.anomaly_since is None:
        if usual is not None and recent > 0 and recent >= rule.floor and recent >= rule.factor * usual:
            new = replace(state, anomaly_since=format_time(now), anomaly_rate=round(recent, 6), usual_rate=round(usual, 6),
                          anomaly_spent=round(spent, 6))  # fmt: skip
            return new, [AlertEvent(ANOMALY, state.level_name, state.level_name, about="anomaly")]
        return state, []
    line = max(rule.factor * (state.usual_rate or 0), rule.floor)
    if recent < line / 2:
        total = state.anomaly_spent if since_began is None else round(since_began, 6)
        calm = replace(state, anomaly_since=None, anomaly_rate=round(recent, 6), anomaly_spent=total)
        return calm, [AlertEvent(RECOVERY, state.level_name, state.level_name, about="anomaly")]
    return state, []


def anomaly_window_needed(state: AlertState, previous: BalanceItem | None, balance: BalanceItem, rule: AnomalyRule,
                          now: datetime) -> tuple[AlertState, bool]:  # fmt: skip
    """Whether a changed balance must read the recent window of history to check ``rule``; and the state, which
    remembers a fast interval for as long as it stays in the window.

    The recent rate is the spend of the intervals in the window, spread evenly, over the window: at most the
    rate of the fastest of them (nothing before the first reading counts as 0). So the window can reach the
    line (``max(factor x usual, floor)``) only while an interval at that rate or faster is in it: this record's
    own (the reading it replaced to this one, both in the record), or an earlier one remembered here. Any
    interval at half the line or faster is remembered (the state is written only then), so a usual rate that
    falls at the next hour does not hide it. Everything slower reads nothing: with an anomaly rule, an
    account's usual records cost what they cost without one. Without a usual rate nothing is anomalous."""
    usual = spend.usual_rate(tally_of(state), now, rule.baseline, int(rule.min_hours))
    if usual is None:
        return state, False
    line = max(rule.factor * usual, rule.floor)
    remembered = state.fast_until is not None and now < parse_time(state.fast_until)
    watching = remembered and (state.fast_rate or 0.0) >= line
    rate = _interval_rate(previous, balance)
    if rate is None:  # nothing to tell this interval by: read the window
        return state, True
    if rate > 0 and rate >= line / 2:
        until = parse_time(balance.fetched_at) + rule.recent
        if remembered:
            until, rate_kept = max(until, parse_time(state.fast_until)), max(rate, state.fast_rate or 0.0)
        else:
            rate_kept = rate
        state = replace(state, fast_until=format_time(until), fast_rate=round(rate_kept, 6))
    return state, (rate > 0 and rate >= line) or watching


def _interval_rate(previous: BalanceItem | None, balance: BalanceItem) -> float | None:
    """Credits an hour spent from ``previous`` to ``balance`` (0 for a top-up or a reset); None when it cannot be told."""
    if previous is None or previous.available is None or previous.fetched_at is None or balance.fetched_at is None:
        return None
    before = HistoryPoint(parse_time(previous.fetched_at), float(previous.available), reset_marker(previous.breakdown or {}))
    after = HistoryPoint(parse_time(balance.fetched_at), float(balance.available), reset_marker(balance.breakdown or {}))
    move = spend.movement(before, after)
    if move.reset or move.spent <= 0:
        return 0.0
    hours = (move.end - move.start) / spend.HOUR
    return None if hours <= 0 else move.spent / hours


def tally_of(state: AlertState) -> spend.Tally:
    found = state.spend or {}
    recent = tuple((str(a), str(b), float(c)) for a, b, c in found.get("recent") or [])
    return spend.Tally(found.get("accounted_at"), found.get("tracked_since"), {k: float(v) for k, v in (found.get("hours") or {}).items()},
                       {k: float(v) for k, v in (found.get("days") or {}).items()}, recent)  # fmt: skip


def tally_fields(tally: spend.Tally) -> dict:
    return {"accounted_at": tally.accounted_at, "tracked_since": tally.tracked_since, "hours": tally.hours, "days": tally.days,
            "recent": [list(r) for r in tally.recent]}  # fmt: skip
