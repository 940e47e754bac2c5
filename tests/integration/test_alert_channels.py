"""Alerts where teams work: every alert is one SNS message, one EventBridge event, and one POST to each
configured webhook in its format, through the template's own rules, connections and input transformers.

The test stack has every channel configured (tests/stack_fixtures.py: Slack, Discord and generic webhooks,
PagerDuty, Slack chat) against a real HTTP receiver on loopback; the router performs the rules moto
matched (devstack/events.py).
"""

import contextlib
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import boto3
import jsonschema
import pytest

from credit_monitor.api.queries import encode_token
from devstack import PYTHONPATH, ROOT
from devstack.invoke import invoke_api
from tests.stack_fixtures import ROUTING_KEY, WEBHOOK_TOKEN

pytestmark = pytest.mark.integration

KEY = "sk-crun-prod-channels"
SCHEMA = json.loads((ROOT / "schemas" / "credit-balance-alert.v1.json").read_text())
SLACK, DISCORD, GENERIC, PAGERDUTY = f"/slack/{WEBHOOK_TOKEN}", f"/discord/{WEBHOOK_TOKEN}", "/generic", "/pagerduty"
STORY = [
    "crun/prod WARNING: 450 credits left",
    "crun/prod CRITICAL: 90 credits left",
    "crun/prod DEPLETED: 0 credits left",
    "crun/prod recovered to OK: 5,000 credits",
    "crun/prod polls failing: API key rejected",
]


@pytest.fixture
def story(stack, sims, poll, aggregate, router):
    """Fall to warning, critical, depleted; recover; then a key rejected three polls in a row. Every stream
    batch is delivered twice (a redelivery), and the bus's rules are delivered after each round."""
    stack.put_api_keys("crun", {"prod": KEY})

    def round_() -> None:
        poll("crun")
        aggregate.stream()
        if aggregate.delivered:
            aggregate.invoke(aggregate.delivered[-1])  # the same batch again, as Lambda may redeliver it
        router.deliver()

    def run() -> None:
        for credits in (1000, 450, 90, 0, 5000):
            sims["crun"].set_balance(KEY, credits)
            round_()
        sims["crun"].fail(KEY, "auth")
        for _ in range(3):
            round_()

    return run


@pytest.fixture
def consumers(stack):
    """What reads the alerts: an SNS subscriber, a scheduler's own rule on the bus, the chat topic."""

    class Consumers:
        sns = stack.subscribe_inbox()
        events = stack.subscribe_events("scheduler", {"source": ["credit-monitor"], "detail-type": ["Credit balance alert"]})
        chat = stack.subscribe_inbox("chat-inbox", topic="ChatTopic")

    return Consumers()


def test_each_alert_is_one_message_one_event_and_one_post_per_webhook_in_its_format(story, consumers, webhooks):
    story()

    assert [m["subject"] for m in consumers.sns.fetch()] == STORY
    events = consumers.events.fetch()
    assert [(e["source"], e["detail-type"]) for e in events] == [("credit-monitor", "Credit balance alert")] * len(STORY)
    details = [e["detail"] for e in events]
    for detail in details:
        jsonschema.validate(detail, SCHEMA)
    assert [d["subject"] for d in details] == STORY
    assert len({d["alert_id"] for d in details}) == len(STORY)
    assert [(d["event"], d["level"], d["previous_level"]) for d in details] == [
        ("threshold", "warning", "ok"),
        ("threshold", "critical", "warning"),
        ("threshold", "depleted", "critical"),
        ("recovery", "ok", "depleted"),
        ("failure", "ok", "ok"),
    ]
    assert [d["threshold"] for d in details] == [500, 100, 0, 500, None]
    assert [d["resolved"] for d in details] == [False, False, False, True, False]

    slack = [r.body for r in webhooks.at(SLACK)]
    assert [b["text"] for b in slack] == STORY
    assert all(f"alert {d['alert_id']}" in json.dumps(b) for b, d in zip(slack, details, strict=True))
    assert [b["embeds"][0]["title"] for b in (r.body for r in webhooks.at(DISCORD))] == STORY
    assert [r.body["alert"] for r in webhooks.at(GENERIC)] == details  # the whole event detail, as JSON
    pagerduty = [r.body for r in webhooks.at(PAGERDUTY)]
    assert [(p["event_action"], p["dedup_key"]) for p in pagerduty] == [
        ("trigger", "credit-monitor/crun/prod/balance"),
        ("trigger", "credit-monitor/crun/prod/balance"),
        ("trigger", "credit-monitor/crun/prod/balance"),
        ("resolve", "credit-monitor/crun/prod/balance"),
        ("trigger", "credit-monitor/crun/prod/polls"),
    ]
    assert [p.get("payload", {}).get("severity") for p in pagerduty] == ["warning", "critical", "critical", None, "error"]
    assert all(p["routing_key"] == ROUTING_KEY for p in pagerduty)  # the connection's secret body parameter
    cards = [json.loads(m["message"]) for m in consumers.chat.fetch()]
    assert [(c["version"], c["source"], c["content"]["title"]) for c in cards] == [("1.0", "custom", s) for s in STORY]
    assert cards[1]["content"]["description"].startswith("```\ncrun/prod CRITICAL: 90 credits left (alert at 100)\n")


