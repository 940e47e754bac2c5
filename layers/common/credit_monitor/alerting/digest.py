"""The daily digest: every account's balance, its change over 24 hours, its level and days left."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from credit_monitor.alerting.messages import SMS_LIMIT, SUBJECT_LIMIT, ascii_line, credits
from credit_monitor.alerting.rules import DIGEST
from credit_monitor.alerting.summary import Summary, summarize
from credit_monitor.alerting.thresholds import Prices, Silence
from credit_monitor.model import LEVELS, RANK, UNKNOWN_LEVEL, AccountSnapshot, AlertMessage, format_time


@dataclass(frozen=True)
class DigestRow:
    account: AccountSnapshot
    change_24h: float | None  # None: no reading 24 hours ago


def level_counts(rows: list[DigestRow]) -> Counter[str]:
    """How many accounts are at each level, read from their alert state (never from rendered text)."""
    return Counter(row.account.alert.level_name for row in rows)


def render_digest(
    rows: list[DigestRow], now: datetime, prices: Prices | None = None, silences: list[Silence] | None = None
) -> AlertMessage:
    """The summary: what everything is worth and what runs out first, then each account, then the silences."""
    counts = level_counts(rows)
    order = [*LEVELS, UNKNOWN_LEVEL]
    tally = ", ".join(f"{counts[level]} {level}" for level in order if counts[level])
    summary = summarize([row.account for row in rows], prices)
    worth = f"; worth {credits(summary.total_value)} {summary.currency}" if summary.total_value is not None else ""
    subject = f"Credit balances: {len(rows)} accounts" + (f" ({tally})" if tally else "") + worth
    known = [level for level in counts if level in RANK]
    worst = max(known, key=RANK.__getitem__) if known else "ok"
    body = [f"{subject}, as of {format_time(now)}", "", *summary_lines(summary), ""] + [_line(row, prices) for row in rows]
    if silences:
        body += ["", "Silences in force:"] + [f"  {s.scope}: {s.reason} (until {s.until})" for s in silences]
    return AlertMessage(
        subject=ascii_line(subject, SUBJECT_LIMIT),
        body="\n".join(body),
        sms=ascii_line(subject, SMS_LIMIT),
        attributes={"provider": "all", "account": "all", "level": worst, "event": DIGEST},
    )


def summary_lines(summary: Summary) -> list[str]:
    lines = []
    if summary.total_value is not None:
        unpriced = f"; not priced: {', '.join(summary.unpriced)}" if summary.unpriced else ""
        lines.append(f"Total value: {credits(summary.total_value)} {summary.currency}{unpriced}")
    first = summary.runs_out_first
    if first is not None:
        lines.append(f"First to run out: {first.provider}/{first.account} in {first.days_left:.1f} days (around {first.depletes_at})")
    else:
        lines.append("First to run out: no account is burning credits fast enough to forecast")
    return lines


def _line(row: DigestRow, prices: Prices | None) -> str:
    account, balance, state = row.account, row.account.balance, row.account.alert
    unit = balance.unit if balance else "credits"
    available = credits(balance.available if balance else None)
    delta = "no 24 h history" if row.change_24h is None else f"{'+' if row.change_24h >= 0 else ''}{credits(row.change_24h)} in 24 h"
    days = f"{state.days_left:.1f} days left" if state.days_left is not None else "no forecast"
    failing = f"; last poll failed: {balance.error_kind}" if balance and balance.status == "error" else ""
    value = prices.value(account.provider, account.account, balance.available, unit) if prices and balance else None
    worth = f" = {credits(value)} {prices.currency}" if value is not None else ""
    return f"{account.name}: {available} {unit}{worth} ({delta}), {state.level_name}, {days}{failing}"
