"""The alerting configuration: thresholds per account, silences, and prices. One JSON document (the SSM
parameter in THRESHOLDS_PARAMETER); its JSON Schema is schemas/thresholds.v1.json.

    {"default": {"warning": 500, "critical": 100},
     "srtgen": {"warning_percent": 20, "critical_percent": 5, "percent_of": "allowance"},
     "openrouter/prod": {"warning": 20, "critical": 5, "warning_days": 7, "critical_days": 2},
     "silences": [{"provider": "crun", "reason": "vendor migration", "until": "2026-11-30T00:00:00Z"}],
     "prices": {"currency": "USD", "sunor": 0.01, "crun": 0.001}}

Threshold keys are ``default``, ``<provider>`` or ``<provider>/<account>``; the most specific wins. A
rule gives credits (``warning``, ``critical``), or a percentage (``warning_percent``,
``critical_percent``) of a base the account has (``percent_of``: the plan's ``allowance`` its provider
reports, or the balance just after its ``last_top_up``), and may add days left by the forecast
(``warning_days``, ``critical_days``). The level is the worse of the two. ``silences``, ``prices`` and
``$schema`` are reserved keys. Every rejection names the key and the field.

Longer than ~350 lines on purpose: the one document is parsed here whole, so that every problem in it is
reported at once, under one way of naming where it is.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from credit_monitor.alerting.labels import Labels, parse_labels
from credit_monitor.errors import LabelsError, ThresholdsError
from credit_monitor.model import AlertState, BalanceItem, format_time, parse_time, valid_account_name, valid_provider_id

DEFAULT_DOCUMENT = '{"default": {"warning": 500, "critical": 100}}'
RESERVED = ("silences", "prices", "labels", "anomaly", "$schema")
ANOMALY_FIELDS = {"factor": (1.5, 1000), "floor": (0, 1e15), "baseline_days": (1, 14), "recent_minutes": (5, 360),
                  "min_hours": (1, 336)}  # fmt: skip
MAX_NUMBER = 1e15  # no threshold, price or day count is larger (and a 400-digit number must be refused, not overflow)
RULE_FIELDS = ("warning", "critical", "warning_percent", "critical_percent", "percent_of", "warning_days", "critical_days")
PERCENT_BASES = {"allowance": "the plan's allowance", "last_top_up": "the balance after the last top-up"}
SILENCE_FIELDS = ("provider", "account", "levels", "events", "reason", "until")
SILENCE_LEVELS = ("ok", "warning", "critical", "depleted", "unknown")
SILENCE_EVENTS = ("threshold", "recovery", "failure", "stale", "forecast", "incident", "anomaly")
PROVIDER_GLOB = re.compile(r"[a-z0-9_*?-]{1,32}")
ACCOUNT_GLOB = re.compile(r"[A-Za-z0-9_.*?-]{1,64}")
CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class Threshold:
    """What is in force for one account now: credit lines, day lines, and where they come from."""

    warning: float = 0
    critical: float = 0
    warning_days: float | None = None
    critical_days: float | None = None
    key: str | None = None  # the document key in force; None when no key matches (only depletion alerts)
    basis: str = "absolute credits"  # how warning and critical were found, in words

    @property
    def has_days(self) -> bool:
        return self.warning_days is not None


# With no matching key an account still alerts when it is depleted (<= 0), never before.
NO_THRESHOLD = Threshold(basis="no threshold matches this account: only depletion alerts")


@dataclass(frozen=True)
class Rule:
    """One key's thresholds, as the document states them."""

    key: str
    warning: float | None = None
    critical: float | None = None
    warning_percent: float | None = None
    critical_percent: float | None = None
    percent_of: str | None = None
    warning_days: float | None = None
    critical_days: float | None = None

    def resolve(self, allowance: float | None, top_up: float | None) -> Threshold:
        days = {"warning_days": self.warning_days, "critical_days": self.critical_days, "key": self.key}
        if self.warning_percent is not None:
            base = allowance if self.percent_of == "allowance" else top_up
            what = PERCENT_BASES[self.percent_of or "allowance"]
            shares = f"{self.warning_percent:g}% and {self.critical_percent:g}% of {what}"
            if base is None or base <= 0:
                return Threshold(**days, basis=f"{shares}, which is not known for this account: only depletion alerts")
            warning, critical = base * self.warning_percent / 100, base * self.critical_percent / 100
            return Threshold(warning, critical, **days, basis=f"{shares} ({base:g})")
        if self.warning is not None:
            return Threshold(self.warning, self.critical or 0, **days)
        return Threshold(**days, basis="days left only")


