"""Alert thresholds: a JSON document of absolute credit levels, most specific key wins.

    {"default": {"warning": 500, "critical": 100}, "pixverse/prod": {"warning": 20000, "critical": 5000}}

Keys are ``default``, ``<provider>`` or ``<provider>/<account>``. Validation names the key and field at
fault, so an operator editing the SSM parameter knows what to fix.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from credit_monitor.model import valid_account_name, valid_provider_id

DEFAULT_DOCUMENT = '{"default": {"warning": 500, "critical": 100}}'


class ThresholdsError(ValueError):
    """The thresholds document is malformed; the message says where."""


@dataclass(frozen=True)
class Threshold:
    warning: float = 0
    critical: float = 0


# With no matching key an account still alerts when it is depleted (<= 0), never before.
NO_THRESHOLD = Threshold()


@dataclass(frozen=True)
class Thresholds:
    entries: dict[str, Threshold]
    digest: str  # sha256 of the document, to tell versions apart

    def for_account(self, provider: str, account: str) -> Threshold:
        for key in (f"{provider}/{account}", provider, "default"):
            if key in self.entries:
                return self.entries[key]
        return NO_THRESHOLD


def document_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def parse_thresholds(text: str) -> Thresholds:
    try:
        document = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ThresholdsError(f"thresholds are not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ThresholdsError('thresholds must be a JSON object such as {"default": {"warning": 500, "critical": 100}}')
    entries = {}
    for key, value in document.items():
        _check_key(key)
        entries[key] = _threshold(key, value)
    return Thresholds(entries, document_digest(text))


def _check_key(key: str) -> None:
    if key == "default":
        return
    provider, _, account = key.partition("/")
    if not valid_provider_id(provider) or (account and not valid_account_name(account)) or key.endswith("/"):
        raise ThresholdsError(f'thresholds key {key!r} must be "default", "<provider>" or "<provider>/<account>"')


def _threshold(key: str, value: object) -> Threshold:
    if not isinstance(value, dict):
        raise ThresholdsError(f"thresholds[{key!r}] must be an object with warning and critical")
    unknown = set(value) - {"warning", "critical"}
    if unknown:
        raise ThresholdsError(f"thresholds[{key!r}] has unknown field(s) {', '.join(sorted(unknown))}; allowed: warning, critical")
    numbers = {}
    for field in ("warning", "critical"):
        number = value.get(field)
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number) or number < 0:
            raise ThresholdsError(f"thresholds[{key!r}].{field} must be a number >= 0, got {json.dumps(number)}")
        numbers[field] = number
    if numbers["critical"] > numbers["warning"]:
        raise ThresholdsError(f"thresholds[{key!r}]: critical ({numbers['critical']}) is above warning ({numbers['warning']})")
    return Threshold(**numbers)
