"""The registry of providers: the built-in adapters, and the definitions bundled in definitions/.

Adding a provider: a definition file in definitions/ (no code), or an adapter module here plus a line
in BUILT_IN when the provider needs logic a definition cannot express.
"""

from __future__ import annotations

import functools

from credit_monitor.polling.providers import apimall, crun, pixverse, srtgen, sunor
from credit_monitor.polling.providers.base import Provider, parse_response
from credit_monitor.polling.providers.declarative import DefinitionError, load_bundled

BUILT_IN: dict[str, Provider] = {p.id: p for p in (crun.PROVIDER, sunor.PROVIDER, srtgen.PROVIDER, apimall.PROVIDER, pixverse.PROVIDER)}
PROVIDERS = BUILT_IN  # the five the contract names


@functools.cache
def defined_providers() -> dict[str, Provider]:
    """The bundled definitions, validated once per container (a bad one fails loudly, naming itself)."""
    providers = load_bundled()
    clash = sorted(set(providers) & set(BUILT_IN))
    if clash:
        raise DefinitionError(f"definition id {clash[0]!r} is a built-in provider; choose another id")
    return providers


def known_providers() -> dict[str, Provider]:
    return {**defined_providers(), **BUILT_IN}


def get_provider(provider_id: str) -> Provider:
    if provider_id in BUILT_IN:
        return BUILT_IN[provider_id]
    known = known_providers()
    if provider_id in known:
        return known[provider_id]
    raise LookupError(f"unknown provider {provider_id!r}; known providers: {', '.join(sorted(known))}")


__all__ = ["BUILT_IN", "PROVIDERS", "DefinitionError", "Provider", "get_provider", "known_providers", "parse_response"]
