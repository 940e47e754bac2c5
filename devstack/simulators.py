"""Local provider simulators: real HTTP servers on loopback that answer as the providers' docs show.

Each simulator knows its provider's path, auth header and envelopes. Tests and the demo register keys
with balances, and inject faults (an error envelope, a delay, a dropped connection, a huge body...).
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from credit_monitor.model import Reading
from credit_monitor.polling.providers import get_provider, parse_response

SEED_RESPONSES = Path(__file__).with_name("seed_responses")


def seed_response(provider: str) -> dict[str, Any]:
    return json.loads((SEED_RESPONSES / f"{provider}.json").read_text(encoding="utf-8"))


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
    declared_length: int | None = None  # a Content-Length to claim instead of the real one


def _set_crun(body, available, frozen):
    body["data"]["balance"] = available


def _set_sunor(body, available, frozen):
    body["data"].update(available=available, frozen=frozen, total=available + frozen)


def _set_srtgen(body, available, frozen):
    credits = body["credits"]
    extra = min(credits["extraCredits"], available)
    monthly = available - extra
    credits.update(totalBalance=available, totalMonthlyCredits=monthly, extraCredits=extra)
    credits["plans"][0]["balance"] = monthly


def _set_apimall(body, available, frozen):
    body["data"].update(credits=available, api_credits=available)


def _set_pixverse(body, available, frozen):
    package = min(body["Resp"]["credit_package"], available)
    body["Resp"].update(credit_monthly=available - package, credit_package=package)


def _set_openrouter(body, available, frozen):
    body["data"]["total_credits"] = round(body["data"]["total_usage"] + available, 6)


@dataclass(frozen=True)
class SimSpec:
    path: str
    key_header: str
    set_balance: Callable[[dict, float, float], None]
    errors: dict[str, tuple[int, Any]]  # how this provider reports each kind of failure
    spendable: tuple[str, str] = ("data", "balance")  # where the seed example keeps the spendable credits
    key_prefix: str = ""
    required_headers: tuple[str, ...] = ()


_srtgen_error = lambda code, message: {"success": False, "error": {"code": code, "message": message}}  # noqa: E731
_apimall_error = lambda code, message: {"success": False, "error": {"code": code, "message": message}, "request_id": "req_sim"}  # noqa: E731

SPECS: dict[str, SimSpec] = {
    "crun": SimSpec(
        "/api/v1/client/account/balance",
        "x-api-key",
        _set_crun,
        {
            "auth": (401, {"code": 401, "message": "Unauthorized", "data": None}),
            "insufficient": (200, {"code": 402, "message": "Insufficient Credits", "data": None}),
            "maintenance": (200, {"code": 455, "message": "Service Unavailable", "data": None}),
            "server": (500, {"code": 500, "message": "Server Error", "data": None}),
        },
    ),
    "sunor": SimSpec(
        "/api/v1/account/balance",
        "x-api-key",
        _set_sunor,
        {
            "auth": (401, {"code": 401, "message": "Missing or invalid API key"}),
            "server": (500, {"code": 500, "message": "Internal server error"}),
        },
        spendable=("data", "available"),
    ),
    "srtgen": SimSpec(
        "/api/v1/balance",
        "x-api-key",
        _set_srtgen,
        {
            "auth": (401, _srtgen_error("unauthorized", "API key is missing or invalid.")),
            "server": (500, _srtgen_error("server_error", "An unexpected internal error occurred.")),
        },
        spendable=("credits", "totalBalance"),
    ),
    "apimall": SimSpec(
        "/api/v1/account/balances",
        "Authorization",
        _set_apimall,
        {
            "auth": (401, _apimall_error("unauthorized", "Unauthorized")),
            "forbidden": (403, _apimall_error("forbidden", "API access not approved")),
            "server": (500, _apimall_error("internal_error", "Internal server error")),
        },
        key_prefix="Bearer ",
        spendable=("data", "api_credits"),
    ),
    "pixverse": SimSpec(
        "/openapi/v2/account/balance",
        "API-KEY",
        _set_pixverse,
        {
            "auth": (200, {"ErrCode": 400012, "ErrMsg": "invalid account", "Resp": None}),
            "empty": (200, {"ErrCode": 400011, "ErrMsg": "empty parameter", "Resp": None}),
            "insufficient": (200, {"ErrCode": 500090, "ErrMsg": "insufficient balance", "Resp": None}),
            "server": (200, {"ErrCode": 500069, "ErrMsg": "high load", "Resp": None}),
        },
        required_headers=("Ai-trace-id",),
        spendable=("Resp", "credit_monthly"),
    ),
    # Defined by configuration only (providers/definitions/openrouter.json): the sixth provider.
    "openrouter": SimSpec(
        "/api/v1/credits",
        "Authorization",
        _set_openrouter,
        {
            "auth": (401, {"error": {"code": 401, "message": "No auth credentials found"}}),
            "insufficient": (402, {"error": {"code": 402, "message": "Insufficient credits"}}),
            "server": (500, {"error": {"code": 500, "message": "Internal Server Error"}}),
        },
        key_prefix="Bearer ",
        spendable=("data", "total_credits"),
    ),
}


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]


class ProviderSimulator:
    """One provider's API on 127.0.0.1 at a free port. Use as a context manager or start()/stop()."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.spec = SPECS[provider]
        self._accounts: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, Fault] = {}
        self.requests: list[SeenRequest] = []
        self.latency = 0.0  # seconds every answer waits, as a distant provider would
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- control ---------------------------------------------------------------------------------
    def set_balance(self, key: str, available: float, frozen: float = 0) -> None:
        """Register ``key`` (or change its balance): its next answer is the seed example with these credits."""
        with self._lock:
            body = self._accounts.setdefault(key, seed_response(self.provider))
            self.spec.set_balance(body, available, frozen)

    def set_response(self, key: str, body: dict[str, Any]) -> None:
        """Register ``key`` answering exactly ``body`` (e.g. the seed example as is)."""
        with self._lock:
            self._accounts[key] = copy.deepcopy(body)

    def reading(self, key: str) -> Reading:
        """What ``key``'s current answer says, read with the project's own adapter."""
        with self._lock:
            return parse_response(get_provider(self.provider), 200, copy.deepcopy(self._accounts[key]))

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
        """Answer ``key`` with this provider's own envelope for ``kind`` (see SPECS)."""
        status, body = self.spec.errors[kind]
        self.inject(key, Fault(status=status, body=body, times=times))

    def clear_fault(self, key: str) -> None:
        with self._lock:
            self._faults.pop(key, None)

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
    def answer(self, path: str, headers: dict[str, str]) -> tuple[Fault | None, int, Any]:
        """What to send for this request: a fault, or a status and JSON body."""
        with self._lock:
            self.requests.append(SeenRequest(path, headers))
            if path != self.spec.path:
                return None, 404, {"error": "not found"}
            supplied = headers.get(self.spec.key_header.lower(), "")
            key = supplied[len(self.spec.key_prefix) :] if supplied.startswith(self.spec.key_prefix) else ""
            if any(not headers.get(h.lower()) for h in self.spec.required_headers) or not key:
                return None, *self.spec.errors.get("empty", self.spec.errors["auth"])
            fault = self._faults.get(key)
            if fault is not None:
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        del self._faults[key]
                return fault, fault.status, fault.body
            if key not in self._accounts:
                return None, *self.spec.errors["auth"]
            return None, 200, copy.deepcopy(self._accounts[key])


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of concurrent polls would overflow it and wait
    # for TCP's one-second SYN retry, which a real provider's load balancer never makes them do.
    request_queue_size = 1024


class _Handler(BaseHTTPRequestHandler):
    sim: ProviderSimulator
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled connections are exercised

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
