"""Thresholds documents, burn-rate forecasts, and what alert messages say."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from credit_monitor.alerting.digest import DigestRow, render_digest
from credit_monitor.alerting.forecast import HistoryPoint, burn_rate_per_day, forecast, point_from_reading
from credit_monitor.alerting.messages import SMS_LIMIT, SUBJECT_LIMIT, AccountContext, configuration_message, render
from credit_monitor.alerting.rules import AlertEvent
from credit_monitor.alerting.thresholds import NO_THRESHOLD, Threshold, parse_thresholds
from credit_monitor.errors import ThresholdsError
from credit_monitor.model import AccountSnapshot, AlertState, BalanceItem, HistoryReading

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

# -- thresholds ------------------------------------------------------------------------------------


def test_the_most_specific_key_wins():
    thresholds = parse_thresholds(
        '{"default": {"warning": 500, "critical": 100}, "pixverse": {"warning": 20000, "critical": 5000},'
        ' "pixverse/prod": {"warning": 90000, "critical": 10000}}'
    )
    found = {account: thresholds.for_account(*account.split("/")) for account in ("pixverse/prod", "pixverse/staging", "crun/prod")}
    assert {a: (t.warning, t.critical, t.key) for a, t in found.items()} == {
        "pixverse/prod": (90000, 10000, "pixverse/prod"),
        "pixverse/staging": (20000, 5000, "pixverse"),
        "crun/prod": (500, 100, "default"),
    }


def test_without_a_matching_key_only_depletion_alerts():
    assert parse_thresholds('{"crun": {"warning": 5, "critical": 1}}').for_account("sunor", "x") == NO_THRESHOLD


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"default": 5}', "thresholds['default'] must be an object"),
        ('{"default": {"warning": 5}}', "thresholds['default'].critical must be a number >= 0, got null"),
        ('{"default": {"warning": "500", "critical": 1}}', 'warning must be a number >= 0, got "500"'),
        ('{"default": {"warning": -1, "critical": 0}}', "warning must be a number >= 0, got -1"),
        ('{"default": {"warning": true, "critical": 0}}', "got true"),
        ('{"default": {"warning": 10, "critical": 50}}', "critical (50) is above warning (10)"),
        ('{"default": {"warning": 10, "critical": 5, "info": 1}}', "unknown field(s) info"),
        ('{"Crun/prod": {"warning": 10, "critical": 5}}', "key 'Crun/prod'"),
        ('{"crun/bad name": {"warning": 10, "critical": 5}}', "key 'crun/bad name'"),
        ('{"crun/": {"warning": 10, "critical": 5}}', "key 'crun/'"),
    ],
)
def test_a_malformed_document_names_the_key_and_field(document, says):
    with pytest.raises(ThresholdsError) as caught:
        parse_thresholds(document)
    assert says in str(caught.value)


# -- forecast --------------------------------------------------------------------------------------


def points(values, hours_apart=6, markers=None):
    return [
        HistoryPoint(NOW - timedelta(hours=hours_apart * (len(values) - 1 - i)), v, (markers or {}).get(i, ()))
        for i, v in enumerate(values)
    ]


def test_a_steady_burn_gives_its_daily_rate_and_days_left():
    history = points([1000, 975, 950, 925, 900])  # 25 credits every 6 hours
    assert burn_rate_per_day(history) == pytest.approx(100)
    result = forecast(history, 900, NOW)
    assert result.days_left == pytest.approx(9.0)
    assert result.depletes_at == "2026-11-30T12:00:00Z"


def test_a_top_up_is_not_negative_consumption_nor_time_without_spending():
    history = points([1000, 975, 950, 5000, 4975])  # 25 per 6 h throughout; what was spent before the top-up is unknown
    assert burn_rate_per_day(history) == pytest.approx(100)


def test_a_drop_across_a_plan_reset_is_expired_allowance_not_spending():
    resets = {i: ("2026-11-01",) if i < 2 else ("2026-12-01",) for i in range(5)}
    history = points([1000, 975, 0, 1000, 975], markers=resets)  # allowance expired at the reset, then refilled
    assert burn_rate_per_day(history) == pytest.approx(100)


def test_too_little_history_gives_no_forecast():
    assert burn_rate_per_day(points([1000, 900])) is None
    assert burn_rate_per_day(points([1000, 900, 800], hours_apart=0.1)) is None
    assert forecast(points([1000, 900]), 900, NOW).days_left is None


def test_no_burn_means_no_depletion_date():
    result = forecast(points([500, 500, 500, 600]), 600, NOW)
    assert (result.burn_per_day, result.days_left, result.depletes_at) == (0, None, None)


def test_history_readings_carry_srtgen_plan_resets_as_markers():
    reading = HistoryReading("2026-11-21T10:00:00Z", 5, breakdown={"plans": [{"resets_at": "2026-12-01T00:00:00Z"}]})
    assert point_from_reading(reading).reset_marker == ("2026-12-01T00:00:00Z",)


# -- messages --------------------------------------------------------------------------------------


def context(account="prod", available=87, **state):
    balance = BalanceItem("crun", account, "2026-11-21T11:55:00Z", "ok", available, 3, available + 3, fetched_at="2026-11-21T11:55:00Z")
    return AccountContext(balance, Threshold(500, 100), AlertState(level="critical", **state), NOW)


def test_a_critical_alert_reads_well_in_every_channel():
    message = render(
        AlertEvent("threshold", "critical", "warning", about="level"),
        context(burn_per_day=40.0, days_left=2.2, depletes_at="2026-11-23T16:48:00Z"),
    )
    assert message.subject == "crun/prod CRITICAL: 87 credits left"
    assert message.sms == "crun/prod CRITICAL: 87 credits left (alert at 100)"
    assert message.body.splitlines()[0] == message.sms
    facts = [
        "Provider:", "Account:", "Level:", "critical", "87 credits available, 3 frozen", "warning at 500, critical at 100",
        "40 credits/day", "2.2 (runs out around 2026-11-23T16:48:00Z)", "Last good poll: 2026-11-21T11:55:00Z", "What to do:",
    ]  # fmt: skip
    for fact in facts:
        assert fact in message.body
    assert message.attributes == {"provider": "crun", "account": "prod", "level": "critical", "event": "threshold"}


@pytest.mark.parametrize(
    "event",
    [
        AlertEvent("threshold", "depleted", "ok", about="level"),
        AlertEvent("threshold", "warning", "warning", reminder=True, about="level"),
        AlertEvent("recovery", "ok", "critical", about="level"),
        AlertEvent("recovery", "critical", about="polls"),
        AlertEvent("recovery", "critical", about="staleness"),
        AlertEvent("failure", "critical", about="auth"),
        AlertEvent("stale", "critical", about="staleness"),
        AlertEvent("forecast", "critical", about="forecast"),
    ],
)
def test_subjects_and_sms_fit_their_limits_even_for_the_longest_names(event):
    ctx = context(account="a" * 64, available=123456789.5, burn_per_day=1e6, days_left=0.12, depletes_at="2026-11-21T15:00:00Z")
    message = render(event, ctx)
    assert len(message.subject) <= SUBJECT_LIMIT
    assert message.subject.isascii()
    assert "\n" not in message.subject
    assert len(message.sms) <= SMS_LIMIT
    assert message.attributes["event"] == event.event
    assert message.attributes["level"] == event.level


def test_a_failure_alert_names_the_failure_class_and_what_to_do():
    ctx = context()
    ctx = replace(ctx, balance=replace(ctx.balance, status="error", error_kind="auth", error="crun code 401: Unauthorized",
                                       failing_since="2026-11-21T11:45:00Z", consecutive_failures=3))  # fmt: skip
    message = render(AlertEvent("failure", "critical", about="auth"), ctx)
    assert message.subject == "crun/prod polls failing: API key rejected"
    assert "crun code 401: Unauthorized" in message.body
    assert "3 polls in a row" in message.body
    assert "Check the API key" in message.body


def test_a_failure_alert_for_an_account_never_read_says_so_rather_than_a_balance():
    never_read = BalanceItem(
        "sunor", "legacy", "2026-11-21T11:55:00Z", "error", error_kind="auth", error="sunor code 401", consecutive_failures=3
    )
    message = render(
        AlertEvent("failure", "unknown", "unknown", about="auth"), AccountContext(never_read, Threshold(500, 100), AlertState(), NOW)
    )
    assert message.sms == "sunor/legacy polls failing: API key rejected; no balance read yet"
    assert message.attributes["level"] == "unknown"
    assert "Level:          unknown" in message.body


# -- digest ----------------------------------------------------------------------------------------


def digest_row(account, level, available=100):
    balance = BalanceItem("crun", account, "2026-11-21T11:55:00Z", "ok", available, 0, available, fetched_at="2026-11-21T11:55:00Z")
    return DigestRow(AccountSnapshot("crun", account, balance, AlertState(level=level)), None)


def test_the_digest_counts_each_level_from_the_alert_state_not_from_its_own_text():
    # An account *named* "critical" at level ok must not count as critical; a warning is not "below warning".
    rows = [digest_row("a", "ok"), digest_row("critical", "ok"), digest_row("b", "warning"), digest_row("c", "depleted", 0),
            digest_row("d", None, None)]  # fmt: skip
    message = render_digest(rows, NOW)
    assert message.subject == "Credit balances: 5 accounts (2 ok, 1 warning, 1 depleted, 1 unknown)"
    assert message.attributes["level"] == "depleted"
    assert sum(line.startswith("crun/") for line in message.body.splitlines()) == len(rows)


def test_a_configuration_alert_says_the_last_good_thresholds_stay():
    message = configuration_message(AlertEvent("configuration", "warning"), "/stack/thresholds", "thresholds are not valid JSON")
    assert message.subject == "Credit monitor: alert thresholds rejected"
    assert "last good thresholds stay in force" in message.body
    assert message.attributes["event"] == "configuration"
