"""The alert pipeline: where an account's alert comes from and every stage it passes, assembled in one place.

    rules decide events (rules.py, incidents.py)
      -> silences     the configuration's silences hold alerts back; the state still advances
      -> inhibition   an incident holds back its accounts' failure and stale alerts; a failing account
                      is not also alerted as stale (INHIBITIONS: configuration, not special cases in rules)
      -> labels       the account's labels, on the message's attributes and its event's detail
      -> record       the transition and its messages, in one conditional write (storage.alerts)
      -> notify       delivery.py: the alert's event on the bus at once (machines get one record per
                      account), and its message into its notification group (grouping.py: people get one
                      message per group, after GroupWaitSeconds)

"Why was this alert not sent?" has one place to look: each stage logs what it held back and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from credit_monitor.alerting.delivery import Delivery
from credit_monitor.alerting.labels import pairs
from credit_monitor.alerting.rules import FAILURE, STALE, AlertEvent
from credit_monitor.alerting.thresholds import Thresholds
from credit_monitor.model import AlertMessage, AlertState, IncidentState, format_time
from credit_monitor.storage.alerts import AlertStore

logger = Logger()

Rules = Callable[[AlertState], tuple[AlertState, list[AlertEvent]]]
Render = Callable[[AlertEvent, AlertState], AlertMessage]


# -- silences ----------------------------------------------------------------------------------------


def apply_silences(config: Thresholds, provider: str, account: str, state: AlertState, events: list[AlertEvent],
                   now: datetime) -> tuple[AlertState, list[AlertEvent]]:  # fmt: skip
    """The events no active silence holds back. The state still advances, and remembers the silence, so that
    its end can say what is still wrong (rules.evaluate_silence_end)."""
    kept = []
    for event in events:
        silence = config.silence_for(provider, account, event.level, event.event, now)
        if silence is None:
            kept.append(event)
            continue
        logger.info("alert silenced", extra={"provider": provider, "account": account, "event": event.event, "alert_level": event.level,
                                             "reason": silence.reason, "until": silence.until})  # fmt: skip
        if state.silenced_at is None:
            state = replace(state, silenced_at=format_time(now), silence_reason=silence.reason)
    return state, kept


# -- inhibition --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inhibition:
    """While ``source`` holds for an account, its ``targets`` events are held back, and the transition they
    announce is not made (so it is decided again, and alerted, once the source is gone)."""

    source: str  # "failure": the account's own failure alert stands; "incident": its provider's incident covers it
    targets: tuple[str, ...]
    why: str


INHIBITIONS = (
    Inhibition("failure", (STALE,), "a failing account is not also alerted as stale: its failure alert names the cause"),
    Inhibition("incident", (FAILURE, STALE), "an incident stands for the failure and stale alerts of the accounts it covers"),
)


def _source_holds(source: str, event: AlertEvent, state: AlertState, incidents: IncidentState) -> bool:
    if source == "failure":
        return state.failure is not None
    kind = STALE if event.event == STALE else event.about
    return incidents.covers(kind)


def inhibit(before: AlertState, state: AlertState, events: list[AlertEvent], incidents: IncidentState,
            *, where: dict[str, Any]) -> tuple[AlertState, list[AlertEvent]]:  # fmt: skip
    kept = []
    for event in events:
        rule = next((r for r in INHIBITIONS if event.event in r.targets and _source_holds(r.source, event, state, incidents)), None)
        if rule is None:
            kept.append(event)
            continue
        logger.info("alert held back", extra={**where, "event": event.event, "about": event.about, "by": rule.source, "why": rule.why})
        # Not made: a held failure or staleness is decided again while it lasts, and alerted once nothing holds it.
        state = replace(state, failure=before.failure) if event.event == FAILURE else replace(state, stale=before.stale)
    return state, kept


# -- labels ------------------------------------------------------------------------------------------


def labelled(message: AlertMessage, labels: dict[str, str]) -> AlertMessage:
    """The message carrying its labels: SNS attributes ``label.<name>`` (a filter policy selects on them) and
    the event detail's ``labels`` and ``label_pairs`` (a rule's pattern selects on ``name=value``)."""
    attributes = {**message.attributes, **{f"label.{name}": value for name, value in labels.items()}}
    return replace(message, attributes=attributes, detail={**message.detail, "labels": dict(labels), "label_pairs": pairs(labels)})


# -- record and notify ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    before: AlertState
    after: AlertState
    sent: int


class AccountPipeline:
    """An account's alerts through every stage: ``rules`` decide, ``render`` words each event."""

    def __init__(self, store: AlertStore, delivery: Delivery) -> None:
        self.store = store
        self.delivery = delivery

    def run(self, provider: str, account: str, rules: Rules, render: Render, config: Thresholds, incidents: IncidentState,
            now: datetime) -> Outcome:  # fmt: skip
        labels = config.labels.for_account(provider, account)
        seen: dict[str, AlertState] = {}

        def alert_through_stages(state: AlertState) -> tuple[AlertState, list[AlertMessage]]:
            seen["before"] = state
            new, events = rules(state)
            new, events = apply_silences(config, provider, account, new, events, now)
            new, events = inhibit(state, new, events, incidents, where={"provider": provider, "account": account})
            return new, [labelled(render(event, new), labels) for event in events]

        after, pending = self.store.decide_account(provider, account, alert_through_stages)
        before = seen.get("before", after)
        self._markers(provider, account, before, after)
        return Outcome(before, after, self.send(provider, account) if pending else 0)

    def send(self, provider: str, account: str) -> int:
        """Deliver the account's outbox; a marker asks the scheduled check to finish it should this fail."""
        self.store.mark(provider, account, "outbox")
        drained = self.delivery.drain(self.store.account_key(provider, account))
        if drained.emptied:
            self.store.unmark(provider, account, "outbox")
        return drained.sent

    def _markers(self, provider: str, account: str, before: AlertState, after: AlertState) -> None:
        """What the scheduled check must come back to: a silence to see end, a staleness to see recover."""
        for reason, was, now in (("silence", before.silenced_at, after.silenced_at), ("stale", before.stale, after.stale)):
            if now and not was:
                self.store.mark(provider, account, reason)
            elif was and not now:
                self.store.unmark(provider, account, reason)
