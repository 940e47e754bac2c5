"""`make demo`: the whole system on this machine, with no AWS account.

A moto server gets the table and secrets from template.yaml; five provider simulators answer as the
providers' docs show; demo keys go into the secrets; then every poller runs through its real handler
with a scheduled event, twice, and the stored balances are printed.
"""

from __future__ import annotations

import json
import sys
import time

from credit_monitor.store import BalanceStore
from devstack import ROOT
from devstack.invoke import invoke_poller
from devstack.moto_stack import LocalStack
from devstack.simulators import SPECS, ProviderSimulator

LOG_FILE = ROOT / ".demo" / "handler-output.jsonl"

# Two healthy accounts per provider, and one sunor key the provider no longer accepts.
DEMO_ACCOUNTS = {
    "crun": {"prod": 1000, "staging": 240},
    "sunor": {"prod": (950, 10), "staging": 75},
    "srtgen": {"prod": 1250, "staging": 300},
    "apimall": {"prod": 120, "staging": 60},
    "pixverse": {"prod": 1072650, "staging": 8000},
}
REVOKED = {"sunor": "legacy"}


def demo_key(provider: str, account: str) -> str:
    return f"demo-{provider}-{account}-key"


def poll_everything(stack: LocalStack, sims: dict[str, ProviderSimulator], log) -> None:
    event = json.loads((ROOT / "events" / "poller-schedule.json").read_text())
    for provider, sim in sims.items():
        summary = invoke_poller(stack, provider, event, base_url=sim.base_url, output=log)
        print(f"  {provider:<9} polled {summary['polled']}: {summary['succeeded']} ok, {summary['failed']} failed")


def print_balances(stack: LocalStack) -> None:
    store = BalanceStore(stack.table())
    rows = [("PROVIDER", "ACCOUNT", "AVAILABLE", "FROZEN", "STATUS", "FETCHED AT", "ERROR")]
    for provider in SPECS:
        for account, item in sorted(store.latest_for_provider(provider).items()):
            rows.append(
                (
                    provider,
                    account,
                    _number(item.get("available")),
                    _number(item.get("frozen")),
                    item["status"],
                    item.get("fetched_at", "never"),
                    f"{item['error_kind']}: {item['error']}" if item["status"] == "error" else "",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.rjust(w) if i in (2, 3) else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=False))]
        print("  " + "  ".join(cells) + "  " + row[-1])


def _number(value: object) -> str:
    return "-" if value is None else f"{value:,}"


def main() -> int:
    started = time.monotonic()
    LOG_FILE.parent.mkdir(exist_ok=True)
    sims = {provider: ProviderSimulator(provider) for provider in SPECS}
    print("Starting the local stack (moto server, resources from template.yaml)...")
    with LocalStack() as stack, open(LOG_FILE, "w", encoding="utf-8") as log:
        stack.create_resources()
        print(f"  moto at {stack.endpoint}: table {stack.physical_ids['BalancesTable']}, {len(stack.pollers())} secrets")
        try:
            for provider, sim in sims.items():
                sim.start()
                for account, credits in DEMO_ACCOUNTS[provider].items():
                    sim.set_balance(demo_key(provider, account), *(credits if isinstance(credits, tuple) else (credits,)))
                keys = {account: demo_key(provider, account) for account in DEMO_ACCOUNTS[provider]}
                if provider in REVOKED:
                    keys[REVOKED[provider]] = demo_key(provider, REVOKED[provider])  # unknown to the simulator
                stack.put_api_keys(provider, keys)
            print("  simulators: " + ", ".join(f"{p} {s.base_url}" for p, s in sims.items()))

            print("\nRound 1: every poller, through its real handler, with a scheduled event")
            poll_everything(stack, sims, log)

            print("\nRound 2: credits spent everywhere; crun/staging is under maintenance")
            for provider, sim in sims.items():
                for account in DEMO_ACCOUNTS[provider]:
                    sim.spend(demo_key(provider, account), 0.2 * sim.available(demo_key(provider, account)))
            sims["crun"].fail(demo_key("crun", "staging"), "maintenance")
            poll_everything(stack, sims, log)

            print("\nStored balances (read back from DynamoDB); a failed poll keeps the last good balance:")
            print_balances(stack)
        finally:
            for sim in sims.values():
                sim.stop()
    print(f"\nHandler logs and EMF metrics: {LOG_FILE.relative_to(ROOT)}")
    print(f"Done in {time.monotonic() - started:.1f}s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
