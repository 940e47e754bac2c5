"""What every provider adapter is made of, and the helpers they share.

An adapter says three things: how to authenticate (headers), how the provider reports a failure in
its body (``check``), and where the credits are (``extract``). Everything else (HTTP, retries, size
limits, status codes without a recognisable body) is handled once, in :func:`parse_response`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from credit_monitor.model import FailureKind, PollFailure, Reading, check_credits

MAX_MESSAGE_CHARS = 200

STATUS_KINDS = {
    401: FailureKind.AUTH,
    403: FailureKind.AUTH,
    402: FailureKind.INSUFFICIENT_CREDITS,
    429: FailureKind.RATE_LIMITED,
}


@dataclass(frozen=True)
class Provider:
    id: str
    default_base_url: str
    path: str
    auth_headers: Callable[[str], Mapping[str, str]]
    check: Callable[[int, dict[str, Any]], None]
    extract: Callable[[dict[str, Any]], Reading]
    query_params: Callable[[str], Mapping[str, str]] | None = None  # for providers that take the key in the URL

    def url(self, base_url: str) -> str:
        return base_url.rstrip("/") + self.path


def parse_response(provider: Provider, status: int, body: Any) -> Reading:
    """Turn an HTTP status and decoded JSON body into a reading, or raise a classified PollFailure."""
    if not isinstance(body, dict):
        if status >= 400:
            raise status_failure(status)
        raise PollFailure(FailureKind.BAD_RESPONSE, f"expected a JSON object, got a JSON {_json_type(body)}")
    provider.check(status, body)
    if not 200 <= status < 300:
        raise status_failure(status)
    return provider.extract(body)


def status_failure(status: int, detail: str = "") -> PollFailure:
    """A failure classified by HTTP status alone, for responses without a provider error body."""
    kind = STATUS_KINDS.get(status, FailureKind.PROVIDER_ERROR)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "unexpected status"
    return PollFailure(kind, f"HTTP {status} {phrase}" + (f": {detail}" if detail else ""))


def check_code(
    provider: str, status: int, body: dict[str, Any], *, field: str, success: int, kinds: dict[int, FailureKind], message_field: str
) -> None:
    """For providers whose body carries a numeric code: ``success`` passes, any other code is a failure
    (whatever the HTTP status) classified by ``kinds``, and a 2xx body without a code is a bad response."""
    code = body.get(field)
    is_number = isinstance(code, int) and not isinstance(code, bool)
    if is_number and code == success:
        return
    if is_number:
        kind = kinds.get(code, FailureKind.PROVIDER_ERROR)
        raise PollFailure(kind, f"{provider} {field} {code}: {message_of(body.get(message_field))}")
    if 200 <= status < 300:
        raise PollFailure(FailureKind.BAD_RESPONSE, f"response has no numeric {field}")


def dig(body: Any, path: str) -> Any:
    """The value at a dotted ``path`` in nested objects, or None where any step is missing."""
    value = body
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def credits_at(body: dict[str, Any], path: str) -> int | float:
    return check_credits(dig(body, path), path)


def message_of(value: Any) -> str:
    """A provider's error message, as short text safe to store (callers redact keys)."""
    text = value if isinstance(value, str) else ""
    text = " ".join(text.split())
    return text[:MAX_MESSAGE_CHARS] if text else "no message"


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
