"""Environment of the poller functions, validated once per container with errors that say what to fix."""

from __future__ import annotations

import os
from dataclasses import dataclass

from credit_monitor.model import ConfigurationError
from credit_monitor.providers import get_provider
from credit_monitor.urls import validate_base_url

DEFAULT_HISTORY_DAYS = 400


def env_required(name: str) -> str:
    """An environment variable that must be set; the error names it."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def env_number(name: str, default: float, *, minimum: float = 0, whole: bool = False) -> float:
    """A numeric environment variable (``default`` when unset); the error names it and what it must be."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        kind = "a whole number" if whole else "a number"
        raise ConfigurationError(f"{name} must be {kind} of at least {minimum:g}, got {raw!r}")
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
        provider = env_required("PROVIDER")
        try:
            adapter = get_provider(provider)
        except LookupError as exc:
            raise ConfigurationError(f"PROVIDER: {exc}") from None
        return cls(
            provider=provider,
            base_url=validate_base_url(os.environ.get("PROVIDER_BASE_URL") or adapter.default_base_url),
            secret_name=env_required("API_KEYS_SECRET"),
            table_name=env_required("TABLE_NAME"),
            history_days=int(env_number("HISTORY_TTL_DAYS", DEFAULT_HISTORY_DAYS, minimum=1, whole=True)),
        )
