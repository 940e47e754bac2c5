"""What the balance API returns. Field names are the contract in DESIGN.md; more fields are additions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Number = int | float


class Forecast(BaseModel):
    burn_per_day: Number | None = Field(description="Credits consumed per day, from recent history (top-ups excluded)")
    days_left: Number | None = Field(description="Days until the available credits run out at that rate; null when not burning")
    depletes_at: str | None = Field(description="ISO-8601 UTC time the credits are projected to run out")
    computed_at: str | None = Field(description="When the forecast was computed")


class Balance(BaseModel):
    provider: str
    account: str
    available: Number | None = Field(description="Credits spendable now; null until a poll has succeeded")
    frozen: Number | None = Field(description="Credits reserved by running tasks (0 where the provider has no such notion)")
    total: Number | None = Field(description="available + frozen")
    unit: str = "credits"
    breakdown: dict[str, Any] = Field(default_factory=dict, description="Provider-specific pools (monthly, package, extra, plans, storage)")
    fetched_at: str | None = Field(description="ISO-8601 UTC time of the last successful poll")
    polled_at: str | None = Field(description="ISO-8601 UTC time of the last poll, successful or not")
    status: Literal["ok", "error"] = Field(description="error when the latest poll failed; the balance fields keep the last good values")
    error: str | None = Field(default=None, description="Why the latest poll failed")
    error_kind: str | None = Field(default=None, description="auth, insufficient_credits, rate_limited, provider_error, maintenance, ...")
    consecutive_failures: int = 0
    alert_level: Literal["ok", "warning", "critical", "depleted"]
    forecast: Forecast | None = None


class BalanceList(BaseModel):
    balances: list[Balance]


class HistoryEntry(BaseModel):
    fetched_at: str
    available: Number
    frozen: Number
    total: Number
    breakdown: dict[str, Any] = Field(default_factory=dict)


class HistoryPage(BaseModel):
    items: list[HistoryEntry] = Field(description="Newest first")
    next_token: str | None = Field(description="Pass as next_token for the next page; null on the last page")


class Sufficiency(BaseModel):
    sufficient: bool
    available: Number | None
    required: Number
    shortfall: Number = Field(description="Credits missing to cover required (plus margin); 0 when sufficient")
    margin_percent: Number = Field(description="Safety margin applied on top of required")
    required_with_margin: Number
    status: Literal["ok", "error"] = Field(description="Status of the latest poll; with error, available is the last good balance")
    fetched_at: str | None


class ErrorBody(BaseModel):
    error: str = Field(description="not_found, bad_request or invalid_parameter")
    message: str
