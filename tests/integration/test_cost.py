"""`make cost` tells the truth: its resource counts are what the template deploys for the parameters given,
its metric series are what the handlers emit, and its DynamoDB calls are what a round and a check make."""

import io
import json
import re
import subprocess
import sys

import boto3
import pytest

from devstack import ROOT
from devstack import readme as readme_module
from devstack.alarms import CloudWatch
from devstack.cost import (
    CHANNELS,
    DAYS_PER_MONTH,
    Measured,
    Setup,
    Stack,
    bill,
    dynamodb_per_check,
    dynamodb_per_poll_round,
    metric_series,
)
from devstack.cost import SETUPS as NAMED_SETUPS
from devstack.invoke import invoke_aggregator, invoke_poller, reset_warm_state
from devstack.moto_stack import LocalStack
from devstack.simulators import ProviderSimulator
from devstack.template import every_provider

SETUPS = {
    "default": Setup(),
    "one provider, no channel": Setup(accounts=(3,), channels=frozenset()),
    "eight providers, two still empty": Setup(accounts=(4, 4, 0, 4, 4, 4, 0, 4)),
    "every channel, account metrics, tracing, digest": Setup(
        accounts=(2, 1), account_metrics=True, tracing=True, digest=True, channels=frozenset(CHANNELS)
    ),
    "webhooks only": Setup(channels=frozenset({"slack-webhook", "pagerduty"})),
}
# What each deploys, as the product documents it: a secret per provider and no alarm per provider; six
# alarms for the monitor itself, one more once a webhook can fail; one dashboard; the X-Ray layer with tracing.
EXPECTED = {
    "default": {"secrets": 5, "alarms": 6, "layers": 1},
    "one provider, no channel": {"secrets": 1, "alarms": 6, "layers": 1},
    "eight providers, two still empty": {"secrets": 8, "alarms": 6, "layers": 1},
    "every channel, account metrics, tracing, digest": {"secrets": 2, "alarms": 7, "layers": 2},
    "webhooks only": {"secrets": 5, "alarms": 7, "layers": 1},
}


