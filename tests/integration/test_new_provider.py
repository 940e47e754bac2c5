"""A new user adds a vendor the repo does not have by following docs/providers.md's "Add a provider" literally.

The repository is copied (as a clone would be) and the user's two changes are made to the copy: one
definition file and one entry in the Providers list. Then every check that page promises runs there
through make, with this checkout's virtualenvs: make validate-providers, cfn-lint, sam validate --lint,
sam build and make demo; and the expanded template gives the new vendor exactly what a built-in gets.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from devstack import ROOT
from devstack.template import deployed_template, load_template

pytestmark = pytest.mark.integration

# A vendor that exists nowhere in the repository: a hyphenated id, a balance as a string of cents.
ACME = {
    "id": "acme-ai",
    "name": "Acme AI",
    "docs": "https://docs.acme.example/billing",
    "base_url": "https://api.acme.example",
    "path": "/v2/billing/credits",
    "auth": {"header": "X-Acme-Key", "value": "{key}"},
    "success": "data.credits_cents != null",
    "error_code": "error.code",
    "error_message": "error.message",
    "error_kinds": {"invalid_key": "auth", "no_credit": "insufficient_credits"},
    "fields": {"available": "divide(to_number(data.credits_cents), `100`)", "unit": "USD"},
    "examples": [
        {
            "name": "balance",
            "status": 200,
            "body": {"data": {"credits_cents": "4250", "plan": "team"}},
            "expect": {"available": 42.5, "unit": "USD"},
        },
        {
            "name": "auth",
            "status": 401,
            "body": {"error": {"code": "invalid_key", "message": "Unknown API key"}},
            "expect": {"error_kind": "auth"},
        },
    ],
}
DEFINITIONS = "layers/common/credit_monitor/polling/providers/definitions"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A copy of the repository with the new user's two changes, and this checkout's tools."""
    copy = tmp_path_factory.mktemp("new-user") / "credit-monitor"
    git = [shutil.which("git") or "git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"]
    listed = subprocess.run(git, cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)  # mtimes kept: make sees the virtualenvs as up to date
    for venv in (".venv", ".venv-sam"):
        (copy / venv).symlink_to(ROOT / venv)

    # Step 1: the definition file, named after its id.
    (copy / DEFINITIONS / "acme-ai.json").write_text(json.dumps(ACME, indent=2))
    # Step 4: one entry in the list.
    template = (copy / "template.yaml").read_text()
    listed_default = "    Default: crun,sunor,srtgen,apimall,pixverse\n"
    assert template.count(listed_default) == 1
    (copy / "template.yaml").write_text(template.replace(listed_default, listed_default.rstrip("\n") + ",acme-ai\n"))
    return copy


def make(checkout, *targets, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AWS_ENDPOINT_URL")}
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "-o", ".venv-sam/.installed", *targets]
    result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"make {' '.join(targets)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def test_make_validate_providers_accepts_the_new_definition(checkout):
    output = make(checkout, "validate-providers")
    assert "ok: definitions/acme-ai.json defines provider 'acme-ai' (Acme AI); its 2 documented example(s) read as expected" in output


def test_cfn_lint_and_sam_validate_lint_accept_the_longer_list(checkout):
    make(checkout, "cfn-lint")
    assert "is a valid SAM Template" in make(checkout, "validate")


def test_sam_build_builds_a_poller_for_it(checkout):
    output = make(checkout, "build", timeout=900)
    if "SKIPPED: sam build needs a python3.13" in output:
        pytest.skip("no python3.13 on this machine: make build skipped, saying so")
    built = (checkout / ".aws-sam" / "build" / "template.yaml").read_text()
    assert "Fn::ForEach::EachProvider" in built  # CloudFormation expands the list at deploy time
    assert (checkout / ".aws-sam" / "build" / "acmeaiPoller").is_dir()


def test_make_demo_polls_it_from_a_simulator_made_from_its_documented_answer(checkout):
    output = make(checkout, "demo")
    assert "acme-ai" in output.split("Round 1", 1)[0]  # deployed: Providers=...,acme-ai
    assert "poll acme-ai    1 account: 1 ok, 0 failed" in output
    [row] = [line.split() for line in output.split("Stored balances", 1)[1].splitlines() if line.strip().startswith("acme-ai ")]
    assert row[:5] == ["acme-ai", "prod", "42.5", "0", "USD"]


def test_it_gets_the_same_resources_and_outputs_as_a_built_in(checkout):
    template = deployed_template(path=checkout / "template.yaml")
    assert load_template(checkout / "template.yaml")["Parameters"]["Providers"]["Default"].endswith(",acme-ai")

    def own(prefix, provider):
        """Everything made for one provider, with its name taken out."""
        made = {name: body for section in ("Resources", "Outputs") for name, body in template[section].items()
                if re.fullmatch(prefix + r"[A-Z]\w*", name)}  # fmt: skip
        return json.loads(json.dumps(made).replace(provider, "<id>").replace(prefix, "<id>"))

    acme, crun = own("acmeai", "acme-ai"), own("crun", "crun")
    assert set(acme) == {
        "<id>ApiKeys",
        "<id>Poller",
        "<id>ApiKeysSecret",
        "<id>PollerName",
        "<id>Shards",  # the Express state machine that runs a round past one shard (issue 20)
    }
    assert acme == crun
