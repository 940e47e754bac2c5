"""One message per incident, grouped messages for people, one record per alert for machines.

A vendor outage fails every account of it in the same round: one incident alert says so, and one all-clear
when it is over, across SNS and the bus; the accounts' own failure alerts are held back. An account of
another vendor failing alone still gets its own. Alerts decided together reach people as one message.
"""

import json
import threading

import boto3
import pytest

from credit_monitor.alerting.service import build as build_alerting
from credit_monitor.alerting.stream import handle_round
from credit_monitor.settings import AggregatorSettings
from credit_monitor.storage import BalanceStore
from devstack.invoke import function_environment, invoke_api

pytestmark = pytest.mark.integration

DOWN = "http://127.0.0.1:9"  # nothing listens there: every request is refused, as when a vendor is down


def keys(count, prefix="acct"):
    return {f"{prefix}-{i:04d}": f"sk-{prefix}-{i:04d}-secret" for i in range(count)}


@pytest.fixture
def fleet(stack, sims):
    def make(count):
        found = keys(count)
        for key in found.values():
            sims["crun"].set_balance(key, 1000)
        stack.put_api_keys("crun", found)
        sims["sunor"].set_balance("sk-sunor-team", 1000)
        stack.put_api_keys("sunor", {"team": "sk-sunor-team"})
        return found

    return make


def messages(inbox):
    return [(m["attributes"]["event"], m["subject"]) for m in inbox.fetch()]


def alert_events(events):
    return [(e["detail"]["event"], e["detail"]["provider"], e["detail"]["account"]) for e in events.fetch()]


def round_of(poll, aggregate, *, crun_down=False, redeliver=True):
    poll("crun", base_url=DOWN if crun_down else None)
    poll("sunor")
    aggregate.stream()
    if redeliver:  # Lambda may deliver a batch again: nothing is sent twice
        for batch in [e for e in aggregate.delivered if "Records" in e][-2:]:
            aggregate.invoke(batch)
        aggregate.run_machines()


@pytest.mark.parametrize("count", [30, 1000])
def test_a_vendor_outage_is_one_incident_and_one_all_clear_an_account_failing_alone_its_own(stack, sims, poll, aggregate, inbox, fleet,
                                                                                            count):  # fmt: skip
    events = stack.subscribe_events("incident-events")
    fleet(count)
    redeliver = count <= 100  # at a thousand accounts, the redeliveries are the small fleet's test (moto is slow)
    round_of(poll, aggregate, redeliver=redeliver)
    sims["sunor"].fail("sk-sunor-team", "auth")
    for _ in range(3):  # FailureAlertAfter: the third failing round alerts
        round_of(poll, aggregate, crun_down=True, redeliver=redeliver)

    assert messages(inbox) == [
        ("incident", f"crun INCIDENT: {count:,} of {count:,} accounts polls failing: provider unreachable"),
        ("failure", "sunor/team polls failing: API key rejected"),
    ]
    assert sorted(alert_events(events)) == [("failure", "sunor", "team"), ("incident", "crun", "*")]
    [incident] = invoke_api(stack, "/alerts", {"provider": "crun"}).body["items"]
    facts = (incident["account"], incident["error_kind"], incident["condition"], incident["resolved"])
    assert facts == ("*", "unreachable", "incident", False)

    if redeliver:
        round_of(poll, aggregate, crun_down=True)  # still down: nothing more
        assert messages(inbox) == []

    sims["sunor"].clear_fault("sk-sunor-team")
    round_of(poll, aggregate, redeliver=redeliver)  # the vendor is back
    assert messages(inbox) == [
        ("incident", "crun incident over: provider unreachable"),
        ("recovery", "sunor/team polls succeed again: 1,000 credits"),
    ]
    assert sorted(alert_events(events)) == [("incident", "crun", "*"), ("recovery", "sunor", "team")]
    if redeliver:
        round_of(poll, aggregate)
        assert messages(inbox) == []


