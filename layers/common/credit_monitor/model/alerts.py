"""Alert state: an account's levels and what the aggregator remembers, the alerts it sends, and provider incidents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from credit_monitor.model.balances import BalanceItem
from credit_monitor.model.credits import Number

LEVELS = ("ok", "warning", "critical", "depleted")
RANK = {level: rank for rank, level in enumerate(LEVELS)}
UNKNOWN_LEVEL = "unknown"  # the level of an account never read successfully (alert attributes, digest)


@dataclass(frozen=True)
class AlertState:
    """What the aggregator remembers about an account between events.

    ``level`` is None until a balance has been read: an account whose key was rejected from the start
    has no level, rather than a level of "ok" that nothing measured.
    """

    level: str | None = None
    failure: str | None = None  # the failure kind (or rejected document) alerted on, until recovery
    stale: bool = False
    forecast_alerted: bool = False
    notified_at: str | None = None  # last threshold message, for reminders
    seen_polled_at: str | None = None  # newest poll applied: older (redelivered, reordered) records are ignored
    burn_per_day: float | None = None
    days_left: float | None = None
    depletes_at: str | None = None
    forecast_at: str | None = None
    forecast_digest: str | None = None  # the reading (Reading.digest) the last forecast was made with
    top_up_base: float | None = None  # the balance just after the last top-up (percent_of: last_top_up)
    silenced_at: str | None = None  # when an alert was first held back by a silence still in force
    silence_reason: str | None = None
    reported: list[str] | None = None  # the thresholds document's item: expired silences already reported
    spend: dict[str, Any] | None = None  # alerting.spend.Tally: spend per hour and day, the last intervals
    anomaly_since: str | None = None  # when the account began spending far faster than usual, until it calms down
    anomaly_rate: float | None = None  # credits an hour when the anomaly was seen
    usual_rate: float | None = None  # its usual rate then
    anomaly_spent: float | None = None  # spent since the anomaly began
    fast_until: str | None = None  # a fast interval stays in the anomaly rule's window until then (rules.anomaly_window_needed)
    fast_rate: float | None = None  # the fastest such interval's credits an hour
    version: int = 0

    STORED = ("level", "failure", "stale", "forecast_alerted", "notified_at", "seen_polled_at", "burn_per_day", "days_left",
              "depletes_at", "forecast_at", "forecast_digest", "top_up_base", "silenced_at", "silence_reason", "reported", "spend",
              "anomaly_since", "anomaly_rate", "usual_rate", "anomaly_spent", "fast_until", "fast_rate")  # fmt: skip

    def stored_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.STORED}

    @property
    def level_name(self) -> str:
        """The level as a word for messages and attributes: "unknown" before the first reading."""
        return self.level or UNKNOWN_LEVEL


@dataclass(frozen=True)
class AccountSnapshot:
    """Everything stored about one account: its latest balance (None before its first poll) and alert state."""

    provider: str
    account: str
    balance: BalanceItem | None
    alert: AlertState

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.account}"


@dataclass(frozen=True)
class AlertMessage:
    """One alert as it leaves the system: subject, full text, a one-line SMS, filterable attributes, and
    the facts its event carries (``detail``: provider, account, event, level, available... see
    alerting/notify.py for the whole event and schemas/ for its schema)."""

    subject: str
    body: str
    sms: str
    attributes: dict[str, str]
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SentAlert:
    """An alert as kept once every channel took it (GET /alerts): its event's facts and words, and when."""

    alert_id: str
    provider: str
    account: str
    event: str
    level: str
    previous_level: str | None
    condition: str
    resolved: bool
    severity: str
    available: Number | None
    unit: str | None
    threshold: Number | None
    threshold_days: Number | None
    days_left: Number | None
    error_kind: str | None
    fetched_at: str | None
    subject: str
    message: str
    decided_at: str  # when the transition was committed (the alert_id's time)
    sent_at: str  # when the last channel took it
    labels: dict[str, str] = field(default_factory=dict)  # the account's labels (the configuration's "labels")


# -- incidents --------------------------------------------------------------------------------------


# -- incidents --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """Many accounts of one provider failing the same way at once (a vendor outage, a revoked organisation
    key) or going stale together (the provider's polls stopped): one alert instead of one per account."""

    kind: str  # a failure kind, or "stale"
    since: str  # when the first round meeting the rule started
    accounts: int  # accounts it covers, as of the latest assessment
    of: int  # accounts polled in that round
    streak: int = 1  # consecutive assessed rounds meeting the rule
    alerted: bool = False  # its alert was sent (then its end is announced too)


@dataclass(frozen=True)
class IncidentState:
    """A provider's incidents, by kind, and the newest round assessed (an older or redelivered one is ignored)."""

    assessed_round: str | None = None
    incidents: dict[str, Incident] = field(default_factory=dict)
    version: int = 0

    def stored_fields(self) -> dict[str, Any]:
        return {"assessed_round": self.assessed_round,
                "incidents": {kind: {**vars(incident)} for kind, incident in sorted(self.incidents.items())}}  # fmt: skip

    def covers(self, kind: str | None) -> bool:
        """Whether an incident (alerted or forming) holds back the accounts' own alerts of this kind."""
        return kind is not None and kind in self.incidents
