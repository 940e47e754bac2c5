"""AWS faults (throttling injected at the moto server), overlapping runs, and a leak scan of the whole story."""

import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import time

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from credit_monitor.alerting.service import build as build_alerting
from credit_monitor.alerting.stream import handle_balance
from credit_monitor.polling.providers import add_definitions, get_provider, remove_definitions
from credit_monitor.settings import AggregatorSettings
from credit_monitor.storage import BalanceStore
from credit_monitor.storage.items import history_pk
from devstack import ROOT
from devstack.invoke import function_environment, invoke_api, invoke_poller
from devstack.moto_stack import LocalStack
from devstack.simulators import Fault, ProviderSimulator, example_response
from devstack.template import every_provider
from tests.leak_scan import leaked
from tests.stack_fixtures import ROUTING_KEY, WEBHOOK_TOKEN

pytestmark = pytest.mark.integration


def crun_accounts(stack, sims, balances=(("prod", 1000), ("staging", 80))):
    for account, credits in balances:
        sims["crun"].set_balance(f"sk-{account}", credits)
    stack.put_api_keys("crun", {account: f"sk-{account}" for account, _ in balances})


# -- AWS faults: retried with backoff, no lost write, no lost or duplicated alert -----------------


@pytest.mark.parametrize("operation", ["dynamodb:BatchWriteItem", "dynamodb:Query", "secretsmanager:GetSecretValue"])
def test_a_throttled_poll_round_still_stores_everything(stack, sims, poll, balances, operation):
    crun_accounts(stack, sims)
    stack.throttle(operation, times=2)
    stack.calls.clear()

    run = poll("crun")

    assert run.summary["succeeded"] == 2
    assert {a: i["available"] for a, i in balances.latest("crun").items()} == {"prod": 1000, "staging": 80}
    assert stack.calls[operation] >= 3  # two throttled, then through
    assert len(balances.history("crun", "prod")) == 1


