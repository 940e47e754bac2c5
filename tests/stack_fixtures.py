"""Fixtures of the integration and reliability suites: a moto server with the resources of
template.yaml (one per session, emptied before each test), and every provider's simulator on loopback."""

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key

from credit_monitor.storage.items import balance_pk, from_dynamodb, history_pk
from devstack.alarms import CloudWatch
from devstack.events import EventRouter, WebhookReceiver
from devstack.invoke import function_invoker, invoke_aggregator, invoke_poller, reset_warm_state
from devstack.moto_stack import LocalStack
from devstack.simulators import SPECS, ProviderSimulator
from devstack.stepfunctions import StateMachineRunner
from devstack.streams import StreamPump
from devstack.template import every_provider

# Secrets the channels hold: the scans check none of them is ever logged, stored, output or answered.
WEBHOOK_TOKEN = "T0KEN-in-the-webhook-url-5f2c"
ROUTING_KEY = "R0UTING-KEY-of-pagerduty-9d41"


@pytest.fixture(scope="session")
def webhooks():
    """Slack, Discord, a generic endpoint and PagerDuty, on loopback (devstack.events.WebhookReceiver)."""
    with WebhookReceiver() as receiver:
        yield receiver


def channel_parameters(receiver: WebhookReceiver) -> dict[str, str]:
    """Every alert channel configured, as `sam deploy --parameter-overrides` would, pointing at ``receiver``."""
    return {
        "SlackWebhookUrl": receiver.url(f"/slack/{WEBHOOK_TOKEN}"),
        "DiscordWebhookUrl": receiver.url(f"/discord/{WEBHOOK_TOKEN}"),
        "GenericWebhookUrl": receiver.url("/generic"),
        "PagerDutyRoutingKey": ROUTING_KEY,
        "PagerDutyEventsUrl": receiver.url("/pagerduty"),
        "SlackWorkspaceId": "T0123456789",
        "SlackChannelId": "C0123456789",
    }


@pytest.fixture(scope="session")
def local_stack(webhooks):
    with LocalStack(stack_name="credit-monitor-test", parameters={**every_provider(), **channel_parameters(webhooks)}) as stack:
        stack.create_resources()
        yield stack


@pytest.fixture
def stack(local_stack, webhooks):
    local_stack.reset()
    reset_warm_state()
    webhooks.reset()
    return local_stack


@pytest.fixture
def cloudwatch(stack):
    """The functions' EMF metrics and the template's alarms, evaluated as CloudWatch would (devstack.alarms)."""
    return CloudWatch()


@pytest.fixture
def router(stack):
    """The template's EventBridge rules delivered to their real targets (devstack.events.EventRouter)."""
    return EventRouter(stack)


@pytest.fixture
def inbox(stack):
    """What an SNS subscriber receives (an SQS queue subscribed to the alert topic)."""
    return stack.subscribe_inbox()


@pytest.fixture
def aggregate(stack, sims):
    """The stream, delivered to the real aggregator handler as Lambda's event source mapping would; and the
    template's state machines (a round's shards, the alert timer), performed as Step Functions would."""

    class Aggregate:
        def __init__(self) -> None:
            self.pump = StreamPump(stack)
            self.output = io.StringIO()
            self.delivered: list[Any] = []
            self.base_urls = {provider: sim.base_url for provider, sim in sims.items()}  # where the shards' pollers poll
            self.runner = StateMachineRunner(stack, function_invoker(stack, self.base_urls, aggregator=self.invoke, output=self.output))
            self.executions: list[Any] = []

        def stream(self, retries: int | None = None) -> int:
            """Deliver the stream; then let the alert timers go off (notification groups are sent), as time would."""
            delivered = self.pump.deliver(self.invoke, retries)
            self.run_machines()
            return delivered

        def run_machines(self) -> list[Any]:
            """Perform every state machine execution started meanwhile (and those they start), to completion."""
            done = []
            while found := self.runner.run_pending():
                done += found
            self.executions += done
            return done

        def invoke(self, event: Any) -> dict[str, Any]:
            self.delivered.append(event)
            return invoke_aggregator(stack, event, output=self.output)

        def check(self) -> dict[str, Any]:
            """The scheduled check; then the alert timers it started go off, as time would."""
            try:
                return self.invoke({"task": "check"})
            finally:
                self.run_machines()

        def records(self) -> list[dict[str, Any]]:
            """Everything the handler wrote so far: JSON log lines and EMF metric records."""
            return [json.loads(line) for line in self.output.getvalue().splitlines() if line.strip()]

    return Aggregate()


@pytest.fixture
def sims():
    started = {provider: ProviderSimulator(provider).start() for provider in SPECS}
    yield started
    for sim in started.values():
        sim.stop()


@dataclass
class PollRun:
    summary: dict[str, Any]
    output: str  # everything the handler wrote: JSON log lines and EMF metric records

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.output.splitlines() if line.strip()]

    def logs(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if "level" in r]

    def metrics(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if "_aws" in r and name in r]


@pytest.fixture
def poll(stack, sims, aggregate):
    """Run a provider's real poller handler against its simulator (or ``base_url``); a sharded round's shards run
    then, through the template's state machine, as Step Functions would run them."""

    def run(
        provider: str, event: Any = None, *, timeout: float | None = None, base_url: str | None = None, env: dict[str, str] | None = None
    ) -> PollRun:
        output = io.StringIO()
        summary = invoke_poller(
            stack, provider, {} if event is None else event, base_url=base_url or sims[provider].base_url, timeout=timeout,
            output=output, environment=env,
        )  # fmt: skip
        if isinstance(summary, dict) and "shards" in summary:  # its shards and their summary: logged in aggregate.output
            aggregate.base_urls[provider] = base_url or sims[provider].base_url
            aggregate.run_machines()
        return PollRun(summary, output.getvalue())

    return run


@pytest.fixture
def balances(stack):
    """Read back what was stored: latest items by account, and an account's history."""

    class Balances:
        def latest(self, provider: str) -> dict[str, dict[str, Any]]:
            """Each account's latest-balance item of ``provider``, exactly as stored (numbers as int or float)."""
            items = stack.table().query(KeyConditionExpression=Key("pk").eq(balance_pk(provider)))["Items"]
            return {i["account"]: from_dynamodb(i) for i in items if i["kind"] == "balance"}

        def history(self, provider: str, account: str) -> list[dict[str, Any]]:
            return stack.table().query(KeyConditionExpression=Key("pk").eq(history_pk(provider, account)))["Items"]

        def everything(self) -> list[dict[str, Any]]:
            return stack.table().scan()["Items"]

    return Balances()


CRUN_KEY = "sk-crun-prod-0123456789"


@pytest.fixture
def crun(stack, sims, poll, aggregate):
    """crun/prod (key CRUN_KEY) polled through the real poller, its stream record handed to the real aggregator."""

    class Crun:
        key = CRUN_KEY

        def poll_with(self, credits: float) -> PollRun:
            sims["crun"].set_balance(CRUN_KEY, credits)
            run = poll("crun")
            aggregate.stream()
            return run

    stack.put_api_keys("crun", {"prod": CRUN_KEY})
    return Crun()
