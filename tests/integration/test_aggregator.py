"""The aggregator end to end: real pollers write balances, the stream reaches the real aggregator
handler, and alerts are read back from an SQS subscription of the SNS topic on the moto server.
"""

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from credit_monitor import aws
from credit_monitor.errors import RunIncomplete
from credit_monitor.model import Reading
from credit_monitor.storage.items import alert_key, balance_key, history_item, round_key
from tests.stack_fixtures import CRUN_KEY as KEY

pytestmark = pytest.mark.integration


def subjects(inbox):
    return [m["subject"] for m in inbox.fetch()]


def test_every_transition_publishes_exactly_one_message(crun, inbox):
    crun.poll_with(1000)
    assert subjects(inbox) == []
    crun.poll_with(450)
    assert subjects(inbox) == ["crun/prod WARNING: 450 credits left"]
    crun.poll_with(400)
    assert subjects(inbox) == []
    crun.poll_with(90)
    assert subjects(inbox) == ["crun/prod CRITICAL: 90 credits left"]
    crun.poll_with(0)
    assert subjects(inbox) == ["crun/prod DEPLETED: 0 credits left"]
    crun.poll_with(5000)
    assert subjects(inbox) == ["crun/prod recovered to OK: 5,000 credits"]


def test_messages_carry_filterable_attributes_and_a_readable_body(crun, inbox):
    crun.poll_with(90)
    [message] = inbox.fetch()
    assert message["attributes"] == {"provider": "crun", "account": "prod", "level": "critical", "event": "threshold"}
    body = message["message"]
    assert body.startswith("crun/prod CRITICAL: 90 credits left (alert at 100)\n")
    assert "Thresholds:     warning at 500, critical at 100" in body
    assert "What to do:" in body


def test_a_balance_hovering_at_the_threshold_does_not_flap(crun, inbox):
    for credits in (1000, 99, 101, 98, 105, 100, 109, 95):
        crun.poll_with(credits)
    assert subjects(inbox) == ["crun/prod CRITICAL: 99 credits left"]
    crun.poll_with(111)  # past 100 + 10%
    assert subjects(inbox) == ["crun/prod recovered to WARNING: 111 credits"]


def test_a_drop_across_levels_sends_one_message_for_the_lowest(crun, inbox):
    crun.poll_with(1000)
    crun.poll_with(20)
    assert subjects(inbox) == ["crun/prod CRITICAL: 20 credits left"]


def test_a_redelivered_batch_publishes_nothing_more(crun, aggregate, inbox):
    crun.poll_with(1000)
    crun.poll_with(80)
    assert len(inbox.fetch()) == 1
    batch = [event for event in aggregate.delivered if "Records" in event][-1]

    for _ in range(3):  # Lambda delivers a batch again after a timeout or a throttle
        assert aggregate.invoke(batch) == {"batchItemFailures": []}
    aggregate.run_machines()

    assert inbox.fetch() == []


def test_when_the_bus_refuses_an_alert_it_waits_in_the_accounts_outbox_and_goes_once_on_redelivery(stack, sims, poll, crun, aggregate,
                                                                                                   monkeypatch):  # fmt: skip
    crun.poll_with(1000)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws.clear_caches()
    stack.throttle("events:PutEvents", times=1)
    sims["crun"].set_balance(KEY, 60)
    poll("crun")

    aggregate.stream(retries=0)

    failed = aggregate.pump.dead_letters  # the balance record (and the round's, behind it in the batch)
    alert = stack.table().get_item(Key=alert_key("crun", "prod"))["Item"]
    assert (alert["level"], len(alert["outbox"])) == ("critical", 1)  # decided once, message kept queued
    inbox = stack.subscribe_inbox("inbox-after-outage")
    events = stack.subscribe_events("events-after-outage", {"source": ["credit-monitor"], "detail-type": ["Credit balance alert"]})
    assert aggregate.invoke({"Records": failed}) == {"batchItemFailures": []}  # Lambda's retry
    assert aggregate.invoke({"Records": failed}) == {"batchItemFailures": []}  # and a duplicate delivery
    aggregate.run_machines()
    assert subjects(inbox) == ["crun/prod CRITICAL: 60 credits left"]
    assert [e["detail"]["subject"] for e in events.fetch()] == ["crun/prod CRITICAL: 60 credits left"]
    assert stack.table().get_item(Key=alert_key("crun", "prod"))["Item"]["outbox"] == {}


