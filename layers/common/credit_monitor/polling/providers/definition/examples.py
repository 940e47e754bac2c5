"""A definition's documented examples: reading them from the file, and checking the definition reads each as documented.

Every field's expression is evaluated on every documented response, so a typo (``substract(...)``) or a
path that finds nothing is caught by ``make validate-providers`` rather than blamed on the vendor at the
first poll.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError, JMESPathTypeError

from credit_monitor.errors import PollFailure
from credit_monitor.model import Reading
from credit_monitor.polling.providers.base import Example, Provider
from credit_monitor.polling.providers.definition.compiled import KINDS, Expression, FieldExpressions, Problems
from credit_monitor.polling.providers.definition.expressions import OPTIONS, is_number, one_line
from credit_monitor.polling.providers.definition.validation import SCHEMA

EXAMPLE_KEYS = frozenset(SCHEMA["properties"]["examples"]["items"]["properties"])
EXPECTATIONS = frozenset(SCHEMA["properties"]["examples"]["items"]["properties"]["expect"]["properties"])
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a JMESPath field name that needs no quotes


def read_examples(examples: Any, problems: Problems) -> tuple[Example, ...]:
    """The documented examples of a definition (``examples``); what is wrong is added to ``problems``."""
    if not isinstance(examples, list) or not examples:
        problems.add("examples", "must list the vendor's documented responses, at least one successful one")
        return ()
    found, names = [], set()
    for i, example in enumerate(examples):
        where = f"examples[{i}]"
        if not isinstance(example, dict) or not {"name", "status", "body"} <= set(example) or set(example) - EXAMPLE_KEYS:
            problems.add(where, 'must be {"name": ..., "status": <HTTP status>, "body": <JSON>, "expect": {...}}')
            continue
        name, status, expect = example["name"], example["status"], example.get("expect", {})
        if not isinstance(name, str) or not name.strip() or name in names:
            problems.add(f"{where}.name", "must be a unique, non-empty name")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            problems.add(f"{where}.status", "must be an HTTP status such as 200 or 401")
            continue
        if not isinstance(expect, dict) or set(expect) - EXPECTATIONS:
            problems.add(f"{where}.expect", f"must be an object with some of: {', '.join(sorted(EXPECTATIONS))}")
            continue
        if "error_kind" in expect and expect["error_kind"] not in KINDS:
            problems.add(f"{where}.expect.error_kind", f"{expect['error_kind']!r} is not one of: {', '.join(KINDS)}")
            continue
        names.add(name)
        found.append(Example(str(name), status, example["body"], dict(expect)))
    if found and not any(e.succeeds for e in found):
        problems.add("examples", "must include at least one successful response (a 2xx without expect.error_kind)")
    return tuple(found)


def verify_examples(provider: Provider, fields: FieldExpressions, problems: Problems) -> None:
    """Evaluate every field's expression on every documented response, and compare each reading with what it expects.

    A mistake is reported once: an expression that cannot read an example is reported for its field, naming
    the plain path in it that finds nothing (the usual typo, which JMESPath would otherwise report as a type
    error of the function around it) and every example it fails on; what the comparison would say about the
    same field of the same example (the poll fails, the field reads null) is that mistake again, and is left out.
    """
    unreadable: dict[tuple[str, str, str], list[str]] = {}  # (field, text before, text after the examples) -> example names
    compared = Problems(problems.source)
    for example in provider.examples:
        broken = set()
        if example.succeeds and isinstance(example.body, dict):
            for field, expression in fields.named():
                found = _why_unreadable(expression, example.body)
                if found is not None:
                    unreadable.setdefault((field, *found), []).append(example.name)
                    broken.add(field.removeprefix("fields."))
        try:
            reading, failure = provider.parse(example.status, example.body), None
        except PollFailure as exc:
            reading, failure = None, exc
        _compare(example, reading, failure, f"examples.{example.name}", compared, broken)
    for (field, before, after), names in unreadable.items():
        problems.add(field, f"{before}{_examples_named(names)}{after}")
    problems.items += compared.items


def _why_unreadable(expression: Expression, body: Any) -> tuple[str, str] | None:
    """Why ``expression`` reads nothing from ``body``, as the text before and after the examples' names; None if it reads."""
    try:
        if expression.search(body, options=OPTIONS) is not None:
            return None
        error = None
    except JMESPathTypeError as exc:  # usually a null from a mistyped path, handed to a function
        error = one_line(exc)
    except JMESPathError as exc:  # an unknown function, a wrong number of arguments: nothing to do with the example
        return f"{one_line(exc)} (evaluated on ", ")"
    missing = next((path for path in _root_paths(expression.parsed) if _search_node(path, body) is None), None)
    if missing is not None:
        text = _path_text(missing)
        within = f" (in {expression.expression!r})" if text != expression.expression else ""
        return f"{text!r} finds nothing in ", f"{within}: check the path"
    if error is not None:
        return f"{error} (evaluated on ", ")"
    return f"{expression.expression!r} finds nothing in ", ": check the path"


