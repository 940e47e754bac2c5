"""Local provider simulators: real HTTP servers on loopback that answer as each provider's definition documents.

A simulator is made from a provider's definition alone: its path, its auth (a header with its template,
or a query parameter), its required headers and fixed query parameters, and its documented example
responses. The first successful example is every account's answer, with the balance set where the
definition's ``available`` expression reads it; the failure examples are the envelopes ``fail`` sends.
So any vendor added by a definition file gets a simulator with no code. Tests and the demo register
keys with balances, and inject faults (an error envelope, a delay, a dropped connection, a huge body...).
"""

from __future__ import annotations

import copy
import json
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jmespath

from credit_monitor.model import Reading
from credit_monitor.polling.providers import Provider, get_provider, known_providers
from credit_monitor.polling.providers.definition import OPTIONS


@dataclass
class Fault:
    """How to answer instead of the balance. ``times`` answers that many requests, then clears."""

    status: int = 200
    body: Any = None  # dict/list: JSON; str/bytes: sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    times: int | None = None
    drop: bool = False  # close the connection without answering
    truncate: bool = False  # declare the full length, send half the body, close
    trickle: float = 0.0  # seconds between single bytes of the body
    dribble_head: float = 0.0  # seconds between single bytes of the status line and headers (each read sees progress)
    status_line: str | None = None  # sent as is instead of "HTTP/1.1 <status> ...", malformed if need be
    declared_length: int | None = None  # a Content-Length to claim instead of the real one


def example_response(provider: str) -> dict[str, Any]:
    """The provider's first documented successful response (what a fresh simulator account answers)."""
    return copy.deepcopy(SimSpec.of(get_provider(provider)).success)


def with_available(provider: str, value: Any) -> dict[str, Any]:
    """The documented example with ``value`` exactly where ``available`` is read (other fields it adds up: 0).

    For fault injection: ``value`` is put as is (a string, NaN, a boolean...), not made a valid balance.
    """
    body = example_response(provider)
    first, *others = _paths_read(SimSpec.of(get_provider(provider)).available)
    _put(body, first, value)
    for path in others:
        _put(body, path, 0)
    return body


# -- setting a balance where the definition reads it ------------------------------------------------


def _paths_read(node: dict) -> list[list[str | int]]:
    """Every plain field path an expression reads, in order."""
    path = _path(node)
    if path is not None:
        return [path]
    return [p for child in node.get("children", []) if isinstance(child, dict) for p in _paths_read(child)]


def _path(node: dict) -> list[str | int] | None:
    """The field path a JMESPath node reads, if it is a plain path (a.b[0].c)."""
    kind = node["type"]
    if kind == "field":
        return [node["value"]]
    if kind == "subexpression":
        left, right = (_path(child) for child in node["children"])
        return left + right if left is not None and right is not None else None
    if kind == "index_expression":
        left, index = node["children"]
        base = _path(left) if left["type"] != "identity" else []
        return [*base, index["value"]] if base is not None and index["type"] == "index" else None
    return None


def _put(body: Any, path: list[str | int], value: Any) -> None:
    for step in path[:-1]:
        body = body[step] if isinstance(step, int) else body.setdefault(step, {})
    body[path[-1]] = value


def _value(node: dict, body: Any) -> Any:
    return jmespath.parser.ParsedResult("", node).search(body, options=OPTIONS)


def _number(value: float, like: Any) -> Any:
    number = int(value) if float(value).is_integer() else round(value, 6)
    return str(number) if isinstance(like, str) else number


def assign(node: dict, body: Any, target: float) -> bool:
    """Change ``body`` so that the expression ``node`` evaluates to ``target``; False when it cannot say how."""
    path = _path(node)
    if path is not None:
        _put(body, path, _number(target, _value(node, body)))
        return True
    if node["type"] != "function_expression":
        return False
    name, args = node["value"], node["children"]
    literal = args[1]["value"] if len(args) == 2 and args[1]["type"] == "literal" else None
    if name == "to_number":
        path = _path(args[0])
        if path is None:
            return False
        _put(body, path, _number(target, ""))
        return True
    if name == "divide" and literal:
        return assign(args[0], body, target * literal)
    if name == "multiply" and literal:
        return assign(args[0], body, target / literal)
    if name in ("subtract", "add"):
        other = _value(args[1], body)
        return isinstance(other, int | float) and assign(args[0], body, target + other if name == "subtract" else target - other)
    if name == "sum" and args[0]["type"] == "multi_select_list":
        first, *rest = args[0]["children"]
        others = sum(_value(r, body) or 0 for r in rest)
        if target >= others:
            return assign(first, body, target - others)
        return assign(first, body, target) and all(assign(r, body, 0) for r in rest)
    return False


