"""Providers described by a definition file: the request, the auth, and where the numbers are (JMESPath).

A definition carries its vendor's documented example responses. Validation reports every problem of
every file at once, each with the file, the field and the problem, and evaluates every expression
against those examples, so a typo (``substract(...)``) or a path that finds nothing is caught by
``make validate-providers`` rather than blamed on the vendor at the first poll. The format is in
definitions/schema.json and README.md ("Add a provider").
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jmespath
from aws_lambda_powertools import Logger
from jmespath import functions
from jmespath.exceptions import JMESPathError, JMESPathTypeError

from credit_monitor.errors import ConfigurationError, DefinitionError, PollFailure
from credit_monitor.model import (
    MAX_CREDITS,
    PROVIDER_ID_RULE,
    FailureKind,
    Reading,
    check_credits,
    format_time,
    parse_iso8601,
    valid_provider_id,
)
from credit_monitor.polling.providers.base import STATUS_KINDS, Credentials, Example, HttpRequest, Provider, message_of, status_failure
from credit_monitor.polling.redaction import vendor_text
from credit_monitor.polling.urls import validate_base_url

BUILT_IN = ("crun", "sunor", "srtgen", "apimall", "pixverse")  # the contract's five, each a bundled definition

TOP_LEVEL = {"id", "name", "description", "docs", "base_url", "path", "query", "headers", "auth", "variables", "success",
             "error_code", "error_message", "error_kinds", "error_messages", "error_hints", "requires", "fields", "negative",
             "examples"}  # fmt: skip
FIELDS = {"available", "frozen", "total", "unit", "unit_from", "breakdown", "allowance", "resets_at"}
EXPECTATIONS = {"available", "frozen", "total", "unit", "allowance", "resets_at", "breakdown", "error_kind", "message_contains"}
KINDS = {kind.value: kind for kind in FailureKind}
VARIABLE = re.compile(r"[a-z][a-z0-9_]{0,31}")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a JMESPath field name that needs no quotes
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
RESERVED_PLACEHOLDERS = {"key", "uuid"}
MAX_TEXT, MAX_ITEMS, MAX_DEPTH = 100, 20, 4  # how much of a breakdown is kept: strings, list items, nesting


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
logger = Logger()


class Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, field: str, problem: str) -> None:
        self.items.append(f"{self.source}: {field}: {problem}")


# -- loading ----------------------------------------------------------------------------------------


def load_definition(path: Path, *, bundled: bool = False, source: str | None = None) -> Provider:
    """The provider a definition file describes. Problems name the file as ``source`` (default: the path as given)."""
    source = str(path) if source is None else source
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DefinitionError([f"{source}: (file): not readable JSON ({exc})"]) from None
    return build_provider(document, source, bundled=bundled, file_name=path.name)


def load_files(paths: list[Path], bundle: Path | None = None, *, relative_to: Path | None = None) -> tuple[dict[str, Provider], list[str]]:
    """The valid definitions among ``paths`` by id, and every problem of every file (files in ``bundle`` are bundled).

    Each file is named as given, or relative to ``relative_to`` (a folder's own listing)."""
    providers: dict[str, Provider] = {}
    problems: list[str] = []
    for path in paths:
        bundled = bundle is not None and path.resolve().parent == bundle.resolve()
        source = str(path.relative_to(relative_to)) if relative_to is not None else str(path)
        try:
            provider = load_definition(path, bundled=bundled, source=source)
        except DefinitionError as exc:
            problems += exc.problems
            continue
        if provider.id in providers:
            problems.append(f"{source}: id: {provider.id!r} is already defined by {providers[provider.id].source}")
            continue
        providers[provider.id] = provider
    return providers, problems


def definition_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*.json") if path.name != "schema.json")


def load_folder(folder: Path, *, bundled: bool = False) -> dict[str, Provider]:
    """Every definition in ``folder`` by id; all problems of all files are reported together."""
    providers, problems = load_files(definition_files(folder), folder if bundled else None, relative_to=folder)
    if problems:
        raise DefinitionError(problems)
    return providers


# -- building -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A validated definition: everything a provider built from it needs."""

    id: str
    base_url: str
    path: str
    variables: frozenset[str]
    query: dict[str, str]
    headers: dict[str, str]
    auth: dict[str, str]
    success: Any
    error_code: Any
    error_message: Any
    error_kinds: dict[str, FailureKind]
    error_messages: dict[str, FailureKind]
    error_hints: dict[str, str]
    requires: list[tuple[Any, str, FailureKind]]
    fields: dict[str, Any]
    negative: str
    code_label: str

    def named_expressions(self) -> list[tuple[str, Any]]:
        requires = [(f"requires[{i}]", expression) for i, (expression, _, _) in enumerate(self.requires)]
        found = [("success", self.success), ("error_code", self.error_code), ("error_message", self.error_message), *requires]
        return [(field, e) for field, e in found if e is not None] + _field_expressions(self.fields)


def build_provider(document: Any, source: str, *, bundled: bool = False, file_name: str | None = None) -> Provider:
    """Validate a definition and turn it into a Provider, or raise DefinitionError listing every problem.

    ``file_name``: the file it was read from, which must be named after its id (a bundled definition's
    source is its file name)."""
    problems = Problems(source)
    if not isinstance(document, dict):
        problems.add("(definition)", "must be a JSON object")
        raise DefinitionError(problems.items)
    spec, examples = _validate(document, file_name or (Path(source).name if bundled else None), bundled, problems)
    if spec is None:
        raise DefinitionError(problems.items)  # nothing to evaluate the examples with: report what is known
    provider = Provider(
        id=spec.id, name=str(document.get("name") or spec.id), source=source, default_base_url=spec.base_url, path=spec.path,
        variables=tuple(sorted(spec.variables)), build_request=partial(_request, spec), check=partial(_check, spec),
        extract=partial(_reading, spec.fields, spec.negative), examples=examples, explain=partial(_explain, spec), document=document,
    )  # fmt: skip
    _verify_examples(provider, spec.fields, problems)
    if problems.items:
        raise DefinitionError(problems.items)
    return provider


def _validate(document: dict, file_name: str | None, bundled: bool, problems: Problems) -> tuple[Spec | None, tuple[Example, ...]]:
    for key in sorted(set(document) - TOP_LEVEL):
        problems.add(key, f"unknown key; allowed: {', '.join(sorted(TOP_LEVEL))}")
    provider_id = _identity(document, file_name, bundled, problems)
    variables = _variables(document, problems)
    path = _path(document, variables, problems)
    query = _templates(document, "query", variables | {"uuid"}, problems, names=None)
    headers = _templates(document, "headers", variables | {"uuid"}, problems, names=HEADER_NAME)
    auth = _auth(document, variables, headers, query, problems)
    used = set(PLACEHOLDER.findall(path + json.dumps(query) + json.dumps(headers) + json.dumps(auth)))
    for name in sorted(variables - used):
        problems.add("variables", f"{name!r} is declared but used nowhere (path, query, headers or auth)")
    negative = document.get("negative", "error")
    if negative not in ("error", "clamp"):
        problems.add("negative", f"{negative!r} must be error (a negative balance is a bad response) or clamp (0, overage kept)")
    spec = Spec(
        id=provider_id, base_url=_base_url(document, problems), path=path, variables=frozenset(variables), query=query,
        headers=headers, auth=auth, success=_expression(document, "success", problems, required=True),
        error_code=_expression(document, "error_code", problems), error_message=_expression(document, "error_message", problems),
        error_kinds=_kind_map(document, "error_kinds", problems), error_messages=_kind_map(document, "error_messages", problems),
        error_hints=_text_map(document, "error_hints", problems), requires=_requires(document, problems),
        fields=_fields(document.get("fields"), problems), negative=negative, code_label=_last_name(document.get("error_code", "")),
    )  # fmt: skip
    examples = _examples(document.get("examples"), problems)
    complete = spec.success is not None and spec.fields["available"] is not None and examples
    return (spec if complete else None), examples


def _check(spec: Spec, status: int, body: dict[str, Any]) -> None:
    """Raise the classified failure a body reports; return when it reports success."""
    if _truthy(_search(spec.success, body, "success")):
        for expression, message, kind in spec.requires:
            if not _truthy(_search(expression, body, "requires")):
                raise PollFailure(kind, f"{spec.id}: {message}")
        return
    code = _search(spec.error_code, body, "error_code") if spec.error_code else None
    raw = _search(spec.error_message, body, "error_message") if spec.error_message else None
    said = " ".join(raw.split()).lower() if isinstance(raw, str) else ""  # what the vendor said, to classify by
    message = message_of(raw) if said else ""  # and what of it may be kept: redacted, cleaned, cut
    if code is None and not message:
        if 200 <= status < 300:
            raise PollFailure(FailureKind.BAD_RESPONSE, f"{spec.id} response does not pass its success test")
        if str(status) in spec.error_hints:
            raise status_failure(status, spec.error_hints[str(status)])
        return  # no provider error body: classified by HTTP status
    # The body says why, so it wins over the status class: a 429 that says "out of credits" is not rate limiting.
    kind = spec.error_kinds.get(_code_text(code)) if code is not None else None
    if kind is None and said:
        kind = next((k for text, k in spec.error_messages.items() if text.lower() in said), None)
    kind = kind or STATUS_KINDS.get(status, FailureKind.PROVIDER_ERROR)
    hint = (spec.error_hints.get(_code_text(code)) if code is not None else None) or spec.error_hints.get(str(status))
    label = f" {spec.code_label} {vendor_text(_code_text(code), MAX_CODE_CHARS)}" if code is not None else ""
    raise PollFailure(kind, f"{spec.id}{label}: {message or 'no message'}" + (f" ({hint})" if hint else ""))


def _request(spec: Spec, base_url: str, credentials: Credentials) -> HttpRequest:
    values = {name: credentials.variables[name] for name in spec.variables}
    fresh = {**values, "uuid": str(uuid.uuid4())}
    headers = {name: _fill(template, fresh) for name, template in spec.headers.items()}
    params = {name: _fill(template, fresh) for name, template in spec.query.items()}
    if "header" in spec.auth:
        headers[spec.auth["header"]] = _fill(spec.auth["value"], {**values, "key": credentials.key})
    else:
        params[spec.auth["query"]] = credentials.key
    url = base_url.rstrip("/") + _fill(spec.path, {name: quote(value, safe="") for name, value in values.items()})
    return HttpRequest(url, headers, params or None)


def _explain(spec: Spec, body: Any) -> dict[str, Any]:
    found = {}
    for field, expression in spec.named_expressions():
        try:
            found[f"{field}: {expression.expression}"] = expression.search(body, options=OPTIONS)
        except JMESPathError as exc:
            found[f"{field}: {expression.expression}"] = f"error: {' '.join(str(exc).split())}"
    return found


# -- reading a response ---------------------------------------------------------------------------------


def _label(name: str, fields: dict[str, Any]) -> str:
    """A field and the expression that read it, for failure messages: "available (data.balance)"."""
    expression = fields[name].expression
    return f"{name} ({expression if len(expression) <= 60 else expression[:57] + '...'})"


# What a reading keeps of a vendor's strings and structures. Every string passes vendor_text (redacted, cleaned,
# then cut); a breakdown as a whole is bounded too, so a hostile answer can neither outgrow a DynamoDB item
# (400 KB) nor cost a second of CPU per account.
MAX_CODE_CHARS, MAX_ERROR_CHARS, MAX_TIME_CHARS = 40, 160, 40
MAX_BREAKDOWN_NODES, MAX_BREAKDOWN_CHARS = 1000, 16_000
PLAIN_UNIT = re.compile(r"[A-Za-z0-9 ._-]{1,20}")  # what unit_from may read: a word, not markup or a sentence
PLAIN_UNIT_RULE = "1-20 of letters, digits, space . _ -"


class _Budget:
    """What is left of a breakdown's allowance of nodes and characters while it is read."""

    def __init__(self) -> None:
        self.nodes, self.chars, self.exceeded = MAX_BREAKDOWN_NODES, MAX_BREAKDOWN_CHARS, False

    def spend(self, chars: int = 0) -> bool:
        self.nodes, self.chars = self.nodes - 1, self.chars - chars
        self.exceeded |= self.nodes < 0 or self.chars < 0
        return not self.exceeded


def _reading(fields: dict[str, Any], negative: str, body: dict[str, Any]) -> Reading:
    raw = _search(fields["available"], body, "available")
    if negative == "clamp" and _is_number(raw) and raw < 0:
        available, overage = 0, -raw
        check_credits(overage, f"{_label('available', fields)} (overage)")
    else:
        available, overage = check_credits(raw, _label("available", fields)), None
    frozen = check_credits(_search(fields["frozen"], body, "frozen"), _label("frozen", fields)) if fields["frozen"] else None
    if frozen is None and fields["total"]:
        frozen = max(0, check_credits(_search(fields["total"], body, "total"), _label("total", fields)) - available)
    breakdown, budget = {}, _Budget()
    for name, (expression, credits) in fields["breakdown"].items():
        value = _search(expression, body, f"breakdown.{name}")
        if value is not None:
            breakdown[name] = _bounded(value, f"breakdown.{name}", credits, budget)
    if budget.exceeded:
        logger.warning("breakdown cut: the provider's answer holds more than a breakdown keeps",
                       extra={"max_nodes": MAX_BREAKDOWN_NODES, "max_chars": MAX_BREAKDOWN_CHARS})  # fmt: skip
    if overage is not None:
        breakdown["overage"] = overage
    unit = _unit(fields, body)
    allowance = check_credits(_search(fields["allowance"], body, "allowance"), _label("allowance", fields)) if fields["allowance"] else None
    resets_at = _timestamp(_search(fields["resets_at"], body, "resets_at")) if fields["resets_at"] else None
    return Reading(available=available, frozen=frozen or 0, breakdown=breakdown, unit=unit, allowance=allowance, resets_at=resets_at)


def _unit(fields: dict[str, Any], body: dict[str, Any]) -> str:
    """The unit: the definition's, or what unit_from reads when it is a plain word (the unit is shown in every
    alert and message, so a vendor's markup or a sentence there falls back to the definition's unit)."""
    if not fields["unit_from"]:
        return fields["unit"]
    found = _search(fields["unit_from"], body, "unit_from")
    if isinstance(found, str) and PLAIN_UNIT.fullmatch(found.strip()):
        return found.strip()
    if found is not None:
        shown = vendor_text(found, 40) if isinstance(found, str) else _json_kind(found)
        logger.warning(f"unit_from read no plain unit ({PLAIN_UNIT_RULE}); the definition's unit is used",
                       extra={"unit": fields["unit"], "found": shown})  # fmt: skip
    return fields["unit"]


def _json_kind(value: Any) -> str:
    return {list: "a JSON array", dict: "a JSON object", bool: "a boolean", str: "a string"}.get(type(value), "a number")


def _search(expression: Any, body: Any, field: str) -> Any:
    """Evaluate a compiled expression; a body of the wrong shape is a bad response, not a crash."""
    try:
        return expression.search(body, options=OPTIONS)
    except JMESPathError as exc:
        # JMESPath's text quotes the value it choked on: the vendor's, so redacted before it is cut.
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{field}: {vendor_text(str(exc), MAX_ERROR_CHARS)}") from None


def _truthy(value: Any) -> bool:
    """JMESPath's truth: false, null and empty strings, lists and objects are false; numbers are true."""
    return not (value is None or value is False or (isinstance(value, str | list | dict) and not value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bounded(value: Any, where: str, credits: bool, budget: _Budget, depth: int = 0) -> Any:
    """A breakdown value kept to a bounded, JSON-safe shape: strings redacted, cleaned and cut, numbers finite
    (and credit amounts if declared so); what is past MAX_DEPTH or the breakdown's budget is None."""
    if depth > MAX_DEPTH or budget.exceeded:
        return None
    if isinstance(value, str):
        text = vendor_text(value, MAX_TEXT)
        return text if budget.spend(len(text)) else None
    if not budget.spend():
        return None
    if _is_number(value):
        if credits:
            return check_credits(value, where)
        if not math.isfinite(value) or abs(value) > MAX_CREDITS:
            raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is not a plausible number ({value:g})")
        return value
    if isinstance(value, list):
        return [_bounded(item, f"{where}[{i}]", credits, budget, depth + 1) for i, item in enumerate(value[:MAX_ITEMS])]
    if isinstance(value, dict):
        kept = {}
        for key, item in list(value.items())[:MAX_ITEMS]:
            name = vendor_text(str(key), MAX_TEXT)  # a vendor's key is its text too, and names the field in a failure
            if not budget.spend(len(name)):
                break
            kept[name] = _bounded(item, f"{where}.{name}", credits, budget, depth + 1)
        return kept
    return value if isinstance(value, bool) or value is None else vendor_text(str(value), MAX_TEXT)


def _timestamp(value: Any) -> str | None:
    """A reset time as stored: ISO-8601 UTC. Numbers are Unix time (seconds, or milliseconds when that large);
    anything else (not a time, or a year outside model.MIN_YEAR..MAX_YEAR) is no reset time, and logged."""
    if _is_number(value) and math.isfinite(value) and value > 0:
        seconds = value / 1000 if value > 1e11 else value
        try:
            return format_time(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str) and value.strip():
        try:
            return format_time(parse_iso8601(value.strip()))
        except ValueError:
            pass
    if value is not None:
        shown = vendor_text(value, MAX_TIME_CHARS) if isinstance(value, str) else _json_kind(value)
        logger.warning("resets_at read no time; the reading has none", extra={"found": shown})
    return None


def _code_text(code: Any) -> str:
    """A vendor's error code as text, to look up in error_kinds and error_hints (shown only through vendor_text)."""
    if isinstance(code, str):
        return code
    if isinstance(code, int) and not isinstance(code, bool):
        return str(code)
    if isinstance(code, float) and code.is_integer():
        return str(int(code))
    return json.dumps(code)


def _last_name(expression: str) -> str:
    found = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression or "")
    return found[-1] if found else "code"


def _fill(template: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


# -- validating a definition ----------------------------------------------------------------------------


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


def _auth(document: dict, variables: set[str], headers: dict, query: dict, problems: Problems) -> dict[str, str]:
    auth = document.get("auth")
    if not isinstance(auth, dict) or set(auth) not in ({"header", "value"}, {"query"}):
        problems.add("auth", 'must be {"header": "<name>", "value": "<template with {key}>"} or {"query": "<parameter>"}')
        return {"query": "key"}
    if "query" in auth:
        parameter = auth["query"]
        if not isinstance(parameter, str) or not parameter.strip():
            problems.add("auth.query", "must name the query parameter that carries the key")
        elif parameter in query:
            problems.add("query", f"sets {parameter!r}, the parameter that carries the key; the key cannot be overridden")
        return {"query": str(parameter)}
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
    return {"header": name, "value": template}


def _expression(document: dict, field: str, problems: Problems, *, prefix: str = "", required: bool = False) -> Any:
    text = document.get(field)
    if text is None and not required:
        return None
    if not isinstance(text, str) or not text.strip():
        problems.add(prefix + field, "is required and must be a JMESPath expression" if required else "must be a JMESPath expression")
        return None
    try:
        return jmespath.compile(text)
    except JMESPathError as exc:
        problems.add(prefix + field, f"JMESPath {text!r} does not compile: {' '.join(str(exc).split())}")
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


def _requires(document: dict, problems: Problems) -> list[tuple[Any, str, FailureKind]]:
    rules = document.get("requires", [])
    if not isinstance(rules, list):
        problems.add("requires", 'must be a list of {"expression", "message", "error_kind"}')
        return []
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
            found.append((expression, " ".join(rule["message"].split())[:200], KINDS[kind]))
    return found


def _fields(fields: Any, problems: Problems) -> dict[str, Any]:
    result: dict[str, Any] = {"available": None, "frozen": None, "total": None, "unit": "credits", "unit_from": None, "breakdown": {},
                              "allowance": None, "resets_at": None}  # fmt: skip
    if not isinstance(fields, dict):
        problems.add("fields", "must be an object with at least available")
        return result
    for key in sorted(set(fields) - FIELDS):
        problems.add(f"fields.{key}", f"unknown key; allowed: {', '.join(sorted(FIELDS))}")
    result["available"] = _expression(fields, "available", problems, prefix="fields.", required=True)
    for name in ("frozen", "total", "unit_from", "allowance", "resets_at"):
        result[name] = _expression(fields, name, problems, prefix="fields.")
    if fields.get("frozen") is not None and fields.get("total") is not None:
        problems.add("fields.total", "give frozen or total, not both (frozen = total - available)")
    unit = fields.get("unit", "credits")
    if not isinstance(unit, str) or not unit.strip():
        problems.add("fields.unit", "must be a non-empty string such as credits or USD")
    else:
        result["unit"] = unit.strip()
    breakdown = fields.get("breakdown", {})
    if not isinstance(breakdown, dict):
        problems.add("fields.breakdown", 'must be an object of name: expression (or {"expression": ..., "credits": true})')
        return result
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
            result["breakdown"][name] = (expression, entry.get("credits", False))
        else:
            result["breakdown"][name] = (_expression(breakdown, name, problems, prefix="fields.breakdown.", required=True), False)
    return result


def _examples(examples: Any, problems: Problems) -> tuple[Example, ...]:
    if not isinstance(examples, list) or not examples:
        problems.add("examples", "must list the vendor's documented responses, at least one successful one")
        return ()
    found, names = [], set()
    for i, example in enumerate(examples):
        where = f"examples[{i}]"
        allowed = {"name", "status", "body", "expect"}
        if not isinstance(example, dict) or not {"name", "status", "body"} <= set(example) or set(example) - allowed:
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


def _verify_examples(provider: Provider, fields: dict[str, Any], problems: Problems) -> None:
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
            for field, expression in _field_expressions(fields):
                found = _unreadable(expression, example.body)
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


def _unreadable(expression: Any, body: Any) -> tuple[str, str] | None:
    """Why ``expression`` reads nothing from ``body``, as the text before and after the examples' names; None if it reads."""
    try:
        if expression.search(body, options=OPTIONS) is not None:
            return None
        error = None
    except JMESPathTypeError as exc:  # usually a null from a mistyped path, handed to a function
        error = " ".join(str(exc).split())
    except JMESPathError as exc:  # an unknown function, a wrong number of arguments: nothing to do with the example
        return f"{' '.join(str(exc).split())} (evaluated on ", ")"
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


def _field_expressions(fields: dict[str, Any]) -> list[tuple[str, Any]]:
    found = [(f"fields.{name}", fields[name]) for name in ("available", "frozen", "total", "unit_from", "allowance", "resets_at")]
    found += [(f"fields.breakdown.{name}", expression) for name, (expression, _) in fields["breakdown"].items()]
    return [(field, expression) for field, expression in found if expression is not None]


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
        if field in expect and field not in already_reported and not _same(getattr(reading, field), expect[field]):
            problems.add(f"{where}.expect.{field}", f"reads {getattr(reading, field)!r}, expected {expect[field]!r}")
    for name, wanted in (expect.get("breakdown") or {}).items():
        if f"breakdown.{name}" not in already_reported and not _same(reading.breakdown.get(name), wanted):
            problems.add(f"{where}.expect.breakdown.{name}", f"reads {reading.breakdown.get(name)!r}, expected {wanted!r}")


def _same(got: Any, wanted: Any) -> bool:
    if _is_number(got) and _is_number(wanted):
        return math.isclose(got, wanted, rel_tol=1e-9, abs_tol=1e-9)
    return got == wanted
