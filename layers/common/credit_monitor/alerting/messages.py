"""What an alert says: a subject, a body a person can act on, and a one-line SMS.

Every message carries the attributes ``provider``, ``account``, ``level`` and ``event`` so that a
subscription can filter (the SMS subscription takes only critical, depleted and failure by default).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from credit_monitor.alerting.incidents import IncidentEvent
from credit_monitor.alerting.rules import (
    ANOMALY,
    CONFIGURATION,
    FAILURE,
    FORECAST,
    INCIDENT,
    RECOVERY,
    STALE,
    THRESHOLD,
    AlertEvent,
    credit_level,
)
from credit_monitor.alerting.thresholds import Silence, Threshold
from credit_monitor.model import RANK, AlertMessage, AlertState, BalanceItem, FailureKind, parse_time

SUBJECT_LIMIT = 100  # SNS: at most 100 printable ASCII characters
SMS_LIMIT = 140  # one SMS message


@dataclass(frozen=True)
class AccountContext:
    balance: BalanceItem  # the account's latest balance
    threshold: Threshold
    state: AlertState  # the state after the event
    now: datetime

    @property
    def name(self) -> str:
        return f"{self.balance.provider}/{self.balance.account}"


def credits(value: Any) -> str:
    if value is None:
        return "unknown"
    number = float(value)
    return f"{number:,.0f}" if number == int(number) or abs(number) >= 100 else f"{number:,.2f}"


def rate(value: Any) -> str:
    """Credits an hour: whole above 10, two decimals below (a rate is an estimate, not a balance)."""
    if value is None:
        return "unknown"
    return f"{float(value):,.0f}" if abs(float(value)) >= 10 else f"{float(value):,.2f}"


def ascii_line(text: str, limit: int) -> str:
    line = " ".join(text.encode("ascii", "replace").decode("ascii").split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def render(event: AlertEvent, ctx: AccountContext) -> AlertMessage:
    balance, name = ctx.balance, ctx.name
    amount = f"{credits(balance.available)} {balance.unit}"
    level = event.level.upper()
    if event.event == THRESHOLD:
        still = "still " if event.reminder else ""
        headline = f"{name} {still}{level}: {amount} left" + (" after a silence" if event.about == "silence" else "")
        limit = ctx.threshold.critical if event.level in ("critical", "depleted") else ctx.threshold.warning
        first = f"{headline} (alert at {credits(limit)})"
        advice = (
            "Credits are gone: jobs on this account fail until you top up."
            if event.level == "depleted"
            else f"Top up {balance.provider} credits for account {balance.account} before jobs start failing."
        )
    elif event.event == RECOVERY:
        headline, first, advice = _recovery(event, name, amount, ctx.state)
    elif event.event == FAILURE:
        kind = FailureKind.of(event.about)
        headline = f"{name} polls {'still ' if event.reminder else ''}failing: {kind.summary}"
        first = f"{headline}; last good balance {amount}" if balance.ever_read else f"{headline}; no balance read yet"
        advice = kind.advice
    elif event.event == STALE:
        age = _age(balance.fetched_at, ctx.now)
        headline = f"{name} balance stale: last good poll {age} ago"
        first = f"{headline}; last known {amount}"
        advice = "Check that the poller's schedule is enabled and that the poller function is not erroring (its logs and alarms)."
    elif event.event == FORECAST:
        headline = f"{name} FORECAST: credits run out in {ctx.state.days_left:.1f} days"
        first = f"{headline} ({amount} left, ~{credits(ctx.state.burn_per_day)}/day)"
        advice = f"Top up {balance.provider} credits for account {balance.account} before {ctx.state.depletes_at}."
    elif event.event == ANOMALY:
        state, unit = ctx.state, balance.unit
        times = f"{state.anomaly_rate / state.usual_rate:,.0f}x" if state.usual_rate else "from nothing"
        headline = f"{name} ANOMALY: spending {rate(state.anomaly_rate)} {unit}/h, usually {rate(state.usual_rate)}/h ({times})"
        first = f"{headline}; {credits(state.anomaly_spent)} {unit} spent since {state.anomaly_since}; {amount} left"
        advice = ("Find out who is using this key: a leaked key or a runaway job spends like this. If you do not recognise "
                  "the spending, revoke the key at the provider and put a new one in the provider's secret.")  # fmt: skip
    else:
        raise ValueError(f"no account message for event {event.event!r}")
    body = "\n".join([ascii_line(first, 1000), "", *_fact_lines(ctx), "", f"What to do: {advice}"])
    return AlertMessage(
        subject=ascii_line(headline, SUBJECT_LIMIT),
        body=body,
        sms=ascii_line(first, SMS_LIMIT),
        attributes={"provider": balance.provider, "account": balance.account, "level": event.level, "event": event.event},
        detail=_detail(event, ctx),
    )


# What an event is about, for consumers that track one condition per account (a PagerDuty incident,
# a paused job queue): the balance's level, failing polls, a stale balance, a forecast, the thresholds.
CONDITIONS = {"level": "balance", "silence": "balance", "polls": "polls", "staleness": "staleness", "forecast": "forecast",
              "rejected": "configuration", "configuration": "configuration", "silence-expired": "configuration",
              "anomaly": "anomaly"}  # fmt: skip
SEVERITIES = {"ok": "info", "unknown": "warning", "warning": "warning", "critical": "critical", "depleted": "critical"}


def condition_of(event: AlertEvent) -> str:
    return CONDITIONS.get(event.about, "polls" if event.event == FAILURE else event.about)


def event_facts(event: AlertEvent, condition: str) -> dict[str, Any]:
    """The facts every alert event carries about itself: what it is about, whether that is over, how bad."""
    resolved = event.event == RECOVERY and (condition != "balance" or event.level == "ok")
    if resolved or event.about == "silence-expired":
        severity = "info"
    elif event.event in (FAILURE, ANOMALY):
        severity = "error"
    elif event.event in (STALE, FORECAST, CONFIGURATION):
        severity = "warning"
    else:
        severity = SEVERITIES.get(event.level, "warning")
    return {"event": event.event, "level": event.level, "previous_level": event.previous_level, "condition": condition,
            "resolved": resolved, "severity": severity, "reminder": event.reminder}  # fmt: skip


def _detail(event: AlertEvent, ctx: AccountContext) -> dict[str, Any]:
    balance, state = ctx.balance, ctx.state
    condition = condition_of(event)
    return {
        "provider": balance.provider,
        "account": balance.account,
        **event_facts(event, condition),
        "available": balance.available,
        "unit": balance.unit,
        **_lines_crossed(event, ctx, condition),
        "days_left": state.days_left,
        "fetched_at": balance.fetched_at,
        "error_kind": event.about if event.event == FAILURE else None,
        **({"recent_rate": state.anomaly_rate, "usual_rate": state.usual_rate, "spent_since": state.anomaly_spent}
           if condition == "anomaly" else {}),
    }  # fmt: skip


def after_silence(message: AlertMessage, reason: str | None) -> AlertMessage:
    """A message sent as a silence ends says which silence it was."""
    if reason is None or "still" not in message.subject:
        return message
    note = f"A silence held back this account's alerts ({reason}); it is over, and this is still so."
    first, _, rest = message.body.partition("\n")
    return replace(message, body=f"{first}\n\n{note}\n{rest}")


def expired_silence_message(silence: Silence, parameter: str) -> AlertMessage:
    """One report of a silence past its end, still in the document (it is ignored)."""
    subject = f"Credit monitor: a silence ended: {silence.reason}"
    first = f"{subject} (for {silence.scope}, until {silence.until})"
    body = (f"{ascii_line(first, 1000)}\n\nAlerts for {silence.scope} are sent again; an account still below a threshold "
            "gets one message saying so.\n\nWhat to do: remove the silence from the thresholds document "
            f"(SSM parameter {parameter}), or give it a later until to silence longer.")  # fmt: skip
    event = AlertEvent(CONFIGURATION, "ok", about="silence-expired")
    attributes = {"provider": "monitor", "account": "thresholds", "level": "ok", "event": CONFIGURATION}
    return AlertMessage(ascii_line(subject, SUBJECT_LIMIT), body, ascii_line(first, SMS_LIMIT), attributes, monitor_detail(event))


def _lines_crossed(event: AlertEvent, ctx: AccountContext, condition: str) -> dict[str, float | None]:
    """The line the event is about: in credits, or in days left when the forecast moved the level."""
    if condition != "balance":
        return {"threshold": None, "threshold_days": None}
    available = ctx.balance.available
    by_credits = available is None or RANK[credit_level(float(available), ctx.threshold, 0)] >= RANK.get(event.level, 0)
    if by_credits or not ctx.threshold.has_days or event.event != THRESHOLD:
        return {"threshold": _threshold_crossed(event, ctx), "threshold_days": None}
    days = {"warning": ctx.threshold.warning_days, "critical": ctx.threshold.critical_days}.get(event.level)
    return {"threshold": None, "threshold_days": days}


def _threshold_crossed(event: AlertEvent, ctx: AccountContext) -> float | None:
    """The line the balance crossed: the level's own threshold on a fall, the one it rose above on a recovery."""
    line = {"depleted": 0, "critical": ctx.threshold.critical, "warning": ctx.threshold.warning}
    if event.event == THRESHOLD:
        return line.get(event.level)
    above = {"ok": "warning", "warning": "critical", "critical": "depleted"}.get(event.level)
    return line.get(above) if above else None


