"""A definition once validated: its JMESPath expressions compiled, in small named types.

Validation (validation.py) builds these; request.py and answers.py use them at poll time, and
examples.py reads them back to check a definition against the vendor's documented responses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from jmespath.parser import ParsedResult

from credit_monitor.model import FailureKind

Expression = ParsedResult  # a compiled JMESPath expression
KINDS = {kind.value: kind for kind in FailureKind}  # what a definition may name a failure kind

READ_FIELDS = ("available", "frozen", "total", "unit_from", "allowance", "resets_at")  # fields read by an expression


class Problems:
    """Every problem found in one file, each as ``<file>: <field>: <problem>``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, field: str, problem: str) -> None:
        self.items.append(f"{self.source}: {field}: {problem}")


class Requirement(NamedTuple):
    """A condition a successful answer must also meet (``requires``), and the failure when it does not."""

    expression: Expression
    message: str
    kind: FailureKind


class BreakdownField(NamedTuple):
    """One entry of a breakdown: where it is, and whether every number in it must be a credit amount."""

    expression: Expression | None
    credits: bool = False


@dataclass(frozen=True)
class KeyPlacement:
    """Where a request carries the API key: a header (``value`` is its template, with ``{key}``) or a query parameter."""

    header: str = ""
    value: str = ""
    query: str = ""

    @property
    def in_header(self) -> bool:
        return bool(self.header)

    @property
    def text(self) -> str:
        """Everything the definition wrote here, to find the placeholders it uses."""
        return self.header + self.value + self.query


@dataclass(frozen=True)
class FieldExpressions:
    """Where the numbers are in a successful answer (``fields``); a None expression is a field not given."""

    available: Expression | None = None
    frozen: Expression | None = None
    total: Expression | None = None
    unit: str = "credits"
    unit_from: Expression | None = None
    allowance: Expression | None = None
    resets_at: Expression | None = None
    breakdown: dict[str, BreakdownField] = field(default_factory=dict)

    def named(self) -> list[tuple[str, Expression]]:
        """Every expression given, named as in the definition ("fields.available", "fields.breakdown.bonus")."""
        found = [(f"fields.{name}", getattr(self, name)) for name in READ_FIELDS]
        found += [(f"fields.breakdown.{name}", entry.expression) for name, entry in self.breakdown.items()]
        return [(name, expression) for name, expression in found if expression is not None]

    def label(self, name: str) -> str:
        """A field and the expression that reads it, for failure messages: "available (data.balance)"."""
        expression = getattr(self, name).expression
        return f"{name} ({expression if len(expression) <= 60 else expression[:57] + '...'})"


@dataclass(frozen=True)
class Definition:
    """A validated definition: everything a provider built from it needs."""

    id: str
    base_url: str
    path: str
    variables: frozenset[str]
    query: dict[str, str]
    headers: dict[str, str]
    auth: KeyPlacement
    success: Expression | None
    error_code: Expression | None
    error_message: Expression | None
    error_kinds: dict[str, FailureKind]
    error_messages: dict[str, FailureKind]
    error_hints: dict[str, str]
    requires: tuple[Requirement, ...]
    fields: FieldExpressions
    negative: str  # "error" (a negative balance is a bad response) or "clamp" (0, the overage kept)
    code_label: str  # what the vendor calls its error code, for messages

    def named_expressions(self) -> list[tuple[str, Expression]]:
        """Every expression of the definition, named as in the file (check --explain shows what each finds)."""
        requires = [(f"requires[{i}]", rule.expression) for i, rule in enumerate(self.requires)]
        found = [("success", self.success), ("error_code", self.error_code), ("error_message", self.error_message), *requires]
        return [(name, e) for name, e in found if e is not None] + self.fields.named()
