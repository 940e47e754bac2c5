"""The registry of provider adapters. Adding a provider: one module here, one line below."""

from credit_monitor.providers import apimall, crun, pixverse, srtgen, sunor
from credit_monitor.providers.base import Provider, parse_response

PROVIDERS: dict[str, Provider] = {p.id: p for p in (crun.PROVIDER, sunor.PROVIDER, srtgen.PROVIDER, apimall.PROVIDER, pixverse.PROVIDER)}


def get_provider(provider_id: str) -> Provider:
    try:
        return PROVIDERS[provider_id]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise LookupError(f"unknown provider {provider_id!r}; known providers: {known}") from None


__all__ = ["PROVIDERS", "Provider", "get_provider", "parse_response"]