@pytest.mark.parametrize(
    "operation",
    ["sns:Publish", "events:PutEvents", "ssm:GetParameter", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:TransactWriteItems"],
)
def test_a_throttled_alert_path_still_sends_exactly_one_message_and_one_event(stack, sims, poll, aggregate, inbox, operation):
    crun_accounts(stack, sims)
    events = stack.subscribe_events()
    poll("crun")
    stack.throttle(operation, times=2)
    stack.calls.clear()

    aggregate.stream()

    assert [m["subject"] for m in inbox.fetch()] == ["crun/staging CRITICAL: 80 credits left"]
    assert [e["detail"]["subject"] for e in events.fetch()] == ["crun/staging CRITICAL: 80 credits left"]
    assert stack.calls[operation] >= 3
    assert aggregate.pump.dead_letters == []


# -- races ----------------------------------------------------------------------------------------


def subjects(inbox):
    return [m["subject"] for m in inbox.fetch()]


def test_twenty_concurrent_aggregators_on_the_same_record_publish_once(stack, crun, inbox, aggregate):
    events = stack.subscribe_events()
    crun.poll_with(1000)
    latest = BalanceStore(stack.table()).latest("crun")["prod"]
    item = dataclasses.replace(latest, available=40, polled_at="2099-01-01T00:00:00Z")
    with function_environment(stack.environment("Aggregator")):
        settings = AggregatorSettings.from_env()
    # Twenty containers: each its own Aggregator, clients and lease owner, racing on one record.
    containers = [build_alerting(settings, boto3.resource("dynamodb").Table(settings.storage.table_name)) for _ in range(20)]
    barrier = threading.Barrier(len(containers))
    published, errors = [], []

    def run(container):
        try:
            barrier.wait()
            published.append(handle_balance(container, item))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(published) == [0] * 19 + [1]
    aggregate.run_machines()  # the notification group's timer: people get it once too
    assert subjects(inbox) == ["crun/prod CRITICAL: 40 credits left"]
    [event] = events.fetch()  # one event too, with the alert's id as GET /alerts shows it
    [sent] = invoke_api(stack, "/alerts").body["items"]
    assert event["detail"]["alert_id"] == sent["alert_id"]


def run_child(stack, sims, accounts):
    env = {**os.environ, **stack.environment(stack.pollers()["crun"], PROVIDER_BASE_URL=sims["crun"].base_url),
           "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "bench.child", str(accounts)], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def test_overlapping_poller_runs_leave_a_consistent_latest_state_and_intact_history(stack, sims, balances):
    crun_accounts(stack, sims, [("prod", 1000)])
    sims["crun"].inject("sk-prod", Fault(delay=2.5, body=example_response("crun"), times=1))  # the first run's answer is slow
    slow = run_child(stack, sims, 1)  # two containers, two processes, as Lambda runs overlapping invocations
    time.sleep(1.0)
    sims["crun"].set_balance("sk-prod", 900)
    fast = run_child(stack, sims, 1)

    assert fast.wait(60) == 0
    assert slow.wait(60) == 0

    latest = balances.latest("crun")["prod"]
    history = stack.table().query(KeyConditionExpression=Key("pk").eq(history_pk("crun", "prod")))["Items"]
    newest = max(history, key=lambda item: item["sk"])
    assert latest["status"] == "ok"
    assert latest["polled_at"] == newest["sk"]  # the latest state is the newest poll, whichever run finished last
    assert latest["available"] == newest["available"]
    assert {int(item["available"]) for item in history} <= {1000, 900}
    assert len({item["sk"] for item in history}) == len(history) == 2  # each run kept its own point, neither overwrote


# -- leak scan --------------------------------------------------------------------------------------

# The scans look for any run of 8 characters of a canary (tests/leak_scan.py): a key cut in half is a leak.
# So canaries are random-looking: a run of "LEAKCANARY-pixverse-prod" would match the provider's own name.
CANARY_NAME, CANARY_EMAIL = "Canary Qzxperson", "qzx.canary@leakscan7f2d.test"


def canary_key(*names: str) -> str:
    return "LEAKCANARY" + hashlib.sha256("/".join(names).encode()).hexdigest()[:30]


def test_no_key_or_personal_data_leaks_anywhere_in_the_whole_story(stack, sims, poll, aggregate, inbox, router, webhooks):
    stack.set_thresholds(json.dumps({"default": {"warning": 500, "critical": 100}, "openrouter": {"warning": 20, "critical": 5}}))
    events = stack.subscribe_events()
    srtgen_example = example_response("srtgen")
    srtgen_example["user"] = {"name": CANARY_NAME, "email": CANARY_EMAIL}
    seen, canaries = [], [CANARY_NAME, CANARY_EMAIL, "LEAKCANARY-broken-secret"]
    for provider, sim in sims.items():
        keys = {account: canary_key(provider, account) for account in ("prod", "low", "revoked")}
        canaries += keys.values()
        sim.set_balance(keys["prod"], 1000)
        sim.set_balance(keys["low"], 3)
        if provider == "srtgen":
            sim.set_response(keys["prod"], srtgen_example)
        # The provider echoes the key in its error message, as some do: where the message is cut, and in part.
        key = keys["revoked"]
        echo = f"{'x' * 150} invalid key {key} (it starts {key[:14]})"
        sim.inject(key, Fault(status=401, body={"code": 401, "message": echo, "error": {"code": 401, "message": echo}}))
        stack.put_api_keys(provider, keys)
    for _ in range(3):  # three rounds: the revoked keys reach their failure alert
        for provider in sims:
            run = poll(provider)
            seen += [run.output, json.dumps(run.summary)]
        aggregate.stream()
    broken = '{"prod": "' + canary_key("broken secret") + '" '
    stack.put_api_keys("crun", broken)  # a malformed secret: the error must not quote it
    from credit_monitor import aws  # noqa: PLC0415

    aws.clear_caches()
    seen.append(json.dumps(poll("crun").summary))
    seen.append(json.dumps(aggregate.check()))
    seen.append(json.dumps(aggregate.invoke({"task": "digest"})))
    for provider in sims:
        for path in ("", "/prod", "/revoked", "/low/history", "/low/check?required=10"):
            route, _, query = f"/balances/{provider}{path}".partition("?")
            seen.append(json.dumps(invoke_api(stack, route, dict([query.split("=")]) if query else None).body))
    seen.append(json.dumps(invoke_api(stack, "/balances").body))
    seen.append(json.dumps(invoke_api(stack, "/alerts").body))
    router.deliver()  # the alerts reach chat and every webhook: the channels' secrets must stay in the connections
    # What the webhooks were sent (PagerDuty's routing key is the one secret its endpoint must receive).
    seen.append(json.dumps([{k: v for k, v in r.body.items() if k != "routing_key"} for r in webhooks.received]))
    seen.append(aggregate.output.getvalue())
    seen.append(json.dumps(inbox.fetch() + inbox.received))
    seen.append(json.dumps(events.fetch()))
    seen.append(json.dumps(stack.table().scan()["Items"], default=str))
    [described] = boto3.client("cloudformation").describe_stacks(StackName=stack.stack_name)["Stacks"]
    seen.append(json.dumps(described.get("Outputs", []), default=str))
    everything = "\n".join(seen)

    assert leaked(everything, canaries) == []  # no run of 8 characters of any key, of the name or of the email
    assert {token: everything.count(token) for token in (WEBHOOK_TOKEN, ROUTING_KEY)} == {WEBHOOK_TOKEN: 0, ROUTING_KEY: 0}
    assert any(r.path.startswith("/slack/") for r in webhooks.received)  # the webhooks were really called
    assert "invalid key *** (it starts ***)" in everything  # the echoed key was caught and replaced, whole and in part
    assert len(inbox.received) >= 6  # alerts really went out: the scan covered them


# Every auth style: a header (crun's x-api-key), a bearer token (openrouter), a header with a scheme
# (deepgram's "Token <key>", with a per-account project id in the path) and a query parameter (serpapi's
# api_key, which urllib3's retry warnings print with the URL). Each key meets a broken connection, a
# reset mid-body and a timeout, so every retry path logs.
AUTH_STYLES = ("crun", "openrouter", "deepgram", "serpapi")
EXAMPLES = ROOT / "examples" / "providers"


@pytest.fixture(scope="module")
def every_auth_style():
    add_definitions(EXAMPLES)
    try:
        with LocalStack(stack_name="credit-monitor-auth-styles", parameters=every_provider(*AUTH_STYLES)) as stack:
            stack.create_resources()
            yield stack
    finally:
        remove_definitions(EXAMPLES)


def test_no_key_leaks_through_retries_whatever_the_auth_style(every_auth_style, monkeypatch):
    from credit_monitor.polling import transport  # noqa: PLC0415

    # Shorter attempts than Lambda's, so that a timeout and its retry both fit in a few seconds.
    monkeypatch.setattr(transport, "CONNECT_TIMEOUT", 0.5)
    monkeypatch.setattr(transport, "READ_TIMEOUT", 1.0)
    stack = every_auth_style
    styles = {json.dumps(get_provider(p).document["auth"]) for p in AUTH_STYLES}
    assert len(styles) == len(AUTH_STYLES)  # four different ways of sending the key
    seen, retries, canaries = [], 0, []
    for provider in AUTH_STYLES:
        with ProviderSimulator(provider) as sim:
            keys = {account: canary_key(provider, account, "auth-styles") for account in ("prod", "dropped", "reset", "slow")}
            canaries += keys.values()
            for key in keys.values():
                sim.set_response(key, example_response(provider))
            sim.inject(keys["dropped"], Fault(drop=True))
            sim.inject(keys["reset"], Fault(body=json.dumps(example_response(provider)), truncate=True))
            sim.inject(keys["slow"], Fault(delay=1.5, body=example_response(provider)))
            stack.put_api_keys(provider, {account: sim.credentials(key) for account, key in keys.items()})
            output = io.StringIO()
            summary = invoke_poller(stack, provider, {}, base_url=sim.base_url, timeout=8, output=output)
            assert (summary["succeeded"], summary["failed"]) == (1, 3), summary
            log = output.getvalue()
            retries += log.count("Retrying")
            seen += [log, json.dumps(summary)]
            assert any(key in r.path + json.dumps(r.query) + json.dumps(r.headers) for r in sim.requests for key in keys.values())
    seen.append(json.dumps(stack.table().scan()["Items"], default=str))
    for provider in AUTH_STYLES:
        seen.append(json.dumps(invoke_api(stack, f"/balances/{provider}").body))
    everything = "\n".join(seen)

    assert retries >= len(AUTH_STYLES) * 2, "urllib3 retried and logged for every provider (the scan covered its warnings)"
    assert "api_key=***" in everything  # serpapi's URL was logged, with the key replaced
    assert leaked(everything, canaries) == []
