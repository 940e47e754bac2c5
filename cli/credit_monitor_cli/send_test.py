"""``credit-monitor test-alert``: send one clearly marked test alert through every configured channel.

The alert goes to the SNS topic (email, SMS: its ``event`` attribute is ``test``) and onto the event
bus, where every channel's rule lets a test through whatever its filter (``test`` is true in the
detail): chat, the Slack, Discord and generic webhooks, PagerDuty (as a *resolve* of an incident that
does not exist, so nobody is paged). SNS and EventBridge answer at once; what each rule then delivered
is read from its AWS/Events metrics, which CloudWatch publishes within a few minutes (``--wait``).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from credit_monitor.alerting.notify import Notifier
from credit_monitor.model import AlertMessage, format_time
from credit_monitor_cli import aws
from credit_monitor_cli.errors import UsageError
from credit_monitor_cli.stack import required_output, stack_outputs

# Channel name -> the stack output naming its rule (present only when the channel is configured).
RULES = {"chat": "ChatRuleName", "slack-webhook": "SlackWebhookRuleName", "discord-webhook": "DiscordWebhookRuleName",
         "generic-webhook": "GenericWebhookRuleName", "pagerduty": "PagerDutyResolveRuleName"}  # fmt: skip
CHANNELS = ("sns", "events", *RULES)
POLL_SECONDS = 3.0


class TestAlertError(UsageError):
    """The command cannot run as asked (an unknown or unconfigured channel); exit status 2."""


def marked_test_alert(now: datetime | None = None) -> AlertMessage:
    """A clearly marked test alert: it passes every channel's filter (``test`` is true) and says what it is."""
    when = format_time(now or datetime.now(UTC))
    subject = "[TEST] credit-monitor test alert"
    body = (f"{subject}, sent {when} by credit-monitor test-alert.\n\nThis is not about any account: it checks that this "
            "channel receives the monitor's alerts.\n\nWhat to do: nothing.")  # fmt: skip
    detail = {"provider": "credit-monitor", "account": "test-alert", "event": "test", "level": "warning", "previous_level": None,
              "condition": "test", "resolved": True, "severity": "info", "reminder": False, "available": None, "unit": None,
              "threshold": None, "threshold_days": None, "days_left": None, "fetched_at": when, "error_kind": None}  # fmt: skip
    attributes = {"provider": "credit-monitor", "account": "test-alert", "level": "warning", "event": "test"}
    return AlertMessage(subject, body, f"{subject} ({when})", attributes, detail)


def marked_alert_id() -> str:
    """A test alert's id: like an alert's, marked (schemas/credit-balance-alert.v1.json)."""
    return f"test-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RuleDeliveries:
    invocations: int  # events the rule's target was invoked for (each counted once, after its retries)
    failed: int  # of those, the ones that failed for good (dead-lettered)


def rule_deliveries(rule_names: list[str], since: datetime) -> dict[str, RuleDeliveries]:
    """What EventBridge reports (AWS/Events metrics) each rule delivered since ``since``."""
    cloudwatch = aws.cloudwatch()
    end = datetime.now(UTC) + timedelta(minutes=1)
    found = {}
    for name in rule_names:
        totals = {}
        for metric in ("Invocations", "FailedInvocations"):
            dimensions = [{"Name": "RuleName", "Value": name}]
            window = {"StartTime": since - timedelta(minutes=1), "EndTime": end, "Period": 60}
            answer = cloudwatch.get_metric_statistics(
                Namespace="AWS/Events", MetricName=metric, Dimensions=dimensions, Statistics=["Sum"], **window
            )
            points = answer["Datapoints"]
            totals[metric] = int(sum(p["Sum"] for p in points))
        found[name] = RuleDeliveries(totals["Invocations"], totals["FailedInvocations"])
    return found


def configured_channels(outputs: dict[str, str]) -> list[str]:
    return ["sns", "events", *(channel for channel, output in RULES.items() if output in outputs)]


def run_test_alert(stack_name: str, channels: list[str], wait: float) -> tuple[int, list[str]]:
    """Send the test; returns the exit status and the report's lines."""
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise TestAlertError(f"unknown channel {unknown[0]!r}; channels: {', '.join(CHANNELS)}")
    outputs = stack_outputs(stack_name)
    configured = configured_channels(outputs)
    missing = [c for c in channels if c not in configured]
    if missing:
        raise TestAlertError(f"channel {missing[0]!r} is not configured on stack {stack_name!r}; configured: {', '.join(configured)}")
    selected = channels or configured
    notifier = Notifier(required_output(outputs, "AlertTopicArn", stack_name), outputs.get("AlertEventBusName", "default"))
    message, alert_id = marked_test_alert(), marked_alert_id()
    started = datetime.now(UTC)
    lines, ok = [f"test alert {alert_id} to stack {stack_name}: {message.subject}"], True
    if "sns" in selected:
        ok &= _sent(lines, "sns", lambda: f"accepted by the alert topic (message id {notifier.to_topic(message)})")
    rules = {channel: outputs[RULES[channel]] for channel in selected if channel in RULES}
    if "events" in selected or rules:
        # Two events: the alert (what machines and the generic webhook and PagerDuty follow) and the notification
        # (what people's channels follow: chat, the Slack and Discord webhooks).
        def put_both() -> str:
            event_id = notifier.to_bus(message, alert_id, test=True)
            notification_id = notifier.to_notifications(message, alert_id, test=True)
            return f"accepted on bus {notifier.event_bus} (event ids {event_id}, {notification_id})"

        accepted = _sent(lines, "events", put_both)
        ok &= accepted
        if not accepted:
            rules = {}
    ok &= _await_deliveries(lines, rules, started, wait)
    return (0 if ok else 1), lines


def _sent(lines: list[str], channel: str, send) -> bool:
    try:
        lines.append(f"  {channel:<16} {send()}")
    except Exception as exc:  # reported as the channel's result, not a crash
        lines.append(f"  {channel:<16} NOT ACCEPTED: {type(exc).__name__}: {exc}")
        return False
    return True


def _await_deliveries(lines: list[str], rules: dict[str, str], started: datetime, wait: float) -> bool:
    deadline = time.monotonic() + wait
    seen = rule_deliveries(list(rules.values()), started)
    while any(seen[r].invocations == 0 for r in rules.values()) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        seen = rule_deliveries(list(rules.values()), started)
    ok = True
    for channel, rule in rules.items():
        result = seen[rule]
        if result.failed:
            ok = False
            lines.append(f"  {channel:<16} FAILED after retries: {result.failed} of {result.invocations} (see WebhookDeadLetterQueueUrl)")
        elif result.invocations:
            lines.append(f"  {channel:<16} delivered by rule {rule}")
        else:
            ok = False
            lines.append(f"  {channel:<16} no delivery seen within {wait:g}s (EventBridge's metrics can lag minutes: "
                         f"try --wait 300, or check the dashboard)")  # fmt: skip
    return ok