@dataclass(frozen=True)
class Silence:
    """Alerts of matching accounts (and, if given, levels and events) are not sent until ``until``."""

    index: int
    reason: str
    until: str  # ISO-8601 UTC
    provider: str = "*"
    account: str = "*"
    levels: tuple[str, ...] | None = None
    events: tuple[str, ...] | None = None

    @property
    def ident(self) -> str:
        """Stable across documents as long as the rule itself is unchanged (to report its expiry once)."""
        rule = [self.provider, self.account, self.levels, self.events, self.reason, self.until]
        return hashlib.sha256(json.dumps(rule).encode()).hexdigest()[:16]

    @property
    def scope(self) -> str:
        return f"{self.provider}/{self.account}"

    def active(self, now: datetime) -> bool:
        return format_time(now) < self.until

    def covers(self, provider: str, account: str) -> bool:
        return fnmatchcase(provider, self.provider) and fnmatchcase(account, self.account)

    def mutes(self, provider: str, account: str, level: str, event: str) -> bool:
        return (
            self.covers(provider, account)
            and (self.levels is None or level in self.levels)
            and (self.events is None or event in self.events)
        )


@dataclass(frozen=True)
class Prices:
    """What one unit of each provider's (or account's) credits is worth, in one reporting currency."""

    currency: str
    per_unit: dict[str, float] = field(default_factory=dict)

    def price(self, provider: str, account: str, unit: str | None) -> float | None:
        found = self.per_unit.get(f"{provider}/{account}", self.per_unit.get(provider))
        if found is None and unit == self.currency:
            return 1.0  # a balance already in the reporting currency needs no price
        return found

    def value(self, provider: str, account: str, available: float | None, unit: str | None) -> float | None:
        price = self.price(provider, account, unit)
        return None if price is None or available is None else round(available * price, 6)


@dataclass(frozen=True)
class AnomalyRule:
    """An account spending ``factor`` times its usual rate (its mean hourly spend over ``baseline_days``, once
    ``min_hours`` of it are known) over the last ``recent_minutes``, and at least ``floor`` credits an hour."""

    factor: float = 5
    floor: float = 0
    baseline_days: float = 7
    recent_minutes: float = 10  # two polls at the default interval: an anomaly is seen within two polls of its start
    min_hours: float = 24

    @property
    def baseline(self) -> timedelta:
        return timedelta(days=self.baseline_days)

    @property
    def recent(self) -> timedelta:
        return timedelta(minutes=self.recent_minutes)


@dataclass(frozen=True)
class Thresholds:
    rules: dict[str, Rule]
    digest: str  # sha256 of the document, to tell versions apart
    silences: tuple[Silence, ...] = ()
    prices: Prices | None = None
    labels: Labels = field(default_factory=Labels)
    anomaly: dict[str, dict[str, float]] = field(default_factory=dict)  # the anomaly section's fields by key

    def anomaly_for(self, provider: str, account: str) -> AnomalyRule | None:
        """The anomaly rule of an account (fields merged from default to provider to account), or None when the
        document has no anomaly section that covers it."""
        merged: dict[str, float] = {}
        for key in ("default", provider, f"{provider}/{account}"):
            merged.update(self.anomaly.get(key, {}))
        return AnomalyRule(**merged) if any(k in self.anomaly for k in ("default", provider, f"{provider}/{account}")) else None

    def rule_for(self, provider: str, account: str) -> Rule | None:
        for key in (f"{provider}/{account}", provider, "default"):
            if key in self.rules:
                return self.rules[key]
        return None

    def for_account(self, provider: str, account: str, allowance: float | None = None, top_up: float | None = None) -> Threshold:
        rule = self.rule_for(provider, account)
        return NO_THRESHOLD if rule is None else rule.resolve(allowance, top_up)

    def silence_for(self, provider: str, account: str, level: str, event: str, now: datetime) -> Silence | None:
        """The active silence that mutes this alert, if any."""
        return next((s for s in self.silences if s.active(now) and s.mutes(provider, account, level, event)), None)

    def covering(self, provider: str, account: str, now: datetime) -> Silence | None:
        """An active silence over the account, whatever its levels and events."""
        return next((s for s in self.silences if s.active(now) and s.covers(provider, account)), None)

    def expired(self, now: datetime) -> list[Silence]:
        return [s for s in self.silences if not s.active(now)]


def top_up_base(state: AlertState, available: float, previous: float | None) -> float:
    """The balance just after the last top-up: the first balance seen, then any balance higher than the
    one before it (``previous``, from the stream record's old image)."""
    if state.top_up_base is None or (previous is not None and available > previous):
        return available
    return state.top_up_base


