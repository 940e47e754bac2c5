"""``credit-monitor check``: poll one account with a real key before deploying, and print the result.

The key is read from an environment variable (never from the command line, where shells keep history
and other users can read process lists) and is never printed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from credit_monitor.model import ConfigurationError
from credit_monitor.polling.fanout import poll_accounts
from credit_monitor.polling.providers import DefinitionError, Provider, get_provider
from credit_monitor.polling.providers.declarative import load_definition
from credit_monitor.polling.transport import Deadline
from credit_monitor.polling.urls import validate_base_url

CHECK_SECONDS = 30.0


class UsageError(Exception):
    """The command line contradicts itself or names something unknown; exit status 2."""


def choose_provider(provider_id: str | None, definition: str | None) -> Provider:
    if definition:
        try:
            provider = load_definition(Path(definition))
        except DefinitionError as exc:
            raise UsageError(str(exc)) from None
        if provider_id and provider_id != provider.id:
            raise UsageError(
                f"provider {provider_id!r} contradicts --definition {definition}, which defines {provider.id!r}; give one or the other"
            )
        return provider
    if not provider_id:
        raise UsageError("name a provider (e.g. crun) or give --definition FILE")
    try:
        return get_provider(provider_id)
    except LookupError as exc:
        raise UsageError(str(exc)) from None


def run_check(provider_id: str | None, definition: str | None, key_env: str, base_url: str | None, account: str) -> int:
    try:
        provider = choose_provider(provider_id, definition)
        key = os.environ.get(key_env, "").strip()
        if not key:
            raise UsageError(f"environment variable {key_env} is empty or not set; export the API key there")
        url = validate_base_url(base_url or provider.default_base_url, variable="--base-url")
    except (UsageError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    [result] = poll_accounts(provider, url, {account: key}, Deadline(CHECK_SECONDS))
    output = {"provider": provider.id, "account": result.account}
    if result.reading is not None:
        reading = result.reading
        print(json.dumps({**output, "available": reading.available, "frozen": reading.frozen, "total": reading.total,
                          "unit": reading.unit, "breakdown": reading.breakdown, "fetched_at": result.polled_at,
                          "status": "ok"}, indent=2))  # fmt: skip
        return 0
    print(json.dumps({**output, "status": "error", "error_kind": result.failure.kind.value, "error": result.failure.message}, indent=2))
    print(f"poll failed: {result.failure.kind.summary}", file=sys.stderr)
    return 1
