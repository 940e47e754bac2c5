"""schemathesis against openapi.json through `make serve`'s local server: no 5xx, every response as documented."""

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

ST = ROOT / ".venv-schemathesis" / "bin" / "st"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "unsupported_method",
    ]
)


@pytest.fixture(scope="module")
def server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}", "PORT": str(port),
           "POLL_SECONDS": "30", "LOCAL_API_KEY": "schemathesis-key"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/balances", headers={"x-api-key": "schemathesis-key"}, timeout=2).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.3)
    yield base
    process.send_signal(signal.SIGINT)
    process.wait(20)


def test_no_request_the_schema_allows_gets_a_5xx_or_an_undocumented_answer(server, tmp_path):
    if not ST.exists():
        pytest.fail(f"{ST} is missing: run make setup (it installs schemathesis in its own virtualenv)")
    command = [str(ST), "run", str(ROOT / "openapi.json"), "--url", server, "-H", "x-api-key: schemathesis-key", "--checks", CHECKS,
               "--max-examples", "60", "--seed", "20261121"]  # fmt: skip
    # Run from a scratch folder: schemathesis writes a cache (with this machine's paths) into its working directory.
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout
