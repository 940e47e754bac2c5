"""Validating a definition document: every problem of every field at once, each naming the field.

The keys a definition (and its ``fields``) may have are the JSON Schema's (definitions/schema.json), so
the schema editors check against and the validator cannot drift apart; the rest is what a schema cannot
say or say as plainly: expressions compile, placeholders are declared, the key's header is not overridden.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from credit_monitor.errors import ConfigurationError
from credit_monitor.model import PROVIDER_ID_RULE, FailureKind, valid_provider_id, validate_base_url
from credit_monitor.polling.providers.definition.compiled import (
    KINDS,
    BreakdownField,
    Definition,
    Expression,
    FieldExpressions,
    KeyPlacement,
    Problems,
    Requirement,
)
from credit_monitor.polling.providers.definition.expressions import one_line
from credit_monitor.polling.providers.definition.request import PLACEHOLDER

BUILT_IN = ("crun", "sunor", "srtgen", "apimall", "pixverse")  # the contract's five, each a bundled definition
SCHEMA = json.loads((Path(__file__).parent.parent / "definitions" / "schema.json").read_text(encoding="utf-8"))
TOP_LEVEL = frozenset(SCHEMA["properties"])
FIELDS = frozenset(SCHEMA["properties"]["fields"]["properties"])
VARIABLE = re.compile(r"[a-z][a-z0-9_]{0,31}")
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
RESERVED_PLACEHOLDERS = {"key", "uuid"}


def validate(document: dict, file_name: str | None, bundled: bool, problems: Problems) -> Definition:
    """The definition ``document`` describes; what is wrong is added to ``problems`` (the parts it spoils are None)."""
    for key in sorted(set(document) - TOP_LEVEL):
        problems.add(key, f"unknown key; allowed: {', '.join(sorted(TOP_LEVEL))}")
    provider_id = _identity(document, file_name, bundled, problems)
    variables = _variables(document, problems)
    path = _path(document, variables, problems)
    query = _templates(document, "query", variables | {"uuid"}, problems, names=None)
    headers = _templates(document, "headers", variables | {"uuid"}, problems, names=HEADER_NAME)
    auth = _key_placement(document, variables, headers, query, problems)
    used = set(PLACEHOLDER.findall(path + json.dumps(query) + json.dumps(headers) + auth.text))
    for name in sorted(variables - used):
        problems.add("variables", f"{name!r} is declared but used nowhere (path, query, headers or auth)")
    negative = document.get("negative", "error")
    if negative not in ("error", "clamp"):
        problems.add("negative", f"{negative!r} must be error (a negative balance is a bad response) or clamp (0, overage kept)")
    return Definition(
        id=provider_id, base_url=_base_url(document, problems), path=path, variables=frozenset(variables), query=query,
        headers=headers, auth=auth, success=_expression(document, "success", problems, required=True),
        error_code=_expression(document, "error_code", problems), error_message=_expression(document, "error_message", problems),
        error_kinds=_kind_map(document, "error_kinds", problems), error_messages=_kind_map(document, "error_messages", problems),
        error_hints=_text_map(document, "error_hints", problems), requires=_requirements(document, problems),
        fields=_fields(document.get("fields"), problems), negative=negative, code_label=_code_label(document.get("error_code", "")),
    )  # fmt: skip


def _code_label(expression: str) -> str:
    """What the vendor calls its error code: the last name in the expression that reads it ("code" otherwise)."""
    found = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression or "")
    return found[-1] if found else "code"


def _text(document: dict, field: str, problems: Problems, *, required: bool = True) -> str:
    value = document.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.add(field, "is required and must be a non-empty string" if required else "must be a non-empty string")
        return ""
    return value.strip()


def _identity(document: dict, file_name: str | None, bundled: bool, problems: Problems) -> str:
    provider_id = _text(document, "id", problems)
    if provider_id and not valid_provider_id(provider_id):
        problems.add("id", f"{provider_id!r} must be {PROVIDER_ID_RULE}")
    elif provider_id in BUILT_IN and not bundled:
        problems.add("id", f"{provider_id!r} is a built-in provider (definitions/{provider_id}.json); choose another id")
    elif file_name is not None and provider_id and file_name != f"{provider_id}.json":
        # The bundle holds each definition as definitions/<id>.json: a file checked under another name
        # would pass here and fail once it is copied there.
        problems.add("id", f"{provider_id!r} must be defined in a file named {provider_id}.json, not {file_name}: rename one or the other")
    for field in ("name", "description", "docs"):
        _text(document, field, problems, required=False)
    return provider_id


def _base_url(document: dict, problems: Problems) -> str:
    base_url = _text(document, "base_url", problems)
    if not base_url:
        return ""
    try:
        return validate_base_url(base_url, variable="base_url")
    except ConfigurationError as exc:
        problems.add("base_url", str(exc).removeprefix("base_url "))
        return ""


def _variables(document: dict, problems: Problems) -> set[str]:
    names = document.get("variables", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        problems.add("variables", 'must be a list of names, such as ["project_id"]')
        return set()
    for name in names:
        if not VARIABLE.fullmatch(name) or name in RESERVED_PLACEHOLDERS:
            problems.add("variables", f"{name!r} must be 1-32 of a-z 0-9 _ starting with a letter, and not key or uuid")
    if len(set(names)) != len(names):
        problems.add("variables", "names a variable twice")
    return {n for n in names if VARIABLE.fullmatch(n) and n not in RESERVED_PLACEHOLDERS}


def _placeholders(text: str, allowed: set[str], field: str, problems: Problems) -> None:
    for name in PLACEHOLDER.findall(text):
        if name not in allowed:
            choices = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
            problems.add(field, f"unknown placeholder {{{name}}}; allowed here: {choices} (declare per-account values in variables)")


def _path(document: dict, variables: set[str], problems: Problems) -> str:
    path = _text(document, "path", problems)
    if path and (not path.startswith("/") or "?" in path or "#" in path):
        problems.add("path", f"{path!r} must start with / and have no query or fragment (fixed parameters go in query)")
    _placeholders(path, variables, "path", problems)
    return path


def _templates(document: dict, field: str, allowed: set[str], problems: Problems, names: re.Pattern | None) -> dict[str, str]:
    templates = document.get(field, {})
    if not isinstance(templates, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in templates.items()):
        problems.add(field, "must be an object of name: value")
        return {}
    for name, value in templates.items():
        if names is not None and not names.fullmatch(name):
            problems.add(f"{field}.{name}", "is not a valid header name")
        if not name:
            problems.add(field, "has an empty name")
        _placeholders(value, allowed, f"{field}.{name}", problems)
    return dict(templates)


def _key_placement(document: dict, variables: set[str], headers: dict, query: dict, problems: Problems) -> KeyPlacement:
    auth = document.get("auth")
    if not isinstance(auth, dict) or set(auth) not in ({"header", "value"}, {"query"}):
        problems.add("auth", 'must be {"header": "<name>", "value": "<template with {key}>"} or {"query": "<parameter>"}')
        return KeyPlacement(query="key")
    if "query" in auth:
        parameter = auth["query"]
        if not isinstance(parameter, str) or not parameter.strip():
            problems.add("auth.query", "must name the query parameter that carries the key")
        elif parameter in query:
            problems.add("query", f"sets {parameter!r}, the parameter that carries the key; the key cannot be overridden")
        return KeyPlacement(query=str(parameter))
    name, template = auth["header"], auth["value"]
    if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
        problems.add("auth.header", "must be a header name")
        name = str(name)
    if not isinstance(template, str) or "{key}" not in template:
        problems.add("auth.value", 'must be a template containing {key}, such as "Bearer {key}"')
        template = "{key}"
    _placeholders(template, variables | {"key"}, "auth.value", problems)
    if name.lower() in {h.lower() for h in headers}:
        problems.add(f"headers.{name}", "sets the auth header; the key's header cannot be overridden")
    return KeyPlacement(header=name, value=template)


def _expression(document: dict, field: str, problems: Problems, *, prefix: str = "", required: bool = False) -> Expression | None:
    text = document.get(field)
    if text is None and not required:
        return None
    if not isinstance(text, str) or not text.strip():
        problems.add(prefix + field, "is required and must be a JMESPath expression" if required else "must be a JMESPath expression")
        return None
    try:
        return jmespath.compile(text)
    except JMESPathError as exc:
        problems.add(prefix + field, f"JMESPath {text!r} does not compile: {one_line(exc)}")
        return None


def _kind_map(document: dict, field: str, problems: Problems) -> dict[str, FailureKind]:
    mapping = document.get(field, {})
    if not isinstance(mapping, dict):
        problems.add(field, "must be an object of code (or message text): failure kind")
        return {}
    result = {}
    for code, kind in mapping.items():
        if kind not in KINDS:
            problems.add(f"{field}.{code}", f"{kind!r} is not one of: {', '.join(KINDS)}")
        else:
            result[str(code)] = KINDS[kind]
    return result


def _text_map(document: dict, field: str, problems: Problems) -> dict[str, str]:
    mapping = document.get(field, {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) and v.strip() for v in mapping.values()):
        problems.add(field, "must be an object of code or HTTP status: explanation")
        return {}
    return {str(k): " ".join(v.split())[:200] for k, v in mapping.items()}


def _requirements(document: dict, problems: Problems) -> tuple[Requirement, ...]:
    rules = document.get("requires", [])
    if not isinstance(rules, list):
        problems.add("requires", 'must be a list of {"expression", "message", "error_kind"}')
        return ()
    found = []
    for i, rule in enumerate(rules):
        where = f"requires[{i}]"
        if not isinstance(rule, dict) or not {"expression", "message"} <= set(rule) or set(rule) - {"expression", "message", "error_kind"}:
            problems.add(where, 'must be {"expression": ..., "message": ..., "error_kind": ...} (error_kind optional)')
            continue
        expression = _expression(rule, "expression", problems, prefix=f"{where}.", required=True)
        kind = rule.get("error_kind", "bad_response")
        if kind not in KINDS:
            problems.add(f"{where}.error_kind", f"{kind!r} is not one of: {', '.join(KINDS)}")
        if not isinstance(rule["message"], str) or not rule["message"].strip():
            problems.add(f"{where}.message", "must say what is wrong and what to do")
        elif expression is not None and kind in KINDS:
            found.append(Requirement(expression, " ".join(rule["message"].split())[:200], KINDS[kind]))
    return tuple(found)


def _fields(fields: Any, problems: Problems) -> FieldExpressions:
    if not isinstance(fields, dict):
        problems.add("fields", "must be an object with at least available")
        return FieldExpressions()
    for key in sorted(set(fields) - FIELDS):
        problems.add(f"fields.{key}", f"unknown key; allowed: {', '.join(sorted(FIELDS))}")
    found: dict[str, Any] = {"available": _expression(fields, "available", problems, prefix="fields.", required=True)}
    for name in ("frozen", "total", "unit_from", "allowance", "resets_at"):
        found[name] = _expression(fields, name, problems, prefix="fields.")
    if fields.get("frozen") is not None and fields.get("total") is not None:
        problems.add("fields.total", "give frozen or total, not both (frozen = total - available)")
    unit = fields.get("unit", "credits")
    if not isinstance(unit, str) or not unit.strip():
        problems.add("fields.unit", "must be a non-empty string such as credits or USD")
    else:
        found["unit"] = unit.strip()
    breakdown = fields.get("breakdown", {})
    if not isinstance(breakdown, dict):
        problems.add("fields.breakdown", 'must be an object of name: expression (or {"expression": ..., "credits": true})')
        return FieldExpressions(**found)
    return FieldExpressions(**found, breakdown=_breakdown(breakdown, problems))


def _breakdown(breakdown: dict, problems: Problems) -> dict[str, BreakdownField]:
    found = {}
    for name, entry in breakdown.items():
        where = f"fields.breakdown.{name}"
        if name == "overage":
            problems.add(where, "overage is reserved for what a clamped negative balance exceeded")
            continue
        if isinstance(entry, dict):
            if set(entry) - {"expression", "credits"} or not isinstance(entry.get("credits", False), bool):
                problems.add(where, 'must be an expression, or {"expression": ..., "credits": true|false}')
                continue
            expression = _expression(entry, "expression", problems, prefix=f"{where}.", required=True)
            found[name] = BreakdownField(expression, entry.get("credits", False))
        else:
            found[name] = BreakdownField(_expression(breakdown, name, problems, prefix="fields.breakdown.", required=True))
    return found
