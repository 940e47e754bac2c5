"""Reading a vendor's answer as a definition says: the failure it reports, or the balance it holds.

What a reading keeps of a vendor's strings and structures is bounded: every string passes vendor_text
(redacted, cleaned, then cut), and a breakdown as a whole has an allowance of nodes and characters, so a
hostile answer can neither outgrow a DynamoDB item (400 KB) nor cost a second of CPU per account.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from jmespath.exceptions import JMESPathError

from credit_monitor.errors import PollFailure
from credit_monitor.model import MAX_CREDITS, FailureKind, Reading, check_credits, format_time, parse_time
from credit_monitor.polling.providers.base import STATUS_KINDS, message_of, status_failure
from credit_monitor.polling.providers.definition.compiled import Definition, FieldExpressions
from credit_monitor.polling.providers.definition.expressions import OPTIONS, evaluate, is_number, json_kind, one_line, truthy
from credit_monitor.polling.redaction import vendor_text

MAX_TEXT, MAX_ITEMS, MAX_DEPTH = 100, 20, 4  # how much of a breakdown is kept: strings, list items, nesting
MAX_CODE_CHARS, MAX_TIME_CHARS = 40, 40
MAX_BREAKDOWN_NODES, MAX_BREAKDOWN_CHARS = 1000, 16_000
PLAIN_UNIT = re.compile(r"[A-Za-z0-9 ._-]{1,20}")  # what unit_from may read: a word, not markup or a sentence
PLAIN_UNIT_RULE = "1-20 of letters, digits, space . _ -"

logger = Logger()


# -- the failure an answer reports --------------------------------------------------------------------


def raise_reported_failure(definition: Definition, status: int, body: dict[str, Any]) -> None:
    """Raise the classified failure a body reports; return when it reports success."""
    if truthy(evaluate(definition.success, body, "success")):
        for rule in definition.requires:
            if not truthy(evaluate(rule.expression, body, "requires")):
                raise PollFailure(rule.kind, f"{definition.id}: {rule.message}")
        return
    code = evaluate(definition.error_code, body, "error_code") if definition.error_code else None
    raw = evaluate(definition.error_message, body, "error_message") if definition.error_message else None
    said = " ".join(raw.split()).lower() if isinstance(raw, str) else ""  # what the vendor said, to classify by
    message = message_of(raw) if said else ""  # and what of it may be kept: redacted, cleaned, cut
    if code is None and not message:
        if 200 <= status < 300:
            raise PollFailure(FailureKind.BAD_RESPONSE, f"{definition.id} response does not pass its success test")
        if str(status) in definition.error_hints:
            raise status_failure(status, definition.error_hints[str(status)])
        return  # no provider error body: classified by HTTP status
    # The body says why, so it wins over the status class: a 429 that says "out of credits" is not rate limiting.
    kind = definition.error_kinds.get(code_text(code)) if code is not None else None
    if kind is None and said:
        kind = next((k for text, k in definition.error_messages.items() if text.lower() in said), None)
    kind = kind or STATUS_KINDS.get(status, FailureKind.PROVIDER_ERROR)
    hint = (definition.error_hints.get(code_text(code)) if code is not None else None) or definition.error_hints.get(str(status))
    label = f" {definition.code_label} {vendor_text(code_text(code), MAX_CODE_CHARS)}" if code is not None else ""
    raise PollFailure(kind, f"{definition.id}{label}: {message or 'no message'}" + (f" ({hint})" if hint else ""))


def code_text(code: Any) -> str:
    """A vendor's error code as text, to look up in error_kinds and error_hints (shown only through vendor_text)."""
    if isinstance(code, str):
        return code
    if isinstance(code, int) and not isinstance(code, bool):
        return str(code)
    if isinstance(code, float) and code.is_integer():
        return str(int(code))
    return json.dumps(code)


def explain(definition: Definition, body: Any) -> dict[str, Any]:
    """What each of the definition's expressions finds in ``body`` (check --explain)."""
    found = {}
    for name, expression in definition.named_expressions():
        try:
            found[f"{name}: {expression.expression}"] = expression.search(body, options=OPTIONS)
        except JMESPathError as exc:
            found[f"{name}: {expression.expression}"] = f"error: {one_line(exc)}"
    return found


# -- the balance an answer holds ----------------------------------------------------------------------


class _Budget:
    """What is left of a breakdown's allowance of nodes and characters while it is read."""

    def __init__(self) -> None:
        self.nodes, self.chars, self.exceeded = MAX_BREAKDOWN_NODES, MAX_BREAKDOWN_CHARS, False

    def spend(self, chars: int = 0) -> bool:
        self.nodes, self.chars = self.nodes - 1, self.chars - chars
        self.exceeded |= self.nodes < 0 or self.chars < 0
        return not self.exceeded


