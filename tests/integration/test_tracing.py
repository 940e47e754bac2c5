"""X-Ray tracing (the Tracing parameter): off by default and free, on it says what a run did.

The poller runs in its own process (tracing patches boto3 for the whole process), as Lambda would run it
with Tracing=ENABLED: the X-Ray SDK sends its segments over UDP to the daemon's address, where a socket
on loopback stands in for the daemon and reads them.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from devstack import ROOT

TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture
def daemon():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        yield sock


def received(sock):
    documents = []
    while True:
        try:
            data, _ = sock.recvfrom(65536)
        except TimeoutError:
            return documents
        header, _, body = data.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def run_poller(stack, sims, accounts, **environment):
    env = {**os.environ, **stack.environment(stack.pollers()["crun"], PROVIDER_BASE_URL=sims["crun"].base_url, **environment),
           "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}  # fmt: skip
    command = [sys.executable, "-m", "bench.child", str(accounts)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def given_accounts(stack, sims, count):
    keys = {f"team-{i}": f"sk-crun-team-{i}-0123456789" for i in range(count)}
    for key in keys.values():
        sims["crun"].set_balance(key, 1000)
    stack.put_api_keys("crun", keys)
    return keys


def test_tracing_off_by_default_does_not_even_load_the_xray_sdk(stack, sims, daemon):
    given_accounts(stack, sims, 3)
    assert stack.environment(stack.pollers()["crun"])["POWERTOOLS_TRACE_DISABLED"] == "true"

    report, _ = run_poller(stack, sims, 3, LAMBDA_TASK_ROOT="/var/task", AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}",
                           _X_AMZN_TRACE_ID=TRACE_HEADER)  # fmt: skip

    assert report["xray_loaded"] is False
    assert received(daemon) == []


def test_with_tracing_on_a_poll_round_is_a_trace_of_named_steps_without_urls_or_keys(stack, sims, daemon):
    keys = given_accounts(stack, sims, 40)

    report, stderr = run_poller(stack, sims, 40, POWERTOOLS_TRACE_DISABLED="false",  # as Tracing=ENABLED sets it
                                LAMBDA_TASK_ROOT="/var/task", AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}",
                                _X_AMZN_TRACE_ID=TRACE_HEADER)  # fmt: skip

    assert report["xray_loaded"] is True
    documents = received(daemon)
    steps = {d["name"]: d for d in documents}
    handler = steps["## lambda_handler"]
    assert handler["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert "metadata" not in handler  # the handler's answer (accounts, error texts) is not recorded
    for step in ("## read keys", "## poll and store"):
        assert steps[step]["parent_id"] == handler["id"]
    assert steps["## read previous polls"]["trace_id"] == handler["trace_id"]  # read on its own thread, meanwhile
    assert steps["## poll and store"]["annotations"] == {"provider": "crun", "accounts": 40, "concurrency": 256, "failed": 0}
    # The AWS calls are subsegments; the provider's requests are not (X-Ray would record their URLs).
    calls = [(d["name"], d["aws"]["operation"]) for d in documents if d.get("namespace") == "aws"]
    assert ("secretsmanager", "GetSecretValue") in calls
    assert ("dynamodb", "BatchWriteItem") in calls
    assert not [d for d in documents if d.get("namespace") == "remote" or "url" in json.dumps(d.get("http", {}))]
    everything = json.dumps(documents) + stderr
    assert sims["crun"].base_url not in everything
    assert not [key for key in keys.values() if key in everything]
