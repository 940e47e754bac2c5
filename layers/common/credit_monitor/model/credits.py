"""Credit amounts: what a plausible one is, a provider's reading of them, and one account's poll outcome."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from credit_monitor.errors import PollFailure
from credit_monitor.model.failures import FailureKind

Number = int | float

# Anything larger is not a credit balance; it is a broken or hostile response.
MAX_CREDITS = 1e15


def check_credits(value: Any, where: str) -> Number:
    """Return ``value`` if it is a plausible credit amount, else raise a BAD_RESPONSE failure."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is {got}, expected a number")
    if not math.isfinite(value):
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is not a finite number")
    if value < 0:
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is negative ({value})")
    if value > MAX_CREDITS:
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is implausibly large ({value:g})")
    return value


@dataclass(frozen=True)
class Reading:
    """A provider's balance, normalized. ``available`` is what can be spent now."""

    available: Number
    frozen: Number = 0
    breakdown: dict[str, Any] = field(default_factory=dict)
    unit: str = "credits"
    allowance: Number | None = None  # the plan's allowance per period, when the provider gives one
    resets_at: str | None = None  # when the allowance resets (ISO-8601 UTC), when the provider says

    @property
    def total(self) -> Number:
        return self.available + self.frozen

    @property
    def digest(self) -> str:
        """A short fingerprint of everything a reading says: equal digests mean nothing changed, so the
        latest item and the history need no write (writes cost more than anything else an idle account does)."""
        facts = [self.available, self.frozen, self.unit, self.allowance, self.resets_at, self.breakdown]
        text = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AccountResult:
    """The outcome of polling one account: a reading, or a failure. ``polled_at`` is ISO-8601 UTC."""

    account: str
    polled_at: str
    reading: Reading | None = None
    failure: PollFailure | None = None

    @property
    def ok(self) -> bool:
        return self.reading is not None


# -- what is stored per account ----------------------------------------------------------------------
