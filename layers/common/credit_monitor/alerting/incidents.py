"""Incidents: when many accounts of one provider fail the same way at once, one alert, not one per account.

Pure, like the rules: from a provider's incident state and its newest round (or its staleness), the next
state and the incident events. A vendor outage fails every account of it in the same round with the same
kind; two unlucky accounts do not. The rule, per failure kind K in a round that polled N accounts:

- an incident of K **forms** when at least ``min_accounts`` accounts failed with K and they are at least
  ``min_share`` of N. While it stands (forming or alerted), those accounts' own failure and stale alerts are
  held back (alerting.pipeline's inhibition);
- it is **alerted** once it has held for ``rounds`` consecutive rounds (FailureAlertAfter: when the accounts'
  own failure alerts would have gone out), so a one-round blip says nothing;
- it **stays** while at least ``min_accounts`` still fail with K and they are at least half ``min_share``
  (hysteresis: an outage recovering account by account does not flap), and is **over** otherwise: one
  all-clear if it was alerted, and any account still failing then gets its own alert.

Staleness (a provider's rounds stopped) is the same, with the kind ``stale``, the ok accounts as the count,
and no streak: the StaleAfterPolls window has already waited.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from credit_monitor.model import Incident, IncidentState, RoundSummary

STALE = "stale"


@dataclass(frozen=True)
class IncidentRule:
    min_accounts: int = 3  # IncidentMinAccounts
    min_share: float = 0.5  # IncidentMinPercent / 100
    rounds: int = 3  # consecutive rounds before the alert (FailureAlertAfter)

    def forms(self, count: int, of: int) -> bool:
        return count >= self.min_accounts and count >= self.min_share * max(of, 1)

    def holds(self, count: int, of: int) -> bool:
        return count >= self.min_accounts and count >= self.min_share / 2 * max(of, 1)


@dataclass(frozen=True)
class IncidentEvent:
    what: str  # "opened" or "over"
    incident: Incident
    still: int = 0  # when over: accounts still failing with its kind (they now get their own alerts)


def assess_round(state: IncidentState, summary: RoundSummary, rule: IncidentRule) -> tuple[IncidentState, list[IncidentEvent]]:
    """Apply one round's failures to the provider's failure incidents."""
    if state.assessed_round is not None and summary.round <= state.assessed_round:
        return state, []  # redelivered, or older than one already assessed
    incidents = {kind: incident for kind, incident in state.incidents.items() if kind == STALE}
    events = []
    for kind in sorted(set(summary.failures) | (set(state.incidents) - {STALE})):
        count, current = summary.failures.get(kind, 0), state.incidents.get(kind)
        if rule.holds(count, summary.polled) if current else rule.forms(count, summary.polled):
            found = Incident(kind, current.since if current else summary.started_at, count, summary.polled,
                             current.streak + 1 if current else 1, current.alerted if current else False)  # fmt: skip
            if not found.alerted and found.streak >= rule.rounds:
                found = replace(found, alerted=True)
                events.append(IncidentEvent("opened", found))
            incidents[kind] = found
        elif current is not None and current.alerted:
            events.append(IncidentEvent("over", current, still=count))
    return IncidentState(summary.round, incidents, state.version), events


def assess_staleness(state: IncidentState, stale: bool, count: int, of: int, since: str | None,
                     rule: IncidentRule) -> tuple[IncidentState, list[IncidentEvent]]:  # fmt: skip
    """The provider's rounds stopped (``stale``) with ``count`` of its ``of`` accounts last read fine."""
    current = state.incidents.get(STALE)
    incidents = dict(state.incidents)
    if stale and (current is not None or rule.forms(count, of)):
        if current is None:
            opened = Incident(STALE, since or "", count, of, alerted=True)
            incidents[STALE] = opened
            return replace(state, incidents=incidents), [IncidentEvent("opened", opened)]
        return state, []
    if not stale and current is not None:
        del incidents[STALE]
        return replace(state, incidents=incidents), [IncidentEvent("over", current)]
    return state, []
