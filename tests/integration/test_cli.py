"""`python -m credit_monitor check`: try a key from the terminal before deploying."""

import json
import os
import subprocess
import sys

import pytest

from credit_monitor.polling.providers.declarative import DEFINITIONS
from devstack import ROOT
from devstack.simulators import ProviderSimulator, seed_response

pytestmark = pytest.mark.integration


def check(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "credit_monitor", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common"), **env},
        check=False,
    )


@pytest.fixture
def srtgen():
    with ProviderSimulator("srtgen") as sim:
        yield sim


def test_a_good_key_prints_the_normalized_balance_without_key_or_personal_data(srtgen):
    srtgen.set_response("sk-try-me-123", seed_response("srtgen"))

    result = check("srtgen", "--key-env", "SRTGEN_KEY", "--base-url", srtgen.base_url, env={"SRTGEN_KEY": "sk-try-me-123"})

    assert result.returncode == 0, result.stderr
    balance = json.loads(result.stdout)
    assert (balance["provider"], balance["account"], balance["status"]) == ("srtgen", "default", "ok")
    assert (balance["available"], balance["total"]) == (1250, 1250)
    assert balance["breakdown"]["extra"] == 250
    everything = result.stdout + result.stderr
    assert "sk-try-me-123" not in everything
    assert "alex.rivera@example.com" not in everything


def test_a_rejected_key_exits_1_and_says_why(srtgen):
    result = check("srtgen", "--key-env", "SRTGEN_KEY", "--base-url", srtgen.base_url, env={"SRTGEN_KEY": "sk-unknown"})

    assert result.returncode == 1
    assert json.loads(result.stdout)["error_kind"] == "auth"
    assert "API key rejected" in result.stderr


def test_an_unset_key_variable_is_named():
    result = check("crun", "--key-env", "NO_SUCH_VARIABLE_SET", env={})
    assert result.returncode == 2
    assert "NO_SUCH_VARIABLE_SET" in result.stderr


def test_plain_http_to_a_real_host_is_refused_before_sending_the_key():
    result = check("crun", "--key-env", "K", "--base-url", "http://api.crun.ai", env={"K": "sk-1"})
    assert result.returncode == 2
    assert "--base-url must use https://" in result.stderr


def test_an_unknown_provider_lists_the_known_ones():
    result = check("openai", "--key-env", "K", env={"K": "sk-1"})
    assert result.returncode == 2
    assert "crun" in result.stderr


def test_a_definition_file_can_be_tried_with_a_real_key_before_deploying(tmp_path):
    with ProviderSimulator("openrouter") as sim:
        sim.set_balance("sk-or-1", 30)
        definition = tmp_path / "openrouter.json"
        definition.write_text((DEFINITIONS / "openrouter.json").read_text())

        result = check("--definition", str(definition), "--key-env", "OR_KEY", "--base-url", sim.base_url, env={"OR_KEY": "sk-or-1"})

    assert result.returncode == 0, result.stderr
    balance = json.loads(result.stdout)
    assert (balance["provider"], balance["available"], balance["unit"]) == ("openrouter", 30, "USD")


def test_a_broken_definition_is_refused_naming_the_field(tmp_path):
    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps({"id": "acme", "base_url": "https://acme.example", "path": "/credits",
                                      "auth": {"header": "X-Key", "value": "{key}"}, "success": "ok", "fields": {}}))  # fmt: skip
    result = check("--definition", str(definition), "--key-env", "K", env={"K": "sk-1"})
    assert result.returncode == 2
    assert "acme.json: fields.available: is required" in result.stderr


def validate(*files):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common")}
    command = [sys.executable, "-m", "credit_monitor", "validate-providers", *files]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False)


def test_validate_providers_checks_the_bundle_and_given_files(tmp_path):
    ok = validate()
    assert ok.returncode == 0, ok.stderr
    assert "openrouter" in ok.stdout
    definition = json.loads((DEFINITIONS / "openrouter.json").read_text())
    bad = tmp_path / "typo.json"
    bad.write_text(json.dumps({**definition, "sucess": "x"}))
    result = validate(str(bad))
    assert result.returncode == 1
    assert "typo.json: sucess: unknown key" in result.stderr
