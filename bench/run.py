"""`make bench`: fan-out, CPU and memory per account, capacity, cold start, calls per operation, bundle size.

Every figure is compared with another measured in the same run (the machines are shared and noisy),
printed as a table and written to bench/results.json.
"""

from __future__ import annotations

import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.anomaly import anomaly
from bench.fleet import fleet
from bench.report import RESULTS, goals, load, render
from bench.vendor import bench_keys
from credit_monitor import aws
from credit_monitor.polling.round import polling_budget
from devstack import ROOT, cost
from devstack.invoke import invoke_api, invoke_poller, reset_warm_state
from devstack.moto_stack import LocalStack
from devstack.simulators import ProviderSimulator
from devstack.template import function_setting

LATENCY = 0.3  # seconds the simulated provider takes to answer, as a distant API would
FAN_OUT = [1, 10, 50, 200, 1000]
REPEATS = 3  # child runs per round size; the median is kept
SEQUENTIAL_AT = 50
IMPORT_RUNS = 15
HANDLERS = {"poller": ("poll_handler", "poller"), "aggregator": ("aggregate_handler", "aggregator"), "api": ("api_handler", "api")}
LAMBDA_FULL_VCPU_MB = 1769  # Lambda gives a function one full vCPU at 1,769 MB, proportionally less below
CAPACITY_LATENCY = 1.0  # a slow vendor: every answer takes a second (the simulator answers in LATENCY)
LAYER = ROOT / "layers" / "common"
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")  # Lambda's Python runtime has them; the layer must not ship them


def accounts_for(stack: LocalStack, count: int, provider: str = "sunor", sim: ProviderSimulator | None = None) -> None:
    """Give the provider ``count`` accounts (answered by ``sim`` when given, else by the vendor process),
    and forget the cached secret so the next run sees them."""
    keys = bench_keys(count)
    for key in keys.values() if sim is not None else ():
        sim.set_balance(key, 1000)
    stack.put_api_keys(provider, keys)
    aws.clear_caches()


