"""No false "depleted", no false cliff: a suspicious reading is polled again before it is stored.

A reading at or below zero, or a drop larger than a configured fraction since the account's last good
reading, may be the vendor's glitch (a gateway answering 0 for a moment is a known failure). Such an
account is polled once more, at once; the second reading is the one stored, and a disagreement is
logged. If the second poll fails, the first reading is not stored as the balance: the account's poll
is recorded as failed (the last good balance stays), saying what could not be confirmed.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger

from credit_monitor.errors import PollFailure
from credit_monitor.model import AccountResult, LastPoll

logger = Logger()

Repoll = Callable[[list[str]], list[AccountResult]]


def suspicion(result: AccountResult, before: LastPoll | None, drop_fraction: float) -> str | None:
    """Why this reading needs a second look, or None."""
    if result.reading is None:
        return None
    available = result.reading.available
    if available <= 0:
        return f"a reading of {available:g}"
    last = before.available if before is not None and before.ever_read else None
    if drop_fraction > 0 and last and last > 0 and last - available > drop_fraction * last:
        return f"a drop from {last:g} to {available:g}"
    return None


def confirm(provider: str, results: list[AccountResult], previous: dict[str, LastPoll], drop_fraction: float,
            repoll: Repoll) -> list[AccountResult]:  # fmt: skip
    """The round's results with every suspicious reading replaced by a second poll's outcome."""
    doubts = {r.account: why for r in results if (why := suspicion(r, previous.get(r.account), drop_fraction))}
    if not doubts:
        return results
    second = {r.account: r for r in repoll(list(doubts))}
    confirmed = []
    for result in results:
        if result.account not in doubts:
            confirmed.append(result)
            continue
        again, why = second[result.account], doubts[result.account]
        fields = {"provider": provider, "account": result.account, "suspicion": why, "first": result.reading.available}
        if again.reading is None:
            logger.warning("reading not confirmed: the second poll failed", extra={**fields, "error_kind": again.failure.kind.value})
            failure = PollFailure(again.failure.kind, f"{why} could not be confirmed by a second poll: {again.failure.message}")
            confirmed.append(AccountResult(result.account, again.polled_at, failure=failure))
        elif again.reading.available != result.reading.available:
            logger.warning(
                "reading not confirmed: the second poll disagrees, and is stored", extra={**fields, "second": again.reading.available}
            )
            confirmed.append(again)
        else:
            logger.info("reading confirmed by a second poll", extra=fields)
            confirmed.append(again)
    return confirmed
