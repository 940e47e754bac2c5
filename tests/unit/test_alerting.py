"""The alert state machine: every transition, hysteresis, failures, staleness, forecasts, reminders."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from credit_monitor.alerting.forecast import BurnForecast
from credit_monitor.alerting.pipeline import inhibit
from credit_monitor.alerting.rule_settings import AlertSettings
from credit_monitor.alerting.rules import (
    evaluate_balance,
    evaluate_configuration,
    evaluate_failure,
    evaluate_forecast,
    evaluate_staleness,
    next_level,
    raw_level,
)
from credit_monitor.alerting.thresholds import Threshold
from credit_monitor.model import AlertState, BalanceItem, Incident, IncidentState

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TH = Threshold(warning=500, critical=100)
SETTINGS = AlertSettings()
_polls = iter(range(10**6))


def balance(available=None, status="ok", failures=0, kind=None, fetched_at="2026-11-21T11:59:00Z", polled_at=None):
    """A latest balance as a poller writes it; each one polled a second after the previous."""
    if polled_at is None:
        n = next(_polls)
        polled_at = f"2026-11-21T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
    return BalanceItem(
        provider="crun", account="prod", polled_at=polled_at, status=status, available=available, consecutive_failures=failures,
        error_kind=kind, fetched_at=fetched_at if available is not None else None,
    )  # fmt: skip


poll = balance


def run(balances, state=None, settings=SETTINGS, threshold=TH):
    """Feed a sequence of balances; return the final state and every event as (event, level)."""
    state = state or AlertState()
    seen = []
    for i, available in enumerate(balances):
        state, events = evaluate_balance(state, balance(available, polled_at=f"2026-11-21T10:{i:02d}:00Z"), threshold, settings, NOW)
        seen += [(e.event, e.level) for e in events]
    return state, seen


@pytest.mark.parametrize(
    ("available", "level"),
    [
        (501, "ok"),
        (500, "warning"),
        (101, "warning"),
        (100, "critical"),
        (1, "critical"),
        (0.5, "critical"),
        (0, "depleted"),
        (-3, "depleted"),
    ],
)
def test_levels_by_threshold(available, level):
    assert raw_level(available, TH) == level


def test_each_fall_publishes_once_and_staying_publishes_nothing():
    _, events = run([1000, 400, 400, 350, 90, 90, 0, 0])
    assert events == [("threshold", "warning"), ("threshold", "critical"), ("threshold", "depleted")]


def test_a_fall_across_several_levels_sends_one_message_for_the_lowest():
    _, events = run([1000, 50])
    assert events == [("threshold", "critical")]
    _, events = run([1000, 0])
    assert events == [("threshold", "depleted")]


def test_the_first_reading_already_below_a_threshold_alerts():
    assert run([80])[1] == [("threshold", "critical")]


def test_a_first_reading_that_is_ok_is_no_news_and_sets_the_level():
    state, events = run([1000])
    assert (state.level, events) == ("ok", [])


def polled(state, item, settings=SETTINGS):
    """What one poll does to the state: its balance on the stream, then (a failure) its round's assessment."""
    state, events = evaluate_balance(state, item, TH, settings, NOW)
    state, more = evaluate_failure(state, item, settings)
    return state, events + more


def test_an_account_never_read_has_no_level_and_its_failure_alert_says_unknown():
    state = AlertState()
    for failures in (1, 2, 3):
        state, events = polled(state, balance(None, "error", failures, "auth"))
    assert state.level is None
    assert [(e.event, e.level) for e in events] == [("failure", "unknown")]


def test_a_failure_alert_carries_the_last_known_level():
    state, _ = run([80])
    for failures in (1, 2, 3):
        later = balance(80, "error", failures, "timeout", polled_at=f"2026-11-21T11:0{failures}:00Z")
        state, events = polled(state, later)
    assert [(e.event, e.level) for e in events] == [("failure", "critical")]


def test_a_balance_hovering_at_the_threshold_does_not_flap():
    # critical at 100, 10% hysteresis: back to warning only above 110
    state, events = run([1000, 99, 101, 98, 105, 110, 99, 109])
    assert events == [("threshold", "critical")]
    assert state.level == "critical"


def test_rising_past_threshold_plus_hysteresis_recovers_once():
    _, events = run([1000, 90, 111, 111, 120])
    assert events == [("threshold", "critical"), ("recovery", "warning")]


def test_a_top_up_from_depleted_recovers_straight_to_ok():
    _, events = run([0, 2000])
    assert events == [("threshold", "depleted"), ("recovery", "ok")]


def test_a_partial_top_up_stops_at_the_level_whose_margin_it_clears():
    # from depleted: above 0 + 10% of critical (10) leaves depleted; above 110 leaves critical; 550 leaves warning
    assert next_level("depleted", 5, TH, 0.1) == "depleted"
    assert next_level("depleted", 50, TH, 0.1) == "critical"
    assert next_level("depleted", 200, TH, 0.1) == "warning"
    assert next_level("depleted", 549, TH, 0.1) == "warning"
    assert next_level("depleted", 551, TH, 0.1) == "ok"


def test_hysteresis_is_configurable():
    assert next_level("critical", 104, TH, 0.0) == "warning"
    assert next_level("critical", 140, TH, 0.5) == "critical"


def test_an_older_record_arriving_late_changes_nothing():
    state, _ = evaluate_balance(AlertState(), balance(50, polled_at="2026-11-21T10:05:00Z"), TH, SETTINGS, NOW)
    late = balance(1000, polled_at="2026-11-21T10:00:00Z")
    assert evaluate_balance(state, late, TH, SETTINGS, NOW) == (state, [])


