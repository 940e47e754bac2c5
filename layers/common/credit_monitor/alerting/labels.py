"""Labels: who owns an account's alerts, said once in the configuration document and carried by every alert.

    "labels": {"default": {"team": "platform"}, "pixverse": {"team": "video"}, "pixverse/staging-*": {"env": "staging"}}

Keys are ``default``, ``<provider>`` or ``<provider>/<account>``, where the account may be a pattern (``*``,
``?``) as in silences, so a fleet's labels stay a few lines. An account's labels are merged from the least to
the most specific: ``default``, its provider, the patterns matching it (fewest wildcards last), its own key.
Every alert carries them (the event detail's ``labels`` and ``label_pairs``; SNS attributes ``label.<name>``),
so a channel's rule pattern or a subscription's filter policy routes by them: routing is done by AWS, not by
a loop of ours. At most 5 names in the whole document, because an SNS message carries at most 10 attributes
and four are provider, account, level and event.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from credit_monitor.errors import LabelsError
from credit_monitor.model import valid_provider_id

MAX_NAMES = 5
NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
VALUE = re.compile(r"[A-Za-z0-9_.:/@+-]{1,64}")  # no comma or equals sign: a channel's filter is a list of name=value
ACCOUNT_PATTERN = re.compile(r"[A-Za-z0-9_.*?-]{1,64}")
PAIR = re.compile(rf"({NAME.pattern})=({VALUE.pattern})")


@dataclass(frozen=True)
class Labels:
    """The document's labels section: rules by key, applied from the least to the most specific."""

    rules: dict[str, dict[str, str]] = field(default_factory=dict)

    def for_provider(self, provider: str) -> dict[str, str]:
        """A provider's own labels (an incident's, or any alert about the provider as a whole)."""
        return {**self.rules.get("default", {}), **self.rules.get(provider, {})}

    def for_account(self, provider: str, account: str) -> dict[str, str]:
        merged = self.for_provider(provider)
        patterns = []
        for key, labels in self.rules.items():
            owner, _, pattern = key.partition("/")
            if owner == provider and pattern and pattern != account and fnmatchcase(account, pattern):
                patterns.append((len(pattern) - pattern.count("*") - pattern.count("?"), key, labels))
        for _, _, labels in sorted(patterns):
            merged.update(labels)
        merged.update(self.rules.get(f"{provider}/{account}", {}))
        return dict(sorted(merged.items()))


def pairs(labels: dict[str, str]) -> list[str]:
    """``name=value`` strings: what an EventBridge pattern can match, as a channel's label filter says it."""
    return [f"{name}={value}" for name, value in sorted(labels.items())]


def parse_pair(text: str) -> tuple[str, str]:
    """A ``name=value`` filter (GET /alerts?label=, the digest's label)."""
    match = PAIR.fullmatch(text)
    if match is None:
        raise LabelsError(f"label {text[:80]!r} must be name=value: a name of 1-32 of a-z 0-9 _ starting with a letter, "
                          "a value of 1-64 of A-Z a-z 0-9 _ . : / @ + -")  # fmt: skip
    return match.group(1), match.group(2)


def parse_labels(value: object) -> Labels:
    where = 'thresholds["labels"]'
    if value is None:
        return Labels()
    if not isinstance(value, dict):
        raise LabelsError(f'{where} must be an object such as {{"default": {{"team": "platform"}}, "pixverse": {{"team": "video"}}}}')
    rules, names = {}, set()
    for key, labels in value.items():
        _check_key(where, key)
        here = f"{where}[{json.dumps(key)}]"
        if not isinstance(labels, dict) or not labels:
            raise LabelsError(f'{here} must be a non-empty object of label name: value, such as {{"team": "video"}}')
        for name, text in labels.items():
            if not NAME.fullmatch(name):
                raise LabelsError(f"{here} has the label name {json.dumps(name[:40])}: use 1-32 of a-z 0-9 _ starting with a letter")
            if not isinstance(text, str) or not VALUE.fullmatch(text):
                raise LabelsError(f"{here}.{name} must be 1-64 of A-Z a-z 0-9 _ . : / @ + -, got {json.dumps(text)[:80]}")
        names |= set(labels)
        rules[key] = dict(labels)
    if len(names) > MAX_NAMES:
        raise LabelsError(f"{where} uses {len(names)} label names ({', '.join(sorted(names))}); at most {MAX_NAMES}, because an SNS "
                          "message carries at most 10 attributes (4 are provider, account, level and event)")  # fmt: skip
    return Labels(rules)


def _check_key(where: str, key: str) -> None:
    if key == "default":
        return
    provider, slash, account = key.partition("/")
    if not valid_provider_id(provider) or (slash and not ACCOUNT_PATTERN.fullmatch(account)):
        raise LabelsError(f'{where} key {json.dumps(key[:80])} must be "default", "<provider>" or "<provider>/<account or pattern>"')
