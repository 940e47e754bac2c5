"""The balance stream: what a poller wrote, turned into alerts.

Two kinds of record reach the aggregator (the mapping's filter admits nothing else):

- an account's **latest balance**, written when its reading changed, its poll failed, or its hourly
  heartbeat was due: thresholds, recoveries, the forecast and the anomaly check (both at most hourly);
- a provider's **round**, written at the end of each full poll round (after every shard of a sharded
  one): the round's failures decide its incidents first, then each failing account's own failure alert,
  which an incident covering it holds back. Deciding failures with their round is what lets one outage
  be one message, whatever order the stream delivers the accounts in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from credit_monitor.alerting import spend
from credit_monitor.alerting.forecast import HistoryPoint, point_from_reading
from credit_monitor.alerting.forecast import forecast as make_forecast
from credit_monitor.alerting.incidents import assess_round
from credit_monitor.alerting.messages import AccountContext, incident_message, render
from credit_monitor.alerting.pipeline import labelled
from credit_monitor.alerting.rules import (
    anomaly_window_needed,
    count_spend,
    evaluate_anomaly,
    evaluate_balance,
    evaluate_failure,
    evaluate_forecast,
)
from credit_monitor.alerting.service import Alerting
from credit_monitor.alerting.thresholds import Thresholds, threshold_for
from credit_monitor.model import AlertState, BalanceItem, IncidentState, RoundSummary, format_time, parse_time

logger = Logger()

NO_INCIDENT = IncidentState()


def handle_balance(service: Alerting, balance: BalanceItem, previous: BalanceItem | None = None) -> int:
    """Apply a poller's latest balance (``previous``: the one it replaced); returns the messages sent."""
    config = service.configuration.thresholds
    now = service.clock()
    before = float(previous.available) if previous is not None and previous.available is not None else None
    anomaly = config.anomaly_for(balance.provider, balance.account)
    reads = HistoryReads(service, balance, now)

    def rules(state: AlertState):
        # The threshold may follow the account (percent of its allowance or of its last top-up).
        threshold = threshold_for(config, balance, state, before)
        new, events = evaluate_balance(state, balance, threshold, service.settings.alert, now, before)
        if balance.available is None or balance.status != "ok":
            return new, events
        if _forecast_due(service, state, balance, now):  # hourly: the forecast, and the spend tally, from one read of history
            baseline = anomaly.baseline if anomaly else spend.DEFAULT_BASELINE
            points = reads.since(_oldest_needed(service, state, now, baseline))
            window = now - service.settings.forecast_window
            result = make_forecast([p for p in points if p.at >= window], float(balance.available), now)
            new, more = evaluate_forecast(new, result, service.settings.alert, now, threshold, float(balance.available))
            new = replace(count_spend(new, points, baseline), forecast_digest=balance.digest)
            events += more
            logger.info("account forecast", extra={"provider": balance.provider, "account": balance.account, "days_left": result.days_left,
                                                   "burn_per_day": result.burn_per_day, "depletes_at": result.depletes_at,
                                                   "available": balance.available, "unit": balance.unit})  # fmt: skip
        moved = previous is not None and (previous.digest is None or previous.digest != balance.digest)
        read = False
        if anomaly is not None and moved:  # only a change fast enough to matter reads history (rules.anomaly_window_needed)
            new, read = anomaly_window_needed(new, previous, balance, anomaly, now)
        if anomaly is not None and (read or new.anomaly_since):  # how fast it spends now (or an anomaly to see end)
            recent = reads.totals(now - anomaly.recent, now).spent
            began = reads.totals(parse_time(new.anomaly_since), now).spent if new.anomaly_since else None
            new, more = evaluate_anomaly(new, recent / (anomaly.recent / spend.HOUR), recent, anomaly, now, began)
            events += more
        return new, events

    def words(event, state):
        return render(event, AccountContext(balance, threshold_for(config, balance, state, before), state, now))

    # A balance's own events (thresholds, recoveries, forecasts, anomalies) are never an incident's to hold back.
    return service.pipeline.run(balance.provider, balance.account, rules, words, config, NO_INCIDENT, now).sent