def _recovery(event: AlertEvent, name: str, amount: str, state: AlertState | None = None) -> tuple[str, str, str]:
    if event.about == "anomaly" and state is not None:
        headline = f"{name} spending back to usual: {credits(state.anomaly_rate)}/h"
        return (
            headline,
            f"{headline} (usually {credits(state.usual_rate)}/h; {credits(state.anomaly_spent)} spent during it)",
            ("Nothing, unless you did not recognise the spending: then rotate the key."),
        )
    if event.about == "polls":
        headline = f"{name} polls succeed again: {amount}"
        return headline, headline, "Nothing; the failure has cleared."
    if event.about == "staleness":
        headline = f"{name} balance is fresh again: {amount}"
        return headline, headline, "Nothing; polls are arriving again."
    headline = f"{name} recovered to {event.level.upper()}: {amount}"
    return headline, f"{headline} (was {str(event.previous_level).upper()})", "Nothing, unless the level is still not OK."


def thresholds_line(threshold: Threshold) -> str:
    """The threshold in force, in words: its lines and where they come from."""
    line = f"warning at {credits(threshold.warning)}, critical at {credits(threshold.critical)}"
    if threshold.has_days:
        line += f"; or {threshold.warning_days:g} and {threshold.critical_days:g} days left"
    return line if threshold.basis == "absolute credits" else f"{line} ({threshold.basis})"


