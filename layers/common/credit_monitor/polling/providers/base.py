"""What a provider is, at run time: how to ask for a balance, and how to read the answer.

Every provider is built from a definition file (the definition package); a provider that needs logic no
definition can express would build the same ``Provider`` in code. HTTP, retries, size limits and
statuses without a recognisable body are handled once, here and in the transport.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from credit_monitor.errors import PollFailure
from credit_monitor.model import FailureKind, Reading
from credit_monitor.polling.redaction import vendor_text

MAX_MESSAGE_CHARS = 200

STATUS_KINDS = {
    401: FailureKind.AUTH,
    403: FailureKind.AUTH,
    402: FailureKind.INSUFFICIENT_CREDITS,
    429: FailureKind.RATE_LIMITED,
}


@dataclass(frozen=True)
class Credentials:
    """One account's key, and the per-account values its provider's requests need (a project id...)."""

    key: str
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpRequest:
    url: str
    headers: dict[str, str]
    params: dict[str, str] | None = None


@dataclass(frozen=True)
class Example:
    """A response the vendor documents, and what reading it must give (a balance, or a failure kind)."""

    name: str
    status: int
    body: Any
    expect: dict[str, Any]

    @property
    def succeeds(self) -> bool:
        return 200 <= self.status < 300 and "error_kind" not in self.expect


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    source: str  # the definition file it was built from
    default_base_url: str
    path: str
    variables: tuple[str, ...]
    build_request: Callable[[str, Credentials], HttpRequest]
    check: Callable[[int, dict[str, Any]], None]  # raises a classified PollFailure for a failure body
    extract: Callable[[dict[str, Any]], Reading]
    examples: tuple[Example, ...] = ()
    explain: Callable[[Any], dict[str, Any]] | None = None  # what each expression finds in a body (check --explain)
    document: Mapping[str, Any] = field(default_factory=dict)  # the definition it was built from, for tools (simulators)

    def request(self, base_url: str, credentials: Credentials) -> HttpRequest:
        return self.build_request(base_url, credentials)

    def parse(self, status: int, body: Any) -> Reading:
        """An HTTP status and decoded JSON body as a reading, or a classified PollFailure."""
        if not isinstance(body, dict):
            if status >= 400:
                raise status_failure(status)
            raise PollFailure(FailureKind.BAD_RESPONSE, f"expected a JSON object, got a JSON {_json_type(body)}")
        self.check(status, body)
        if not 200 <= status < 300:
            raise status_failure(status)
        return self.extract(body)


def parse_response(provider: Provider, status: int, body: Any) -> Reading:
    return provider.parse(status, body)


def status_failure(status: int, detail: str = "") -> PollFailure:
    """A failure classified by HTTP status alone, for responses without a provider error body."""
    kind = STATUS_KINDS.get(status, FailureKind.PROVIDER_ERROR)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "unexpected status"
    return PollFailure(kind, f"HTTP {status} {phrase}" + (f": {detail}" if detail else ""))


def message_of(value: Any) -> str:
    """A provider's error message as short text safe to store: redacted before it is cut (vendor_text)."""
    text = vendor_text(value, MAX_MESSAGE_CHARS) if isinstance(value, str) else ""
    return text or "no message"


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