# -- a simulator's view of a definition -------------------------------------------------------------


@dataclass(frozen=True)
class SimSpec:
    provider: str
    path: re.Pattern
    key_header: str | None  # the header carrying the key, or None when a query parameter does
    key_prefix: str
    key_suffix: str
    key_query: str | None
    required_headers: tuple[str, ...]
    required_query: dict[str, str]
    success: dict[str, Any]
    errors: dict[str, tuple[int, Any]]  # each documented failure, by its example name
    available: dict  # the JMESPath node of fields.available
    frozen: dict | None

    @classmethod
    def of(cls, provider: Provider) -> SimSpec:
        document = provider.document
        auth = document["auth"]
        prefix, _, suffix = auth.get("value", "{key}").partition("{key}")
        success = next(e for e in provider.examples if e.succeeds)
        fields = document["fields"]
        pattern = re.escape(provider.path)
        for name in provider.variables:
            pattern = pattern.replace(re.escape("{" + name + "}"), "[^/]+")
        return cls(
            provider=provider.id,
            path=re.compile(pattern),
            key_header=auth.get("header"),
            key_prefix=prefix,
            key_suffix=suffix,
            key_query=auth.get("query"),
            required_headers=tuple(document.get("headers", {})),
            required_query={k: v for k, v in document.get("query", {}).items() if "{" not in v},
            success=success.body,
            errors={e.name: (e.status, e.body) for e in provider.examples if not e.succeeds},
            available=jmespath.compile(fields["available"]).parsed,
            frozen=jmespath.compile(fields["frozen"]).parsed if fields.get("frozen") else None,
        )


SPECS: dict[str, SimSpec] = {provider_id: SimSpec.of(provider) for provider_id, provider in known_providers().items()}


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)


