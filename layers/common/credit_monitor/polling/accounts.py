"""API keys of one provider, as read from its Secrets Manager secret.

Secret value: a JSON object ``{"<account>": "<api key>", ...}``; a plain string is one account named
``default``. Errors name the secret and what is wrong, never any part of its value.
"""

from __future__ import annotations

import json

from credit_monitor.model import ACCOUNT_NAME_RULE, ConfigurationError, valid_account_name

DEFAULT_ACCOUNT = "default"


def parse_api_keys(secret_name: str, raw: str | bytes | None) -> dict[str, str]:
    """The accounts and their keys from a secret's value; ``{}`` for the empty placeholder ``{}``."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError(f"secret {secret_name} is not UTF-8 text") from None
    text = (raw or "").strip()
    if not text:
        raise ConfigurationError(f'secret {secret_name} is empty; store {{"<account>": "<api key>"}} or a plain key')
    if text[0] not in '{["':
        if any(c.isspace() for c in text):
            raise ConfigurationError(f"secret {secret_name} holds a plain key with whitespace inside; keys have none")
        return {DEFAULT_ACCOUNT: text}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg and the position say where it broke without quoting the value.
        raise ConfigurationError(f"secret {secret_name} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f'secret {secret_name} must be a JSON object {{"<account>": "<api key>"}} or a plain key')
    keys: dict[str, str] = {}
    for name, key in document.items():
        if not valid_account_name(name):
            raise ConfigurationError(f"secret {secret_name} has an invalid account name {name[:70]!r}: use {ACCOUNT_NAME_RULE}")
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError(f"secret {secret_name}: the key of account {name!r} must be a non-empty string")
        keys[name] = key.strip()
    return keys
