"""The API's path and query parameters, declared once: read and validated per request, and documented
in openapi.json from the same declarations (devstack/openapi.py).

Numbers follow JSON's grammar (``12``, ``0.5``, ``1e3``): ``NaN``, ``inf``, ``1_000`` or ``0x10`` are
not numbers here, whatever Python's ``float()`` accepts. Every rejection names the parameter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from credit_monitor.errors import InvalidParameter
from credit_monitor.model import parse_time

NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")
# A query string decodes an unencoded "+" as a space: "2026-11-21T08:00:00+02:00" arrives with " 02:00".
MAX_INTEGER_DIGITS = 18
PLUS_AS_SPACE = re.compile(r".*T[\d:.,]+ \d{2}(?::?\d{2})?")


@dataclass(frozen=True)
class Param:
    name: str
    location: Literal["path", "query"]
    kind: Literal["string", "integer", "number", "date-time"]
    description: str
    required: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # for strings, matched in full
    max_length: int | None = None

    @property
    def label(self) -> str:
        return f"{self.location} parameter {self.name!r}"

    def read(self, raw: str | None) -> Any:
        """The typed value of ``raw`` (None when absent), or InvalidParameter naming this parameter."""
        if raw is None or (raw == "" and self.location == "query"):
            if self.required:
                raise InvalidParameter(f"{self.label}: is required")
            return self.default
        if self.kind == "string":
            return self._string(raw)
        if self.kind == "date-time":
            return self._datetime(raw)
        return self._number(raw)

    def _string(self, raw: str) -> str:
        if self.max_length is not None and len(raw) > self.max_length:
            raise InvalidParameter(f"{self.label}: must be at most {self.max_length} characters")
        if self.pattern and re.fullmatch(self.pattern.removeprefix("^").removesuffix("$"), raw) is None:
            raise InvalidParameter(f"{self.label}: {_shown(raw)} does not match {self.pattern}")
        return raw

    def _datetime(self, raw: str) -> datetime:
        if PLUS_AS_SPACE.fullmatch(raw):
            fixed = raw.replace(" ", "%2B")
            raise InvalidParameter(f"{self.label}: {_shown(raw)} has a space where its offset's + was: "
                                   f"send + as %2B in a URL ({_shown(fixed)}), or use Z for UTC")  # fmt: skip
        try:
            return parse_time(raw, lenient=True)
        except ValueError as exc:
            raise InvalidParameter(f"{self.label}: {exc}") from None

    def _number(self, raw: str) -> int | float:
        if self.kind == "integer":
            if INTEGER.fullmatch(raw) is None:
                raise InvalidParameter(f"{self.label}: {_shown(raw)} is not an integer (digits only, such as 100; no fraction or exponent)")
            if len(raw.lstrip("-")) > MAX_INTEGER_DIGITS:  # int() refuses 4,300 digits with a ValueError of its own
                raise InvalidParameter(f"{self.label}: {_shown(raw)} is too large")
            value: int | float = int(raw)
        else:
            if NUMBER.fullmatch(raw) is None:
                raise InvalidParameter(f"{self.label}: {_shown(raw)} is not a number (digits, optionally a fraction and exponent)")
            value = float(raw)
        if not math.isfinite(value):
            raise InvalidParameter(f"{self.label}: {_shown(raw)} is too large to be a number")
        if self.minimum is not None and value < self.minimum:
            raise InvalidParameter(f"{self.label}: must be at least {self.minimum:g}, got {_shown(raw)}")
        if self.maximum is not None and value > self.maximum:
            raise InvalidParameter(f"{self.label}: must be at most {self.maximum:g}, got {_shown(raw)}")
        return value

    def schema(self) -> dict[str, Any]:
        """This parameter's JSON Schema, as openapi.json documents it."""
        schema: dict[str, Any] = {"type": "string" if self.kind == "date-time" else self.kind}
        if self.kind == "date-time":
            schema["format"] = "date-time"
        for key, value in (("minimum", self.minimum), ("maximum", self.maximum), ("pattern", self.pattern),
                           ("maxLength", self.max_length), ("default", self.default)):  # fmt: skip
            if value is not None:
                schema[key] = value
        return schema


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")
