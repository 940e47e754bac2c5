"""`make bench`: fan-out, cold start, CPU and memory per poll, calls per operation, bundle size.

Every figure is compared with another measured in the same run (the machines are shared and noisy),
printed as a table and written to bench/results.json.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from bench.report import RESULTS, goals
from credit_monitor import aws
from credit_monitor.polling import fanout
from devstack import ROOT, cost
from devstack.invoke import invoke_api, invoke_poller
from devstack.moto_stack import LocalStack
from devstack.simulators import ProviderSimulator

LATENCY = 0.3
FAN_OUT = [1, 10, 50, 200]
IMPORT_RUNS = 15
HANDLERS = {"poller": ("poll_handler", "poller"), "aggregator": ("aggregate_handler", "aggregator"), "api": ("api_handler", "api")}


def accounts_for(stack: LocalStack, sim: ProviderSimulator, count: int, provider: str = "sunor") -> None:
    """Give the provider ``count`` accounts, and forget the cached secret so the next run sees them."""
    keys = {f"team-{i:03d}": f"sk-bench-{i:03d}" for i in range(count)}
    for key in keys.values():
        sim.set_balance(key, 1000)
    stack.put_api_keys(provider, keys)
    aws.clear_caches()


def timed_poll(stack: LocalStack, sim: ProviderSimulator, count: int) -> float:
    started = time.perf_counter()
    summary = invoke_poller(stack, "sunor", {}, base_url=sim.base_url, timeout=60, output=io.StringIO())
    elapsed = time.perf_counter() - started
    if (summary["polled"], summary["failed"]) != (count, 0):
        raise RuntimeError(f"the benchmark round did not poll {count} accounts cleanly: {summary}")
    return elapsed


def fan_out(stack: LocalStack, sim: ProviderSimulator) -> dict:
    sim.latency = LATENCY
    seconds = {}
    for count in FAN_OUT:
        accounts_for(stack, sim, count)
        seconds[count] = statistics.median(timed_poll(stack, sim, count) for _ in range(3))
    sequential_at = 50
    accounts_for(stack, sim, sequential_at)
    concurrency, fanout.MAX_CONCURRENCY = fanout.MAX_CONCURRENCY, 1
    try:
        sequential = timed_poll(stack, sim, sequential_at)
    finally:
        fanout.MAX_CONCURRENCY = concurrency
    sim.latency = 0.0
    return {
        "latency_s": LATENCY,
        "seconds": seconds,
        "ratio_50_to_1": seconds[50] / seconds[1],
        "ratio_200_to_1": seconds[200] / seconds[1],
        "sequential_50_s": sequential,
        "speedup_50": sequential / seconds[50],
        "max_concurrency": fanout.MAX_CONCURRENCY,
        # Each account has its own key, polled once per run: far below sunor's 120 requests/min per key.
        "requests_per_key_per_run": 1,
    }


def import_seconds(module: str, path: Path | None) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    python_path = os.pathsep.join(str(p) for p in (ROOT / "layers" / "common", path) if p)
    env = {**os.environ, "PYTHONPATH": python_path, "POWERTOOLS_SERVICE_NAME": "credit-monitor", "TABLE_NAME": "t"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=ROOT)
    return float(result.stdout.strip())


def cold_start() -> dict:
    samples: dict[str, list[float]] = {"boto3": [], **{name: [] for name in HANDLERS}}
    for _ in range(IMPORT_RUNS):  # interleaved, so a noisy moment hits every module alike
        samples["boto3"].append(import_seconds("boto3", None))
        for name, (module, folder) in HANDLERS.items():
            samples[name].append(import_seconds(module, ROOT / "functions" / folder))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "median_import_ms": {k: v * 1000 for k, v in medians.items()},
        "ratio_to_boto3": {n: medians[n] / medians["boto3"] for n in HANDLERS},
    }


def cpu_and_memory(stack: LocalStack, sim: ProviderSimulator, count: int = 200) -> dict:
    accounts_for(stack, sim, count)
    env = {**os.environ, **stack.environment(stack.pollers()["sunor"], PROVIDER_BASE_URL=sim.base_url),
           "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "bench.child", str(count)], capture_output=True, text=True, env=env, check=True, cwd=ROOT
    )
    child = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "accounts": count,
        "cpu_ms_per_account": child["cpu_s"] * 1000 / count,
        "peak_rss_mb": child["peak_rss_mb"],
        "wall_s": child["wall_s"],
    }


def calls_per_operation(stack: LocalStack, sim: ProviderSimulator) -> dict:
    rounds = {}
    for count in FAN_OUT:
        accounts_for(stack, sim, count)
        stack.calls.clear()  # accounts_for forgot the secret: this is a cold container's first run
        invoke_poller(stack, "sunor", {}, base_url=sim.base_url, output=io.StringIO())
        cold = dict(stack.calls)
        stack.calls.clear()
        invoke_poller(stack, "sunor", {}, base_url=sim.base_url, output=io.StringIO())
        rounds[count] = {"cold": cold, "warm": dict(stack.calls)}
    stack.calls.clear()
    invoke_api(stack, "/balances")
    return {"poll_round": rounds, "get_balances": dict(stack.calls)}


def bundle_sizes() -> dict:
    finder = ROOT / "scripts" / "python313-dir"
    found = subprocess.run([str(finder)], capture_output=True, text=True, check=False)
    sam = ROOT / ".venv-sam" / "bin" / "sam"
    if found.returncode != 0 or not sam.exists():
        return {"skipped": "sam build needs .venv-sam and a python3.13; run make setup (and pyenv install 3.13)"}
    env = {**os.environ, "PATH": f"{found.stdout.strip()}{os.pathsep}{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0"}
    subprocess.run([str(sam), "build"], cwd=ROOT, env=env, check=True, capture_output=True)
    sizes = {}
    for built in sorted((ROOT / ".aws-sam" / "build").iterdir()):
        if built.is_dir():
            sizes[built.name] = {"unzipped_bytes": _tree_bytes(built), "zipped_bytes": _zipped_bytes(built)}
    return sizes


def _tree_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _zipped_bytes(folder: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in folder.rglob("*"):
            if file.is_file():
                archive.write(file, file.relative_to(folder))
    return buffer.tell()


def main() -> int:
    started = time.monotonic()
    print(f"Benchmarks on {os.cpu_count()} cores, Python {platform.python_version()}; every figure is a ratio or count from this run.\n")
    with LocalStack(stack_name="credit-monitor-bench") as stack, ProviderSimulator("sunor") as sim:
        stack.create_resources()
        print("fan-out ...", flush=True)
        fan = fan_out(stack, sim)
        print("cold start ...", flush=True)
        cold = cold_start()
        print("CPU and memory ...", flush=True)
        cpu = cpu_and_memory(stack, sim)
        print("calls per operation ...", flush=True)
        calls = calls_per_operation(stack, sim)
    print("handler durations for make cost ...", flush=True)
    durations = dataclasses.asdict(cost.measure(accounts=2))
    print("bundle size (sam build) ...", flush=True)
    bundle = bundle_sizes()
    results = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "cores": os.cpu_count(), "fan_out": fan, "cold_start": cold,
               "cpu_memory": cpu, "calls": calls, "bundle": bundle,
               "durations": {**durations, "date": datetime.now(UTC).strftime("%Y-%m-%d")}}  # fmt: skip
    results["goals"] = [{"goal": g, "measured": v, "met": ok} for g, v, ok in goals(results)]

    print(f"\nFan-out, provider answering in {LATENCY * 1000:.0f} ms (max {fan['max_concurrency']} in flight):")
    for count, seconds in fan["seconds"].items():
        print(f"  {count:>4} accounts  {seconds:6.2f} s  ({seconds / fan['seconds'][1]:.2f}x one account)")
    print(f"  sequential baseline, 50 accounts: {fan['sequential_50_s']:.2f} s; concurrent is {fan['speedup_50']:.1f}x faster")
    print("\nCold start, median import of 15 fresh processes:")
    for name, ms in cold["median_import_ms"].items():
        print(f"  {name:<10} {ms:7.1f} ms" + (f"  ({cold['ratio_to_boto3'][name]:.2f}x boto3)" if name != "boto3" else ""))
    per_account, peak = cpu["cpu_ms_per_account"], cpu["peak_rss_mb"]
    print(f"\nPoll of {cpu['accounts']} accounts, zero latency: {per_account:.2f} ms CPU per account, peak RSS {peak:.0f} MB")
    print("\nAWS calls counted at the moto server, per poll round (cold container / warm):")
    for count, r in calls["poll_round"].items():
        print(f"  {count:>4} accounts  cold {json.dumps(r['cold'])}\n                 warm {json.dumps(r['warm'])}")
    print(f"  GET /balances: {json.dumps(calls['get_balances'])}; CloudWatch: 0 calls (metrics are EMF log lines)")
    print("\nBundle (sam build):")
    if "skipped" in bundle:
        print(f"  SKIPPED: {bundle['skipped']}")
    for name, size in ({} if "skipped" in bundle else bundle).items():
        print(f"  {name:<22} {size['unzipped_bytes'] / 1000:>9.1f} KB unzipped  {size['zipped_bytes'] / 1000:>9.1f} KB zipped")
    print("\nGoals:")
    for goal in results["goals"]:
        print(f"  {'met   ' if goal['met'] else 'MISSED'}  {goal['goal']:<52} {goal['measured']}")
    results["wall_s"] = time.monotonic() - started
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nWrote {RESULTS.relative_to(ROOT)} in {results['wall_s']:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