class ProviderSimulator:
    """One provider's API on 127.0.0.1 at a free port. Use as a context manager or start()/stop()."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.spec = SimSpec.of(get_provider(provider))
        self._accounts: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, Fault] = {}
        self.requests: list[SeenRequest] = []
        self.latency = 0.0  # seconds every answer waits, as a distant provider would
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- control ---------------------------------------------------------------------------------
    def set_balance(self, key: str, available: float, frozen: float = 0) -> None:
        """Register ``key`` (or change its balance): its answer is the documented example with these credits."""
        with self._lock:
            body = self._accounts.setdefault(key, copy.deepcopy(self.spec.success))
            if not assign(self.spec.available, body, available) or (self.spec.frozen and not assign(self.spec.frozen, body, frozen)):
                raise NotImplementedError(f"{self.provider}: cannot set a balance through its available expression; use set_response")

    def settable(self) -> bool:
        """Whether a balance can be set on this provider's example (plain paths, to_number, divide, sum...)."""
        probe = copy.deepcopy(self.spec.success)
        return assign(self.spec.available, probe, 1) and (self.spec.frozen is None or assign(self.spec.frozen, probe, 0))

    def credentials(self, key: str) -> str | dict[str, str]:
        """What the secret holds for an account with this key: the key, or an object with the definition's
        per-account variables (any value is accepted here: the path only has to have one)."""
        variables = get_provider(self.provider).variables
        return {"key": key, **{name: f"demo-{name.replace('_', '-')}"[:32] for name in variables}} if variables else key

    def set_response(self, key: str, body: dict[str, Any]) -> None:
        """Register ``key`` answering exactly ``body`` (e.g. the seed example as is)."""
        with self._lock:
            self._accounts[key] = copy.deepcopy(body)

    def reading(self, key: str) -> Reading:
        """What ``key``'s current answer says, read with the provider's own definition."""
        with self._lock:
            return get_provider(self.provider).parse(200, copy.deepcopy(self._accounts[key]))

    def available(self, key: str) -> float:
        return self.reading(key).available

    def spend(self, key: str, credits: float) -> None:
        """Use up ``credits`` of ``key``'s available balance (never below zero); frozen stays as it is."""
        current = self.reading(key)
        self.set_balance(key, max(0, round(current.available - credits)), current.frozen)

    def inject(self, key: str, fault: Fault) -> None:
        with self._lock:
            self._faults[key] = fault

    def fail(self, key: str, kind: str, times: int | None = None) -> None:
        """Answer ``key`` with this provider's documented failure example named ``kind`` (auth, server...)."""
        status, body = self.spec.errors[kind]
        self.inject(key, Fault(status=status, body=body, times=times))

    def clear_fault(self, key: str) -> None:
        with self._lock:
            self._faults.pop(key, None)

    def _key(self, headers: dict[str, str], query: dict[str, str]) -> str:
        spec = self.spec
        if spec.key_query:
            return query.get(spec.key_query, "")
        supplied = headers.get(spec.key_header.lower(), "")
        if not supplied.startswith(spec.key_prefix) or not supplied.endswith(spec.key_suffix):
            return ""
        return supplied[len(spec.key_prefix) : len(supplied) - len(spec.key_suffix)]

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> ProviderSimulator:
        simulator = self

        class Handler(_Handler):
            sim = simulator

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name=f"sim-{self.provider}", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ProviderSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling ------------------------------------------------------------------------
    def answer(self, target: str, headers: dict[str, str]) -> tuple[Fault | None, int, Any]:
        """What to send for this request: a fault, or a status and JSON body."""
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(SeenRequest(url.path, headers, query))
            if not self.spec.path.fullmatch(url.path):
                return None, 404, {"error": "not found"}
            key = self._key(headers, query)
            missing = any(not headers.get(h.lower()) for h in self.spec.required_headers)
            missing |= any(query.get(k) != v for k, v in self.spec.required_query.items())
            if missing or not key:
                return None, *self.spec.errors.get("empty", self.spec.errors.get("auth", (401, {})))
            fault = self._faults.get(key)
            if fault is not None:
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        del self._faults[key]
                return fault, fault.status, fault.body
            if key not in self._accounts:
                return None, *self.spec.errors.get("auth", (401, {}))
            return None, 200, copy.deepcopy(self._accounts[key])


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of concurrent polls would overflow it and wait
    # for TCP's one-second SYN retry, which a real provider's load balancer never makes them do.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its deadline passed, its watchdog shut the socket) is not the simulator's error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    sim: ProviderSimulator
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled connections are exercised
    # Headers and body leave in one write, without Nagle's delay: otherwise the client's delayed ACK
    # holds every answer ~40 ms, which no real provider's load balancer does.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault, status, body = self.sim.answer(self.path, headers)
        fault = fault or Fault()
        if fault.delay or self.sim.latency:
            time.sleep(fault.delay or self.sim.latency)
        if fault.drop:
            self._close_hard()
            return
        payload = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
        if fault.dribble_head or fault.status_line is not None:
            self._dribble_head(status, payload, fault)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(fault.declared_length if fault.declared_length is not None else len(payload)))
        for name, value in fault.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            if fault.truncate:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self._close_hard()
            elif fault.trickle:
                for i in range(len(payload)):
                    self.wfile.write(payload[i : i + 1])
                    self.wfile.flush()
                    time.sleep(fault.trickle)
            else:
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client gave up, as a client with a deadline should

    def _dribble_head(self, status: int, payload: bytes, fault: Fault) -> None:
        """The status line (``fault.status_line`` if given) and headers written by hand, one byte at a time when
        ``fault.dribble_head`` says so (a client's read timeout never fires then, since every read brings a
        byte: only a deadline on the whole answer ends it), then the body."""
        headers = {"Content-Type": "application/json", "Content-Length": str(len(payload)), **fault.headers}
        first = fault.status_line if fault.status_line is not None else f"HTTP/1.1 {status} Slow"
        head = (f"{first}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n").encode("latin-1")
        self.close_connection = True
        try:
            if fault.dribble_head:
                for byte in head:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(fault.dribble_head)
            else:
                self.wfile.write(head)
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up, as a client with a deadline should

    def _close_hard(self) -> None:
        """Reset the connection (RST, not a clean FIN) the way a crashing server does."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass
