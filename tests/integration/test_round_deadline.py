"""The round's deadline bounds every phase of a request, over real sockets on loopback.

A vendor can be slow in any phase: accepting the connection, the TLS handshake, the status line and
headers, the body. A read timeout bounds none of them when the vendor sends one byte at a time (each
byte starts it again); the round's watchdog shuts down the sockets still open at the deadline, and
poll_accounts returns then, with every unfinished account a timeout.
"""

import dataclasses
import socket
import threading
import time

import pytest

from credit_monitor.errors import PollFailure
from credit_monitor.model import FailureKind
from credit_monitor.polling.fanout import GRACE_SECONDS, poll_accounts
from credit_monitor.polling.providers import Credentials, get_provider
from credit_monitor.polling.providers.base import HttpRequest
from credit_monitor.polling.transport import Deadline, get_json, new_session
from devstack.simulators import Fault, ProviderSimulator

pytestmark = pytest.mark.integration


class DribblingServer:
    """Accepts connections and sends ``opening``, then one byte of ``rest`` every ``every`` seconds."""

    def __init__(self, opening: bytes, rest: bytes, every: float = 0.5) -> None:
        self.opening, self.rest, self.every = opening, rest, every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._dribble, args=(connection,), daemon=True).start()

    def _dribble(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.sendall(self.opening)
                for byte in self.rest:
                    if self.stopped.wait(self.every):
                        return
                    connection.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def dribbling():
    servers = []

    def start(opening: bytes, rest: bytes) -> DribblingServer:
        servers.append(DribblingServer(opening, rest))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_host_that_never_completes_the_tcp_handshake_ends_at_the_deadline():
    # A listener with a full accept queue drops further SYNs: connect() waits, as for a black-holed host.
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener, socket.create_connection(listener.getsockname()):
        deadline = Deadline(1.5)
        started = time.monotonic()
        with new_session(deadline, pool_size=1) as session, pytest.raises(PollFailure) as raised:
            get_json(session, HttpRequest(f"http://127.0.0.1:{listener.getsockname()[1]}/balance", {}), deadline)
        elapsed = time.monotonic() - started

    assert elapsed < 1.5 + 0.5, f"{elapsed:.1f}s for a 1.5s budget"
    assert raised.value.kind is FailureKind.TIMEOUT


def test_a_tls_handshake_dribbled_byte_by_byte_ends_at_the_deadline(dribbling):
    # A TLS record header announcing a 16 KB handshake record, then its bytes one at a time: the handshake
    # reads with the connect timeout, which every byte starts again.
    server = dribbling(b"\x16\x03\x03\x40\x00", b"\x02" * 16384)
    deadline = Deadline(1.5)
    started = time.monotonic()
    with new_session(deadline, pool_size=1) as session, pytest.raises(PollFailure) as raised:
        get_json(session, HttpRequest(f"https://127.0.0.1:{server.port}/balance", {}), deadline)
    elapsed = time.monotonic() - started

    assert elapsed < 1.5 + 0.5, f"{elapsed:.1f}s for a 1.5s budget"
    assert raised.value.kind is FailureKind.TIMEOUT
    assert "time budget" in raised.value.message


def test_a_body_without_a_length_cut_by_the_deadline_is_a_timeout_not_a_short_answer(dribbling):
    # Without Content-Length, a body ends when the connection does: the watchdog's shutdown must not read
    # as the vendor's end of a (valid, shorter) answer.
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    server = dribbling(head + b'{"code": 200, "data": {"balance": 1}}', b" " * 100)
    deadline = Deadline(1.0)
    with new_session(deadline, pool_size=1) as session, pytest.raises(PollFailure) as raised:
        get_json(session, HttpRequest(f"http://127.0.0.1:{server.port}/balance", {}), deadline)

    assert raised.value.kind is FailureKind.TIMEOUT
    assert "still arriving" in raised.value.message


def test_poll_accounts_returns_at_the_deadline_with_every_unfinished_account_a_timeout():
    crun = get_provider("crun")
    with ProviderSimulator("crun") as sim:
        sim.set_balance("sk-healthy-0001", 700)
        sim.set_balance("sk-dribbled-001", 500)
        sim.inject("sk-dribbled-001", Fault(body={"code": 200, "data": {"balance": 1}}, dribble_head=0.5))
        accounts = {"healthy": Credentials("sk-healthy-0001"), "dribbled": Credentials("sk-dribbled-001")}
        seen = []
        started = time.monotonic()

        results = poll_accounts(crun, sim.base_url, accounts, Deadline(1.5), on_result=seen.append)

    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + GRACE_SECONDS + 0.25, f"{elapsed:.1f}s for a 1.5s budget"
    healthy, dribbled = results
    assert healthy.reading.available == 700
    assert dribbled.failure.kind is FailureKind.TIMEOUT
    assert sorted(r.account for r in seen) == ["dribbled", "healthy"]  # each stored as it came, the timeout too


def test_a_poll_stuck_where_no_socket_can_be_shut_is_left_behind_as_a_timeout():
    # A DNS lookup cannot be interrupted. It is stood in for by a request builder that blocks (no vendor
    # involved): the round still returns at its deadline, and the account is recorded as a timeout.
    crun = get_provider("crun")
    release = threading.Event()

    def blocked(base_url, credentials):
        release.wait(10)
        return crun.request(base_url, credentials)

    stuck = dataclasses.replace(crun, build_request=blocked)
    with ProviderSimulator("crun") as sim:
        sim.set_balance("sk-healthy-0001", 700)
        started = time.monotonic()
        try:
            [result] = poll_accounts(stuck, sim.base_url, {"stuck": Credentials("sk-healthy-0001")}, Deadline(1.0))
        finally:
            release.set()
    elapsed = time.monotonic() - started

    assert elapsed < 1.0 + GRACE_SECONDS + 0.25, f"{elapsed:.1f}s for a 1s budget"
    assert (result.failure.kind, result.failure.message) == (FailureKind.TIMEOUT, "no answer within the round's time budget")
