"""The accounts of one provider and their credentials, as read from its Secrets Manager secrets.

Secret value: a JSON object ``{"<account>": "<api key>", ...}``; a plain string is one account named
``default``. When the provider's definition needs per-account values (a project id in the path), an
account's value is an object: ``{"prod": {"key": "<api key>", "project_id": "..."}}``. Errors name the
secret, the account and the field, never any part of a value.

A secret holds at most 64 KB (about 1,000 keys), so a provider's keys may span several secrets: every
secret named after the provider's own (``<stack>/<provider>/api-keys``) alone or followed by ``-<suffix>``
(``.../api-keys-2``, ``.../api-keys-eu``). An account found in two of them is refused, naming both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from credit_monitor.errors import ConfigurationError
from credit_monitor.model import ACCOUNT_NAME_RULE, valid_account_name
from credit_monitor.polling.providers import Credentials

SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9_.+=@-]{1,64}")  # what may follow the provider's secret name in another of its secrets

DEFAULT_ACCOUNT = "default"
MAX_VALUE_CHARS = {"key": 4096}  # API keys can be long tokens; a per-account variable is a short id
MAX_VARIABLE_CHARS = 200


def parse_accounts(secret_name: str, raw: str | bytes | None, variables: tuple[str, ...] = ()) -> dict[str, Credentials]:
    """The accounts and their credentials from a secret's value; ``{}`` for the empty placeholder ``{}``."""
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
        return {DEFAULT_ACCOUNT: _credentials(secret_name, DEFAULT_ACCOUNT, text, variables)}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg and the position say where it broke without quoting the value.
        raise ConfigurationError(f"secret {secret_name} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f'secret {secret_name} must be a JSON object {{"<account>": "<api key>"}} or a plain key')
    accounts: dict[str, Credentials] = {}
    for name, value in document.items():
        if not valid_account_name(name):
            raise ConfigurationError(f"secret {secret_name} has an invalid account name {name[:70]!r}: use {ACCOUNT_NAME_RULE}")
        accounts[name] = _credentials(secret_name, name, value, variables)
    return accounts


def _credentials(secret_name: str, account: str, value: object, variables: tuple[str, ...]) -> Credentials:
    where = f"secret {secret_name}: account {account!r}"
    if isinstance(value, str):
        if variables:
            raise ConfigurationError(
                f"{where} needs {', '.join(variables)} besides its key: store "
                f'{{"{account}": {{"key": "<api key>", ' + ", ".join(f'"{v}": "..."' for v in variables) + "}}"
            )
        return Credentials(key=_secret_text(where, "key", value))
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: the value must be the API key (a string) or an object with key and its variables")
    expected = ("key", *variables)
    unknown = sorted(set(value) - set(expected))
    if unknown:
        raise ConfigurationError(f"{where} has unknown field(s) {', '.join(repr(u[:40]) for u in unknown)}; expected {', '.join(expected)}")
    missing = [field for field in expected if field not in value]
    if missing:
        raise ConfigurationError(f"{where} is missing {', '.join(missing)}")
    return Credentials(
        key=_secret_text(where, "key", value["key"]),
        variables={name: _secret_text(where, name, value[name]) for name in variables},
    )


def _secret_text(where: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{where}: {field} must be a non-empty string")
    value = value.strip()
    limit = MAX_VALUE_CHARS.get(field, MAX_VARIABLE_CHARS)
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise ConfigurationError(f"{where}: {field} must be at most {limit} printable characters")
    return value


@dataclass(frozen=True)
class KeyRing:
    """A provider's accounts across its secrets: their credentials, and the accounts refused because two
    secrets name them (account -> the secrets, in order)."""

    secrets: tuple[str, ...]
    accounts: dict[str, Credentials] = field(default_factory=dict)
    conflicts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Every configured account, refused ones included, sorted (the order shards are cut in)."""
        return sorted({*self.accounts, *self.conflicts})

    def conflict_message(self, account: str) -> str:
        return f"account {account!r} is in {len(self.conflicts[account])} secrets ({', '.join(self.conflicts[account])}); keep it in one"


def provider_secrets(base: str, listed: list[str]) -> list[str]:
    """The provider's secrets among ``listed``: its own (always first, listed or not) and those named after it."""
    return [base, *sorted(name for name in listed if name.startswith(base) and SECRET_SUFFIX.fullmatch(name[len(base) :]))]


def read_key_ring(base: str, variables: tuple[str, ...], list_names: Callable[[str], list[str]],
                  read: Callable[[str], str | bytes | None]) -> KeyRing:  # fmt: skip
    """Every account of every secret of the provider. An unreadable or malformed secret stops the round (its
    accounts would otherwise look removed); an account in two secrets is refused, the others are kept."""
    names = provider_secrets(base, list_names(base))
    found: dict[str, tuple[str, Credentials]] = {}
    conflicts: dict[str, list[str]] = {}
    for name in names:
        for account, credentials in parse_accounts(name, read(name), variables).items():
            if account in conflicts:
                conflicts[account].append(name)
            elif account in found:
                conflicts[account] = [found.pop(account)[0], name]
            else:
                found[account] = (name, credentials)
    return KeyRing(tuple(names), {a: c for a, (_, c) in found.items()}, {a: tuple(s) for a, s in conflicts.items()})
