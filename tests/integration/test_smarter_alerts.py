"""Smarter alerts end to end: silences, thresholds that follow the account, no false "depleted" from a
glitchy reading, and one money figure, through the real poller, aggregator and API on the local stack."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from boto3.dynamodb.conditions import Key

from credit_monitor.model import Reading
from credit_monitor.polling.providers import known_providers
from credit_monitor.storage.items import balance_key, history_item, history_pk
from devstack.invoke import invoke_api, reset_warm_state
from devstack.simulators import Fault, with_available
from tests.stack_fixtures import CRUN_KEY as KEY

pytestmark = pytest.mark.integration

BASE = {"default": {"warning": 500, "critical": 100}}


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def configure(stack, document):
    """Change the alerting configuration, as an operator would, and let the functions see it now."""
    stack.set_thresholds(json.dumps(document))
    reset_warm_state()  # the aggregator reads the parameter at most a minute old; here, at once


def subjects(inbox):
    return [m["subject"] for m in inbox.fetch()]


# -- silences --------------------------------------------------------------------------------------


def test_a_silenced_fall_sends_nothing_and_its_end_sends_one_message(stack, crun, aggregate, inbox):
    events = stack.subscribe_events()
    configure(stack, {**BASE, "silences": [{"provider": "crun", "account": "prod", "reason": "planned vendor migration", "until": at(4)}]})
    crun.poll_with(1000)
    crun.poll_with(90)
    aggregate.check()

    assert subjects(inbox) == []  # silenced: nothing sent
    balance = invoke_api(stack, "/balances/crun/prod").body
    assert balance["alert_level"] == "critical"  # the state still advanced
    assert balance["silence"]["reason"] == "planned vendor migration"

    time.sleep(4.5)  # the silence ends
    aggregate.check()
    aggregate.check()

    end, expired = sorted(inbox.fetch(), key=lambda m: m["subject"], reverse=True)
    assert end["subject"] == "crun/prod still CRITICAL: 90 credits left after a silence"
    assert "A silence held back this account's alerts (planned vendor migration); it is over, and this is still so." in end["message"]
    assert expired["subject"] == "Credit monitor: a silence ended: planned vendor migration"
    assert sorted(e["detail"]["subject"] for e in events.fetch()) == sorted([end["subject"], expired["subject"]])
    assert invoke_api(stack, "/balances/crun/prod").body["silence"] is None
    aggregate.check()
    assert inbox.fetch() == []  # the end and the expired rule are each said once


def test_an_expired_silence_is_ignored_and_reported_once(stack, crun, aggregate, inbox):
    configure(stack, {**BASE, "silences": [{"provider": "crun", "reason": "old maintenance window", "until": at(-3600)}]})
    crun.poll_with(1000)
    crun.poll_with(90)
    aggregate.check()
    aggregate.check()

    assert sorted(subjects(inbox)) == ["Credit monitor: a silence ended: old maintenance window", "crun/prod CRITICAL: 90 credits left"]


def test_a_silence_holds_back_only_its_levels(stack, crun, aggregate, inbox):
    configure(stack, {**BASE, "silences": [{"provider": "crun", "levels": ["warning"], "reason": "known low", "until": at(3600)}]})
    crun.poll_with(1000)
    crun.poll_with(450)
    crun.poll_with(0)
    assert subjects(inbox) == ["crun/prod DEPLETED: 0 credits left"]  # warning held back, depleted not


# -- thresholds that follow the account -------------------------------------------------------------


def test_a_percent_of_the_allowance_fires_once_recovers_with_hysteresis_and_says_why(stack, sims, poll, aggregate, inbox):
    configure(stack, {**BASE, "srtgen": {"warning_percent": 50, "critical_percent": 10, "percent_of": "allowance"}})
    stack.put_api_keys("srtgen", {"prod": "sk-srtgen"})
    for credits in (900, 450, 420, 520, 560):  # the documented plan's monthly allowance is 1,000
        sims["srtgen"].set_balance("sk-srtgen", credits)
        poll("srtgen")
        aggregate.stream()

    assert subjects(inbox) == ["srtgen/prod WARNING: 450 credits left", "srtgen/prod recovered to OK: 560 credits"]
    threshold = invoke_api(stack, "/balances/srtgen/prod").body["threshold"]
    assert (threshold["warning"], threshold["critical"], threshold["key"]) == (500, 100, "srtgen")
    assert threshold["basis"] == "50% and 10% of the plan's allowance (1000)"


def test_a_days_left_threshold_fires_from_the_forecast(stack, crun, aggregate, inbox):
    configure(stack, {**BASE, "crun": {"warning": 50, "critical": 10, "warning_days": 7, "critical_days": 2}})
    crun.poll_with(500)
    now, table = datetime.now(UTC), stack.table()
    for hours in range(72, 0, -6):  # 100 credits a day for three days: 5 days left at 500
        moment = (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        table.put_item(Item=history_item("crun", "prod", moment, Reading(available=500 + hours * 100 / 24), 400))
    # An hour on, the unchanged balance's heartbeat is written: its record computes the forecast, now that there is history.
    hour_ago = (now - timedelta(minutes=61)).strftime("%Y-%m-%dT%H:%M:%SZ")
    table.update_item(Key=balance_key("crun", "prod"), UpdateExpression="SET fetched_at = :t, polled_at = :t",
                      ExpressionAttributeValues={":t": hour_ago})  # fmt: skip
    aggregate.pump.read()  # that edit is not a poll
    crun.poll_with(500)
    aggregate.check()

    [warning] = inbox.fetch()
    assert warning["subject"] == "crun/prod WARNING: 500 credits left"  # 500 credits: far above 50, but 5 days left
    assert "Thresholds:     warning at 50, critical at 10; or 7 and 2 days left" in warning["message"]
    [alert] = invoke_api(stack, "/alerts").body["items"]
    assert (alert["threshold"], alert["threshold_days"]) == (None, 7)
    logged = [json.loads(line) for line in aggregate.output.getvalue().splitlines() if '"account forecast"' in line]
    assert logged[-1]["days_left"] == pytest.approx(5, rel=0.05)  # the dashboard's "Days left per account" reads these lines


# -- no false depleted -----------------------------------------------------------------------------


def test_a_single_glitchy_zero_is_not_stored_nor_alerted_but_a_confirmed_zero_is(stack, sims, crun, poll, aggregate, inbox):
    crun.poll_with(1000)
    sims["crun"].inject(KEY, Fault(body=with_available("crun", 0), times=1))  # one glitchy answer, then the truth

    run = poll("crun")
    aggregate.stream()

    assert invoke_api(stack, "/balances/crun/prod").body["available"] == 1000
    assert subjects(inbox) == []
    history = stack.table().query(KeyConditionExpression=Key("pk").eq(history_pk("crun", "prod")))["Items"]
    assert {int(item["available"]) for item in history} == {1000}  # no zero point in the history
    [logged] = [r for r in run.logs() if r["message"].startswith("reading not confirmed")]
    assert (logged["suspicion"], logged["first"], logged["second"]) == ("a reading of 0", 0, 1000)
    assert len(sims["crun"].requests) >= 3  # the round, the glitch, its re-poll

    crun.poll_with(0)  # zero twice in a row: confirmed
    assert subjects(inbox) == ["crun/prod DEPLETED: 0 credits left"]
    assert invoke_api(stack, "/balances/crun/prod").body["available"] == 0


def test_a_cliff_that_the_second_poll_does_not_see_is_not_stored(stack, sims, crun, poll, aggregate, inbox):
    crun.poll_with(1000)
    sims["crun"].inject(KEY, Fault(body=with_available("crun", 120), times=1))  # an 88% drop, once

    poll("crun")
    aggregate.stream()

    assert invoke_api(stack, "/balances/crun/prod").body["available"] == 1000
    assert subjects(inbox) == []


# -- one money figure ------------------------------------------------------------------------------


def test_values_and_the_summary_add_up_mixed_units(stack, sims, crun, poll, aggregate):
    configure(stack, {**BASE, "prices": {"currency": "USD", "crun": 0.002, "sunor": 0.01}})
    crun.poll_with(3000)
    sims["sunor"].set_balance("sk-sunor", 950, 10)
    sims["openrouter"].set_balance("sk-or", 12.25)
    sims["pixverse"].set_balance("sk-px", 5000)
    stack.put_api_keys("sunor", {"team": "sk-sunor"})
    stack.put_api_keys("openrouter", {"prod": "sk-or"})
    stack.put_api_keys("pixverse", {"prod": "sk-px"})
    for provider in ("sunor", "openrouter", "pixverse"):
        poll(provider)
    aggregate.stream()
    aggregate.check()  # stores the configuration the API reads

    body = invoke_api(stack, "/balances").body
    values = {(b["provider"], b["account"]): b["value"] for b in body["balances"]}
    assert values == {("crun", "prod"): 6.0, ("sunor", "team"): 9.5, ("openrouter", "prod"): 12.25, ("pixverse", "prod"): None}
    summary = body["summary"]
    assert (summary["currency"], summary["total_value"], summary["priced"], summary["unpriced"]) == ("USD", 27.75, 3, ["pixverse/prod"])


def test_a_percent_of_a_half_spent_plan_is_taken_of_the_plans_size_not_of_what_remains(stack, sims, poll, aggregate, inbox):
    """srtgen's totalMonthlyCredits is what remains of the month: its plans' total is the allowance. Half way through
    the month (750 of a 1,000-credit plan plus 250 extra left... 500 of the plan remain), 80% of the plan is a warning."""
    configure(stack, {**BASE, "srtgen": {"warning_percent": 80, "critical_percent": 10, "percent_of": "allowance"}})
    [half] = [e for e in known_providers()["srtgen"].examples if e.name == "half-spent month"]
    sims["srtgen"].set_response("sk-srtgen-plan", half.body)
    stack.put_api_keys("srtgen", {"plan": "sk-srtgen-plan"})
    poll("srtgen")
    aggregate.stream()
    [warning] = inbox.fetch()
    assert warning["subject"] == "srtgen/plan WARNING: 750 credits left"
    assert invoke_api(stack, "/balances/srtgen/plan").body["threshold"]["basis"] == "80% and 10% of the plan's allowance (1000)"