def _fact_lines(ctx: AccountContext) -> list[str]:
    balance, state = ctx.balance, ctx.state
    frozen = credits(balance.frozen if balance.frozen is not None else 0)
    facts = [
        ("Provider", balance.provider),
        ("Account", balance.account),
        ("Level", state.level_name),
        ("Balance", f"{credits(balance.available)} {balance.unit} available, {frozen} frozen"),
        ("Thresholds", thresholds_line(ctx.threshold)),
        ("Burn rate", f"{credits(state.burn_per_day)} {balance.unit}/day" if state.burn_per_day is not None else "not enough history yet"),
        ("Days left", f"{state.days_left:.1f} (runs out around {state.depletes_at})" if state.days_left is not None else "no forecast"),
        ("Last good poll", balance.fetched_at or "never"),
    ]
    if balance.status == "error":
        facts.append(("Last poll", f"{balance.polled_at} failed ({balance.error_kind}): {balance.error}"))
        facts.append(("Failing since", f"{balance.failing_since} ({balance.consecutive_failures} polls in a row)"))
    width = max(len(label) for label, _ in facts) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in facts]


def _age(fetched_at: str | None, now: datetime) -> str:
    if not fetched_at:
        return "never"
    minutes = int((now - parse_time(fetched_at)).total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h" if minutes < 2880 else f"{minutes // 1440} days"


def configuration_message(event: AlertEvent, parameter: str, reason: str) -> AlertMessage:
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
    return AlertMessage(ascii_line(subject, SUBJECT_LIMIT), body, ascii_line(first, SMS_LIMIT), attributes, monitor_detail(event))


def monitor_detail(event: AlertEvent) -> dict[str, Any]:
    """The event detail of an alert about the monitor's own configuration (no account, no balance)."""
    return {"provider": "monitor", "account": "thresholds", **event_facts(event, "configuration"), "available": None, "unit": None,
            "threshold": None, "threshold_days": None, "days_left": None, "fetched_at": None, "error_kind": None}  # fmt: skip


def incident_message(event: IncidentEvent, provider: str) -> AlertMessage:
    """One message for many accounts of one provider failing the same way (or going stale) at once."""
    incident = event.incident
    if incident.kind == "stale":
        what, summary = "balances stale", "no complete poll round"
        advice = "Check that the provider's poller is scheduled and not failing (its logs, the dead-letter queues, the alarms)."
    else:
        kind = FailureKind.of(incident.kind)
        what, summary, advice = "polls failing", kind.summary, kind.advice
    if event.what == "opened":
        subject = f"{provider} INCIDENT: {incident.accounts:,} of {incident.of:,} accounts {what}: {summary}"
        first = f"{subject} (since {incident.since})"
        body = [ascii_line(first, 1000), "",
                f"Provider:  {provider}", f"Cause:     {summary}",
                f"Accounts:  {incident.accounts:,} of {incident.of:,} in the latest round",
                f"Since:     {incident.since}", "",
                "While it lasts, these accounts' own failure and stale alerts are held back; one message says when it is over.",
                "", f"What to do: {advice}"]  # fmt: skip
        level, resolved, severity = "critical", False, "error"
    else:
        subject = f"{provider} incident over: {summary}"
        still = f"; {event.still:,} account(s) still failing get their own alerts" if event.still else ""
        first = f"{subject} (was {incident.accounts:,} of {incident.of:,} accounts, since {incident.since}){still}"
        body = [ascii_line(first, 1000), "", "What to do: nothing, unless an account's own alert follows."]
        level, resolved, severity = "ok", True, "info"
    detail = {"provider": provider, "account": "*", "event": INCIDENT, "level": level, "previous_level": None, "condition": "incident",
              "resolved": resolved, "severity": severity, "reminder": False, "available": None, "unit": None, "threshold": None,
              "threshold_days": None, "days_left": None, "fetched_at": None, "error_kind": incident.kind,
              "accounts_affected": incident.accounts, "accounts_polled": incident.of, "since": incident.since}  # fmt: skip
    attributes = {"provider": provider, "account": "*", "level": level, "event": INCIDENT}
    return AlertMessage(ascii_line(subject, SUBJECT_LIMIT), "\n".join(body), ascii_line(first, SMS_LIMIT), attributes, detail)
