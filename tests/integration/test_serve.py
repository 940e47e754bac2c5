"""`make serve`: the local stack with the balance API on loopback, answered over real HTTP."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from devstack import PYTHONPATH, ROOT
from devstack.demo import DEMO_ACCOUNTS, REVOKED

pytestmark = pytest.mark.integration

# make serve stores the demo's accounts, one row each, and the revoked key's account (its row says it fails)
DEMO_ROWS = sum(len(accounts) for accounts in DEMO_ACCOUNTS.values()) + len([REVOKED])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{PYTHONPATH}{os.pathsep}{ROOT}", "PORT": str(port),
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


@pytest.fixture(scope="module")
def welcome(server):
    """What serve printed at start, up to the check example (printed before it answers its first request)."""
    _, process = server
    lines = []
    while not lines or " check " not in lines[-1]:
        lines.append(process.stdout.readline().rstrip("\n"))
        assert lines[-1] or process.poll() is None, lines
    return lines


def pasted(lines: list[str]) -> subprocess.CompletedProcess:
    """Run printed lines as a user pasting them into a shell at the repository root would."""
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}  # this worktree's code, whichever credit-monitor runs it
    return subprocess.run(["/bin/sh", "-c", "\n".join(lines)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False)


def get(base, route, key="local-test-key"):
    return requests.get(f"{base}{route}", headers={"x-api-key": key} if key else {}, timeout=10)


def test_every_route_answers_over_http(server):
    base, _ = server
    assert len(get(base, "/balances").json()["balances"]) == DEMO_ROWS
    assert {b["account"] for b in get(base, "/balances/crun").json()["balances"]} == {"prod", "staging"}
    assert get(base, "/v1/balances/crun/prod").json()["available"] == 1000  # the deployed URL's stage prefix works too
    history = get(base, "/balances/crun/prod/history?limit=1").json()
    assert len(history["items"]) == 1
    check = get(base, "/balances/sunor/staging/check?required=500&margin=10").json()
    assert (check["sufficient"], check["required_with_margin"]) == (True, 550)
    assert get(base, "/balances/openai").status_code == 404
    assert get(base, "/balances/crun/prod/check?required=lots").status_code == 422


def test_requests_without_the_key_are_refused_saying_which_credential_is_expected(server):
    base, _ = server
    for key in (None, "wrong"):
        response = get(base, "/balances", key=key)
        assert response.status_code == 403
        body = response.json()  # the template's gateway response, in the API's own error shape
        assert body["error"] == "forbidden"
        assert "x-api-key" in body["message"]
        assert "printed at start" in body["message"]  # not the deployed API's hint, which reads the key from AWS
        assert "aws apigateway" not in body["message"]
        assert "local-test-key" not in response.text


def test_the_lines_printed_at_start_can_be_pasted(server, welcome):
    base, _ = server
    export, status = welcome[2:4]
    assert export == "  export KEY=local-test-key"
    assert status.strip().endswith(f"credit-monitor status --api-url {base} --api-key-env KEY")

    listed = pasted([export, status])
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1 + DEMO_ROWS

    heading = welcome.index("Provider simulators and their demo keys (they work here only):")
    simulators = {line.split()[0]: line.split()[1:] for line in welcome[heading + 1 :] if line.startswith("  ")}
    for provider in ("crun", "sunor", "srtgen", "apimall", "pixverse", "openrouter"):
        url, *keys = simulators[provider]
        assert url.startswith("http://127.0.0.1:"), provider
        assert f"prod=demo-{provider}-prod-key" in keys, provider

    check_export, check = welcome[-2:]
    assert check_export == "  export CRUN_KEY=demo-crun-prod-key"
    assert check.strip().endswith(f"check crun --key-env CRUN_KEY --base-url {simulators['crun'][0]}")
    tried = pasted([check_export, check])
    assert tried.returncode == 0, tried.stderr
    assert json.loads(tried.stdout)["available"] == 1000


def test_a_taken_port_is_one_error_line_saying_what_to_do():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": f"{PYTHONPATH}{os.pathsep}{ROOT}", "PORT": str(port)}
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "devstack.serve"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
                                check=False)  # fmt: skip

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [f"error: port {port} on 127.0.0.1 is already in use (another make serve?): stop what listens "
                                          f"there, or choose another port: make serve PORT={port + 1}"]  # fmt: skip
    assert time.monotonic() - started < 20  # said before the local stack is built


@pytest.mark.parametrize("length", [9_000, 40_000, 70_000])
def test_a_url_longer_than_api_gateway_accepts_is_refused_with_414_and_never_echoed(server, length):
    base, _ = server
    response = get(base, "/balances/crun/" + "a" * length)
    assert response.status_code == 414
    assert response.json()["error"] == "request_uri_too_long"
    assert len(response.content) < 300


def test_a_404_does_not_echo_a_long_path_back(server):
    base, _ = server
    response = get(base, "/no/such/route/" + "b" * 5000)
    assert response.status_code == 404
    assert response.json()["message"].startswith("no route GET /no/such/route/bbb")
    assert len(response.json()["message"]) < 200


def test_polling_goes_on_in_the_background(server):
    base, _ = server
    first = get(base, "/balances/crun/prod").json()["polled_at"]
    deadline = time.monotonic() + 10
    while get(base, "/balances/crun/prod").json()["polled_at"] == first:
        assert time.monotonic() < deadline, "no new poll within 10 s at POLL_SECONDS=1"
        time.sleep(0.3)


def test_status_prints_the_balances_read_through_the_api_with_a_key(server):
    base, _ = server
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "LOCAL_KEY": "local-test-key"}
    command = [sys.executable, "-m", "credit_monitor_cli", "status", "--api-url", base, "--api-key-env", "LOCAL_KEY"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    rows = {tuple(line.split()[:2]): line.split() for line in result.stdout.splitlines()[1:]}
    assert len(rows) == DEMO_ROWS
    assert rows[("crun", "prod")][2:5] == ["1,000", "0", "credits"]

    refused = subprocess.run([*command[:-1], "NO_KEY_HERE"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert refused.returncode == 1
    assert "NO_KEY_HERE is empty or not set" in refused.stderr


def test_ctrl_c_stops_everything(server):
    _, process = server
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    assert "Stopping." in process.stdout.read()