def break_sns(stack):
    """Delete the topic: every publish now fails, as during an SNS outage or a broken policy."""
    boto3.client("sns").delete_topic(TopicArn=stack.physical_ids["AlertTopic"])


def mend_sns(stack):
    topic = stack.physical_ids["AlertTopic"]
    assert boto3.client("sns").create_topic(Name=topic.rsplit(":", 1)[1])["TopicArn"] == topic
    return stack.subscribe_inbox("inbox-after-outage")


def test_when_sns_fails_the_message_waits_in_its_group_and_the_scheduled_check_sends_it_once(stack, sims, poll, crun, aggregate):
    crun.poll_with(1000)
    break_sns(stack)
    sims["crun"].set_balance(KEY, 60)
    poll("crun")
    aggregate.stream()  # the alert's event goes; its group's timer flushes it to SNS, which fails, retried, and fails

    [timer] = [e for e in aggregate.executions if e.state_machine == "AlertTimer"]
    assert timer.status == "FAILED"
    inbox = mend_sns(stack)

    aggregate.check()
    aggregate.check()
    aggregate.run_machines()

    assert subjects(inbox) == ["crun/prod CRITICAL: 60 credits left"]


# -- thresholds --------------------------------------------------------------------------------


def test_thresholds_changed_in_ssm_apply_without_a_redeploy(stack, crun, inbox):
    crun.poll_with(1000)
    stack.set_thresholds('{"default": {"warning": 500, "critical": 100}, "crun/prod": {"warning": 2000, "critical": 800}}')
    reset_caches()
    crun.poll_with(990)
    assert subjects(inbox) == ["crun/prod WARNING: 990 credits left"]


def test_malformed_thresholds_alert_once_and_the_last_good_ones_stay_in_force(stack, crun, aggregate, inbox):
    crun.poll_with(1000)
    stack.set_thresholds('{"default": {"warning": "lots", "critical": 100}}')
    reset_caches()
    crun.poll_with(900)
    crun.poll_with(800)
    aggregate.check()
    messages = inbox.fetch()
    assert [m["subject"] for m in messages] == ["Credit monitor: alert thresholds rejected"]
    assert "thresholds['default'].warning must be a number" in messages[0]["message"]
    assert messages[0]["attributes"]["event"] == "configuration"
    assert any("thresholds rejected" in line for line in aggregate.output.getvalue().splitlines())

    crun.poll_with(450)  # the last good thresholds (warning at 500) still decide
    assert subjects(inbox) == ["crun/prod WARNING: 450 credits left"]

    stack.set_thresholds('{"default": {"warning": 500, "critical": 100}}')
    reset_caches()
    crun.poll_with(440)
    assert subjects(inbox) == ["Credit monitor: alert thresholds accepted again"]


def reset_caches():
    """Let the parameter's new value be read now rather than after its one-minute cache."""
    aws.clear_caches()


