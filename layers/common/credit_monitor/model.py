"""The values that flow from a provider adapter to storage: readings, failures, poll results."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # every stored time: ISO-8601 UTC, to the second


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def utc_now() -> str:
    return format_time(datetime.now(UTC))


class FailureKind(StrEnum):
    """Why a poll failed. Stored with the account and used by alerts, so operators can tell
    "API key rejected" from "provider down" without reading logs."""

    AUTH = "auth"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    RATE_LIMITED = "rate_limited"
    PROVIDER_ERROR = "provider_error"
    MAINTENANCE = "maintenance"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    BAD_RESPONSE = "bad_response"

    @property
    def summary(self) -> str:
        return _SUMMARIES[self]


_SUMMARIES = {
    FailureKind.AUTH: "API key rejected",
    FailureKind.INSUFFICIENT_CREDITS: "provider reports insufficient credits",
    FailureKind.RATE_LIMITED: "rate limited by the provider",
    FailureKind.PROVIDER_ERROR: "provider returned an error",
    FailureKind.MAINTENANCE: "provider under maintenance",
    FailureKind.TIMEOUT: "provider did not answer in time",
    FailureKind.UNREACHABLE: "provider unreachable",
    FailureKind.BAD_RESPONSE: "unexpected response from the provider",
}

# Anything larger is not a credit balance; it is a broken or hostile response.
MAX_CREDITS = 1e15


class PollFailure(Exception):
    """A classified, expected failure of one account's poll. Its message is safe to store."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class ConfigurationError(Exception):
    """The function's own configuration (environment, secret) is wrong; retrying will not help."""


Number = int | float


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

    @property
    def total(self) -> Number:
        return self.available + self.frozen


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
