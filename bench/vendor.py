"""A simulated provider in its own process, for the fan-out rounds of `make bench`.

A vendor is another machine: served from the benchmark runner's process, its thousand answers would
share one interpreter lock with the moto server and be counted against the poller's round. Prints its
base URL, then serves until its standard input closes.

    python -m bench.vendor <provider> <accounts> <latency seconds>
"""

import sys

from devstack.simulators import ProviderSimulator


def bench_keys(count: int) -> dict[str, str]:
    """The accounts of a benchmark round: each with its own key."""
    return {f"team-{i:04d}": f"sk-bench-{i:04d}" for i in range(count)}


def main() -> None:
    provider, accounts, latency = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with ProviderSimulator(provider) as sim:
        for key in bench_keys(accounts).values():
            sim.set_balance(key, 1000)
        sim.latency = latency
        print(sim.base_url, flush=True)
        sys.stdin.read()  # the runner closes it when the rounds are done


if __name__ == "__main__":
    main()
