"""Keys never reach a log line, a stored message, a metric or an answer, whatever the auth style.

Every key a poll round uses is remembered here before the first request, and everything that could
carry one is redacted at the source: the text of every log line (ours, and urllib3's retry warnings,
whose last word is the request URL, query string and all), and every failure message before it is
stored. A key is replaced wherever it appears, as is, URL-encoded or JSON-escaped.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4  # shorter strings are not keys, and replacing them would garble ordinary text


class SecretRedactor:
    def __init__(self) -> None:
        self._forms: list[str] = []
        self._lock = threading.Lock()

    def remember(self, secrets: Iterable[str]) -> None:
        """Redact these from now on (a container remembers every key it has read)."""
        with self._lock:
            forms = set(self._forms)
            for secret in secrets:
                if isinstance(secret, str) and len(secret) >= MIN_LENGTH:
                    forms |= {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
            self._forms = sorted(forms, key=len, reverse=True)  # longest first: no partial replacement

    def redact(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text


REDACTOR = SecretRedactor()


def redact_log_output(handler: logging.Handler | None) -> None:
    """Make ``handler`` redact every line it writes (the Powertools handler, which urllib3's loggers share)."""
    formatter = handler.formatter if handler is not None else None
    if formatter is None or getattr(formatter, "redacting", False):
        return
    plain_format = formatter.format
    formatter.format = lambda record: REDACTOR.redact(plain_format(record))
    formatter.redacting = True
