"""The providers: one definition file each, in definitions/ (the contract's five built-ins among them).

A provider that needs logic no definition can express would build a ``Provider`` in code and be added
here; none does today. Local stacks and tests may add a folder of definitions beside the bundle.
"""

from __future__ import annotations

import functools
from pathlib import Path

from credit_monitor.errors import DefinitionError
from credit_monitor.polling.providers.base import Credentials, Example, HttpRequest, Provider, parse_response
from credit_monitor.polling.providers.definition import BUILT_IN, load_definition, load_folder

DEFINITIONS = Path(__file__).with_name("definitions")
_extra_folders: list[Path] = []


@functools.cache
def known_providers() -> dict[str, Provider]:
    """Every provider by id: the bundle, validated once per container (a bad definition names itself)."""
    providers = load_folder(DEFINITIONS, bundled=True)
    missing = [provider_id for provider_id in BUILT_IN if provider_id not in providers]
    if missing:
        raise DefinitionError([f"definitions/: the built-in provider {missing[0]!r} has no definition file"])
    for folder in _extra_folders:
        for provider_id, provider in load_folder(folder).items():
            if provider_id in providers:
                raise DefinitionError([f"{provider.source}: id: {provider_id!r} is already defined by {providers[provider_id].source}"])
            providers[provider_id] = provider
    return providers


def add_definitions(folder: Path) -> None:
    """Also know the definitions in ``folder`` (the local stack and tests; a deployment bundles its own)."""
    if folder not in _extra_folders:
        _extra_folders.append(folder)
        known_providers.cache_clear()


def remove_definitions(folder: Path) -> None:
    """Forget a folder given to add_definitions."""
    if folder in _extra_folders:
        _extra_folders.remove(folder)
        known_providers.cache_clear()


def get_provider(provider_id: str) -> Provider:
    known = known_providers()
    if provider_id in known:
        return known[provider_id]
    raise LookupError(f"unknown provider {provider_id!r}; known providers: {', '.join(sorted(known))}")


__all__ = ["BUILT_IN", "DEFINITIONS", "Credentials", "Example", "HttpRequest", "Provider", "add_definitions",
           "get_provider", "known_providers", "load_definition", "parse_response", "remove_definitions"]  # fmt: skip
