"""What is stored per account and per round: the latest balance, what a round needs of it, a round's summary, history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from credit_monitor.model.credits import AccountResult, Number


@dataclass(frozen=True)
class BalanceItem:
    """An account's latest state: its last good balance and how its latest poll went.

    ``available`` is None until a poll has succeeded; after a failed poll the balance fields keep the
    last good values and ``error``/``error_kind`` say why the latest one failed.
    """

    provider: str
    account: str
    polled_at: str
    status: str = "ok"  # "ok" or "error"
    available: Number | None = None
    frozen: Number | None = None
    total: Number | None = None
    unit: str = "credits"
    breakdown: dict[str, Any] = field(default_factory=dict)
    allowance: Number | None = None
    resets_at: str | None = None
    fetched_at: str | None = None  # last successful poll
    error: str | None = None
    error_kind: str | None = None
    failing_since: str | None = None
    consecutive_failures: int = 0
    digest: str | None = None  # the last good reading's Reading.digest

    @property
    def ever_read(self) -> bool:
        return self.available is not None

    @classmethod
    def after_poll(cls, provider: str, result: AccountResult, previous: BalanceItem | None) -> BalanceItem:
        """The state a poll leaves: a good reading replaces the balance; a failure keeps the last good one."""
        if result.reading is not None:
            reading = result.reading
            return cls(
                provider=provider, account=result.account, polled_at=result.polled_at, status="ok", available=reading.available,
                frozen=reading.frozen, total=reading.total, unit=reading.unit, breakdown=reading.breakdown, allowance=reading.allowance,
                resets_at=reading.resets_at, fetched_at=result.polled_at, digest=reading.digest,
            )  # fmt: skip
        last_good = previous if previous is not None and previous.ever_read else None
        kept = {name: getattr(last_good, name) for name in cls.LAST_GOOD} if last_good else {}
        return cls(provider=provider, account=result.account, **kept, **cls.failure_fields(result, previous))

    # What a failed poll leaves as it was: the last good balance.
    LAST_GOOD = ("available", "frozen", "total", "unit", "breakdown", "allowance", "resets_at", "fetched_at", "digest")

    @staticmethod
    def failure_fields(result: AccountResult, previous: BalanceItem | LastPoll | None) -> dict[str, Any]:
        """What a failed poll changes: how the poll went, and how long the account has been failing."""
        was_failing = previous is not None and previous.status == "error"
        return {
            "polled_at": result.polled_at,
            "status": "error",
            "error": result.failure.message,
            "error_kind": result.failure.kind.value,
            "failing_since": (previous.failing_since or result.polled_at) if was_failing else result.polled_at,
            "consecutive_failures": (previous.consecutive_failures if was_failing else 0) + 1,
        }


@dataclass(frozen=True)
class LastPoll:
    """What a poll round needs to know of an account's previous poll: its balance (to doubt a sudden drop),
    when it was polled (an overlapping run's newer poll wins), its failure streak, and the fingerprint and
    time of its last good reading (an unchanged reading is not written again until a heartbeat is due).
    The rest of the latest item is never read by a round: a success replaces it, a failure leaves it."""

    account: str
    polled_at: str
    status: str = "ok"
    available: Number | None = None
    failing_since: str | None = None
    consecutive_failures: int = 0
    fetched_at: str | None = None
    digest: str | None = None

    @property
    def ever_read(self) -> bool:
        return self.available is not None


@dataclass(frozen=True)
class RoundSummary:
    """How one poll round of a provider went, as a whole (every shard of it): what the aggregator reads to
    tell a vendor outage from unlucky accounts, and to know every account was polled without a write each.

    ``full`` is true when every configured account was polled (each either written, because its reading
    changed or failed, or left as it was because nothing changed); ``last_full_at`` is the start of the
    newest full round. An account whose latest item is ok was read successfully at ``last_full_at``.
    """

    provider: str
    round: str  # the round's id: its start time, to the microsecond, and a suffix
    started_at: str
    finished_at: str
    accounts: int  # configured in the provider's secrets
    polled: int
    succeeded: int
    failed: int
    failures: dict[str, int] = field(default_factory=dict)  # failure kind -> accounts
    unchanged: int = 0  # succeeded without a change: nothing written
    shards: int = 1
    shards_failed: int = 0
    full: bool = True
    last_full_at: str | None = None
    lowest: Number | None = None  # the lowest balance read this round


@dataclass(frozen=True)
class HistoryReading:
    """One successful reading of an account, as kept in its history."""

    fetched_at: str
    available: Number
    frozen: Number = 0
    total: Number = 0
    breakdown: dict[str, Any] = field(default_factory=dict)


# -- alert state ------------------------------------------------------------------------------------
