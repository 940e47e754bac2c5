"""A function's own configuration gone wrong, and the check every configured provider base URL passes.

The check lives here, below settings (environment variables) and polling (definition files, the
command line), so that both use it without settings reaching up into polling.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from credit_monitor.errors import ConfigurationError

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


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