def test_a_failing_webhook_is_retried_then_dead_lettered_and_counted_never_repeated_elsewhere(stack, story, consumers, webhooks, router):
    webhooks.fail(SLACK, status=503, times=100)

    story()

    assert [m["subject"] for m in consumers.sns.fetch()] == STORY  # SNS: exactly once each, whatever the webhook does
    assert len(consumers.events.fetch()) == len(STORY)
    assert len(webhooks.at(GENERIC)) == len(STORY)
    slack = [d for d in router.deliveries if d.rule == "SlackWebhookRule"]
    assert [(d.ok, d.attempts, d.status) for d in slack] == [(False, 9, 503)] * len(STORY)  # 1 + RetryPolicy's 8
    dead = boto3.client("sqs").receive_message(QueueUrl=stack.physical_ids["WebhookDeadLetterQueue"], MaxNumberOfMessages=10,
                                               MessageAttributeNames=["All"])["Messages"]  # fmt: skip
    assert len(dead) == len(STORY)
    assert {m["MessageAttributes"]["ERROR_CODE"]["StringValue"] for m in dead} == {"HTTP 503"}
    assert all(m["MessageAttributes"]["RULE_ARN"]["StringValue"].endswith("SlackWebhookRule") for m in dead)
    now, rule = datetime.now(UTC), [{"Name": "RuleName", "Value": stack.physical_ids["SlackWebhookRule"]}]
    failed = boto3.client("cloudwatch").get_metric_statistics(Namespace="AWS/Events", MetricName="FailedInvocations", Dimensions=rule,
                                                              StartTime=now - timedelta(hours=1), EndTime=now + timedelta(hours=1),
                                                              Period=3600, Statistics=["Sum"])["Datapoints"]  # fmt: skip
    assert sum(p["Sum"] for p in failed) == len(STORY)
    alarm = stack.template["Resources"]["WebhookDeliveryAlarm"]["Properties"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "QueueName"]}}]
    assert router.deliver() == 0  # nothing left to deliver: nothing is sent twice


@pytest.mark.parametrize("operation", ["events:PutEvents", "dynamodb:TransactWriteItems"])
def test_the_event_bus_or_the_record_failing_sends_nothing_twice(stack, story, consumers, webhooks, operation):
    stack.throttle(operation, times=12)  # past botocore's own retries: the stream record fails and is redelivered

    story()

    assert [m["subject"] for m in consumers.sns.fetch()] == STORY
    assert [e["detail"]["subject"] for e in consumers.events.fetch()] == STORY
    assert [r.body["text"] for r in webhooks.at(SLACK)] == STORY
    assert [a["subject"] for a in invoke_api(stack, "/alerts").body["items"]] == STORY[::-1]