def child_round(stack: LocalStack, base_url: str, count: int, **environment: str) -> dict:
    """One poll round in a fresh process, as a Lambda container runs it (bench.child): wall, CPU, peak memory.

    The moto server stays in this process and the provider in its own (bench.vendor), so what is measured
    is the poller alone."""
    env = {**os.environ, **stack.environment(stack.pollers()["sunor"], PROVIDER_BASE_URL=base_url, **environment),
           "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}  # fmt: skip
    command = [sys.executable, "-m", "bench.child", str(count)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the benchmark round of {count} accounts failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@contextmanager
def vendor(accounts: int, latency: float) -> Iterator[str]:
    """A simulated sunor answering in ``latency`` in its own process (bench.vendor); yields its base URL."""
    command = [sys.executable, "-m", "bench.vendor", "sunor", str(accounts), str(latency)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        base_url = process.stdout.readline().strip()
        if not base_url:
            raise RuntimeError("the simulated provider did not start (python -m bench.vendor)")
        yield base_url
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def fan_out(stack: LocalStack) -> dict:
    """Rounds of 1 to 1,000 accounts against a provider answering in LATENCY, at the template's concurrency cap."""
    runs: dict[int, list[dict]] = {}
    with vendor(FAN_OUT[-1], LATENCY) as base_url:
        for count in FAN_OUT:
            # Steady state: the table holds this round's accounts (the poller reads their previous polls first),
            # as it does once a stack has polled them; not the accounts of a larger round measured before.
            stack.reset()
            accounts_for(stack, count)
            child_round(stack, base_url, count)
            runs[count] = [child_round(stack, base_url, count) for _ in range(REPEATS)]
        stack.reset()
        accounts_for(stack, SEQUENTIAL_AT)
        sequential = child_round(stack, base_url, SEQUENTIAL_AT, POLL_CONCURRENCY="1")["wall_s"]
    seconds = {count: statistics.median(r["wall_s"] for r in found) for count, found in runs.items()}
    cpu = {count: statistics.median(r["cpu_s"] for r in found) for count, found in runs.items()}
    largest, smallest = FAN_OUT[-1], FAN_OUT[0]
    return {
        "latency_s": LATENCY,
        "repeats": REPEATS,
        "concurrency": int(stack.environment(stack.pollers()["sunor"])["POLL_CONCURRENCY"]),
        "seconds": seconds,
        "ratios": {count: seconds[count] / seconds[smallest] for count in FAN_OUT},
        "sequential_s": sequential,
        "speedup": sequential / seconds[SEQUENTIAL_AT],
        "cpu_s": cpu,
        # What one more account costs: the difference between the largest and the smallest round.
        "cpu_ms_per_account": (cpu[largest] - cpu[smallest]) * 1000 / (largest - smallest),
        "cpu_fixed_ms": cpu[smallest] * 1000,
        "peak_rss_mb": {count: max(r["peak_rss_mb"] for r in found) for count, found in runs.items()},
        # Each account has its own key, polled once per run: far below sunor's 120 requests/min per key.
        "requests_per_key_per_run": 1,
    }


def capacity(stack: LocalStack, fan: dict) -> dict:
    """How many accounts one poller run handles inside its timeout: CPU-bound on Lambda's share of a vCPU at
    the function's memory size, and latency-bound at the concurrency cap with a slow vendor."""
    poller = stack.pollers()["sunor"]
    timeout_s = float(function_setting(stack.template, poller, "Timeout"))
    memory_mb = float(function_setting(stack.template, poller, "MemorySize"))
    budget_s = polling_budget(int(timeout_s * 1000))
    share = min(1.0, memory_mb / LAMBDA_FULL_VCPU_MB)
    by_cpu = int((budget_s * share * 1000 - fan["cpu_fixed_ms"]) / fan["cpu_ms_per_account"])
    by_latency = int(budget_s // CAPACITY_LATENCY) * fan["concurrency"]
    return {"timeout_s": timeout_s, "memory_mb": memory_mb, "budget_s": budget_s, "cpu_share": share,
            "by_cpu": by_cpu, "by_latency": by_latency, "accounts": min(by_cpu, by_latency)}  # fmt: skip


def import_seconds(module: str, path: Path | None) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    python_path = os.pathsep.join(str(p) for p in (LAYER, path) if p)
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


def calls_per_operation(stack: LocalStack, sim: ProviderSimulator) -> dict:
    rounds = {}
    for count in (1, 200):
        accounts_for(stack, count, sim=sim)
        stack.calls.clear()  # accounts_for forgot the secret: this is a cold container's first run
        invoke_poller(stack, "sunor", {}, base_url=sim.base_url, output=io.StringIO())
        cold = dict(stack.calls)
        stack.calls.clear()
        invoke_poller(stack, "sunor", {}, base_url=sim.base_url, output=io.StringIO())
        rounds[count] = {"cold": cold, "warm": dict(stack.calls)}
    reset_warm_state()
    stack.calls.clear()
    invoke_api(stack, "/balances")
    cold_api = dict(stack.calls)
    stack.calls.clear()
    invoke_api(stack, "/balances")
    return {"poll_round": rounds, "get_balances": {"cold": cold_api, "warm": dict(stack.calls), "providers": len(stack.pollers())}}


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


def layer_size() -> dict:
    """The common layer as sam build makes it (BuildMethod python3.13, arm64): the wheels pip picks for the runtime's
    platform from layers/common/requirements.txt, and the package without bytecode. Needs no sam and no python3.13,
    so it is measured on every machine; boto3 and botocore are the runtime's and would not count if pulled in."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "python"
        wheels = ["--only-binary=:all:", "--platform", "manylinux2014_aarch64", "--python-version", "3.13", "--implementation", "cp"]
        install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", *wheels, "--target", str(target),
                   "-r", str(LAYER / "requirements.txt")]  # fmt: skip
        result = subprocess.run(install, capture_output=True, text=True, cwd=ROOT, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pip could not install the layer's requirements for the runtime: {result.stderr[-2000:]}")
        shutil.copytree(LAYER / "credit_monitor", target / "credit_monitor", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(LAYER / "requirements.txt", target)
        for provided in [p for p in target.iterdir() if p.name.split("-")[0] in RUNTIME_PROVIDED]:
            if provided.is_dir():
                shutil.rmtree(provided)
            else:
                provided.unlink()
        distributions = sorted(d.name.removesuffix(".dist-info") for d in target.glob("*.dist-info"))
        return {"unzipped_bytes": _tree_bytes(target), "zipped_bytes": _zipped_bytes(target),
                "package_bytes": _tree_bytes(target / "credit_monitor"), "distributions": distributions}  # fmt: skip


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
        print(f"fan-out: rounds of {', '.join(map(str, FAN_OUT))} accounts, {REPEATS} runs each, in fresh processes ...", flush=True)
        fan = fan_out(stack)
        room = capacity(stack, fan)
        print("cold start ...", flush=True)
        cold = cold_start()
        print("calls per operation ...", flush=True)
        calls = calls_per_operation(stack, sim)
    print("fleet: 10,000 accounts over several secrets, one sharded round through the state machine ...", flush=True)
    fleet_round = fleet()
    print("anomaly rule: one account's week of spend, and the aggregator's cost per record with and without a rule ...", flush=True)
    anomaly_cost = anomaly()
    print("handler durations and item sizes for make cost ...", flush=True)
    measured = cost.measure().as_record()
    print("bundle size (sam build) ...", flush=True)
    bundle = bundle_sizes()
    print("layer size (pip for the runtime's platform) ...", flush=True)
    layer = layer_size()
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    results = {"date": today, "cores": os.cpu_count(), "fan_out": fan, "capacity": room, "cold_start": cold, "calls": calls,
               "bundle": bundle, "layer": layer, "fleet": fleet_round, "anomaly": anomaly_cost,
               "measured": {**measured, "date": today}}  # fmt: skip
    results["goals"] = [{"goal": g, "measured": v, "met": ok} for g, v, ok in goals(results)]
    results["wall_s"] = time.monotonic() - started
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(render(load()))
    print(f"\nWrote {RESULTS.relative_to(ROOT)} in {results['wall_s']:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
