"""Looking for keys in what the system wrote: not only whole keys, but any run of FRAGMENT_CHARS of one,
in every form a key travels in (as is, URL-encoded, JSON-escaped). A cut can leave half a key; half a
key is a leak."""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

# The scan's own notion of a leak, not the redactor's constant: a test must not take the code's word for it.
FRAGMENT_CHARS = 8


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def runs(secret: str, length: int = FRAGMENT_CHARS) -> set[str]:
    """Every run of ``length`` characters of ``secret``, in each of its forms (the whole of a shorter one)."""
    return {form[i : i + length] for form in forms(secret) for i in range(max(1, len(form) - length + 1))}


def leaked(text: str, secrets: Iterable[str], length: int = FRAGMENT_CHARS) -> list[str]:
    """The runs of any of ``secrets`` found in ``text``: [] when nothing leaked."""
    return sorted({run for secret in secrets for run in runs(secret, length) if run in text})
