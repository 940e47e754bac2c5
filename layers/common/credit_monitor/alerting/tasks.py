"""The aggregator's scheduled and timed tasks: the check, the digest, re-evaluation, and a group's flush.

None of them reads every account in one piece. The check reads one round item per provider (a stopped
poller shows there, as one staleness for the whole provider) and the few accounts marked for its
attention (a message left queued, a silence to see end, a staleness to see recover); it walks a provider's
accounts, a page at a time, only when that provider went stale with too few accounts for an incident.
Re-evaluation walks a bounded number of accounts per run and says where to go on.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from credit_monitor import metrics
from credit_monitor.alerting.digest import Digest
from credit_monitor.alerting.incidents import assess_staleness
from credit_monitor.alerting.messages import AccountContext, after_silence, incident_message, render
from credit_monitor.alerting.pipeline import labelled
from credit_monitor.alerting.rules import evaluate_silence_end, evaluate_staleness
from credit_monitor.alerting.service import Alerting
from credit_monitor.alerting.stream import handle_balance, handle_round
from credit_monitor.alerting.thresholds import Thresholds, threshold_for
from credit_monitor.errors import RunIncomplete
from credit_monitor.model import AccountSnapshot, AlertState, IncidentState, RoundSummary, format_time, parse_time

logger = Logger()

REEVALUATE_ACCOUNTS = 500  # accounts one re-evaluation run applies (then it answers where to go on)
LOST_ROUND = timedelta(minutes=1)  # a round finished this long ago and still not assessed: its record was lost


def run_check(service: Alerting) -> dict[str, Any]:
    """Staleness per provider, rounds whose record was lost, marked accounts, and groups whose timer was lost.

    One provider (or account) failing does not stop the others; every failure is reported at the end.
    """
    now = service.clock()
    metrics.record_heartbeat()  # the heartbeat alarm watches for this: the monitor itself stopped checking
    published, accounts, failures = 0, 0, []
    try:
        published += service.configuration.record(force=True)
    except Exception as exc:
        failures.append(_failed("thresholds", exc))
    config = service.configuration.thresholds
    for provider in service.settings.providers:
        last_round = service.balances.last_round(provider)
        accounts += last_round.accounts if last_round else 0
        try:
            published += _check_provider(service, provider, last_round, config, now, failures)
        except Exception as exc:
            failures.append(_failed(provider, exc))
    try:
        published += service.grouping.sweep(time.time())
    except Exception as exc:
        failures.append(_failed("notification groups", exc))
    return _finish({"task": "check", "providers": len(service.settings.providers), "accounts": accounts, "published": published}, failures)


def _check_provider(service: Alerting, provider: str, last_round: RoundSummary | None, config: Thresholds, now: datetime,
                    failures: list[str]) -> int:  # fmt: skip
    sent = 0
    if last_round is not None:
        incidents = service.alerts.incident_state(provider)
        if (incidents.assessed_round or "") < last_round.round and now - parse_time(last_round.finished_at) > LOST_ROUND:
            sent += handle_round(service, last_round)
        sent += _staleness(service, provider, last_round, config, now, failures)
    for account, reason in service.alerts.marked(provider):
        try:
            sent += _marked(service, provider, account, reason, config, now)
        except Exception as exc:
            failures.append(_failed(f"{provider}/{account}", exc))
    return sent


def _staleness(service: Alerting, provider: str, last_round: RoundSummary, config: Thresholds, now: datetime, failures: list[str]) -> int:
    """A provider whose rounds stopped: one incident when enough of its accounts go stale together, else one
    alert per account; both recover once its rounds are complete again."""
    since = last_round.last_full_at or last_round.started_at
    stale = last_round.last_full_at is None or now - parse_time(last_round.last_full_at) > service.settings.alert.stale_after
    labels = config.labels.for_provider(provider)

    def alert_on_stale_incidents(state: IncidentState):
        new, events = assess_staleness(state, stale, last_round.succeeded, last_round.accounts, since, service.incident_rule)
        return new, [labelled(incident_message(event, provider), labels) for event in events]

    incidents, pending = service.alerts.decide_incidents(provider, alert_on_stale_incidents)
    sent = service.send(service.alerts.incident_key(provider)) if pending else 0
    if stale and not incidents.covers("stale"):
        for snapshot in service.balances.each_account(provider):
            try:
                sent += _apply_staleness(service, snapshot, config, incidents, now)
            except Exception as exc:
                failures.append(_failed(snapshot.name, exc))
    return sent


def _apply_staleness(service: Alerting, snapshot: AccountSnapshot, config: Thresholds, incidents: IncidentState, now: datetime) -> int:
    balance = snapshot.balance

    def rules(state: AlertState):
        return evaluate_staleness(state, balance, service.settings.alert, now)

    def words(event, state):
        return render(event, AccountContext(balance, threshold_for(config, balance, state), state, now))

    return service.pipeline.run(balance.provider, balance.account, rules, words, config, incidents, now).sent


def _marked(service: Alerting, provider: str, account: str, reason: str, config: Thresholds, now: datetime) -> int:
    if reason == "outbox":
        return service.pipeline.send(provider, account)
    found = service.balances.accounts(provider, account)
    if not found:  # the account left the provider's secrets: nothing to come back to
        service.alerts.unmark(provider, account, reason)
        return 0
    snapshot = found[0]
    if reason == "stale":
        return _apply_staleness(service, snapshot, config, service.alerts.incident_state(provider), now)
    balance = snapshot.balance
    still = config.covering(provider, account, now) is not None

    def rules(state: AlertState):
        return evaluate_silence_end(state, still)

    def words(event, state):
        message = render(event, AccountContext(balance, threshold_for(config, balance, state), state, now))
        return after_silence(message, snapshot.alert.silence_reason)

    return service.pipeline.run(provider, account, rules, words, config, service.alerts.incident_state(provider), now).sent


def run_reevaluate(service: Alerting, event: dict[str, Any]) -> dict[str, Any]:
    """Apply accounts' current latest balances again, as if their stream records were redelivered: how a
    dead-lettered stream batch is replayed (the alert state ignores what it already applied, so only a missed
    transition produces a message). At most REEVALUATE_ACCOUNTS a run; ``next`` says where to go on."""
    providers = list(service.settings.providers)
    start = event.get("provider")
    if start is not None and start not in providers:
        raise ValueError(f"reevaluate: unknown provider {str(start)[:40]!r}; this stack's providers: {', '.join(providers)}")
    after = event.get("after")
    published, done, failures = 0, 0, []
    for provider in providers[providers.index(start) if start else 0 :]:
        while True:
            page = service.balances.page(provider, after=after, limit=REEVALUATE_ACCOUNTS - done)
            for snapshot in page.accounts:
                try:
                    published += handle_balance(service, snapshot.balance)
                except Exception as exc:
                    failures.append(_failed(snapshot.name, exc))
            done += len(page.accounts)
            after = page.last_account
            if after is None:
                break
            if done >= REEVALUATE_ACCOUNTS:
                return _finish({"task": "reevaluate", "accounts": done, "published": published,
                                "next": {"task": "reevaluate", "provider": provider, "after": after}}, failures)  # fmt: skip
    return _finish({"task": "reevaluate", "accounts": done, "published": published, "next": None}, failures)


def run_digest(service: Alerting, event: dict[str, Any]) -> dict[str, Any]:
    """One summary message: counts of every account, the ones that need attention first, value and spend."""
    now = service.clock()
    config = service.configuration.thresholds
    digest = Digest(now, config, label=event.get("label"))
    for provider in service.settings.providers:
        for snapshot in service.balances.each_account(provider):
            digest.add(snapshot)
    day_ago = format_time(now - timedelta(hours=24))
    changes = {}
    for snapshot in digest.shown():
        then = service.balances.history_at(snapshot.provider, snapshot.account, day_ago)
        changes[snapshot.name] = None if then is None or snapshot.balance.available is None else snapshot.balance.available - then.available
    service.notifier.send_summary(digest.message(changes))
    return {"task": "digest", "accounts": digest.total}


def run_flush(service: Alerting, event: dict[str, Any]) -> dict[str, Any]:
    """A notification group's timer went off: its one message goes out."""
    group, generation = event.get("group"), event.get("generation")
    if not isinstance(group, str) or isinstance(generation, bool) or not isinstance(generation, int):
        raise ValueError('a flush task is {"task": "flush", "group": "<group key>", "generation": <number>}')
    return {"task": "flush", "group": group, "published": service.grouping.flush(group, generation)}


def _failed(what: str, exc: Exception) -> str:
    logger.exception("could not finish; the others go on", extra={"account": what})
    return f"{what}: {exc}"


def _finish(summary: dict[str, Any], failures: list[str]) -> dict[str, Any]:
    if failures:
        raise RunIncomplete(f"{summary['task']} finished with {len(failures)} failure(s): " + "; ".join(failures))
    return summary