def test_get_alerts_lists_the_story_newest_first_with_filters_and_pages(stack, story, sims, poll, aggregate, router):
    story()
    sims["sunor"].set_balance("sk-sunor", 50)
    stack.put_api_keys("sunor", {"team": "sk-sunor"})
    poll("sunor")
    aggregate.stream()

    everything = invoke_api(stack, "/alerts").body
    assert [a["subject"] for a in everything["items"]] == ["sunor/team CRITICAL: 50 credits left", *STORY[::-1]]
    assert everything["next_token"] is None
    crun = invoke_api(stack, "/alerts", {"provider": "crun", "account": "prod"}).body["items"]
    assert [a["subject"] for a in crun] == STORY[::-1]
    assert invoke_api(stack, "/alerts", {"provider": "sunor"}).body["items"][0]["account"] == "team"
    assert invoke_api(stack, "/alerts", {"provider": "pixverse"}).body == {"items": [], "next_token": None}  # known, no alerts

    first = invoke_api(stack, "/alerts", {"provider": "crun", "limit": "2"}).body
    second = invoke_api(stack, "/alerts", {"provider": "crun", "limit": "2", "next_token": first["next_token"]}).body
    third = invoke_api(stack, "/alerts", {"provider": "crun", "limit": "2", "next_token": second["next_token"]}).body
    assert [a["subject"] for a in first["items"] + second["items"] + third["items"]] == STORY[::-1]
    assert third["next_token"] is None

    since = crun[1]["decided_at"]  # the recovery's second: it, and whatever was decided in that second or later
    recent = invoke_api(stack, "/alerts", {"provider": "crun", "since": since}).body["items"]
    assert [a["subject"] for a in recent] == [a["subject"] for a in crun if a["decided_at"] >= since]
    assert STORY[3] in [a["subject"] for a in recent]


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ({"account": "prod"}, 400, "account needs provider"),
        ({"provider": "openai"}, 404, "unknown provider 'openai'"),
        ({"provider": "Crun"}, 422, "query parameter 'provider'"),
        ({"limit": "0"}, 422, "query parameter 'limit': must be at least 1"),
        ({"since": "yesterday"}, 422, "query parameter 'since'"),
        ({"next_token": "bm90LWEtdG9rZW4"}, 400, "next_token is not a token this API issued"),
    ],
)
def test_get_alerts_refuses_bad_input_naming_it(stack, query, status, says):
    response = invoke_api(stack, "/alerts", query)
    assert response.status == status
    assert says in response.body["message"]


def test_a_history_token_is_not_an_alerts_token(stack):
    token = encode_token("crun", "prod", "2026-11-21T08:00:00Z")  # what GET .../history hands out
    response = invoke_api(stack, "/alerts", {"provider": "crun", "account": "prod", "next_token": token})
    assert (response.status, response.body["message"]) == (400, "next_token was issued for another listing")


def credit_monitor(stack, *args, timeout=120):
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "AWS_ENDPOINT_URL": stack.endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "credit_monitor_cli", *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT, check=False)  # fmt: skip


@contextlib.contextmanager
def eventbridge_delivering(router):
    """EventBridge's part, done in the background while a command waits for the delivery metrics."""
    stop = threading.Event()

    def deliver_continuously():
        while not stop.is_set():
            router.deliver()
            stop.wait(0.2)

    worker = threading.Thread(target=deliver_continuously, daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(10)


def test_test_alert_goes_through_every_configured_channel_and_reports_each(stack, consumers, webhooks, router):
    with eventbridge_delivering(router):
        result = credit_monitor(stack, "test-alert", "--stack-name", stack.stack_name, "--wait", "30")

    assert result.returncode == 0, result.stdout + result.stderr
    report = result.stdout
    for channel in ("sns", "events"):
        assert any(line.split()[:2] == [channel, "accepted"] for line in report.splitlines()), report
    for channel in ("chat", "slack-webhook", "discord-webhook", "generic-webhook", "pagerduty"):
        assert any(line.split()[:2] == [channel, "delivered"] for line in report.splitlines()), report
    [message] = consumers.sns.fetch()
    assert message["subject"] == "[TEST] credit-monitor test alert"
    assert message["attributes"]["event"] == "test"
    [event] = consumers.events.fetch()
    assert event["detail"]["test"] is True
    assert event["detail"]["alert_id"].startswith("test-")
    jsonschema.validate(event["detail"], SCHEMA)
    assert webhooks.at(SLACK)[0].body["text"] == "[TEST] credit-monitor test alert"
    assert webhooks.at(PAGERDUTY)[0].body["event_action"] == "resolve"  # nobody is paged by a test
    assert invoke_api(stack, "/alerts").body["items"] == []  # a test is not an alert of any account


def test_test_alert_names_what_is_unknown_or_not_configured(stack):
    unknown = credit_monitor(stack, "test-alert", "--stack-name", stack.stack_name, "--channel", "telegram", "--wait", "0")
    assert unknown.returncode == 2
    assert "unknown channel 'telegram'" in unknown.stderr
    missing = credit_monitor(stack, "test-alert", "--stack-name", "no-such-stack", "--wait", "0")
    assert missing.returncode == 1
    assert "stack 'no-such-stack' not found" in missing.stderr


def test_a_failing_channel_is_reported_as_failed(stack, webhooks, router):
    webhooks.fail(DISCORD, status=404, times=1)  # 4xx: not retried
    with eventbridge_delivering(router):
        result = credit_monitor(stack, "test-alert", "--stack-name", stack.stack_name, "--channel", "discord-webhook", "--wait", "30")
    assert result.returncode == 1
    assert "discord-webhook  FAILED after retries: 1 of 1" in result.stdout
    assert "sns" not in result.stdout.split("\n", 1)[1]  # only the channel asked for
