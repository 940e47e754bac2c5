"""A fleet round end to end: 10,000 accounts of one provider over as many secrets as their keys need (a secret
holds at most 64 KB), polled through the template's own resources: the poller's scheduled run splits the round,
the provider's shard state machine runs the shards (performed by the local stack from template.yaml), and one
round summary is stored. Then the same round again, unchanged, which writes no balance (history on change).

`python -m bench.fleet [accounts]` runs it alone; `make bench` records it in bench/results.json."""

from __future__ import annotations

import io
import json
import sys
import time

from credit_monitor import aws
from credit_monitor.storage import BalanceStore
from devstack.invoke import function_invoker, invoke_poller
from devstack.moto_stack import LocalStack
from devstack.simulators import ProviderSimulator
from devstack.stepfunctions import StateMachineRunner

FLEET = 10_000
PROVIDER = "sunor"
SECRET_BYTES = 65_536  # Secrets Manager: a secret value holds at most 64 KB (the local stack refuses more, as AWS does)
FILL = 0.9  # each secret filled to 90 % of it, leaving an operator room to add keys


def fleet_keys(count: int) -> dict[str, str]:
    """Keys as long as real ones (sunor's are 48 characters), under names an operator would give a key pool."""
    return {f"pool-{i:05d}": f"sk-sunor-{i:05d}-{'0123456789abcdef' * 2}{i:07d}" for i in range(count)}


def split_into_secrets(keys: dict[str, str], limit: int = int(SECRET_BYTES * FILL)) -> list[dict[str, str]]:
    """The keys in as few secrets as fit: each secret's JSON under ``limit`` bytes."""
    secrets: list[dict[str, str]] = [{}]
    size = 2  # "{}"
    for name, key in keys.items():
        entry = len(json.dumps(name)) + len(json.dumps(key)) + 4  # "name": "key", and the ", " before the next
        if secrets[-1] and size + entry > limit:
            secrets.append({})
            size = 2
        secrets[-1][name] = key
        size += entry
    return secrets


def store_keys(stack: LocalStack, sim: ProviderSimulator, keys: dict[str, str]) -> int:
    """Every key answered by the simulator and stored over secrets named after the provider's; the count of secrets."""
    for key in keys.values():
        sim.set_balance(key, 1000)
    parts = split_into_secrets(keys)
    stack.put_api_keys(PROVIDER, parts[0])
    for number, part in enumerate(parts[1:], start=2):
        stack.add_api_keys_secret(PROVIDER, str(number), part)
    aws.clear_caches()
    return len(parts)


def one_round(stack: LocalStack, sim: ProviderSimulator) -> dict:
    """The scheduled run and every shard it started, as Lambda and Step Functions run them; wall time and summary."""
    output = io.StringIO()
    runner = StateMachineRunner(stack, function_invoker(stack, {PROVIDER: sim.base_url}, output=output))
    started = time.monotonic()
    dispatched = invoke_poller(stack, PROVIDER, {}, base_url=sim.base_url, output=output)
    executions = []
    while found := runner.run_pending():
        executions += found
    wall = time.monotonic() - started
    summary = BalanceStore(stack.table()).last_round(PROVIDER)
    if summary is None:
        raise RuntimeError(f"the fleet round stored no summary: {output.getvalue()[-2000:]}")
    return {
        "wall_s": wall,
        "shards": summary.shards,
        "shards_failed": summary.shards_failed,
        "polled": summary.polled,
        "succeeded": summary.succeeded,
        "executions": [e.status for e in executions],
        "dispatched_shards": dispatched.get("shards") if isinstance(dispatched, dict) else None,
    }


def fleet(accounts: int = FLEET) -> dict:
    """Two rounds of ``accounts`` accounts on a fresh local stack: the first stores every balance, the second none."""
    with LocalStack(stack_name="credit-monitor-fleet") as stack, ProviderSimulator(PROVIDER) as sim:
        stack.create_resources()
        secrets = store_keys(stack, sim, fleet_keys(accounts))
        first = one_round(stack, sim)
        stack.calls.clear()
        second = one_round(stack, sim)
        written = stack.calls.get("dynamodb:BatchWriteItem", 0)
        stored = sum(1 for _ in BalanceStore(stack.table()).each_account(PROVIDER))  # read page by page
    return {"accounts": accounts, "secrets": secrets, "first": first, "unchanged": second, "unchanged_batch_writes": written,
            "stored": stored}  # fmt: skip


def main(argv: list[str]) -> int:
    accounts = int(argv[0]) if argv else FLEET
    print(json.dumps(fleet(accounts), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
