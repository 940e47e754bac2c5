"""The daily digest: how many accounts are at each level, what they are worth, and the ones that need
attention first, with their change over 24 hours and days left.

A fleet's digest is built a page of accounts at a time (:class:`Digest`) and lists at most SHOWN accounts
by name (an SNS message is at most 256 KB; an email of 100,000 lines helps no one): the worst first.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime

from credit_monitor.alerting.labels import parse_pair
from credit_monitor.alerting.messages import SMS_LIMIT, SUBJECT_LIMIT, ascii_line, credits
from credit_monitor.alerting.rules import DIGEST, tally_of
from credit_monitor.alerting.spend import spent_days
from credit_monitor.alerting.summary import Summary, SummaryBuilder, summarize
from credit_monitor.alerting.thresholds import Prices, Silence, Thresholds
from credit_monitor.model import LEVELS, RANK, UNKNOWN_LEVEL, AccountSnapshot, AlertMessage, format_time


@dataclass(frozen=True)
class DigestRow:
    account: AccountSnapshot
    change_24h: float | None  # None: no reading 24 hours ago


def level_counts(rows: list[DigestRow]) -> Counter[str]:
    """How many accounts are at each level, read from their alert state (never from rendered text)."""
    return Counter(row.account.alert.level_name for row in rows)


def render_digest(
    rows: list[DigestRow], now: datetime, prices: Prices | None = None, silences: list[Silence] | None = None, *,
    counts: Counter[str] | None = None, summary: Summary | None = None, labels: dict[str, str] | None = None,
) -> AlertMessage:  # fmt: skip
    """The summary: what everything is worth and what runs out first, then the accounts shown (``counts`` and
    ``summary`` cover every account when only some are shown), then the silences."""
    counts = counts if counts is not None else level_counts(rows)
    summary = summary if summary is not None else summarize([row.account for row in rows], prices)
    total = sum(counts.values())
    order = [*LEVELS, UNKNOWN_LEVEL]
    tally = ", ".join(f"{counts[level]:,} {level}" for level in order if counts[level])
    worth = f"; worth {credits(summary.total_value)} {summary.currency}" if summary.total_value is not None else ""
    scope = " " + ", ".join(f"{k}={v}" for k, v in labels.items()) if labels else ""
    subject = f"Credit balances{scope}: {total:,} accounts" + (f" ({tally})" if tally else "") + worth
    known = [level for level in counts if level in RANK]
    worst = max(known, key=RANK.__getitem__) if known else "ok"
    body = [f"{subject}, as of {format_time(now)}", "", *summary_lines(summary), ""] + [_line(row, prices) for row in rows]
    if total > len(rows):
        body.append(f"... and {total - len(rows):,} more accounts, all ok (GET /balances lists every one)")
    if silences:
        body += ["", "Silences in force:"] + [f"  {s.scope}: {s.reason} (until {s.until})" for s in silences]
    attributes = {
        "provider": "all",
        "account": "all",
        "level": worst,
        "event": DIGEST,
        **{f"label.{k}": v for k, v in (labels or {}).items()},
    }
    return AlertMessage(subject=ascii_line(subject, SUBJECT_LIMIT), body="\n".join(body), sms=ascii_line(subject, SMS_LIMIT),
                        attributes=attributes)  # fmt: skip


SHOWN = 50  # accounts a digest lists by name: the worst first; the rest are counted
SPEND_GROUPS = 40  # provider and label groups the spend section lists


def _urgency(snapshot: AccountSnapshot) -> tuple:
    """Worse first: level, a failing poll, fewer days left, then the name."""
    state, balance = snapshot.alert, snapshot.balance
    failing = balance is not None and balance.status == "error"
    days = state.days_left if state.days_left is not None else float("inf")
    return (-RANK.get(state.level_name, len(RANK)), not failing, days, snapshot.name)


class Digest:
    """A digest built one account at a time: counts and value of every account, the SHOWN worst by name.
    With ``label`` (``name=value``, a digest per team), only the accounts carrying it."""

    def __init__(self, now: datetime, config: Thresholds, label: str | None = None) -> None:
        self.now, self.config = now, config
        self.label = parse_pair(label) if label else None
        self.counts: Counter[str] = Counter()
        self.summary = SummaryBuilder(config.prices)
        self._worst: list[tuple[tuple, AccountSnapshot]] = []  # a heap of the SHOWN most urgent, least urgent on top
        self.spend: dict[tuple[str, str], list] = {}  # (provider or label=value, unit) -> [week, month, week value, month value]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, snapshot: AccountSnapshot) -> None:
        if snapshot.balance is None:
            return
        if (
            self.label is not None
            and self.config.labels.for_account(snapshot.provider, snapshot.account).get(self.label[0]) != self.label[1]
        ):
            return
        self.counts[snapshot.alert.level_name] += 1
        self.summary.add(snapshot)
        self._add_spend(snapshot)
        entry = (_Inverted(_urgency(snapshot)), snapshot)
        if len(self._worst) < SHOWN:
            heapq.heappush(self._worst, entry)
        elif entry[0] > self._worst[0][0]:
            heapq.heapreplace(self._worst, entry)

    def _add_spend(self, snapshot: AccountSnapshot) -> None:
        """The account's spend over the last 7 and 30 days (its alert item's daily tally), per provider and per label."""
        tally = tally_of(snapshot.alert)
        week, month = spent_days(tally, self.now, 7), spent_days(tally, self.now, 30)
        if not week and not month:
            return
        unit = snapshot.balance.unit
        price = self.config.prices.price(snapshot.provider, snapshot.account, unit) if self.config.prices else None
        labels = self.config.labels.for_account(snapshot.provider, snapshot.account)
        for group in (snapshot.provider, *(f"{name}={value}" for name, value in labels.items())):
            entry = self.spend.setdefault((group, unit), [0.0, 0.0, None, None])
            entry[0], entry[1] = entry[0] + week, entry[1] + month
            if price is not None:
                entry[2], entry[3] = (entry[2] or 0.0) + week * price, (entry[3] or 0.0) + month * price

    def spend_lines(self) -> list[str]:
        if not self.spend:
            return []
        currency = self.config.prices.currency if self.config.prices else ""
        lines = ["", "Spend, last 7 days / last 30 days (per provider, then per label):"]
        ordered = sorted(self.spend.items(), key=lambda item: ("=" in item[0][0], item[0]))
        for (group, unit), (week, month, week_value, month_value) in ordered[:SPEND_GROUPS]:
            worth = f" ({credits(week_value)} / {credits(month_value)} {currency})" if week_value is not None else ""
            lines.append(f"  {group}: {credits(week)} / {credits(month)} {unit}{worth}")
        if len(ordered) > SPEND_GROUPS:
            lines.append(f"  ... and {len(ordered) - SPEND_GROUPS} more groups (credit-monitor spend lists every one)")
        return lines

    def shown(self) -> list[AccountSnapshot]:
        """The accounts listed by name, worst first (the digest reads their 24 h change, and only theirs)."""
        return [snapshot for _, snapshot in sorted(self._worst, key=lambda entry: entry[0].key)]

    def message(self, changes: dict[str, float | None]) -> AlertMessage:
        rows = [DigestRow(snapshot, changes.get(snapshot.name)) for snapshot in sorted(self.shown(), key=lambda s: s.name)]
        silences = [silence for silence in self.config.silences if silence.active(self.now)]
        labels = {self.label[0]: self.label[1]} if self.label else None
        message = render_digest(
            rows, self.now, self.config.prices, silences, counts=self.counts, summary=self.summary.summary(), labels=labels
        )
        return replace(message, body="\n".join([message.body, *self.spend_lines()]))


@dataclass(frozen=True, order=False)
class _Inverted:
    """Orders by urgency reversed, so that a min-heap keeps the least urgent on top (to be replaced first)."""

    key: tuple

    def __lt__(self, other: _Inverted) -> bool:
        return self.key > other.key

    def __gt__(self, other: _Inverted) -> bool:
        return self.key < other.key


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
