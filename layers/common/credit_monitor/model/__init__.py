"""The values that cross the three flows (polling, alerting, api) and the storage beneath them.

One copy of every shared rule lives here, one module a subject: what a provider id and an account name
look like (identifiers), the stored time format and the one ISO-8601 parser (times), a vendor's words
made plain (text), what each kind of failure means and what to do about it (failures), a function's
configuration gone wrong and the provider base URL check (configuration), plausible credit amounts and
a reading (credits), what is stored per account and round (balances), and alert state (alerts).
Typed values are built once, in storage or in the poller, and travel as themselves; every public name is
importable from ``credit_monitor.model`` itself.
"""

from __future__ import annotations

from credit_monitor.model.alerts import (
    LEVELS,
    RANK,
    UNKNOWN_LEVEL,
    AccountSnapshot,
    AlertMessage,
    AlertState,
    Incident,
    IncidentState,
    SentAlert,
)
from credit_monitor.model.balances import BalanceItem, HistoryReading, LastPoll, RoundSummary
from credit_monitor.model.configuration import LOOPBACK_HOSTS, validate_base_url
from credit_monitor.model.credits import MAX_CREDITS, AccountResult, Number, Reading, check_credits
from credit_monitor.model.failures import FailureKind
from credit_monitor.model.identifiers import (
    ACCOUNT_NAME,
    ACCOUNT_NAME_RULE,
    PROVIDER_ID,
    PROVIDER_ID_RULE,
    valid_account_name,
    valid_provider_id,
)
from credit_monitor.model.text import clean_text
from credit_monitor.model.times import ISO8601_EXAMPLE, MAX_YEAR, MIN_YEAR, TIME_FORMAT, format_time, parse_time, utc_now

__all__ = [
    "ACCOUNT_NAME", "ACCOUNT_NAME_RULE", "ISO8601_EXAMPLE", "LEVELS", "LOOPBACK_HOSTS", "MAX_CREDITS", "MAX_YEAR", "MIN_YEAR",
    "PROVIDER_ID", "PROVIDER_ID_RULE", "RANK", "TIME_FORMAT", "UNKNOWN_LEVEL", "AccountResult", "AccountSnapshot", "AlertMessage",
    "AlertState", "BalanceItem", "FailureKind", "HistoryReading", "Incident", "IncidentState", "LastPoll",
    "Number", "Reading", "RoundSummary", "SentAlert", "check_credits", "clean_text", "format_time", "parse_time",
    "utc_now", "valid_account_name", "valid_provider_id", "validate_base_url",
]  # fmt: skip