def _forecast_due(service: Alerting, state: AlertState, balance: BalanceItem, now: datetime) -> bool:
    """Hourly, or until the history is long enough for a burn rate (a new account's first hour); but not for
    an account at rest: its reading unchanged since a forecast that saw no spending in the window (and no
    forecast alert to clear). Its hourly heartbeat then costs one read of its alert state, no history read
    and no write; its first change forecasts it again and counts the spend since (idle hours count as 0)."""
    if state.forecast_at is None or state.burn_per_day is None:
        return True
    if now - parse_time(state.forecast_at) < service.settings.forecast_refresh:
        return False
    at_rest = balance.digest is not None and balance.digest == state.forecast_digest and state.days_left is None
    return not (at_rest and not state.forecast_alerted)


def _oldest_needed(service: Alerting, state: AlertState, now: datetime, baseline: timedelta) -> datetime:
    """The forecast's window, or back to the last reading the spend tally counted (at most its baseline)."""
    oldest = now - service.settings.forecast_window
    counted = (state.spend or {}).get("accounted_at")
    return min(oldest, max(parse_time(counted), now - baseline) if counted else now - baseline)


class HistoryReads:
    """The account's history, read at most once per window a record needs (a decision may be retried)."""

    def __init__(self, service: Alerting, balance: BalanceItem, now: datetime) -> None:
        self._service, self._balance, self._now = service, balance, now
        self._read: dict[str, list[HistoryPoint]] = {}

    def since(self, moment: datetime) -> list[HistoryPoint]:
        """The readings from ``moment`` on, and the one before it (what the balance was then), oldest first."""
        key = format_time(moment)
        if key not in self._read:
            balances, provider, account = self._service.balances, self._balance.provider, self._balance.account
            then = balances.history_at(provider, account, key)
            found = [point_from_reading(r) for r in balances.history_since(provider, account, key)]
            self._read[key] = ([point_from_reading(then)] if then is not None and then.fetched_at < key else []) + found
        return self._read[key]

    def totals(self, since: datetime, until: datetime) -> spend.Totals:
        return spend.totals(self.since(since), since, until)


def handle_round(service: Alerting, summary: RoundSummary) -> int:
    """A provider's round: its incidents, then the failure alerts of its failing accounts that none covers."""
    provider, now = summary.provider, service.clock()
    config = service.configuration.thresholds
    labels = config.labels.for_provider(provider)

    def alert_on_round_incidents(state: IncidentState):
        new, events = assess_round(state, summary, service.incident_rule)
        return new, [labelled(incident_message(event, provider), labels) for event in events]

    incidents, pending = service.alerts.decide_incidents(provider, alert_on_round_incidents)
    sent = service.send(service.alerts.incident_key(provider)) if pending else 0
    if not summary.failed:  # no account failed this round: no failure alert to decide, and no read of the provider
        return sent
    return sent + decide_failures(service, provider, incidents, config, now)


def decide_failures(service: Alerting, provider: str, incidents: IncidentState, config: Thresholds, now: datetime) -> int:
    """Each failing account's own failure alert, unless an incident of its kind covers it (read a page at a
    time: only the provider's failing accounts pass the filter)."""
    sent, held = 0, 0
    for balance in service.balances.failing(provider):
        if incidents.covers(balance.error_kind):
            held += 1  # the incident speaks for it; nothing is decided for it while the incident stands
            continue

        def rules(state: AlertState, balance=balance):
            return evaluate_failure(state, balance, service.settings.alert)

        def words(event, state, balance=balance):
            return render(event, AccountContext(balance, threshold_for(config, balance, state), state, now))

        sent += service.pipeline.run(provider, balance.account, rules, words, config, incidents, now).sent
    if held:
        logger.info("failure alerts held back by an incident", extra={"provider": provider, "accounts": held})
    return sent