def threshold_for(thresholds: Thresholds, balance: BalanceItem, state: AlertState, previous: float | None = None) -> Threshold:
    """The threshold in force for an account: its rule, with a percentage taken of the account's base
    (this balance may be the top-up itself: ``previous`` is the balance before it, when known)."""
    top_up = state.top_up_base
    if balance.available is not None:
        top_up = top_up_base(state, float(balance.available), previous)
    return thresholds.for_account(balance.provider, balance.account, allowance=balance.allowance, top_up=top_up)


def document_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def parse_thresholds(text: str) -> Thresholds:
    """The document, or ThresholdsError naming the key and field at fault: never any other exception, whatever
    the text (a bad document must be rejected with its message, and the last good one stays in force)."""
    try:
        return _parse(text)
    except ThresholdsError:
        raise
    except LabelsError as exc:
        raise ThresholdsError(str(exc)) from None
    except (RecursionError, OverflowError, ValueError, TypeError, MemoryError) as exc:  # a shape no check foresaw
        raise ThresholdsError(f"thresholds cannot be read ({type(exc).__name__}): keep the document a small JSON object") from None


def _parse(text: str) -> Thresholds:
    if not isinstance(text, str):
        raise ThresholdsError("thresholds must be JSON text")
    try:
        document = json.loads(text)
    except RecursionError:
        raise ThresholdsError("thresholds are nested too deeply to be a configuration document") from None
    except ValueError as exc:
        raise ThresholdsError(f"thresholds are not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(document, dict):
        raise ThresholdsError('thresholds must be a JSON object such as {"default": {"warning": 500, "critical": 100}}')
    rules = {}
    for key, value in document.items():
        if key in RESERVED:
            continue
        _check_key(key)
        rules[key] = _rule(key, value)
    return Thresholds(rules, document_digest(text), _silences(document.get("silences", [])), _prices(document.get("prices")),
                      parse_labels(document.get("labels")), _anomaly(document.get("anomaly")))  # fmt: skip


def _anomaly(value: object) -> dict[str, dict[str, float]]:
    """The anomaly section: ``{"default" | "<provider>" | "<provider>/<account>": {factor, floor, baseline_days,
    recent_minutes, min_hours}}``, each field optional (the built-in defaults fill the rest)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ThresholdsError('thresholds["anomaly"] must be an object such as {"default": {"factor": 5, "floor": 100}}')
    found = {}
    for key, rule in value.items():
        _check_key(key)
        where = f'thresholds["anomaly"][{key!r}]'
        fields_ = _object(where, rule, tuple(ANOMALY_FIELDS), ", ".join(ANOMALY_FIELDS))
        found[key] = {}
        for name, number in fields_.items():
            low, high = ANOMALY_FIELDS[name]
            checked = _number(f"{where}.{name}", number, maximum=high)
            if checked < low:
                raise ThresholdsError(f"{where}.{name} must be at least {low:g}, got {shown(number)}")
            found[key][name] = checked
    return found


def shown(value: object, limit: int = 60) -> str:
    """A value of the document as an error message quotes it: JSON, and short whatever it is."""
    try:
        text = json.dumps(value)
    except (ValueError, TypeError, RecursionError, OverflowError):
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_key(key: str) -> None:
    if key == "default":
        return
    provider, _, account = key.partition("/")
    if not valid_provider_id(provider) or (account and not valid_account_name(account)) or key.endswith("/"):
        raise ThresholdsError(
            f'thresholds key {key!r} must be "default", "<provider>", "<provider>/<account>", or one of {", ".join(RESERVED)}'
        )


def _number(where: str, value: object, *, allow_none: bool = False, maximum: float | None = None) -> float | None:
    if value is None and allow_none:
        return None
    # Compared before any conversion: an int of 400 digits overflows a float (and math.isfinite).
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
        or value < 0
    ):
        raise ThresholdsError(f"{where} must be a number >= 0, got {shown(value)}")
    cap = MAX_NUMBER if maximum is None else maximum
    if value > cap:
        raise ThresholdsError(f"{where} must be at most {cap:g}, got {shown(value)}")
    return float(value) if isinstance(value, float) else value


def _object(where: str, value: object, allowed: tuple[str, ...], shape: str) -> dict[str, Any]:
    """``value`` as an object holding only ``allowed`` fields, or the error naming ``where`` and what is wrong."""
    if not isinstance(value, dict):
        raise ThresholdsError(f"{where} must be an object with {shape}")
    unknown = set(value) - set(allowed)
    if unknown:
        raise ThresholdsError(f"{where} has unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(allowed)}")
    return value


def _rule(key: str, value: object) -> Rule:
    where = f"thresholds[{key!r}]"
    value = _object(where, value, RULE_FIELDS, "warning and critical (credits, percent or days)")
    pairs = {"credits": ("warning", "critical"), "percent": ("warning_percent", "critical_percent"),
             "days": ("warning_days", "critical_days")}  # fmt: skip
    given = {name: [f for f in fields_ if f in value] for name, fields_ in pairs.items()}
    if given["credits"] and given["percent"]:
        raise ThresholdsError(f"{where}: give credits (warning, critical) or percentages (warning_percent, critical_percent), not both")
    if not any(given.values()):
        raise ThresholdsError(f"{where}.critical must be a number >= 0, got null")
    numbers: dict[str, Any] = {}
    for name, (high, low) in pairs.items():
        if not given[name]:
            continue
        cap = 100 if name == "percent" else None
        numbers[high] = _number(f"{where}.{high}", value.get(high), maximum=cap)
        numbers[low] = _number(f"{where}.{low}", value.get(low), maximum=cap)
        if numbers[low] > numbers[high]:
            raise ThresholdsError(f"{where}: {low} ({numbers[low]:g}) is above {high} ({numbers[high]:g})")
    if given["percent"]:
        base = value.get("percent_of", "allowance")
        if base not in PERCENT_BASES:
            raise ThresholdsError(f"{where}.percent_of must be one of {', '.join(PERCENT_BASES)}, got {shown(base)}")
        numbers["percent_of"] = base
    elif "percent_of" in value:
        raise ThresholdsError(f"{where}.percent_of goes with warning_percent and critical_percent")
    return Rule(key, **numbers)


def _silences(value: object) -> tuple[Silence, ...]:
    if not isinstance(value, list):
        raise ThresholdsError('thresholds["silences"] must be a list of {"provider", "account", "reason", "until"} objects')
    return tuple(_silence(i, item) for i, item in enumerate(value))


def _silence(index: int, item: object) -> Silence:
    where = f'thresholds["silences"][{index}]'
    item = _object(where, item, SILENCE_FIELDS, "reason and until (and provider, account, levels, events)")
    reason = item.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ThresholdsError(f"{where}.reason is required: say why alerts are silenced (it is shown in the digest and the API)")
    until = item.get("until")
    if not isinstance(until, str):
        raise ThresholdsError(f"{where}.until is required: an ISO-8601 time such as 2026-11-30T00:00:00Z (a silence must end)")
    moment = _until(where, until)
    provider, account = item.get("provider", "*"), item.get("account", "*")
    if not isinstance(provider, str) or not PROVIDER_GLOB.fullmatch(provider):
        raise ThresholdsError(f"{where}.provider must be a provider id or a pattern such as * or open*, got {shown(provider)}")
    if not isinstance(account, str) or not ACCOUNT_GLOB.fullmatch(account):
        raise ThresholdsError(f"{where}.account must be an account name or a pattern such as * or staging-*, got {shown(account)}")
    return Silence(index, " ".join(reason.split())[:200], moment, provider, account,
                   _choices(f"{where}.levels", item.get("levels"), SILENCE_LEVELS),
                   _choices(f"{where}.events", item.get("events"), SILENCE_EVENTS))  # fmt: skip


def _until(where: str, until: str) -> str:
    """A silence's end as stored: fixed-width UTC, so that times compare as text (a year 999 would sort after today)."""
    try:
        return format_time(parse_time(until.strip(), lenient=True))
    except ValueError as exc:
        raise ThresholdsError(f"{where}.until {exc}") from None


def _choices(where: str, value: object, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or any(v not in allowed for v in value):
        raise ThresholdsError(f"{where} must be a non-empty list of {', '.join(allowed)}, got {shown(value)}")
    return tuple(value)


def _prices(value: object) -> Prices | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ThresholdsError('thresholds["prices"] must be an object such as {"currency": "USD", "sunor": 0.01}')
    currency = value.get("currency")
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        raise ThresholdsError(f'thresholds["prices"].currency must be a currency code such as USD, got {shown(currency)}')
    per_unit = {}
    for key, price in value.items():
        if key == "currency":
            continue
        _check_key(key)
        if key == "default":
            raise ThresholdsError('thresholds["prices"] has no default: a price belongs to a provider or an account')
        number = _number(f'thresholds["prices"][{key!r}]', price)
        if not number:
            raise ThresholdsError(f'thresholds["prices"][{key!r}] must be a number > 0, got {shown(price)}')
        per_unit[key] = number
    return Prices(currency, per_unit)
