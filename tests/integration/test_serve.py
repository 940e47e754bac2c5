"""`make serve`: the local stack with the balance API on loopback, answered over real HTTP."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from devstack import ROOT

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}", "PORT": str(port),
           "POLL_SECONDS": "1", "LOCAL_API_KEY": "local-test-key"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/balances", headers={"x-api-key": "local-test-key"}, timeout=2).json()["balances"]:
                break
        except (requests.ConnectionError, ValueError, KeyError):
            pass
        time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("make serve did not answer within 60 s: " + process.stderr.read())
    yield base, process
    if process.poll() is None:
        process.kill()


def get(base, route, key="local-test-key"):
    return requests.get(f"{base}{route}", headers={"x-api-key": key} if key else {}, timeout=10)


def test_every_route_answers_over_http(server):
    base, _ = server
    assert len(get(base, "/balances").json()["balances"]) == 12
    assert {b["account"] for b in get(base, "/balances/crun").json()["balances"]} == {"prod", "staging"}
    assert get(base, "/v1/balances/crun/prod").json()["available"] == 1000  # the deployed URL's stage prefix works too
    history = get(base, "/balances/crun/prod/history?limit=1").json()
    assert len(history["items"]) == 1
    check = get(base, "/balances/sunor/staging/check?required=500&margin=10").json()
    assert (check["sufficient"], check["required_with_margin"]) == (True, 550)
    assert get(base, "/balances/openai").status_code == 404
    assert get(base, "/balances/crun/prod/check?required=lots").status_code == 422


def test_requests_without_the_key_are_refused(server):
    base, _ = server
    assert get(base, "/balances", key=None).status_code == 403
    assert get(base, "/balances", key="wrong").status_code == 403


def test_polling_goes_on_in_the_background(server):
    base, _ = server
    first = get(base, "/balances/crun/prod").json()["polled_at"]
    deadline = time.monotonic() + 10
    while get(base, "/balances/crun/prod").json()["polled_at"] == first:
        assert time.monotonic() < deadline, "no new poll within 10 s at POLL_SECONDS=1"
        time.sleep(0.3)


def test_ctrl_c_stops_everything(server):
    _, process = server
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    assert "Stopping." in process.stdout.read()
