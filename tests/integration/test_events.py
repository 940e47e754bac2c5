"""Every sample event in events/ (the ones `sam local invoke -e` uses) runs through its real handler."""

import json

import pytest

from devstack import ROOT
from devstack.invoke import LambdaContext, captured_output, function_environment, invoke_aggregator, invoke_poller, load_handler

pytestmark = pytest.mark.integration

EVENTS = ROOT / "events"


def event(name):
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def crun_prod(stack, sims, poll):
    sims["crun"].set_balance("sk-prod", 640)
    stack.put_api_keys("crun", {"prod": "sk-prod"})
    poll("crun")


def test_there_is_an_event_for_every_trigger():
    names = {p.stem for p in EVENTS.glob("*.json")}
    assert names == {"poller-schedule", "poller-refresh", "aggregator-stream", "aggregator-check", "aggregator-digest",
                     "aggregator-reevaluate", "api-balances", "api-provider", "api-account", "api-history", "api-check",
                     "api-alerts"}  # fmt: skip


@pytest.mark.parametrize("name", ["poller-schedule", "poller-refresh"])
def test_poller_events(crun_prod, stack, sims, name):
    summary = invoke_poller(stack, "crun", event(name), base_url=sims["crun"].base_url)
    assert (summary["polled"], summary["failed"]) == (1, 0)


def test_the_stream_event_raises_the_alert_it_describes(crun_prod, stack, inbox, aggregate):
    assert invoke_aggregator(stack, event("aggregator-stream")) == {"batchItemFailures": []}
    aggregate.run_machines()  # the alert timer: the notification group goes out
    assert [m["subject"] for m in inbox.fetch()] == ["crun/prod CRITICAL: 87 credits left"]


@pytest.mark.parametrize(
    ("name", "task"), [("aggregator-check", "check"), ("aggregator-digest", "digest"), ("aggregator-reevaluate", "reevaluate")]
)
def test_aggregator_schedule_events(crun_prod, stack, name, task):
    assert invoke_aggregator(stack, event(name))["task"] == task


@pytest.mark.parametrize("name", ["api-balances", "api-provider", "api-account", "api-history", "api-check", "api-alerts"])
def test_api_events(crun_prod, stack, name):
    with function_environment(stack.environment("BalanceApiFunction")), captured_output(open("/dev/null", "w")):
        response = load_handler("api").lambda_handler(event(name), LambdaContext("BalanceApiFunction", 10))
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])
