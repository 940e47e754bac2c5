"""Keys never reach a log line, a stored message, a metric or an answer, whatever the auth style.

Every key a poll round uses is remembered here before the first request, and everything that could
carry one is redacted at the source: the text of every log line (ours, and urllib3's retry warnings,
whose last word is the request URL, query string and all), and every failure message before it is
stored. A key is replaced wherever it appears, as is, URL-encoded or JSON-escaped.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4  # shorter strings are not keys, and replacing them would garble ordinary text


class SecretRedactor:
    def __init__(self) -> None:
        self._forms: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def remember(self, secrets: Iterable[str]) -> None:
        """Redact these from now on (a container remembers every key it has read)."""
        with self._lock:
            forms = set(self._forms)
            for secret in secrets:
                if isinstance(secret, str) and len(secret) >= MIN_LENGTH:
                    forms |= {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
            if forms != self._forms:  # a warm container's next round brings the same keys: nothing to rebuild
                self._forms = frozenset(forms)
                self._pattern = re.compile(_trie_pattern(forms))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text


def _trie_pattern(words: Iterable[str]) -> str:
    """One regular expression matching any of ``words``, longest first, as a trie of their characters.

    Every line a poller logs is redacted, and a round may hold a thousand keys in four forms each: a trie
    tests each position of a line once instead of once per key (about 2 microseconds a line, not 250).
    """
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def branch(node: dict[str, dict]) -> str:
        options = [re.escape(char) + branch(child) for char, child in sorted(node.items()) if char]
        if not options:
            return ""
        body = options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"
        return f"(?:{body})?" if "" in node else body  # greedy: a longer word wins over its own prefix

    return branch(trie)


REDACTOR = SecretRedactor()


def redact_log_output(handler: logging.Handler | None) -> None:
    """Make ``handler`` redact every line it writes (the Powertools handler, which urllib3's loggers share)."""
    formatter = handler.formatter if handler is not None else None
    if formatter is None or getattr(formatter, "redacting", False):
        return
    plain_format = formatter.format
    formatter.format = lambda record: REDACTOR.redact(plain_format(record))
    formatter.redacting = True
