"""What an alert says: an SNS subject, an email body a person can act on, and a one-line SMS.

Every message carries the attributes ``provider``, ``account``, ``level`` and ``event`` so that a
subscription can filter (the SMS subscription takes only critical, depleted and failure by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credit_monitor.alerting import (
    CONFIGURATION,
    FAILURE,
    FORECAST,
    RECOVERY,
    STALE,
    THRESHOLD,
    AlertEvent,
    AlertSettings,
    AlertState,
)
from credit_monitor.model import FailureKind, parse_time
from credit_monitor.thresholds import Threshold

SUBJECT_LIMIT = 100  # SNS: at most 100 printable ASCII characters
SMS_LIMIT = 140  # one SMS message

WHAT_TO_DO = {
    "auth": "Check the API key in the provider's secret (it may be revoked or mistyped), then invoke the poller to re-check.",
    "insufficient_credits": "The provider reports no credits: top up this account now.",
    "rate_limited": "The provider is rate limiting the poller; check nothing else shares this key, or poll less often.",
    "maintenance": "The provider is under maintenance; polls resume by themselves. Check the provider's status page if it lasts.",
    "provider_error": "The provider is answering with errors; check its status page. The last good balance is kept meanwhile.",
    "timeout": "The provider is not answering in time; check its status page. The last good balance is kept meanwhile.",
    "unreachable": "The provider cannot be reached (DNS, TLS or connection refused); check its status and the base URL parameter.",
    "bad_response": "The provider's response is not what its API documents; the API may have changed. Check the poller's logs.",
}


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    sms: str
    attributes: dict[str, str]

    def to_item(self) -> dict[str, Any]:
        return {"subject": self.subject, "body": self.body, "sms": self.sms, "attributes": self.attributes}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Message:
        return cls(item["subject"], item["body"], item["sms"], dict(item["attributes"]))


@dataclass(frozen=True)
class AccountContext:
    provider: str
    account: str
    item: dict[str, Any]  # the account's latest balance item
    threshold: Threshold
    state: AlertState  # the state after the event
    settings: AlertSettings
    now: datetime


def credits(value: Any) -> str:
    if value is None:
        return "unknown"
    number = float(value)
    return f"{number:,.0f}" if number == int(number) or abs(number) >= 100 else f"{number:,.2f}"


def ascii_line(text: str, limit: int) -> str:
    line = " ".join(text.encode("ascii", "replace").decode("ascii").split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def render(event: AlertEvent, ctx: AccountContext) -> Message:
    name = f"{ctx.provider}/{ctx.account}"
    unit = ctx.item.get("unit") or "credits"
    available = credits(ctx.item.get("available"))
    lines = _fact_lines(ctx)
    level = event.level.upper()
    if event.event == THRESHOLD:
        still = "still " if event.reminder else ""
        headline = f"{name} {still}{level}: {available} {unit} left"
        limit = ctx.threshold.critical if event.level in ("critical", "depleted") else ctx.threshold.warning
        first = f"{headline} (alert at {credits(limit)})"
        advice = (
            "Credits are gone: jobs on this account fail until you top up."
            if event.level == "depleted"
            else f"Top up {ctx.provider} credits for account {ctx.account} before jobs start failing."
        )
    elif event.event == RECOVERY:
        headline, first, advice = _recovery(event, ctx, name, f"{available} {unit}")
    elif event.event == FAILURE:
        kind = FailureKind(event.about) if event.about in FailureKind.__members__.values() else FailureKind.PROVIDER_ERROR
        headline = f"{name} polls failing: {kind.summary}"
        first = f"{headline}; last good balance {available} {unit}"
        advice = WHAT_TO_DO[kind.value]
    elif event.event == STALE:
        age = _age(ctx.item.get("fetched_at"), ctx.now)
        headline = f"{name} balance stale: last good poll {age} ago"
        first = f"{headline}; last known {available} {unit}"
        advice = "Check that the poller's schedule is enabled and that the poller function is not erroring (its logs and alarms)."
    elif event.event == FORECAST:
        headline = f"{name} FORECAST: credits run out in {ctx.state.days_left:.1f} days"
        first = f"{headline} ({available} {unit} left, ~{credits(ctx.state.burn_per_day)}/day)"
        advice = f"Top up {ctx.provider} credits for account {ctx.account} before {ctx.state.depletes_at}."
    else:
        raise ValueError(f"no account message for event {event.event!r}")
    body = "\n".join([ascii_line(first, 1000), "", *lines, "", f"What to do: {advice}"])
    return Message(
        subject=ascii_line(headline, SUBJECT_LIMIT),
        body=body,
        sms=ascii_line(first, SMS_LIMIT),
        attributes={"provider": ctx.provider, "account": ctx.account, "level": event.level, "event": event.event},
    )


def _recovery(event: AlertEvent, ctx: AccountContext, name: str, balance: str) -> tuple[str, str, str]:
    if event.about == "polls":
        headline = f"{name} polls succeed again: {balance}"
        return headline, headline, "Nothing; the failure has cleared."
    if event.about == "staleness":
        headline = f"{name} balance is fresh again: {balance}"
        return headline, headline, "Nothing; polls are arriving again."
    headline = f"{name} recovered to {event.level.upper()}: {balance}"
    return headline, f"{headline} (was {str(event.previous_level).upper()})", "Nothing, unless the level is still not OK."


def _fact_lines(ctx: AccountContext) -> list[str]:
    item, state = ctx.item, ctx.state
    facts = [
        ("Provider", ctx.provider),
        ("Account", ctx.account),
        ("Level", state.level),
        ("Balance", f"{credits(item.get('available'))} {item.get('unit') or 'credits'} available, {credits(item.get('frozen', 0))} frozen"),
        ("Thresholds", f"warning at {credits(ctx.threshold.warning)}, critical at {credits(ctx.threshold.critical)}"),
        ("Burn rate", f"{credits(state.burn_per_day)} credits/day" if state.burn_per_day is not None else "not enough history yet"),
        ("Days left", f"{state.days_left:.1f} (runs out around {state.depletes_at})" if state.days_left is not None else "no forecast"),
        ("Last good poll", item.get("fetched_at") or "never"),
    ]
    if item.get("status") == "error":
        facts.append(("Last poll", f"{item.get('polled_at')} failed ({item.get('error_kind')}): {item.get('error')}"))
        facts.append(("Failing since", f"{item.get('failing_since')} ({item.get('consecutive_failures')} polls in a row)"))
    width = max(len(label) for label, _ in facts) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in facts]


def _age(fetched_at: str | None, now: datetime) -> str:
    if not fetched_at:
        return "never"
    minutes = int((now - parse_time(fetched_at)).total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h" if minutes < 2880 else f"{minutes // 1440} days"


def configuration_message(event: AlertEvent, parameter: str, reason: str) -> Message:
    if event.event == CONFIGURATION:
        subject = "Credit monitor: alert thresholds rejected"
        first = f"{subject}: {reason}"
        body = (
            f"{ascii_line(first, 1000)}\n\nParameter: {parameter}\nProblem:   {reason}\n\n"
            "The last good thresholds stay in force until the parameter is fixed.\n\n"
            f"What to do: correct the JSON in SSM parameter {parameter}; no redeploy is needed."
        )
    else:
        subject = "Credit monitor: alert thresholds accepted again"
        first = subject
        body = f"{subject}.\n\nParameter: {parameter}\n\nWhat to do: nothing."
    attributes = {"provider": "monitor", "account": "thresholds", "level": event.level, "event": event.event}
    return Message(ascii_line(subject, SUBJECT_LIMIT), body, ascii_line(first, SMS_LIMIT), attributes)