def refuse_next_publish(stack, monkeypatch):
    """SNS throttles the next publish, and the aggregator's clients make one attempt, so it is refused."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws.clear_caches()
    stack.throttle("sns:Publish", times=1)


def test_a_configuration_alert_that_cannot_be_sent_never_fails_the_balance_records(stack, sims, poll, crun, aggregate, inbox, monkeypatch):
    crun.poll_with(1000)
    stack.set_thresholds('{"default": {"warning": "lots", "critical": 100}}')
    reset_caches()
    break_sns(stack)  # the rejected document's alert cannot be published
    sims["crun"].set_balance(KEY, 900)
    poll("crun")

    records = aggregate.pump.read()
    assert aggregate.invoke({"Records": records}) == {"batchItemFailures": []}  # the balance record went through
    aggregate.run_machines()  # the group's flush: its publish fails, retried, and it stays queued
    inbox = mend_sns(stack)

    assert inbox.fetch() == []
    aggregate.check()  # the configuration alert, kept, is sent by the next check
    assert subjects(inbox) == ["Credit monitor: alert thresholds rejected"]


# -- failures, staleness, forecast ----------------------------------------------------------------


def test_failing_polls_alert_once_naming_the_cause_and_recover_once(sims, crun, poll, aggregate, inbox):
    crun.poll_with(1000)
    sims["crun"].fail(KEY, "auth")
    for _ in range(5):
        poll("crun")
        aggregate.stream()
    messages = inbox.fetch()
    assert [m["subject"] for m in messages] == ["crun/prod polls failing: API key rejected"]
    assert messages[0]["attributes"]["event"] == "failure"
    assert "5 polls in a row" not in messages[0]["message"]  # sent on the third failure
    assert "3 polls in a row" in messages[0]["message"]

    sims["crun"].clear_fault(KEY)
    crun.poll_with(1000)
    assert subjects(inbox) == ["crun/prod polls succeed again: 1,000 credits"]


def age_balance(stack, minutes, *accounts):
    """Make crun's polls look as if the last one was ``minutes`` ago (the poller stopped): its round item and its
    accounts' latest items (an unchanged reading is not written; the round says it was read)."""
    moment = (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stack.table().update_item(Key=round_key("crun"), UpdateExpression="SET last_full_at = :t, started_at = :t, finished_at = :t",
                              ExpressionAttributeValues={":t": moment})  # fmt: skip
    for account in accounts or ("prod",):
        stack.table().update_item(Key=balance_key("crun", account), UpdateExpression="SET fetched_at = :t, polled_at = :t",
                                  ExpressionAttributeValues={":t": moment})  # fmt: skip


def test_a_stale_balance_alerts_once_and_recovers_once(stack, crun, aggregate, inbox):
    crun.poll_with(1000)
    age_balance(stack, 16)  # window: 3 polls x 5 minutes
    aggregate.pump.read()  # that edit is not a poll; Lambda's filter would pass it, but it proves nothing here
    aggregate.check()
    aggregate.check()
    messages = inbox.fetch()
    assert [m["subject"] for m in messages] == ["crun/prod balance stale: last good poll 16 min ago"]
    assert messages[0]["attributes"]["event"] == "stale"

    crun.poll_with(1000)
    aggregate.check()
    assert subjects(inbox) == ["crun/prod balance is fresh again: 1,000 credits"]


def test_a_check_that_cannot_send_one_accounts_alert_checks_the_others_and_reports_the_failure(stack, sims, poll, aggregate, inbox,
                                                                                                monkeypatch):  # fmt: skip
    for account in ("alpha", "beta"):
        sims["crun"].set_balance(f"sk-{account}", 1000)
    stack.put_api_keys("crun", {"alpha": "sk-alpha", "beta": "sk-beta"})
    poll("crun")
    aggregate.stream()
    age_balance(stack, 16, "alpha", "beta")
    aggregate.pump.read()
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws.clear_caches()
    stack.throttle("events:PutEvents", times=1)  # crun/alpha is checked first: its stale alert's event is refused

    with pytest.raises(RunIncomplete, match=r"check finished with 1 failure\(s\): crun/alpha: events did not take .*; it stays queued"):
        aggregate.check()
    aggregate.run_machines()

    # crun/beta was checked all the same; crun/alpha's alert, kept, was sent by the same check's second look
    # (its marker), in time to join beta's notification group: one message for both.
    [message] = inbox.fetch()
    assert message["subject"] == "crun: 2 accounts' balances stale"
    assert "crun/alpha balance stale" in message["message"]
    assert "crun/beta balance stale" in message["message"]
    aggregate.check()  # nothing left to send
    aggregate.run_machines()
    assert inbox.fetch() == []


def test_the_forecast_is_stored_and_alerts_once_despite_a_top_up_and_a_reset(stack, crun, aggregate, inbox):
    crun.poll_with(1000)
    now = datetime.now(UTC)
    store = stack.table()
    # Three days of history: 100 credits a day, a top-up on day two, an allowance reset (srtgen-style
    # plan marker) on day three. Only the steady spending counts.
    values = [1400, 1375, 1350, 1325, 3000, 2975, 2950, 2925, 0, 250, 225, 200]
    for i, credits in enumerate(values):
        fetched = (now - timedelta(hours=6 * (len(values) - i))).strftime("%Y-%m-%dT%H:%M:%SZ")
        plan = "2026-11-01" if i < 8 else "2026-12-01"
        reading = Reading(available=credits, breakdown={"plans": [{"resets_at": plan}]})
        store.put_item(Item=history_item("crun", "prod", fetched, reading, 400))
    # The poller writes the balance (a change): its record on the stream computes the forecast, which is due.
    stack.table().update_item(Key=balance_key("crun", "prod"), UpdateExpression="SET available = :a", ExpressionAttributeValues={":a": 200})

    aggregate.stream()
    aggregate.check()

    alert = store.get_item(Key=alert_key("crun", "prod"))["Item"]
    assert float(alert["burn_per_day"]) == pytest.approx(100)
    assert float(alert["days_left"]) == pytest.approx(2.0)
    messages = inbox.fetch()  # the balance of 200 is also under the warning line: that alert came with it
    forecast, warning = "crun/prod FORECAST: credits run out in 2.0 days", "crun/prod WARNING: 200 credits left"
    assert sorted(m["subject"] for m in messages) == [forecast, warning]
    assert {m["attributes"]["event"] for m in messages} == {"forecast", "threshold"}
    aggregate.check()
    assert inbox.fetch() == []  # once


# -- subscriptions and digest --------------------------------------------------------------------


def test_the_sms_subscription_filter_passes_only_critical_depleted_failure_and_a_test(stack, sims, poll, crun, aggregate):
    # The template's SMS filter policy, with its default levels, on a subscription we can read.
    sms_filter = stack.resolver.resolve(stack.template["Resources"]["AlertSmsSubscription"]["Properties"]["FilterPolicy"])
    assert sms_filter == {"$or": [{"level": ["critical", "depleted"]}, {"event": ["failure", "incident", "test"]}]}
    phone = stack.subscribe_inbox("sms-like", filter_policy=sms_filter)

    for credits in (1000, 450, 90, 0, 2000):
        crun.poll_with(credits)
    sims["crun"].fail(KEY, "auth")
    for _ in range(3):
        poll("crun")
        aggregate.stream()

    assert [(m["attributes"]["event"], m["attributes"]["level"]) for m in phone.fetch()] == [
        ("threshold", "critical"),
        ("threshold", "depleted"),
        ("failure", "ok"),
    ]
    assert all(len(m["message"]) <= 1000 for m in phone.received)


def test_the_digest_summarizes_every_account_in_one_message(stack, sims, poll, crun, aggregate, inbox):
    crun.poll_with(1000)
    sims["sunor"].set_balance("sk-sunor-1", 80)
    stack.put_api_keys("sunor", {"team": "sk-sunor-1"})
    poll("sunor")
    aggregate.stream()
    inbox.fetch()

    assert aggregate.invoke({"task": "digest"}) == {"task": "digest", "accounts": 2}

    [digest] = inbox.fetch()
    assert digest["subject"] == "Credit balances: 2 accounts (1 ok, 1 critical)"
    assert digest["attributes"] == {"provider": "all", "account": "all", "level": "critical", "event": "digest"}
    assert "crun/prod: 1,000 credits (no 24 h history), ok, no forecast" in digest["message"]
    assert "sunor/team: 80 credits (no 24 h history), critical, no forecast" in digest["message"]


def test_an_unknown_task_is_refused(aggregate):
    with pytest.raises(ValueError, match="unknown aggregator task 'dance'"):
        aggregate.invoke({"task": "dance"})
