"""What the balance API returns. Field names are the contract in DESIGN.md; more fields are additions.

Plain dataclasses: serializing them needs nothing beyond the standard library, and openapi.json's
schemas are generated from these same classes and their field descriptions (devstack/openapi.py).
A class here never shares its name with one elsewhere in the package (the stored ``model.SentAlert`` is
answered as ``SentAlertBody``), so no module needs an import alias to tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from credit_monitor.model import Number


def described(text: str, **kwargs: Any) -> Any:
    """A dataclass field with a description for openapi.json."""
    return field(metadata={"description": text}, **kwargs)


@dataclass(frozen=True)
class Forecast:
    burn_per_day: Number | None = described("Credits consumed per day, from recent history (top-ups excluded)")
    days_left: Number | None = described("Days until the available credits run out at that rate; null when not burning")
    depletes_at: str | None = described("ISO-8601 UTC time the credits are projected to run out")
    computed_at: str | None = described("When the forecast was computed")


@dataclass(frozen=True)
class ThresholdInForce:
    warning: Number = described("Credits at or below which the account is at warning")
    critical: Number = described("Credits at or below which the account is critical")
    warning_days: Number | None = described("Days left by the forecast at or below which it is at warning; null without one")
    critical_days: Number | None = described("Days left by the forecast at or below which it is critical; null without one")
    key: str | None = described("The key of the alerting configuration in force (default, <provider>, <provider>/<account>); null for none")
    basis: str = described("Where the credit lines come from, in words (absolute credits, 20% of the plan's allowance (1000)...)")


@dataclass(frozen=True)
class SilenceInForce:
    reason: str = described("Why alerts are held back")
    until: str = described("ISO-8601 UTC time the silence ends")
    levels: list[str] | None = described("Only alerts of these levels are held back; null for all")
    events: list[str] | None = described("Only these events are held back; null for all")


@dataclass(frozen=True)
class RunsOutFirst:
    provider: str = described("Provider id")
    account: str = described("Account name")
    days_left: Number = described("Days left by its forecast")
    depletes_at: str | None = described("ISO-8601 UTC time its credits are projected to run out")


@dataclass(frozen=True)
class BalanceSummary:
    currency: str | None = described("The reporting currency of the alerting configuration's prices; null without prices")
    total_value: Number | None = described(
        "What the listed balances are worth, in that currency (priced accounts only); null without prices"
    )
    priced: int = described("Accounts counted in total_value")
    unpriced: list[str] = described("provider/account of balances with no price, left out of total_value")
    lowest_days_left: Number | None = described("The fewest days left of any listed account by its forecast; null when none is forecast")
    runs_out_first: RunsOutFirst | None = described("The account with the fewest days left")


@dataclass(frozen=True)
class Balance:
    provider: str = described("Provider id")
    account: str = described("Account name, from the provider's secret")
    available: Number | None = described("Credits spendable now; null until a poll has succeeded")
    frozen: Number | None = described("Credits reserved by running tasks (0 where the provider has no such notion)")
    total: Number | None = described("available + frozen")
    unit: str = described("credits, USD, ...")
    breakdown: dict[str, Any] = described("Provider-specific pools (monthly, package, extra, plans, storage)")
    allowance: Number | None = described("The plan's allowance per period, where the provider states one; else null")
    resets_at: str | None = described("ISO-8601 UTC time the allowance resets, where the provider states it; else null")
    fetched_at: str | None = described("ISO-8601 UTC time of the last successful poll")
    polled_at: str | None = described("ISO-8601 UTC time of the last poll, successful or not")
    status: Literal["ok", "error"] = described("error when the latest poll failed; the balance fields keep the last good values")
    error: str | None = described("Why the latest poll failed")
    error_kind: str | None = described("auth, insufficient_credits, rate_limited, provider_error, maintenance, ...")
    consecutive_failures: int = described("Failed polls in a row (0 after a success)")
    alert_level: Literal["ok", "warning", "critical", "depleted"] | None = described("The alert level; null until a poll has succeeded")
    forecast: Forecast | None = described("Burn rate and days left, once computed (hourly, from 72 h of history)")
    threshold: ThresholdInForce | None = described("The threshold in force for the account, and why")
    silence: SilenceInForce | None = described("The silence holding back this account's alerts, if one is in force")
    value: Number | None = described("What the available credits are worth in the configuration's currency; null when not priced")
    labels: dict[str, str] = described("The account's labels, as the alerting configuration's labels section gives them")


@dataclass(frozen=True)
class BalanceList:
    balances: list[Balance] = described("Sorted by provider (in the stack's Providers order) and account")
    next_token: str | None = described("Pass as next_token for the next page; null on the last page")
    summary: BalanceSummary = described(
        "Across this page's balances: total value, lowest days left, the account that runs out first (the digest covers every account)"
    )


@dataclass(frozen=True)
class HistoryEntry:
    fetched_at: str = described("ISO-8601 UTC time of the reading")
    available: Number = described("Credits spendable then")
    frozen: Number = described("Credits reserved then")
    total: Number = described("available + frozen")
    breakdown: dict[str, Any] = described("Provider-specific pools then")


@dataclass(frozen=True)
class HistoryPage:
    items: list[HistoryEntry] = described("Newest first")
    next_token: str | None = described("Pass as next_token for the next page; null on the last page")


@dataclass(frozen=True)
class Sufficiency:
    sufficient: bool = described("Whether available covers required plus the margin (false when no balance was ever read: see reason)")
    available: Number | None = described("Credits spendable now (the last good balance when the latest poll failed)")
    required: Number = described("Credits the batch needs, as asked")
    shortfall: Number | None = described("Credits missing to cover required (plus margin); 0 when sufficient; null when it cannot be told")
    margin_percent: Number = described("Safety margin applied on top of required")
    required_with_margin: Number = described("required * (1 + margin_percent / 100)")
    status: Literal["ok", "error"] = described("Status of the latest poll; with error, available is the last good balance")
    fetched_at: str | None = described("ISO-8601 UTC time of the balance used")
    reason: str | None = described("Why the answer cannot be trusted as it is (no balance read yet), else null")


@dataclass(frozen=True)
class SentAlertBody:
    alert_id: str = described("Unique id of the alert, the same as in its EventBridge event; ids sort in the order alerts were decided")
    provider: str = described("Provider id (monitor for the thresholds document itself)")
    account: str = described("Account name (thresholds for the thresholds document)")
    event: Literal["threshold", "recovery", "failure", "stale", "forecast", "configuration", "incident", "anomaly"] = described(
        "What happened"
    )
    level: str = described("The account's level after the event: ok, warning, critical, depleted, or unknown before a first good poll")
    previous_level: str | None = described("The level before the event")
    condition: Literal["balance", "polls", "staleness", "forecast", "configuration", "incident", "anomaly"] = described(
        "What the alert is about"
    )
    resolved: bool = described("True when the event clears its condition (a recovery to ok, polls succeeding again...)")
    severity: Literal["info", "warning", "error", "critical"] = described("How urgent")
    available: Number | None = described("Credits spendable when the alert was decided (the last good balance)")
    unit: str | None = described("credits, USD, ...")
    threshold: Number | None = described("The threshold crossed in credits (balance alerts), else null")
    threshold_days: Number | None = described("The days-left threshold crossed, when the forecast moved the level, else null")
    days_left: Number | None = described("The forecast's days left, when there is one")
    error_kind: str | None = described("Failure alerts: auth, timeout, ...")
    fetched_at: str | None = described("ISO-8601 UTC time of the balance the alert is about")
    subject: str = described("The subject line every channel shows")
    message: str = described("The full text (what email subscribers read)")
    decided_at: str = described("ISO-8601 UTC time the transition was decided")
    sent_at: str = described("ISO-8601 UTC time the last channel (SNS, EventBridge) accepted it")
    labels: dict[str, str] = described("The account's labels when the alert was decided")


@dataclass(frozen=True)
class SentAlertList:
    items: list[SentAlertBody] = described("Newest first")
    next_token: str | None = described("Pass as next_token for the next page; null on the last page")


@dataclass(frozen=True)
class ErrorBody:
    error: str = described("not_found, bad_request, invalid_parameter, method_not_allowed, forbidden, ...")
    message: str = described("What was wrong, naming the parameter or resource")


@dataclass(frozen=True)
class AccountSpend:
    provider: str = described("Provider id")
    account: str = described("Account name")
    unit: str = described("credits, USD, ...: spent and top_ups are in it")
    spent: Number = described("What the balance lost over the range: falls between confirmed readings (top-ups and resets aside)")
    top_ups: Number = described("What the balance gained over the range outside allowance resets: credits bought")
    resets: int = described("Allowance resets in the range (a plan's reset time moved): neither spend nor top-up")
    value: Number | None = described("spent in the reporting currency (the alerting configuration's prices); null when not priced")
    labels: dict[str, str] = described("The account's labels")


@dataclass(frozen=True)
class SpendGroup:
    group: str = described("The group's key: a provider, provider/account, a label's value, or (none) for accounts without it")
    unit: str = described("The unit its accounts count in (one row per unit: credits of different vendors are not added)")
    spent: Number = described("Spent by the group's accounts on this page, in unit")
    top_ups: Number = described("Top-ups of the group's accounts on this page, in unit")
    value: Number | None = described("spent in the reporting currency, where priced")
    accounts: int = described("Accounts of the group on this page")


@dataclass(frozen=True)
class SpendReport:
    since: str = described("Start of the range (ISO-8601 UTC)")
    until: str = described("End of the range (ISO-8601 UTC)")
    currency: str | None = described("The reporting currency of value fields; null without prices")
    accounts: list[AccountSpend] = described("This page's accounts, in the stack's Providers order")
    totals: list[SpendGroup] = described("This page's accounts summed by group_by and unit (the CLI sums every page)")
    value_total: Number | None = described("This page's spend in the reporting currency (priced accounts only)")
    next_token: str | None = described("Pass as next_token for the next page; null on the last page")
