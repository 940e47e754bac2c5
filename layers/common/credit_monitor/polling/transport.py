"""HTTP for balance polls: one connection pool per round, bounded retries, a hard time budget, a body cap.

Polls go through urllib3 directly (what requests itself sends with): a round of a thousand accounts
spends its CPU on requests' per-call session merging otherwise, twice what the request itself costs.
Every failure becomes a classified :class:`PollFailure`; nothing here raises anything else.

The round's deadline bounds every phase of a request (connect, TLS, status line and headers, body): a
:class:`Watchdog` shuts down the sockets still open when it passes. Per-read timeouts alone cannot do
that, since a vendor sending one byte a second starts each of them again.

Longer than ~350 lines on purpose: the watchdog, the pool classes it patches, the retry policy and the
classification of every transport error share one deadline, and read wrong apart.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from urllib3 import HTTPConnectionPool, HTTPResponse, HTTPSConnectionPool, PoolManager, ProxyManager, Timeout
from urllib3._collections import HTTPHeaderDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError, NewConnectionError, ResponseError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import make_headers
from urllib3.util.retry import Retry

from credit_monitor import __version__
from credit_monitor.errors import PollFailure
from credit_monitor.model import FailureKind
from credit_monitor.polling.providers.base import HttpRequest, status_failure
from credit_monitor.polling.redaction import vendor_text

MAX_BODY_BYTES = 1_000_000
CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
MAX_RETRY_AFTER = 20.0  # longer waits are reported as rate limited instead of slept through
MIN_ATTEMPT_SECONDS = 0.5  # an attempt with less time left than this is not started
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = f"credit-balance-monitor/{__version__}"


class Deadline:
    """A point in monotonic time by which a poll round must be done."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at