def test_accounts_still_failing_when_an_incident_ends_get_their_own_alerts_as_one_message(stack, sims, poll, aggregate, inbox, fleet):
    accounts = fleet(30)
    events = stack.subscribe_events("incident-events")
    round_of(poll, aggregate)
    for _ in range(3):
        round_of(poll, aggregate, crun_down=True)
    inbox.fetch()
    events.fetch()
    revoked = list(accounts.values())[:5]
    for key in revoked:  # the vendor comes back, but these five keys were revoked meanwhile
        sims["crun"].fail(key, "auth")

    round_of(poll, aggregate)

    [over, group] = messages(inbox)
    assert over == ("incident", "crun incident over: provider unreachable")
    assert group == ("failure", "crun: 5 accounts' polls failing")  # people: one message for the five
    assert sorted(alert_events(events)) == [("failure", "crun", f"acct-{i:04d}") for i in range(5)] + [("incident", "crun", "*")]


def test_two_unlucky_accounts_are_not_an_incident(stack, sims, poll, aggregate, inbox, fleet):
    accounts = fleet(30)
    round_of(poll, aggregate)
    for key in list(accounts.values())[:2]:
        sims["crun"].fail(key, "auth")
    for _ in range(3):
        round_of(poll, aggregate)
    assert [event for event, _ in messages(inbox)] == ["failure"]  # the two accounts' alerts, as one message
    alerts = invoke_api(stack, "/alerts", {"provider": "crun"}).body["items"]
    assert sorted(a["account"] for a in alerts) == ["acct-0000", "acct-0001"]


def test_racing_aggregators_assess_a_round_once(stack, poll, aggregate, inbox, fleet):
    fleet(30)
    with function_environment(stack.environment("Aggregator")):
        settings = AggregatorSettings.from_env()
    table = boto3.resource("dynamodb").Table(settings.storage.table_name)
    for _ in range(2):  # two rounds of the outage, assessed as they come
        poll("crun", base_url=DOWN)
        handle_round(build_alerting(settings, table), BalanceStore(stack.table()).last_round("crun"))
    poll("crun", base_url=DOWN)
    third = BalanceStore(stack.table()).last_round("crun")
    aggregate.pump.read()  # the rounds' records are not delivered: the race is on the third alone
    # Ten containers (each its own clients and lease owner) assess the third round's record at once.
    containers = [build_alerting(settings, table) for _ in range(10)]
    barrier, errors = threading.Barrier(len(containers)), []

    def run(service):
        try:
            barrier.wait()
            handle_round(service, third)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    aggregate.run_machines()

    assert errors == []
    assert messages(inbox) == [("incident", "crun INCIDENT: 30 of 30 accounts polls failing: provider unreachable")]


def test_alerts_decided_together_reach_people_as_one_message_and_machines_one_each(stack, sims, poll, aggregate, inbox, fleet):
    accounts = fleet(25)
    events = stack.subscribe_events("group-events")
    round_of(poll, aggregate)
    for key in accounts.values():  # a shared allowance reset: every account under the warning line at once
        sims["crun"].set_balance(key, 400)

    round_of(poll, aggregate)

    [(event, subject)] = messages(inbox)
    assert (event, subject) == ("threshold", "crun: 25 accounts WARNING")
    assert len(alert_events(events)) == 25
    assert len(invoke_api(stack, "/alerts", {"provider": "crun", "limit": "100"}).body["items"]) == 25


def test_a_grouped_message_lists_the_first_accounts_and_counts_the_rest(stack, sims, poll, aggregate, fleet):
    accounts = fleet(25)
    inbox = stack.subscribe_inbox("group-inbox")
    round_of(poll, aggregate)
    for key in accounts.values():
        sims["crun"].set_balance(key, 400)
    round_of(poll, aggregate)
    [message] = inbox.fetch()
    lines = message["message"].splitlines()
    listed = [line for line in lines if line.startswith("- crun/")]
    assert len(listed) == 20
    assert "- and 5 more (GET /alerts?provider=crun lists every one)" in lines
    assert message["attributes"]["account"] == "*"
    assert len(json.dumps(message)) < 16_000  # bounded whatever the fleet: SNS takes at most 256 KB