@pytest.mark.parametrize("name", SETUPS)
def test_the_cost_models_resources_are_what_the_template_deploys_for_its_parameters(name):
    setup, expected = SETUPS[name], EXPECTED[name]
    stack = Stack.of(setup)
    counted = {"secrets": stack.count("AWS::SecretsManager::Secret"), "alarms": stack.count("AWS::CloudWatch::Alarm"),
               "layers": stack.count("AWS::Serverless::LayerVersion")}  # fmt: skip
    assert counted == expected
    assert len(stack.pollers()) == len(setup.accounts)
    assert stack.count("AWS::CloudWatch::Dashboard") == 1
    # ...and what the local stack creates from template.yaml with these parameters.
    name = "cost-" + "".join(c for c in name if c.isalnum())[:40]
    with LocalStack(stack_name=name, parameters=setup.parameters()) as local:
        local.create_resources()
        secrets = [s for s in boto3.client("secretsmanager").list_secrets()["SecretList"] if s["Name"].startswith(f"{name}/")]
        assert len(secrets) == expected["secrets"]
        assert len(boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{name}-")["MetricAlarms"]) == expected["alarms"]


@pytest.mark.parametrize("account_metrics", [False, True])
def test_the_metric_series_billed_are_the_series_the_handlers_emit(account_metrics):
    """Three providers (one with no accounts yet), every poller run, then a check: the series CloudWatch would
    create from their EMF lines are what the cost model counts."""
    setup = Setup(accounts=(3, 0, 2), account_metrics=account_metrics)
    parameters = setup.parameters()
    providers = parameters["Providers"].split(",")
    with (
        LocalStack(stack_name=f"cost-series-{account_metrics}".lower(), parameters=parameters) as stack,
        ProviderSimulator(providers[0]) as first,
        ProviderSimulator(providers[2]) as third,
    ):
        stack.create_resources()
        reset_warm_state()  # a new stack: no client of an earlier one
        cloudwatch = CloudWatch()
        for provider, sim, count in ((providers[0], first, 3), (providers[2], third, 2)):
            keys = {f"team-{i}": f"sk-{provider}-team-{i}-0123456789" for i in range(count)}
            for key in keys.values():
                sim.set_balance(key, 500)
            stack.put_api_keys(provider, {a: sim.credentials(k) for a, k in keys.items()})
        for provider, sim in ((providers[0], first), (providers[1], first), (providers[2], third)):
            out = _captured(lambda output, p=provider, s=sim: invoke_poller(stack, p, {}, base_url=s.base_url, output=output))
            cloudwatch.put_emf(out)
        cloudwatch.put_emf(_captured(lambda output: invoke_aggregator(stack, {"task": "check"}, output=output)))

        assert len(cloudwatch.series()) == metric_series(setup, Stack.of(setup)) == 1 + 2 * 2 + (5 if account_metrics else 0)


@pytest.mark.parametrize("accounts", [1, 2, 12, 30])
def test_a_poll_round_makes_the_calls_the_cost_model_counts(stack, sims, poll, balances, accounts):
    keys = {f"a{i}": f"sk-crun-{i}-0123456789" for i in range(accounts)}
    for key in keys.values():
        sims["crun"].set_balance(key, 100)
    stack.put_api_keys("crun", keys)
    stack.calls.clear()

    poll("crun")

    model = dynamodb_per_poll_round(accounts, stored=accounts)  # a first round: every account is new, so stored
    dynamodb = {call.split(":")[1]: n for call, n in stack.calls.items() if call.startswith("dynamodb:")}
    assert dynamodb == model  # batched writes, no per-item put
    assert len(balances.everything()) == 2 * accounts + 1  # latest and a history point each, and the round item

    stack.calls.clear()
    poll("crun")  # nothing changed: nothing of the accounts is written again
    dynamodb = {call.split(":")[1]: n for call, n in stack.calls.items() if call.startswith("dynamodb:")}
    assert dynamodb == dynamodb_per_poll_round(accounts, stored=0)
    assert len(balances.everything()) == 2 * accounts + 1


def test_a_check_makes_the_calls_the_cost_model_counts(stack, sims, poll, aggregate):
    keys = {f"a{i}": f"sk-crun-{i}-0123456789" for i in range(4)}
    for key in keys.values():
        sims["crun"].set_balance(key, 900)
    stack.put_api_keys("crun", keys)
    poll("crun")
    aggregate.stream()

    for _ in range(2):  # whatever the number of accounts, and the same again the next time
        stack.calls.clear()
        aggregate.check()
        model = dynamodb_per_check(len(every_provider()["Providers"].split(",")), with_rounds=1)  # only crun has polled
        counted = {call.split(":")[1]: n for call, n in stack.calls.items() if call.startswith("dynamodb:")}
        assert counted == model


def test_the_docs_cost_block_is_what_make_cost_prints():
    assert readme_module.shown("cost") == readme_module.cost_block(), "docs/operating.md's cost block is stale: run make readme BLOCKS=cost"


def cost_command(*args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'common'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "devstack.cost", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False)


def test_make_cost_prices_the_parameters_given_with_the_marginal_costs_and_says_goals_are_for_named_setups():
    result = cost_command("--providers", "3", "--accounts", "400", "--account-metrics", "ENABLED", "--channels", "slack-webhook,email",
                          "--tracing", "ENABLED")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "3 providers, 1,200 accounts (400 each)" in out
    assert "3 secrets, 3 pollers, 7 alarms, 1,207 metric series" in out  # 1 heartbeat + 2 per provider + 1,200 accounts
    for item in ("Lambda requests", "DynamoDB writes", "Secrets Manager secrets", "CloudWatch custom metric series", "CloudWatch alarms",
                 "EventBridge API destinations (webhooks)", "X-Ray traces", "total", "account (on one provider)",
                 "provider with 400 accounts", "provider with no accounts yet"):  # fmt: skip
        assert item in out
    # The goals are the default setup's: not printed as if they were this configuration's verdict.
    [said] = [line for line in out.splitlines() if line.startswith("Goals:")]
    assert said.startswith("Goals: none for this configuration; goals are set for named setups (--setup default, ")
    assert "met " not in out
    wrong = cost_command("--channels", "carrier-pigeon")
    assert wrong.returncode == 2
    assert "--channels: unknown carrier-pigeon" in wrong.stderr


def test_make_cost_says_the_free_tier_is_shared_and_where_each_figure_comes_from():
    out = cost_command().stdout

    assert "list USD  after free tier*" in out
    assert "* as if this stack had the always-free tier to itself. AWS gives it once per account" in out
    assert "CloudWatch 10 series, 10 alarm metrics, 3 dashboards" in out.replace("\n  ", " ")
    assert "Goals of the default setup:" in out
    assert "Prices: cost/prices-us-east-1.json" in out
    assert "Resources: template.yaml expanded for these parameters" in out
    words = " ".join(out.split())
    assert "in a warm container against a simulator that answers at once" in words  # the handler time make cost uses...
    assert "The fan-out table of make bench times whole rounds instead, in a fresh process" in words  # ...and why bench's differs
    assert "Lambda also bills the wait on the vendor: 300 ms a round per 256 accounts" in words


def test_make_cost_prints_counts_as_integers_with_thousands_separated():
    out = cost_command("--providers", "4", "--accounts", "2500").stdout
    assert "4 providers, 10,000 accounts (2,500 each)" in out
    [header] = [line for line in out.splitlines() if "quantity/month" in line]
    end = header.index("quantity/month") + len("quantity/month")  # the columns follow the longest item
    lines = [line for line in out.splitlines() if line.startswith("  ") and len(line) > end]
    rows = {line[2 : end - 15].strip(): line[end - 15 : end].strip() for line in lines}
    assert rows["Secrets Manager secrets"] == "4"
    assert rows["CloudWatch alarms"] == "6"
    assert re.fullmatch(r"\d{1,3}(,\d{3})+", rows["DynamoDB writes"])
    # Counts are whole ("5 secrets", not "5.0 secrets"); measured times keep their decimal ("1.0 ms" may be one).
    assert not [quantity for quantity in rows.values() if re.fullmatch(r"[\d,]+\.0", quantity)]
    [resources] = [line for line in out.splitlines() if line.startswith("Resources:")]
    assert not re.search(r"\b\d+\.0 ", resources)


def test_a_digest_is_published_and_emailed_every_day():
    measured = Measured.recorded()
    without, with_digest = (bill(Setup(digest=digest), measured) for digest in (False, True))
    quantities = {line.item: line.quantity for line in with_digest.lines}
    before = {line.item: line.quantity for line in without.lines}
    for item in ("SNS publishes (alert topic, chat topic)", "SNS email deliveries", "Lambda requests"):
        assert quantities[item] - before[item] == pytest.approx(DAYS_PER_MONTH), item
    assert quantities["DynamoDB reads"] > before["DynamoDB reads"]  # every account's latest and its balance a day ago


def test_history_storage_grows_with_the_retention_asked():
    measured = Measured.recorded()
    stored = {}
    for days in (30, 400, 3650):
        [line] = [line for line in bill(Setup(retention_days=days), measured).lines if line.item.startswith("DynamoDB storage")]
        assert line.item == f"DynamoDB storage (history, {days:,} days)"
        stored[days] = line.quantity
    assert stored[30] < stored[400] < stored[3650]
    assert stored[3650] / stored[400] == pytest.approx(3650 / 400, rel=0.01)  # nearly all of it is history
    assert Setup(retention_days=30).parameters()["HistoryRetentionDays"] == "30"
    assert "history kept 3,650 days" in cost_command("--retention-days", "3650").stdout
    assert cost_command("--retention-days", "0").returncode == 2


def test_a_named_setup_prices_as_the_options_that_make_it():
    assert cost_command("--setup", "default").stdout == cost_command().stdout
    assert set(NAMED_SETUPS["default"].setup.parameters().items()) >= {("Providers", "crun,sunor,srtgen,apimall,pixverse")}


def _captured(run):
    output = io.StringIO()
    run(output)
    return [json.loads(line) for line in output.getvalue().splitlines() if line.strip()]