def read_balance(fields: FieldExpressions, negative: str, body: dict[str, Any]) -> Reading:
    """The reading a successful answer holds, every number checked as a credit amount."""
    raw = evaluate(fields.available, body, "available")
    if negative == "clamp" and is_number(raw) and raw < 0:
        available, overage = 0, -raw
        check_credits(overage, f"{fields.label('available')} (overage)")
    else:
        available, overage = check_credits(raw, fields.label("available")), None
    frozen = check_credits(evaluate(fields.frozen, body, "frozen"), fields.label("frozen")) if fields.frozen else None
    if frozen is None and fields.total:
        frozen = max(0, check_credits(evaluate(fields.total, body, "total"), fields.label("total")) - available)
    breakdown, budget = {}, _Budget()
    for name, entry in fields.breakdown.items():
        value = evaluate(entry.expression, body, f"breakdown.{name}")
        if value is not None:
            breakdown[name] = _within_budget(value, f"breakdown.{name}", entry.credits, budget)
    if budget.exceeded:
        logger.warning("breakdown cut: the provider's answer holds more than a breakdown keeps",
                       extra={"max_nodes": MAX_BREAKDOWN_NODES, "max_chars": MAX_BREAKDOWN_CHARS})  # fmt: skip
    if overage is not None:
        breakdown["overage"] = overage
    unit = _unit(fields, body)
    allowance = check_credits(evaluate(fields.allowance, body, "allowance"), fields.label("allowance")) if fields.allowance else None
    resets_at = _reset_time(evaluate(fields.resets_at, body, "resets_at")) if fields.resets_at else None
    return Reading(available=available, frozen=frozen or 0, breakdown=breakdown, unit=unit, allowance=allowance, resets_at=resets_at)


def _unit(fields: FieldExpressions, body: dict[str, Any]) -> str:
    """The unit: the definition's, or what unit_from reads when it is a plain word (the unit is shown in every
    alert and message, so a vendor's markup or a sentence there falls back to the definition's unit)."""
    if not fields.unit_from:
        return fields.unit
    found = evaluate(fields.unit_from, body, "unit_from")
    if isinstance(found, str) and PLAIN_UNIT.fullmatch(found.strip()):
        return found.strip()
    if found is not None:
        shown = vendor_text(found, 40) if isinstance(found, str) else json_kind(found)
        logger.warning(f"unit_from read no plain unit ({PLAIN_UNIT_RULE}); the definition's unit is used",
                       extra={"unit": fields.unit, "found": shown})  # fmt: skip
    return fields.unit


def _within_budget(value: Any, where: str, credits: bool, budget: _Budget, depth: int = 0) -> Any:
    """A breakdown value kept to a bounded, JSON-safe shape: strings redacted, cleaned and cut, numbers finite
    (and credit amounts if declared so); what is past MAX_DEPTH or the breakdown's budget is None."""
    if depth > MAX_DEPTH or budget.exceeded:
        return None
    if isinstance(value, str):
        text = vendor_text(value, MAX_TEXT)
        return text if budget.spend(len(text)) else None
    if not budget.spend():
        return None
    if is_number(value):
        if credits:
            return check_credits(value, where)
        if not math.isfinite(value) or abs(value) > MAX_CREDITS:
            raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is not a plausible number ({value:g})")
        return value
    if isinstance(value, list):
        return [_within_budget(item, f"{where}[{i}]", credits, budget, depth + 1) for i, item in enumerate(value[:MAX_ITEMS])]
    if isinstance(value, dict):
        kept = {}
        for key, item in list(value.items())[:MAX_ITEMS]:
            name = vendor_text(str(key), MAX_TEXT)  # a vendor's key is its text too, and names the field in a failure
            if not budget.spend(len(name)):
                break
            kept[name] = _within_budget(item, f"{where}.{name}", credits, budget, depth + 1)
        return kept
    return value if isinstance(value, bool) or value is None else vendor_text(str(value), MAX_TEXT)


def _reset_time(value: Any) -> str | None:
    """A reset time as stored: ISO-8601 UTC. Numbers are Unix time (seconds, or milliseconds when that large);
    anything else (not a time, or a year outside model.MIN_YEAR..MAX_YEAR) is no reset time, and logged."""
    if is_number(value) and math.isfinite(value) and value > 0:
        seconds = value / 1000 if value > 1e11 else value
        try:
            return format_time(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str) and value.strip():
        try:
            return format_time(parse_time(value.strip(), lenient=True))
        except ValueError:
            pass
    if value is not None:
        shown = vendor_text(value, MAX_TIME_CHARS) if isinstance(value, str) else json_kind(value)
        logger.warning("resets_at read no time; the reading has none", extra={"found": shown})
    return None
