"""Any answer a vendor can send, to every bundled and example definition, over real HTTP.

For each definition, hypothesis writes whole HTTP answers, byte for byte: any status, headers (a redirect's
Location, a Retry-After, encodings), bodies (the vendor's documented examples with nodes replaced, any JSON,
bytes that are not JSON, lengths that lie, gzip that is not gzip), and the account's key quoted anywhere:
whole, URL-encoded, JSON-escaped, in part, or placed where a cut falls. A loopback server sends the answer to
the real fan-out (poll_accounts: transport, definition, redaction), with the poller's log redaction installed.

Whatever the answer: nothing escapes, every failure has a kind and says why, and no run of 8 characters of
the key, in any form, appears in the reading, the failure or any log line.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import math
import socket
import threading
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_monitor.model import MAX_CREDITS, FailureKind
from credit_monitor.polling.fanout import poll_accounts
from credit_monitor.polling.providers import Credentials, add_definitions, get_provider, remove_definitions
from credit_monitor.polling.providers.definition import definition_files
from credit_monitor.polling.transport import Deadline
from devstack import ROOT
from devstack.invoke import captured_output, load_handler
from tests.leak_scan import leaked

BUNDLED = ROOT / "layers" / "common" / "credit_monitor" / "polling" / "providers" / "definitions"
EXAMPLES = ROOT / "examples" / "providers"
DEFINITIONS = sorted(json.loads(path.read_text())["id"] for path in definition_files(BUNDLED) + definition_files(EXAMPLES))
CUTS = (20, 40, 100, 160, 200)  # where vendor texts are cut (codes, Retry-After, Location, reasons, messages)
SPECIALS = "/+=-_.~:@!$&'()*,;%\"\\ "  # what URL and JSON encodings change


class AnswerServer:
    """Answers every request on loopback with the bytes it is given, then closes the connection."""

    def __init__(self) -> None:
        self.answer = b""
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection, self.answer), daemon=True).start()

    def _answer(self, connection: socket.socket, answer: bytes) -> None:
        with connection:
            try:
                connection.settimeout(2)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    request += chunk
                connection.sendall(answer)
                connection.shutdown(socket.SHUT_WR)
                connection.recv(1024)  # until the client closes: no reset that could eat the answer
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def server():
    add_definitions(EXAMPLES)
    load_handler("poller")  # the poller's log setup: every line redacted, urllib3's retry warnings included
    answers = AnswerServer()
    yield answers
    answers.close()
    remove_definitions(EXAMPLES)


# -- the key and where it goes ------------------------------------------------------------------------


@st.composite
def keys(draw) -> str:
    """A key as vendors issue them: mostly random characters (a hash of what hypothesis draws, so that no
    run of it is ordinary text), with characters that URL and JSON encodings change."""
    seed = draw(st.binary(min_size=1, max_size=8))
    body = hashlib.sha256(seed).hexdigest()[: draw(st.integers(12, 60))]
    chars = list(body)
    for _ in range(draw(st.integers(0, 4))):
        chars.insert(draw(st.integers(0, len(chars))), draw(st.sampled_from(SPECIALS)))
    return draw(st.sampled_from(["", "sk-", "Bearer-"])) + "".join(chars)


@st.composite
def quotes(draw, key: str) -> str:
    """The key as a vendor may quote it: whole in some form, in part, or where one of our cuts falls."""
    form = draw(st.sampled_from(["whole", "url", "url_plus", "json", "part", "at_cut"]))
    if form == "url":
        return quote(key, safe="")
    if form == "url_plus":
        return quote_plus(key)
    if form == "json":
        return json.dumps(key)[1:-1]
    if form == "part":
        start = draw(st.integers(0, max(0, len(key) - 8)))
        return key[start : start + draw(st.integers(8, len(key)))]
    if form == "at_cut":  # so that the cut at that offset falls inside the key
        return "p" * max(0, draw(st.sampled_from(CUTS)) - draw(st.integers(1, max(1, len(key) - 1)))) + key
    return draw(st.sampled_from(["invalid key ", "", "x"])) + key


def json_values(key_text):
    leaves = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=30) | key_text
    names = st.text(max_size=10) | key_text
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4), max_leaves=20)


def nodes(body) -> list[tuple[object, object]]:
    """Every (parent, key) of a JSON document."""
    found = []

    def walk(node):
        for key in list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []:
            found.append((node, key))
            walk(node[key])

    walk(body)
    return found


def with_replaced(body, draw, values):
    """The documented body with a few of its nodes (or the whole) replaced."""
    body = json.loads(json.dumps(body))
    for _ in range(draw(st.integers(0, 3))):
        places = nodes(body)
        if not places:
            return draw(values)
        parent, key = places[draw(st.integers(0, len(places) - 1))]
        parent[key] = draw(values)
    return body


@st.composite
def answers(draw, provider_id: str, key: str) -> bytes:
    provider = get_provider(provider_id)
    key_text = st.builds(lambda pad, q, tail: pad + q + tail, st.text(max_size=180) | st.just(""), quotes(key), st.text(max_size=20))
    values = json_values(key_text)
    example = draw(st.sampled_from(provider.examples))
    status = draw(st.sampled_from([example.status, 200, 200, 301, 302, 401, 402, 403, 429, 455, 500, 502]) | st.integers(200, 599))
    shape = draw(st.sampled_from(["example", "example", "example", "json", "bytes"]))
    if shape == "example":
        payload = json.dumps(with_replaced(example.body, draw, values), allow_nan=True).encode()
    elif shape == "json":
        payload = json.dumps(draw(values), allow_nan=True).encode()
    else:
        payload = draw(st.binary(max_size=200)) + draw(key_text).encode("utf-8", "surrogatepass")
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "gzip", "not-gzip", "chunked", "length-lies"]))
    headers = [("Content-Type", draw(st.sampled_from(["application/json", "text/html", "application/json; charset=latin-1"])))]
    if encoding == "utf-16":
        payload = payload.decode("utf-8", "replace").encode("utf-16")
    elif encoding in ("gzip", "not-gzip"):
        payload = gzip.compress(payload) if encoding == "gzip" else payload
        headers.append(("Content-Encoding", "gzip"))
    if encoding == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
        payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload) if draw(st.booleans()) else b"zz\r\n" + payload
    else:
        declared = len(payload) + (draw(st.integers(-len(payload), 50)) if encoding == "length-lies" else 0)
        headers.append(("Content-Length", str(declared)))
    if status in (301, 302, 307, 308) or draw(st.booleans()):
        where = draw(st.sampled_from(["https://elsewhere.example/v1/balance?api_key=", "/moved?key=", ""]))
        headers.append(("Location", where + draw(quotes(key))))
    if status == 429 or draw(st.booleans()):
        headers.append(("Retry-After", draw(st.sampled_from(["", "1 ", "Wed, 21 Oct 2026 07:28:00 GMT "])) + draw(quotes(key))))
    reason = draw(st.sampled_from(["OK", "Whatever"]) | quotes(key))
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "Connection: close\r\n\r\n"
    return head.encode("utf-8", "surrogateescape") + payload


# -- the property ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider_id", DEFINITIONS)
def test_any_answer_is_read_or_classified_and_nothing_of_the_key_is_kept(server, provider_id):
    provider = get_provider(provider_id)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def property_holds(data):
        key = data.draw(keys(), label="key")
        server.answer = data.draw(answers(provider_id, key), label="answer")
        variables = {name: f"acct-{name}" for name in provider.variables}
        output = io.StringIO()
        with captured_output(output):
            [result] = poll_accounts(provider, server.base_url, {"prod": Credentials(key, variables)}, Deadline(1.0))

        if result.failure is not None:
            assert isinstance(result.failure.kind, FailureKind)
            assert result.failure.message.strip(), "a failure says why"
        else:
            reading = result.reading
            for value in (reading.available, reading.frozen):
                assert not isinstance(value, bool)
                assert math.isfinite(value)
                assert 0 <= value <= MAX_CREDITS
        kept = json.dumps(dataclasses.asdict(result.reading) if result.reading else result.failure.message, default=str)
        kept += output.getvalue()
        assert leaked(kept, [key]) == [], f"{provider_id}: part of the key was kept"

    property_holds()