def test_a_redelivered_record_changes_nothing():
    item = balance(50, polled_at="2026-11-21T10:05:00Z")
    state, events = evaluate_balance(AlertState(), item, TH, SETTINGS, NOW)
    assert len(events) == 1
    assert evaluate_balance(state, item, TH, SETTINGS, NOW) == (state, [])


def test_failures_alert_once_after_n_in_a_row_and_recover_once():
    state, seen = AlertState(), []
    for item in [
        poll(800, "error", 1, "auth"),
        poll(800, "error", 2, "auth"),
        poll(800, "error", 3, "auth"),
        poll(800, "error", 4, "timeout"),
        poll(800, "ok"),
        poll(800, "ok"),
    ]:
        state, events = polled(state, item)
        seen += [(e.event, e.about) for e in events]
    assert seen == [("failure", "auth"), ("recovery", "polls")]


def test_the_failure_count_is_configurable():
    settings = replace(SETTINGS, failure_after=1)
    _, events = polled(AlertState(), poll(800, "error", 1, "unreachable"), settings)
    assert [(e.event, e.about) for e in events] == [("failure", "unreachable")]


def test_staleness_alerts_once_and_recovers_once():
    item = balance(800, fetched_at="2026-11-21T11:40:00Z")  # 20 minutes old, window 15
    state, events = evaluate_staleness(AlertState(), item, SETTINGS, NOW)
    assert [e.event for e in events] == ["stale"]
    assert evaluate_staleness(state, item, SETTINGS, NOW) == (state, [])
    fresh = balance(800, fetched_at="2026-11-21T11:58:00Z")
    state, events = evaluate_staleness(state, fresh, SETTINGS, NOW)
    assert [(e.event, e.about) for e in events] == [("recovery", "staleness")]
    assert not state.stale


def test_a_fresh_good_poll_on_the_stream_also_ends_staleness():
    state = AlertState(stale=True)
    state, events = evaluate_balance(state, poll(800), TH, SETTINGS, NOW)
    assert [(e.event, e.about) for e in events] == [("recovery", "staleness")]


def test_an_account_already_failing_is_not_also_reported_stale():
    """An inhibition of the pipeline: the failure alert names the cause; the staleness is not even made."""
    item = balance(800, fetched_at="2026-11-21T09:00:00Z")
    before = AlertState(failure="timeout")
    state, events = evaluate_staleness(before, item, SETTINGS, NOW)
    assert [e.event for e in events] == ["stale"]  # the rule alone would say so
    state, kept = inhibit(before, state, events, IncidentState(), where={})
    assert (kept, state) == ([], before)


def test_an_incident_holds_back_the_failures_of_its_kind_and_not_of_another():
    before = AlertState(level="ok")
    incidents = IncidentState(incidents={"unreachable": Incident("unreachable", "2026-11-21T11:00:00Z", 30, 30)})
    for kind, held in (("unreachable", True), ("auth", False)):
        state, events = evaluate_failure(before, balance(800, "error", 3, kind), SETTINGS)
        state, kept = inhibit(before, state, events, incidents, where={})
        assert (kept == [], state.failure) == ((True, None) if held else (False, kind))


def test_forecast_alerts_once_when_days_left_fall_under_the_limit_and_re_arms_with_margin():
    state, events = evaluate_forecast(AlertState(level="warning"), BurnForecast(100, 2.5, "2026-11-23T00:00:00Z"), SETTINGS, NOW)
    assert [e.event for e in events] == ["forecast"]
    assert (state.days_left, state.burn_per_day, state.forecast_at) == (2.5, 100, "2026-11-21T12:00:00Z")
    state, events = evaluate_forecast(state, BurnForecast(100, 2.0, "x"), SETTINGS, NOW)
    assert events == []
    state, _ = evaluate_forecast(state, BurnForecast(100, 3.1, "x"), SETTINGS, NOW)
    assert state.forecast_alerted  # 3.1 days is inside the 10% margin above 3 days
    state, _ = evaluate_forecast(state, BurnForecast(100, 3.5, "x"), SETTINGS, NOW)
    assert not state.forecast_alerted
    assert [e.event for e in evaluate_forecast(state, BurnForecast(100, 1, "x"), SETTINGS, NOW)[1]] == ["forecast"]


def test_no_forecast_alert_for_a_depleted_account():
    assert evaluate_forecast(AlertState(level="depleted"), BurnForecast(100, 0, "x"), SETTINGS, NOW)[1] == []


def test_reminders_repeat_while_below_when_enabled():
    settings = replace(SETTINGS, reminder=timedelta(hours=24))
    state, events = evaluate_balance(AlertState(), poll(50), TH, settings, NOW)
    assert len(events) == 1
    state, events = evaluate_balance(state, poll(50), TH, settings, NOW + timedelta(hours=23))
    assert events == []
    state, events = evaluate_balance(state, poll(50), TH, settings, NOW + timedelta(hours=24))
    assert [(e.event, e.reminder) for e in events] == [("threshold", True)]


def test_no_reminders_by_default():
    state, _ = evaluate_balance(AlertState(), poll(50), TH, SETTINGS, NOW)
    assert evaluate_balance(state, poll(50), TH, SETTINGS, NOW + timedelta(days=30))[1] == []


def test_a_rejected_configuration_alerts_once_per_document_and_recovers_once():
    state, events = evaluate_configuration(AlertState(), "digest-a")
    assert [e.event for e in events] == ["configuration"]
    assert evaluate_configuration(state, "digest-a")[1] == []
    state, events = evaluate_configuration(state, "digest-b")
    assert [e.event for e in events] == ["configuration"]
    state, events = evaluate_configuration(state, None)
    assert [(e.event, e.about) for e in events] == [("recovery", "configuration")]
    assert evaluate_configuration(state, None)[1] == []