def _examples_named(names: list[str]) -> str:
    return f"example {names[0]!r}" if len(names) == 1 else "examples " + ", ".join(map(repr, names))


# JMESPath nodes whose children are all evaluated against the same value as the node itself; of the others,
# only the first child is (a projection's right side, a pipe's, a filter's, read each element or the result).
_SAME_VALUE = {"function_expression", "or_expression", "and_expression", "not_expression", "comparator", "multi_select_list",
               "multi_select_dict", "key_val_pair", "arithmetic", "arithmetic_unary"}  # fmt: skip
_FIRST_CHILD = {"subexpression", "index_expression", "projection", "value_projection", "filter_projection", "flatten", "pipe"}


def _root_paths(node: dict) -> list[dict]:
    """The plain field paths (a.b[0].c) an expression reads from the answer itself, outermost first."""
    if _plain_path(node) is not None:
        return [node]
    children = [c for c in node.get("children", []) if isinstance(c, dict)]
    if node["type"] in _FIRST_CHILD:
        children = children[:1]
    elif node["type"] not in _SAME_VALUE:
        return []
    return [path for child in children for path in _root_paths(child)]


def _plain_path(node: dict) -> list[str | int] | None:
    """The steps of a plain field path (a.b[0].c), or None for any other expression."""
    kind = node["type"]
    if kind == "field":
        return [node["value"]]
    if kind == "subexpression":
        steps = [_plain_path(child) for child in node["children"]]
        return None if any(step is None for step in steps) else [s for step in steps for s in step]
    if kind == "index_expression":
        left, index = node["children"]
        base = [] if left["type"] == "identity" else _plain_path(left)
        return [*base, index["value"]] if base is not None and index["type"] == "index" else None
    return None


def _search_node(node: dict, body: Any) -> Any:
    return jmespath.parser.ParsedResult("", node).search(body, options=OPTIONS)


def _path_text(node: dict) -> str:
    text = ""
    for step in _plain_path(node) or []:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += ("." if text else "") + (step if IDENTIFIER.fullmatch(step) else json.dumps(step))
    return text


def _compare(example: Example, reading: Reading | None, failure: PollFailure | None, where: str, problems: Problems,
             already_reported: Collection[str] = ()) -> None:  # fmt: skip
    """Compare an example's reading with what it expects; ``already_reported``: fields whose expression could not
    read this example, a mistake already reported, which a failure or a wrong value of theirs would only repeat."""
    expect = example.expect
    if "error_kind" in expect or not example.succeeds:
        wanted = expect.get("error_kind")
        if failure is None:
            problems.add(where, f"reads as a balance of {reading.available}, but the vendor documents it as a failure")
        elif wanted and failure.kind.value != wanted:
            problems.add(where, f"classified as {failure.kind.value} ({failure.message}), expected {wanted}")
        elif "message_contains" in expect and str(expect["message_contains"]) not in failure.message:
            problems.add(where, f"failure message {failure.message!r} does not contain {expect['message_contains']!r}")
        return
    if failure is not None:
        if not any(failure.message.startswith((f"{field}:", f"{field} (")) for field in already_reported):
            problems.add(where, f"documented as a balance but fails: {failure.kind.value}: {failure.message}")
        return
    for field in ("available", "frozen", "total", "unit", "allowance", "resets_at"):
        if field in expect and field not in already_reported and not _matches(getattr(reading, field), expect[field]):
            problems.add(f"{where}.expect.{field}", f"reads {getattr(reading, field)!r}, expected {expect[field]!r}")
    for name, wanted in (expect.get("breakdown") or {}).items():
        if f"breakdown.{name}" not in already_reported and not _matches(reading.breakdown.get(name), wanted):
            problems.add(f"{where}.expect.breakdown.{name}", f"reads {reading.breakdown.get(name)!r}, expected {wanted!r}")


def _matches(got: Any, wanted: Any) -> bool:
    if is_number(got) and is_number(wanted):
        return math.isclose(got, wanted, rel_tol=1e-9, abs_tol=1e-9)
    return got == wanted
