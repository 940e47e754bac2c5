"""Environment of the poller functions, validated once per container with errors that say what to fix."""

from __future__ import annotations

import os
from dataclasses import dataclass

from credit_monitor.model import ConfigurationError
from credit_monitor.providers import get_provider
from credit_monitor.urls import validate_base_url

DEFAULT_HISTORY_DAYS = 400


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


@dataclass(frozen=True)
class PollerSettings:
    provider: str
    base_url: str
    secret_name: str
    table_name: str
    history_days: int = DEFAULT_HISTORY_DAYS

    @classmethod
    def from_env(cls) -> PollerSettings:
        provider = _required("PROVIDER")
        try:
            adapter = get_provider(provider)
        except LookupError as exc:
            raise ConfigurationError(f"PROVIDER: {exc}") from None
        return cls(
            provider=provider,
            base_url=validate_base_url(os.environ.get("PROVIDER_BASE_URL") or adapter.default_base_url),
            secret_name=_required("API_KEYS_SECRET"),
            table_name=_required("TABLE_NAME"),
            history_days=_positive_int("HISTORY_TTL_DAYS", DEFAULT_HISTORY_DAYS),
        )
