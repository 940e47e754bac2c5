"""Environment of the poller functions, validated once per container with errors that say what to fix."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from credit_monitor.model import ConfigurationError
from credit_monitor.providers import PROVIDERS

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
DEFAULT_HISTORY_DAYS = 400


def validate_base_url(url: str, *, variable: str = "PROVIDER_BASE_URL") -> str:
    """Return ``url`` without a trailing slash, or raise if it is not a safe provider base URL.

    Only https is allowed, because every request carries an API key; loopback hosts may use http so
    local runs and tests can point a poller at a simulator.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{variable} must be an absolute https:// URL, got {url!r}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigurationError(
            f"{variable} must use https:// (got {url!r}): requests carry the API key, and only loopback hosts "
            "(127.0.0.1, localhost) may use plain http"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(f"{variable} must be scheme, host and optional path prefix only, got {url!r}")
    return url.strip().rstrip("/")


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
        if provider not in PROVIDERS:
            raise ConfigurationError(f"PROVIDER {provider!r} is not one of: {', '.join(sorted(PROVIDERS))}")
        return cls(
            provider=provider,
            base_url=validate_base_url(os.environ.get("PROVIDER_BASE_URL") or PROVIDERS[provider].default_base_url),
            secret_name=_required("API_KEYS_SECRET"),
            table_name=_required("TABLE_NAME"),
            history_days=_positive_int("HISTORY_TTL_DAYS", DEFAULT_HISTORY_DAYS),
        )
