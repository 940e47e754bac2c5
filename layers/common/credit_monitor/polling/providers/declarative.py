"""Providers defined by configuration: endpoint, auth and JMESPath expressions instead of code.

A definition is a JSON object (schema: ``definitions/schema.json``)::

    {"id": "openrouter", "base_url": "https://openrouter.ai", "path": "/api/v1/credits",
     "auth": {"header": "Authorization", "value": "Bearer {key}"},
     "success": "data != null",
     "error_message": "error.message",
     "fields": {"available": "subtract(data.total_credits, data.total_usage)",
                "breakdown": {"total_credits": "data.total_credits", "total_usage": "data.total_usage"},
                "unit": "USD"}}

Validation errors name the definition's source, the field and the problem, so a typo is caught by
``make validate-providers`` before a deploy (and again when a poller starts).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jmespath
from jmespath import functions
from jmespath.exceptions import JMESPathError

from credit_monitor.model import PROVIDER_ID_RULE, ConfigurationError, FailureKind, PollFailure, Reading, check_credits, valid_provider_id
from credit_monitor.polling.providers.base import STATUS_KINDS, Provider, message_of
from credit_monitor.polling.urls import validate_base_url

DEFINITIONS = Path(__file__).with_name("definitions")
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

TOP_LEVEL = {"id", "description", "base_url", "path", "auth", "headers", "success", "error_code", "error_kinds", "error_message", "fields"}
FIELDS = {"available", "frozen", "total", "breakdown", "unit"}


class DefinitionError(ConfigurationError):
    """A provider definition is invalid; the message names the source, the field and the problem."""


class _Functions(functions.Functions):
    """JMESPath has no arithmetic; balances are often a difference (credits bought - credits used)."""

    @functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_subtract(self, minuend: float, subtrahend: float) -> float:
        return minuend - subtrahend


OPTIONS = jmespath.Options(custom_functions=_Functions())


def load_definition(path: Path) -> Provider:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DefinitionError(f"{path.name}: not readable JSON ({exc})") from None
    return build_provider(document, path.name)


def load_bundled(folder: Path = DEFINITIONS) -> dict[str, Provider]:
    """Every definition in ``folder`` (not its subfolders), by id."""
    providers: dict[str, Provider] = {}
    for path in sorted(folder.glob("*.json")):
        if path.name == "schema.json":
            continue
        provider = load_definition(path)
        if provider.id in providers:
            raise DefinitionError(f"{path.name}: id {provider.id!r} is defined twice")
        providers[provider.id] = provider
    return providers


def build_provider(document: Any, source: str) -> Provider:
    """Validate a definition and turn it into a Provider, or raise DefinitionError naming what is wrong."""

    def fail(field: str, problem: str) -> DefinitionError:
        return DefinitionError(f"{source}: {field}: {problem}")

    if not isinstance(document, dict):
        raise fail("(definition)", "must be a JSON object")
    _no_unknown(document, TOP_LEVEL, "", fail)
    provider_id = _required_text(document, "id", fail)
    if not valid_provider_id(provider_id):
        raise fail("id", f"{provider_id!r} must be {PROVIDER_ID_RULE}")
    base_url = _required_text(document, "base_url", fail)
    try:
        base_url = validate_base_url(base_url, variable="base_url")
    except ConfigurationError as exc:
        raise fail("base_url", str(exc).removeprefix("base_url ")) from None
    path = _required_text(document, "path", fail)
    if not path.startswith("/") or "?" in path or "#" in path:
        raise fail("path", f"{path!r} must start with / and have no query or fragment")

    auth_headers, query = _auth(document.get("auth"), document.get("headers", {}), fail)
    success = _expression(document, "success", fail, required=True)
    error_code = _expression(document, "error_code", fail)
    error_message = _expression(document, "error_message", fail)
    error_kinds = _error_kinds(document.get("error_kinds", {}), fail)

    available, frozen, total, breakdown, unit = _fields(document.get("fields"), fail)

    def check(status: int, body: dict[str, Any]) -> None:
        if _search(success, body, "success"):
            return
        code = _search(error_code, body, "error_code") if error_code else None
        raw_message = _search(error_message, body, "error_message") if error_message else None
        message = message_of(raw_message) if raw_message else ""
        if code is None and not message and 200 <= status < 300:
            raise PollFailure(FailureKind.BAD_RESPONSE, f"{provider_id} response does not pass its success test")
        if code is None and not message:
            return  # no provider error body: classified by HTTP status
        kind = error_kinds.get(str(code)) or STATUS_KINDS.get(status, FailureKind.PROVIDER_ERROR)
        label = f" {code}" if code is not None else ""
        raise PollFailure(kind, f"{provider_id}{label}: {message or 'no message'}")

    def extract(body: dict[str, Any]) -> Reading:
        spendable = check_credits(_search(available, body, "available"), "available")
        reserved = check_credits(_search(frozen, body, "frozen"), "frozen") if frozen else None
        if reserved is None and total:
            reserved = max(0, check_credits(_search(total, body, "total"), "total") - spendable)
        pools = {name: _search(expression, body, f"breakdown.{name}") for name, expression in breakdown.items()}
        return Reading(available=spendable, frozen=reserved or 0, breakdown={k: v for k, v in pools.items() if v is not None}, unit=unit)

    return Provider(
        id=provider_id, default_base_url=base_url, path=path, auth_headers=auth_headers, check=check, extract=extract, query_params=query
    )


def _search(expression: Any, body: Any, field: str) -> Any:
    """Evaluate a compiled expression; a body of the wrong shape is a bad response, not a crash."""
    try:
        return expression.search(body, options=OPTIONS)
    except JMESPathError as exc:
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{field}: {' '.join(str(exc).split())[:160]}") from None


def _fields(fields: Any, fail: Callable) -> tuple[Any, Any, Any, dict[str, Any], str]:
    if not isinstance(fields, dict):
        raise fail("fields", "must be an object with at least available")
    _no_unknown(fields, FIELDS, "fields.", fail)
    available = _expression(fields, "available", fail, prefix="fields.", required=True)
    frozen = _expression(fields, "frozen", fail, prefix="fields.")
    total = _expression(fields, "total", fail, prefix="fields.")
    breakdown = fields.get("breakdown", {})
    if not isinstance(breakdown, dict):
        raise fail("fields.breakdown", "must be an object of name: expression")
    compiled = {name: _expression(breakdown, name, fail, prefix="fields.breakdown.", required=True) for name in breakdown}
    unit = fields.get("unit", "credits")
    if not isinstance(unit, str) or not unit.strip():
        raise fail("fields.unit", "must be a non-empty string such as credits or USD")
    return available, frozen, total, compiled, unit


def _no_unknown(document: dict, allowed: set[str], prefix: str, fail: Callable[[str, str], DefinitionError]) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise fail(prefix + unknown[0], f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _required_text(document: dict, field: str, fail: Callable[[str, str], DefinitionError]) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value.strip():
        raise fail(field, "is required and must be a non-empty string")
    return value.strip()


def _expression(document: dict, field: str, fail: Callable, *, prefix: str = "", required: bool = False) -> Any:
    text = document.get(field)
    if text is None and not required:
        return None
    if not isinstance(text, str) or not text.strip():
        raise fail(prefix + field, "is required and must be a JMESPath expression" if required else "must be a JMESPath expression")
    try:
        return jmespath.compile(text)
    except JMESPathError as exc:
        raise fail(prefix + field, f"JMESPath {text!r} does not compile: {' '.join(str(exc).split())}") from None


def _error_kinds(kinds: Any, fail: Callable) -> dict[str, FailureKind]:
    if not isinstance(kinds, dict):
        raise fail("error_kinds", "must be an object of error code: failure kind")
    known = {kind.value: kind for kind in FailureKind}
    for code, kind in kinds.items():
        if kind not in known:
            raise fail(f"error_kinds.{code}", f"{kind!r} is not one of: {', '.join(known)}")
    return {str(code): known[kind] for code, kind in kinds.items()}


def _auth(auth: Any, extra: Any, fail: Callable) -> tuple[Callable[[str], dict[str, str]], Callable[[str], dict[str, str]] | None]:
    if not isinstance(auth, dict) or set(auth) not in ({"header", "value"}, {"query"}):
        raise fail("auth", 'must be {"header": "<name>", "value": "<template with {key}>"} or {"query": "<parameter>"}')
    if not isinstance(extra, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
        raise fail("headers", "must be an object of header name: value template")
    for name, value in extra.items():
        if not HEADER_NAME.fullmatch(name):
            raise fail(f"headers.{name}", "is not a valid header name")
        bad = [p for p in PLACEHOLDER.findall(value) if p != "uuid"]
        if bad:
            raise fail(f"headers.{name}", f"unknown placeholder {{{bad[0]}}}; only {{uuid}} (a fresh UUID per request) is allowed")

    def extra_headers() -> dict[str, str]:
        return {name: value.replace("{uuid}", str(uuid.uuid4())) for name, value in extra.items()}

    if "query" in auth:
        parameter = auth["query"]
        if not isinstance(parameter, str) or not parameter.strip():
            raise fail("auth.query", "must name the query parameter that carries the key")
        return (lambda key: extra_headers()), (lambda key: {parameter: key})
    name, template = auth["header"], auth["value"]
    if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
        raise fail("auth.header", "must be a header name")
    if not isinstance(template, str) or "{key}" not in template or set(PLACEHOLDER.findall(template)) != {"key"}:
        raise fail("auth.value", 'must be a template containing {key} and no other placeholder, such as "Bearer {key}"')
    return (lambda key: {name: template.replace("{key}", key), **extra_headers()}), None
