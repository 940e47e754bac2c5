"""Evaluating a definition's JMESPath expressions: the arithmetic functions vendors need, and JMESPath's truth."""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath import functions
from jmespath.exceptions import JMESPathError

from credit_monitor.errors import PollFailure
from credit_monitor.model import FailureKind
from credit_monitor.polling.redaction import vendor_text

MAX_ERROR_CHARS = 160  # what a failure keeps of JMESPath's own words (which quote the vendor's value)


class _Functions(functions.Functions):
    """JMESPath has no arithmetic; vendors report differences, cents, or 1/10000 USD."""

    @functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_subtract(self, a: float, b: float) -> float:
        return a - b

    @functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_add(self, a: float, b: float) -> float:
        return a + b

    @functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_multiply(self, a: float, b: float) -> float:
        return a * b

    @functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_divide(self, a: float, b: float) -> float:
        if b == 0:
            raise JMESPathError("divide() by zero")
        return a / b


OPTIONS = jmespath.Options(custom_functions=_Functions())


def evaluate(expression: Any, body: Any, field: str) -> Any:
    """Evaluate a compiled expression; a body of the wrong shape is a bad response, not a crash."""
    try:
        return expression.search(body, options=OPTIONS)
    except JMESPathError as exc:
        # JMESPath's text quotes the value it choked on: the vendor's, so redacted before it is cut.
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{field}: {vendor_text(str(exc), MAX_ERROR_CHARS)}") from None


def truthy(value: Any) -> bool:
    """JMESPath's truth: false, null and empty strings, lists and objects are false; numbers are true."""
    return not (value is None or value is False or (isinstance(value, str | list | dict) and not value))


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_kind(value: Any) -> str:
    """What a JSON value is, for a log line that must not repeat the vendor's value."""
    return {list: "a JSON array", dict: "a JSON object", bool: "a boolean", str: "a string"}.get(type(value), "a number")


def one_line(error: Exception) -> str:
    return " ".join(str(error).split())
