"""``credit-monitor check``: poll one account with a real key before deploying, and print the result.

The key is read from an environment variable (never from the command line, where shells keep history
and other users can read process lists) and is never printed, even when the provider echoes it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from credit_monitor.errors import ConfigurationError, DefinitionError, PollFailure
from credit_monitor.model import validate_base_url
from credit_monitor.polling.fanout import poll_accounts
from credit_monitor.polling.providers import Credentials, Provider, get_provider, load_definition
from credit_monitor.polling.redaction import REDACTOR
from credit_monitor.polling.transport import Deadline, get_json, new_session
from credit_monitor_cli.errors import UsageError

CHECK_SECONDS = 30.0


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


def credentials(provider: Provider, key_env: str, assignments: list[str]) -> Credentials:
    key = os.environ.get(key_env, "").strip()
    if not key:
        raise UsageError(f"environment variable {key_env} is empty or not set; export the API key there")
    values = dict(a.split("=", 1) for a in assignments if "=" in a)
    malformed = [a for a in assignments if "=" not in a]
    if malformed:
        raise UsageError(f"--var {malformed[0]!r} must be NAME=VALUE")
    unknown = sorted(set(values) - set(provider.variables))
    missing = [name for name in provider.variables if not values.get(name)]
    if unknown:
        raise UsageError(
            f"--var {unknown[0]}: {provider.id} has no such variable (its variables: {', '.join(provider.variables) or 'none'})"
        )
    if missing:
        raise UsageError(f"{provider.id} needs --var {missing[0]}=... (a per-account value of its requests)")
    return Credentials(key=key, variables=values)


def run_check(provider_id: str | None, definition: str | None, key_env: str, base_url: str | None, account: str,
              assignments: list[str] | None = None, explain: bool = False) -> int:  # fmt: skip
    provider = choose_provider(provider_id, definition)
    account_credentials = credentials(provider, key_env, assignments or [])
    try:
        url = validate_base_url(base_url or provider.default_base_url, variable="--base-url")
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    REDACTOR.remember([account_credentials.key])
    if explain:
        print(REDACTOR.redact(json.dumps(explanation(provider, url, account_credentials), indent=2)))
    [result] = poll_accounts(provider, url, {account: account_credentials}, Deadline(CHECK_SECONDS), trust_env=True)
    output = {"provider": provider.id, "account": result.account}
    if result.reading is not None:
        reading = result.reading
        print(json.dumps({**output, "available": reading.available, "frozen": reading.frozen, "total": reading.total,
                          "unit": reading.unit, "allowance": reading.allowance, "resets_at": reading.resets_at,
                          "breakdown": reading.breakdown, "fetched_at": result.polled_at, "status": "ok"}, indent=2))  # fmt: skip
        return 0
    print(json.dumps({**output, "status": "error", "error_kind": result.failure.kind.value, "error": result.failure.message}, indent=2))
    print(f"poll failed: {result.failure.kind.summary}", file=sys.stderr)
    return 1


def explanation(provider: Provider, base_url: str, account_credentials: Credentials) -> dict:
    """What each of the definition's expressions finds in the live answer (the answer itself is never printed)."""
    deadline = Deadline(CHECK_SECONDS)
    try:
        with new_session(deadline, pool_size=1, trust_env=True) as session:
            answer = get_json(session, provider.request(base_url, account_credentials), deadline)
    except PollFailure as failure:
        return {"explain": f"no answer to explain: {failure.kind.value}: {failure.message}"}
    found = provider.explain(answer.body) if provider.explain else {}
    return {"explain": {"http_status": answer.status, **found}}
