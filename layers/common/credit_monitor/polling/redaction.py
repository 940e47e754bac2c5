"""Keys never reach a log line, a stored message, a metric or an answer, whatever the auth style.

Every key a poll round uses is remembered here before the first request, and everything that could
carry one is redacted at the source: the text of every log line (ours, and urllib3's retry warnings,
whose last word is the request URL, query string and all), and every string a vendor sent before it is
kept anywhere (:func:`vendor_text`). A key is replaced wherever it appears, as is, URL-encoded or
JSON-escaped; in a vendor's text, so is any run of FRAGMENT_CHARS of one (a vendor quoting "sk-abc12345..."
of a key it rejects, or a key a cut or a control character split).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from credit_monitor.model import clean_text

MASK = "***"
MIN_LENGTH = 4  # shorter strings are not keys, and replacing them would garble ordinary text
FRAGMENT_CHARS = 8  # in a vendor's text, a run this long of any key (in any form) is masked too
SCAN_CHARS = 4096  # of a vendor's text, what is cleaned and scanned for fragments: far more than any cut keeps
_PERCENT = re.compile(r"%[0-9A-F]{2}")


class SecretRedactor:
    def __init__(self) -> None:
        self._forms: frozenset[str] = frozenset()
        self._fragments: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def remember(self, secrets: Iterable[str]) -> None:
        """Redact these from now on (a container remembers every key it has read)."""
        with self._lock:
            forms = set(self._forms)
            for secret in secrets:
                if isinstance(secret, str) and len(secret) >= MIN_LENGTH:
                    encoded = {quote(secret, safe=""), quote_plus(secret)}
                    # A server that re-encodes a URL (a redirect's Location) may write %2f for %2F.
                    encoded |= {_PERCENT.sub(lambda m: m.group(0).lower(), form) for form in encoded}
                    forms |= {secret, json.dumps(secret)[1:-1], *encoded}
            if forms != self._forms:  # a warm container's next round brings the same keys: nothing to rebuild
                self._pattern = re.compile(_trie_pattern(forms))
                self._fragments = frozenset(form[i : i + FRAGMENT_CHARS] for form in forms for i in range(len(form) - FRAGMENT_CHARS + 1))
                self._forms = frozenset(forms)

    def redact(self, text: str) -> str:
        """Every whole key in ``text`` masked: for every log line, where a key can only be whole (a URL)."""
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def redact_fragments(self, text: str) -> str:
        """Every whole key, and every run of FRAGMENT_CHARS or more of one, masked: for a vendor's text, which
        may quote part of a key. Costs a set lookup per character: meant for texts of at most SCAN_CHARS."""
        text = self.redact(text)
        fragments = self._fragments
        if not fragments or len(text) < FRAGMENT_CHARS:
            return text
        spans: list[list[int]] = []
        for start in range(len(text) - FRAGMENT_CHARS + 1):
            if text[start : start + FRAGMENT_CHARS] in fragments:
                end = start + FRAGMENT_CHARS
                if spans and start <= spans[-1][1]:
                    spans[-1][1] = end  # overlapping runs are one run of a key: one mask
                else:
                    spans.append([start, end])
        if not spans:
            return text
        pieces, position = [], 0
        for start, end in spans:
            pieces += [text[position:start], MASK]
            position = end
        pieces.append(text[position:])
        return "".join(pieces)


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


def vendor_text(text: str, limit: int, redactor: SecretRedactor | None = None) -> str:
    """A vendor's string as it may be logged, stored, returned or sent: redacted, cleaned, then cut to ``limit``.

    The order is the point. Cut first, a key straddling the cut no longer matches and its first part stays
    in clear; so every whole key is masked in the whole text first, then any run of FRAGMENT_CHARS of one.
    Cleaning (model.clean_text: control characters, escape sequences, mentions, links) can join what a
    control character split, so the cleaned text is scanned again. A text longer than SCAN_CHARS is
    scanned only that far, and loses its last FRAGMENT_CHARS - 1 characters, which could begin a key.
    """
    redactor = redactor or REDACTOR  # the keys this container has read, unless told otherwise
    text = redactor.redact(text)
    scanned = redactor.redact_fragments(clean_text(redactor.redact_fragments(text[:SCAN_CHARS])))
    if len(text) > SCAN_CHARS:
        scanned = scanned[: max(0, len(scanned) - (FRAGMENT_CHARS - 1))]
    return scanned[: max(0, limit)].rstrip()


def redact_log_output(handler: logging.Handler | None) -> None:
    """Make ``handler`` redact every line it writes (the Powertools handler, which urllib3's loggers share)."""
    formatter = handler.formatter if handler is not None else None
    if formatter is None or getattr(formatter, "redacting", False):
        return
    plain_format = formatter.format

    def redacted(record: logging.LogRecord) -> str:
        text = plain_format(record)
        # urllib3's retry warnings quote what broke, a vendor's malformed status line included: a vendor's text,
        # which may hold part of a key. Our own lines carry vendor text only through vendor_text already.
        return REDACTOR.redact_fragments(text) if record.name.startswith("urllib3") else REDACTOR.redact(text)

    formatter.format = redacted
    formatter.redacting = True
