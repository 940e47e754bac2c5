"""The cost model's DynamoDB figures are what a poll round really does, counted at the client."""

import math
import subprocess
import sys

import pytest

from credit_monitor import aws
from devstack import ROOT
from devstack import readme as readme_module
from devstack.cost import dynamodb_per_poll_round

pytestmark = pytest.mark.integration


@pytest.fixture
def dynamodb_requests():
    calls = []

    def record(model, params, **kwargs):
        items = sum(len(requests) for requests in params.get("RequestItems", {}).values()) if model.name == "BatchWriteItem" else 0
        calls.append((model.name, items))

    client = aws._dynamodb().meta.client
    client.meta.events.register("before-parameter-build.dynamodb", record)
    yield calls
    client.meta.events.unregister("before-parameter-build.dynamodb", record)


@pytest.mark.parametrize("accounts", [1, 2, 12, 30])
def test_a_poll_round_makes_the_calls_the_cost_model_counts(stack, sims, poll, dynamodb_requests, accounts):
    keys = {f"a{i}": f"sk-{i}" for i in range(accounts)}
    for key in keys.values():
        sims["crun"].set_balance(key, 100)
    stack.put_api_keys("crun", keys)

    poll("crun")

    model = dynamodb_per_poll_round(accounts)
    names = [name for name, _ in dynamodb_requests]
    assert names.count("Query") == model["Query"]
    assert names.count("BatchWriteItem") == model["BatchWriteItem"] == math.ceil(2 * accounts / 25)
    assert sum(items for _, items in dynamodb_requests) == model["write_units"]  # each item < 1 KB: one unit
    assert set(names) == {"Query", "BatchWriteItem"}  # no per-item writes


def test_the_readmes_cost_block_is_what_make_cost_prints():
    readme = readme_module.README.read_text()
    assert readme_module.block(readme, "cost") == readme_module.cost_block(), "README.md's cost block is stale: run make readme"


def test_make_cost_prints_an_itemized_total_and_the_goal():
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'common'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "devstack.cost", "--no-measure"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for item in ("Lambda requests", "DynamoDB writes", "Secrets Manager secrets", "CloudWatch custom metric series", "CloudWatch alarms",
                 "CloudWatch dashboard", "SNS publishes", "API Gateway requests", "total", "Goal: under 4 USD a month"):  # fmt: skip
        assert item in result.stdout
