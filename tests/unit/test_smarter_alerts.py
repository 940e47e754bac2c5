"""The alerting configuration beyond absolute credits: percentages of an account's base, days left,
silences and prices; and what the rules, the digest and the summary make of them (no AWS here)."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from credit_monitor.alerting.digest import DigestRow, render_digest
from credit_monitor.alerting.forecast import BurnForecast
from credit_monitor.alerting.rule_settings import AlertSettings
from credit_monitor.alerting.rules import evaluate_balance, evaluate_forecast, evaluate_silence_end
from credit_monitor.alerting.summary import summarize
from credit_monitor.alerting.thresholds import parse_thresholds, threshold_for
from credit_monitor.errors import PollFailure, ThresholdsError
from credit_monitor.model import AccountResult, AccountSnapshot, AlertState, BalanceItem, FailureKind, Reading
from credit_monitor.polling.confirm import confirm
from devstack import ROOT

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SETTINGS = AlertSettings(hysteresis=0.10)
SCHEMA = json.loads((ROOT / "schemas" / "thresholds.v1.json").read_text())


def balance(available, provider="srtgen", account="prod", allowance=None, unit="credits", polled_at=None):
    at = polled_at or NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    return BalanceItem(provider, account, at, "ok", available, 0, available, unit=unit, allowance=allowance, fetched_at=at)


# -- the document ------------------------------------------------------------------------------------

FULL = {
    "default": {"warning": 500, "critical": 100},
    "srtgen": {"warning_percent": 20, "critical_percent": 5, "percent_of": "allowance"},
    "pixverse/prod": {"warning_percent": 30, "critical_percent": 10, "percent_of": "last_top_up"},
    "openrouter/prod": {"warning": 20, "critical": 5, "warning_days": 7, "critical_days": 2},
    "silences": [
        {
            "provider": "crun",
            "account": "stag*",
            "reason": "vendor migration",
            "until": "2026-11-30T00:00:00Z",
            "levels": ["warning", "critical"],
            "events": ["threshold"],
        }
    ],
    "prices": {"currency": "USD", "sunor": 0.01, "crun/prod": 0.002},
    "labels": {"default": {"team": "platform"}, "pixverse": {"team": "video"}, "crun/stag*": {"env": "staging"}},
    "anomaly": {"default": {"factor": 5, "floor": 50}, "pixverse/prod": {"factor": 10, "recent_minutes": 30}},
}


def test_the_full_format_is_accepted_and_matches_its_json_schema():
    jsonschema.validate(FULL, SCHEMA)
    thresholds = parse_thresholds(json.dumps(FULL))
    assert set(thresholds.rules) == {"default", "srtgen", "pixverse/prod", "openrouter/prod"}
    [silence] = thresholds.silences
    assert (silence.scope, silence.reason, silence.until, silence.levels) == ("crun/stag*", "vendor migration", "2026-11-30T00:00:00Z",
                                                                              ("warning", "critical"))  # fmt: skip
    assert thresholds.prices.currency == "USD"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            {"srtgen": {"warning_percent": 20, "critical_percent": 5, "percent_of": "budget"}},
            "thresholds['srtgen'].percent_of must be one of",
        ),
        ({"srtgen": {"warning_percent": 120, "critical_percent": 5}}, "thresholds['srtgen'].warning_percent must be at most 100"),
        ({"srtgen": {"warning_percent": 5, "critical_percent": 20}}, "critical_percent (20) is above warning_percent (5)"),
        ({"srtgen": {"warning": 5, "critical": 1, "warning_percent": 20, "critical_percent": 5}}, "not both"),
        ({"srtgen": {"warning_days": 7}}, "thresholds['srtgen'].critical_days must be a number >= 0, got null"),
        ({"srtgen": {"warning_days": 2, "critical_days": 7}}, "critical_days (7) is above warning_days (2)"),
        ({"srtgen": {"warning": 5, "critical": 1, "percent_of": "allowance"}}, "percent_of goes with warning_percent"),
        ({"silences": {"provider": "crun"}}, 'thresholds["silences"] must be a list'),
        ({"silences": [{"provider": "crun", "until": "2026-11-30T00:00:00Z"}]}, 'thresholds["silences"][0].reason is required'),
        ({"silences": [{"provider": "crun", "reason": "x"}]}, 'thresholds["silences"][0].until is required'),
        ({"silences": [{"reason": "x", "until": "next week"}]}, "until 'next week' is not an ISO-8601 date-time"),
        ({"silences": [{"reason": "x", "until": "2026-11-30T00:00:00Z", "provider": "Crun"}]}, 'thresholds["silences"][0].provider'),
        ({"silences": [{"reason": "x", "until": "2026-11-30T00:00:00Z", "levels": ["dire"]}]}, 'thresholds["silences"][0].levels'),
        ({"silences": [{"reason": "x", "until": "2026-11-30T00:00:00Z", "events": []}]}, 'thresholds["silences"][0].events'),
        ({"silences": [{"reason": "x", "until": "2026-11-30T00:00:00Z", "why": "?"}]}, "unknown field(s) why"),
        ({"prices": {"sunor": 0.01}}, 'thresholds["prices"].currency must be a currency code'),
        ({"prices": {"currency": "USD", "sunor": 0}}, "thresholds[\"prices\"]['sunor'] must be a number > 0"),
        ({"prices": {"currency": "USD", "sunor": "1c"}}, 'thresholds["prices"][\'sunor\'] must be a number >= 0, got "1c"'),
        ({"prices": {"currency": "USD", "default": 1}}, 'prices"] has no default'),
    ],
)
def test_every_rejection_names_the_key_and_the_field(change, says):
    with pytest.raises(ThresholdsError) as caught:
        parse_thresholds(json.dumps({**FULL, **change}))
    assert says in str(caught.value)


# -- thresholds that follow the account ----------------------------------------------------------------


def test_a_percentage_of_the_allowance_is_taken_of_what_the_provider_reports():
    thresholds = parse_thresholds(json.dumps(FULL))
    found = threshold_for(thresholds, balance(900, allowance=2000), AlertState())
    assert (found.warning, found.critical, found.key) == (400, 100, "srtgen")
    assert found.basis == "20% and 5% of the plan's allowance (2000)"
    unknown = threshold_for(thresholds, balance(900), AlertState())
    assert (unknown.warning, unknown.critical) == (0, 0)
    assert "not known for this account: only depletion alerts" in unknown.basis


def test_a_percentage_of_the_last_top_up_follows_the_balance_after_each_top_up():
    thresholds = parse_thresholds(json.dumps(FULL))
    state, previous = AlertState(), None  # the stream record's old image gives the balance before
    for minute, (available, line) in enumerate([(10_000, 3000), (8_000, 3000), (20_000, 6000), (15_000, 6000)]):
        item = balance(available, provider="pixverse", polled_at=f"2026-11-21T12:0{minute}:00Z")
        assert threshold_for(thresholds, item, state, previous).warning == line
        state, _ = evaluate_balance(state, item, threshold_for(thresholds, item, state, previous), SETTINGS, NOW, previous)
        previous = available


def test_a_percent_threshold_fires_once_and_recovers_with_hysteresis():
    thresholds = parse_thresholds(json.dumps(FULL))
    state, sent = AlertState(), []
    for i, available in enumerate([1000, 399, 300, 390, 420, 441, 450]):
        item = replace(balance(available, allowance=2000), polled_at=f"2026-11-21T12:0{i}:00Z")
        state, events = evaluate_balance(state, item, threshold_for(thresholds, item, state), SETTINGS, NOW)
        sent += [(available, e.event, e.level) for e in events]
    assert sent == [(399, "threshold", "warning"), (441, "recovery", "ok")]  # 400 + 10%: not at 420


def forecast(days_left):
    depletes_at = (NOW + timedelta(days=days_left)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return BurnForecast(burn_per_day=10.0, days_left=days_left, depletes_at=depletes_at)


def test_a_days_left_threshold_fires_once_from_the_forecast_and_recovers_with_hysteresis():
    thresholds = parse_thresholds(json.dumps(FULL))
    item = balance(50, provider="openrouter", unit="USD")  # above its credit lines (20, 5): only the days can move it
    state, _ = evaluate_balance(AlertState(), item, threshold_for(thresholds, item, AlertState()), SETTINGS, NOW)
    sent = []
    for days in (10, 6.5, 6, 1.5, 1.0, 2.1, 2.3, 7.5, 7.8):
        state, events = evaluate_forecast(state, forecast(days), SETTINGS, NOW, threshold_for(thresholds, item, state), 50)
        sent += [(days, e.event, e.level) for e in events]
    assert sent == [(6.5, "threshold", "warning"), (1.5, "threshold", "critical"), (2.3, "recovery", "warning"), (7.8, "recovery", "ok")]


def test_without_day_lines_the_forecast_still_alerts_once_as_before():
    thresholds = parse_thresholds(json.dumps(FULL))
    item = balance(5000, provider="crun")
    state, _ = evaluate_balance(AlertState(), item, threshold_for(thresholds, item, AlertState()), SETTINGS, NOW)
    state, events = evaluate_forecast(state, forecast(2), AlertSettings(forecast_days=3), NOW, threshold_for(thresholds, item, state))
    assert [e.event for e in events] == ["forecast"]


# -- silences ----------------------------------------------------------------------------------------


def test_a_silence_mutes_only_its_accounts_levels_and_events_and_only_until_it_ends():
    [silence] = parse_thresholds(json.dumps(FULL)).silences
    thresholds = parse_thresholds(json.dumps(FULL))
    assert thresholds.silence_for("crun", "staging", "critical", "threshold", NOW) == silence
    assert thresholds.silence_for("crun", "prod", "critical", "threshold", NOW) is None  # another account
    assert thresholds.silence_for("crun", "staging", "depleted", "threshold", NOW) is None  # a level it does not mute
    assert thresholds.silence_for("crun", "staging", "critical", "failure", NOW) is None  # an event it does not mute
    assert thresholds.silence_for("crun", "staging", "critical", "threshold", datetime(2026, 11, 30, tzinfo=UTC)) is None  # over
    assert thresholds.covering("crun", "staging-eu", NOW) == silence
    assert thresholds.expired(datetime(2026, 12, 1, tzinfo=UTC)) == [silence]


def test_the_end_of_a_silence_says_once_what_is_still_wrong():
    held = AlertState(level="critical", failure="auth", silenced_at="2026-11-21T10:00:00Z", silence_reason="migration")
    new, events = evaluate_silence_end(held, still_silenced=False)
    assert [(e.event, e.level, e.reminder) for e in events] == [("threshold", "critical", True), ("failure", "critical", True)]
    assert (new.silenced_at, new.silence_reason) == (None, None)
    assert evaluate_silence_end(new, still_silenced=False) == (new, [])  # once
    assert evaluate_silence_end(held, still_silenced=True) == (held, [])  # not while it lasts
    recovered = replace(held, level="ok", failure=None)
    assert evaluate_silence_end(recovered, still_silenced=False)[1] == []  # nothing left to say


# -- one figure across vendors ---------------------------------------------------------------------


def snapshot(provider, account, available, unit="credits", days_left=None):
    state = AlertState(level="ok", days_left=days_left, depletes_at="2026-11-23T12:00:00Z" if days_left else None)
    return AccountSnapshot(provider, account, balance(available, provider, account, unit=unit), state)


def test_values_and_the_summary_add_up_mixed_units():
    prices = parse_thresholds(json.dumps(FULL)).prices
    accounts = [snapshot("sunor", "a", 950), snapshot("crun", "prod", 3000, days_left=9.5), snapshot("crun", "staging", 100),
                snapshot("openrouter", "prod", 12.25, unit="USD", days_left=2.0), snapshot("pixverse", "prod", 80000)]  # fmt: skip
    found = summarize(accounts, prices)
    assert found.total_value == pytest.approx(9.5 + 6.0 + 12.25)  # 950 x 0.01, 3000 x 0.002, USD as it is
    assert (found.currency, found.priced) == ("USD", 3)
    assert found.unpriced == ["crun/staging", "pixverse/prod"]  # crun's price is for crun/prod only
    assert (found.runs_out_first.provider, found.runs_out_first.account, found.runs_out_first.days_left) == ("openrouter", "prod", 2.0)
    without = summarize(accounts, None)
    assert (without.total_value, without.unpriced, without.runs_out_first.days_left) == (None, [], 2.0)


def test_the_digest_leads_with_the_value_and_lists_the_silences_in_force():
    thresholds = parse_thresholds(json.dumps(FULL))
    rows = [DigestRow(snapshot("sunor", "a", 950), None), DigestRow(snapshot("openrouter", "prod", 12.25, unit="USD", days_left=2.0), None)]
    message = render_digest(rows, NOW, thresholds.prices, list(thresholds.silences))
    assert message.subject == "Credit balances: 2 accounts (2 ok); worth 21.75 USD"
    lines = message.body.splitlines()
    assert lines[2] == "Total value: 21.75 USD"
    assert lines[3].startswith("First to run out: openrouter/prod in 2.0 days")
    assert "sunor/a: 950 credits = 9.50 USD" in message.body
    assert lines[-2:] == ["Silences in force:", "  crun/stag*: vendor migration (until 2026-11-30T00:00:00Z)"]


# -- the second look at a suspicious reading ------------------------------------------------------


def result(account, available=None, failure=None):
    reading = Reading(available=available) if available is not None else None
    return AccountResult(account, "2026-11-21T12:00:00Z", reading=reading, failure=failure)


def test_only_a_zero_or_a_cliff_is_polled_again_and_the_second_reading_wins():
    previous = {"cliff": balance(1000, account="cliff"), "steady": balance(1000, account="steady"), "zero": balance(10, account="zero")}
    asked = []

    def repoll(names):
        asked.append(sorted(names))
        return [result("cliff", 990), result("zero", 0)]

    out = confirm("crun", [result("cliff", 100), result("steady", 600), result("zero", 0)], previous, 0.5, repoll)

    assert asked == [["cliff", "zero"]]  # a 40% fall is ordinary spending; a 90% one and a zero are not
    assert [r.reading.available for r in out] == [990, 600, 0]


def test_a_suspicious_reading_the_second_poll_cannot_confirm_is_a_failed_poll_not_a_balance():
    failure = PollFailure(FailureKind.TIMEOUT, "api.crun.ai did not answer in time")
    [out] = confirm(
        "crun", [result("prod", 0)], {"prod": balance(500, account="prod")}, 0.5, lambda names: [result("prod", failure=failure)]
    )
    assert out.reading is None
    assert out.failure.kind is FailureKind.TIMEOUT
    assert out.failure.message == "a reading of 0 could not be confirmed by a second poll: api.crun.ai did not answer in time"


def test_without_a_drop_threshold_only_zero_is_suspicious():
    out = confirm("crun", [result("prod", 1)], {"prod": balance(1000, account="prod")}, 0, lambda names: pytest.fail("polled again"))
    assert out[0].reading.available == 1


@pytest.mark.parametrize(
    "document",
    [
        {"silences": [{"reason": "x"}]},
        {"srtgen": {"warning_percent": 120, "critical_percent": 5}},
        {"srtgen": {"warning": 5, "critical": 1, "warning_percent": 20, "critical_percent": 5}},
        {"srtgen": {"warning": 5, "critical": 1, "info": 1}},
        {"prices": {"currency": "dollars"}},
        {"Crun": {"warning": 5, "critical": 1}},
        {"labels": {"default": {"Team": "video"}}},
        {"labels": {"pixverse": {"team": "video, audio"}}},
        {"anomaly": {"default": {"factor": 1}}},
        {"anomaly": {"default": {"window": 10}}},
    ],
)
def test_the_json_schema_rejects_what_the_validator_rejects(document):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)
    with pytest.raises(ThresholdsError):
        parse_thresholds(json.dumps(document))


def test_a_balance_that_changes_nothing_writes_nothing():
    thresholds = parse_thresholds(json.dumps(FULL))
    first = balance(1000, provider="crun", polled_at="2026-11-21T12:00:00Z")
    state, _ = evaluate_balance(AlertState(), first, threshold_for(thresholds, first, AlertState()), SETTINGS, NOW)
    same = replace(first, available=990, polled_at="2026-11-21T12:05:00Z")
    again, events = evaluate_balance(state, same, threshold_for(thresholds, same, state, 1000), SETTINGS, NOW, 1000)
    assert (again, events) == (state, [])  # the alert item is not written on every poll
