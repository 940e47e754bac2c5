"""HTTP for balance polls: one pooled session per round, bounded retries, a hard time budget, a body cap.

Every failure becomes a classified :class:`PollFailure`; nothing here raises anything else.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError, NewConnectionError, ResponseError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from credit_monitor import __version__
from credit_monitor.model import FailureKind, PollFailure
from credit_monitor.polling.providers.base import HttpRequest, status_failure

MAX_BODY_BYTES = 1_000_000
CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
MAX_RETRY_AFTER = 20.0  # longer waits are reported as rate limited instead of slept through
MIN_ATTEMPT_SECONDS = 0.5  # an attempt with less time left than this is not started
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"credit-balance-monitor/{__version__}"


class Deadline:
    """A point in monotonic time by which a poll round must be done."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())


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


def new_session(deadline: Deadline, pool_size: int) -> requests.Session:
    """A session for one poll round. A new one per round, because the retry policy carries the round's
    deadline; keep-alive across rounds would buy nothing, as providers close idle connections long
    before the next scheduled poll."""
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
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=max(1, pool_size))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _timeouts(deadline: Deadline) -> tuple[float, float]:
    remaining = deadline.remaining()
    return min(CONNECT_TIMEOUT, remaining), min(READ_TIMEOUT, remaining)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    retry_after: str = ""  # a 429's Retry-After, for the message when it is classified as rate limited


def get_json(session: requests.Session, request: HttpRequest, deadline: Deadline) -> Answer:
    """GET the request and return its status and decoded JSON body, or raise a classified PollFailure.

    Redirects are not followed: a redirect would carry the API key to another host. A 429 is read like
    any answer: its body may say why (out of credits is not the same as too many requests).
    """
    if deadline.remaining() < MIN_ATTEMPT_SECONDS:
        raise PollFailure(FailureKind.TIMEOUT, "no time left in this run to poll")
    url = request.url
    try:
        with session.get(
            url, headers=request.headers, params=request.params, timeout=_timeouts(deadline), stream=True, allow_redirects=False
        ) as response:
            if response.is_redirect:
                raise status_failure(response.status_code, f"redirected to {response.headers.get('Location', '?')[:100]}; not followed")
            retry_after = response.headers.get("Retry-After", "").strip()[:40] if response.status_code == 429 else ""
            body = _read_limited(response, deadline)
            status = response.status_code
    except PollFailure:
        raise
    except requests.exceptions.SSLError:
        raise PollFailure(FailureKind.UNREACHABLE, f"TLS handshake with {urlsplit(url).hostname} failed") from None
    except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
        if _caused_by_timeout(exc):
            raise PollFailure(FailureKind.TIMEOUT, f"{urlsplit(url).hostname} did not answer in time") from None
        raise PollFailure(FailureKind.UNREACHABLE, f"could not connect to {urlsplit(url).hostname}: {_reason(exc)}") from None
    except requests.RequestException as exc:
        raise PollFailure(FailureKind.UNREACHABLE, f"request to {urlsplit(url).hostname} failed: {_reason(exc)}") from None
    try:
        return Answer(status, json.loads(body), retry_after)
    except ValueError:
        if status == 429:
            raise rate_limited(retry_after) from None
        if status >= 400:
            raise status_failure(status, "body is not JSON") from None
        raise PollFailure(FailureKind.BAD_RESPONSE, "response body is not valid JSON") from None


def rate_limited(retry_after: str) -> PollFailure:
    return status_failure(429, f"retry after {retry_after}" if retry_after else "no Retry-After given")


def _read_limited(response: requests.Response, deadline: Deadline) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PollFailure(FailureKind.BAD_RESPONSE, f"response body of {int(declared)} bytes exceeds the 1 MB limit; not read")
    body = bytearray()
    try:
        while chunk := response.raw.read1(CHUNK_BYTES, decode_content=True):
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise PollFailure(FailureKind.BAD_RESPONSE, "response body exceeds the 1 MB limit; stopped reading")
            if deadline.remaining() <= 0:
                raise PollFailure(FailureKind.TIMEOUT, "response body was still arriving when the time budget ran out")
    except Urllib3Timeout:
        raise PollFailure(FailureKind.TIMEOUT, "provider stopped sending the response body") from None
    except Urllib3Error as exc:
        raise PollFailure(FailureKind.PROVIDER_ERROR, f"connection broken while reading the response: {_reason(exc)}") from None
    return bytes(body)


def _chain(exc: BaseException):
    """The exception and every reason or cause nested inside it (requests -> urllib3 -> socket)."""
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
    chain = list(_chain(exc))
    if any(isinstance(e, NewConnectionError) for e in chain):
        return False
    return any(isinstance(e, requests.exceptions.Timeout | Urllib3Timeout | TimeoutError) for e in chain)


def _reason(exc: BaseException) -> str:
    innermost = list(_chain(exc))[-1]
    text = str(innermost).split(">: ", 1)[-1]  # drop urllib3's "<Connection object at 0x...>: " prefix
    return " ".join(text.split())[:160] or type(innermost).__name__