class Watchdog:
    """Shuts down every socket of a round still open when the round's deadline passes.

    A read blocked in any phase of a request then returns at once (a shut socket reads as closed), and
    the request ends as a timeout. Sockets are shut down, not closed: closing a socket another thread is
    blocked on does not wake that thread, and would free its descriptor for reuse while it is still read.
    """

    def __init__(self, deadline: Deadline) -> None:
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.fired = False
        self._timer = threading.Timer(deadline.remaining(), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            if not self.fired:
                self._sockets.add(sock)
                return
        _shut(sock)  # opened after the deadline: not a byte more

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def stop(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    # socket.socket's own shutdown, also for a TLS socket: SSLSocket.shutdown would drop its TLS state under
    # the thread reading it. The reader sees the connection end, however TLS takes it. OSError: closed already.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watched_pools(watchdog: Watchdog) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pools whose every connection the watchdog can shut once it is up.

    Until then the connect timeout bounds it, and it is never longer than the time left when the request
    starts: the TCP connect waits at most that, and so does a TLS handshake as a whole (ssl applies a
    socket's timeout to the entire handshake, not to each read of it). tests/integration/test_round_deadline.py
    holds both to the deadline.
    """

    class Watched:
        def connect(self) -> None:
            super().connect()
            watchdog.track(self.sock)

    class Connection(Watched, HTTPConnection):
        pass

    class TLSConnection(Watched, HTTPSConnection):
        pass

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConnection

    return {"http": Pool, "https": TLSPool}


class DeadlineRetry(Retry):
    """urllib3's Retry, except that it gives up rather than wait or try again past the deadline.

    A ``Retry-After`` is honoured when it fits; when it does not (or exceeds MAX_RETRY_AFTER), the
    last response is returned at once and classified as rate limited.
    """

    def __init__(self, *args: Any, deadline: Deadline | None = None, attempt_seconds: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self.attempt_seconds = attempt_seconds

    def new(self, **kwargs: Any) -> DeadlineRetry:
        retry = super().new(**kwargs)
        retry.deadline, retry.attempt_seconds = self.deadline, self.attempt_seconds
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.deadline is not None:
            wait = retry.planned_wait(response)
            if wait > MAX_RETRY_AFTER or wait + self.attempt_seconds > self.deadline.remaining():
                raise MaxRetryError(_pool, url, error or ResponseError("no time left to retry"))
        return retry

    def planned_wait(self, response: Any) -> float:
        if response is not None and self.respect_retry_after_header:
            try:
                retry_after = self.get_retry_after(response)
            except Exception:  # an unparseable Retry-After header: fall back to our own backoff
                retry_after = None
            if retry_after is not None:
                return retry_after
        return self.get_backoff_time()


class Session:
    """The round's connection pool, retry policy, headers and watchdog (see :func:`new_session`)."""

    def __init__(self, retry: Retry, pool_size: int, trust_env: bool, deadline: Deadline) -> None:
        self.retry = retry
        self.headers = HTTPHeaderDict({"User-Agent": USER_AGENT, "Accept": "application/json", **make_headers(accept_encoding=True)})
        self._pool_size = pool_size
        self._trust_env = trust_env
        self.watchdog = Watchdog(deadline)
        self._pools: dict[str, PoolManager] = {"": self._watched(PoolManager(num_pools=4, maxsize=pool_size))}

    def _watched(self, manager: PoolManager) -> PoolManager:
        manager.pool_classes_by_scheme = _watched_pools(self.watchdog)
        return manager

    def get(self, request: HttpRequest, timeout: tuple[float, float]) -> HTTPResponse:
        """Send the GET, retried by the round's policy; redirects are returned, never followed."""
        url = request.url
        if request.params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(request.params, doseq=True)
        headers = self.headers.copy()
        for name, value in request.headers.items():
            headers[name] = value  # replaces a default of the same name, whatever its case
        connect, read = timeout
        return self._pool(url).urlopen("GET", url, headers=headers, retries=self.retry, redirect=False, preload_content=False,
                                       timeout=Timeout(connect=connect, read=read))  # fmt: skip

    def _pool(self, url: str) -> PoolManager:
        if not self._trust_env:
            return self._pools[""]
        # The command line on a workstation: honour HTTPS_PROXY/HTTP_PROXY and NO_PROXY as curl would.
        parts = urlsplit(url)
        proxy = "" if urllib.request.proxy_bypass(parts.hostname or "") else urllib.request.getproxies().get(parts.scheme, "")
        if proxy not in self._pools:
            auth = urlsplit(proxy).username
            headers = make_headers(proxy_basic_auth=urlsplit(proxy).netloc.rsplit("@", 1)[0]) if auth else None
            self._pools[proxy] = self._watched(ProxyManager(proxy, num_pools=4, maxsize=self._pool_size, proxy_headers=headers))
        return self._pools[proxy]

    def close(self) -> None:
        self.watchdog.stop()
        for pool in self._pools.values():
            pool.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def new_session(deadline: Deadline, pool_size: int, *, trust_env: bool = False) -> Session:
    """A session for one poll round. A new one per round, because the retry policy carries the round's
    deadline; keep-alive across rounds would buy nothing, as providers close idle connections long
    before the next scheduled poll.

    ``trust_env`` (proxy variables) is for the command line on a workstation; a poller has no proxy."""
    connect, read = _timeouts(deadline)
    retry = DeadlineRetry(
        total=3,
        connect=2,
        read=1,
        status=2,
        other=0,
        backoff_factor=0.5,
        backoff_max=5,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,  # after the last retry, hand back the response so it can be classified
        raise_on_redirect=False,
        deadline=deadline,
        attempt_seconds=connect + read,
    )
    return Session(retry, max(1, pool_size), trust_env, deadline)


def _timeouts(deadline: Deadline) -> tuple[float, float]:
    remaining = deadline.remaining()
    return min(CONNECT_TIMEOUT, remaining), min(READ_TIMEOUT, remaining)


@dataclass(frozen=True)
class JsonResponse:
    status: int
    body: Any
    retry_after: str = ""  # a 429's Retry-After, for the message when it is classified as rate limited


def get_json(session: Session, request: HttpRequest, deadline: Deadline) -> JsonResponse:
    """GET the request and return its status and decoded JSON body, or raise a classified PollFailure.

    Redirects are not followed: a redirect would carry the API key to another host. A 429 is read like
    any answer: its body may say why (out of credits is not the same as too many requests).
    """
    if deadline.remaining() < MIN_ATTEMPT_SECONDS:
        raise PollFailure(FailureKind.TIMEOUT, "no time left in this run to poll")
    host = urlsplit(request.url).hostname
    try:
        response = session.get(request, _timeouts(deadline))
    except Urllib3Error as exc:
        if deadline.passed:  # the watchdog shut the socket, in whatever phase the answer was
            raise PollFailure(FailureKind.TIMEOUT, f"{host} did not answer in time: the round's time budget ran out") from None
        if any(isinstance(e, SSLError) for e in _nested_errors(exc)):
            raise PollFailure(FailureKind.UNREACHABLE, f"TLS handshake with {host} failed") from None
        if _caused_by_timeout(exc):
            raise PollFailure(FailureKind.TIMEOUT, f"{host} did not answer in time") from None
        if isinstance(exc, MaxRetryError):
            raise PollFailure(FailureKind.UNREACHABLE, f"could not connect to {host}: {_innermost_reason(exc)}") from None
        raise PollFailure(FailureKind.UNREACHABLE, f"request to {host} failed: {_innermost_reason(exc)}") from None
    try:
        status = response.status
        if status in REDIRECT_STATUSES and "Location" in response.headers:
            # A query-auth vendor's redirect keeps the query string, key and all: redacted whole, then cut.
            raise status_failure(status, f"redirected to {vendor_text(response.headers['Location'], 100)}; not followed")
        retry_after = vendor_text(response.headers.get("Retry-After", ""), 40) if status == 429 else ""
        body = _read_limited(response, deadline)
    except BaseException:
        response.close()  # a body left unread: the connection cannot be reused
        raise
    finally:
        response.release_conn()
    try:
        return JsonResponse(status, json.loads(body), retry_after)
    except ValueError:
        if status == 429:
            raise rate_limited(retry_after) from None
        if status >= 400:
            raise status_failure(status, "body is not JSON") from None
        raise PollFailure(FailureKind.BAD_RESPONSE, "response body is not valid JSON") from None


def rate_limited(retry_after: str) -> PollFailure:
    return status_failure(429, f"retry after {retry_after}" if retry_after else "no Retry-After given")


def _read_limited(response: HTTPResponse, deadline: Deadline) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PollFailure(FailureKind.BAD_RESPONSE, f"response body of {int(declared)} bytes exceeds the 1 MB limit; not read")
    body = bytearray()
    try:
        while chunk := response.read1(CHUNK_BYTES, decode_content=True):
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise PollFailure(FailureKind.BAD_RESPONSE, "response body exceeds the 1 MB limit; stopped reading")
            if deadline.remaining() <= 0:
                raise PollFailure(FailureKind.TIMEOUT, "response body was still arriving when the time budget ran out")
    except Urllib3Error as exc:
        if deadline.passed:
            raise PollFailure(FailureKind.TIMEOUT, "response body was still arriving when the time budget ran out") from None
        if isinstance(exc, Urllib3Timeout):
            raise PollFailure(FailureKind.TIMEOUT, "provider stopped sending the response body") from None
        raise PollFailure(FailureKind.PROVIDER_ERROR, f"connection broken while reading the response: {_innermost_reason(exc)}") from None
    if deadline.passed:  # the end of a body without a length may be the watchdog's shutdown, not the vendor's
        raise PollFailure(FailureKind.TIMEOUT, "response body was still arriving when the time budget ran out")
    return bytes(body)


def _nested_errors(exc: BaseException):
    """The exception and every reason or cause nested inside it (urllib3 -> socket)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__cause__
        exc = inner


def _caused_by_timeout(exc: BaseException) -> bool:
    # urllib3's NewConnectionError (refused, unresolvable) subclasses its ConnectTimeoutError: not a timeout.
    chain = list(_nested_errors(exc))
    if any(isinstance(e, NewConnectionError) for e in chain):
        return False
    return any(isinstance(e, Urllib3Timeout | TimeoutError) for e in chain)


def _innermost_reason(exc: BaseException) -> str:
    innermost = list(_nested_errors(exc))[-1]
    text = str(innermost).split(">: ", 1)[-1]  # drop urllib3's "<Connection object at 0x...>: " prefix
    # An exception's text can quote the vendor (a malformed status line) or the request URL (a query key).
    return vendor_text(text, 160) or type(innermost).__name__
