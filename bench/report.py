"""Render bench/results.json (written by `make bench`): the goals, and README.md's bench block."""

from __future__ import annotations

import json

from devstack import ROOT

RESULTS = ROOT / "bench" / "results.json"


def goals(results: dict) -> list[tuple[str, str, bool]]:
    f, c, m, s = results["fan_out"], results["cold_start"], results["cpu_memory"], results["bundle"]
    checks = [
        ("fan-out: 50 accounts <= 3x one account", f"{f['ratio_50_to_1']:.2f}x", f["ratio_50_to_1"] <= 3),
        ("fan-out: 200 accounts <= 8x one account", f"{f['ratio_200_to_1']:.2f}x", f["ratio_200_to_1"] <= 8),
    ]
    for name, ratio in c["ratio_to_boto3"].items():
        checks.append((f"cold start: {name} handler import <= 1.5x import boto3", f"{ratio:.2f}x", ratio <= 1.5))
    checks.append(("CPU per account polled <= 5 ms", f"{m['cpu_ms_per_account']:.2f} ms", m["cpu_ms_per_account"] <= 5))
    checks.append(("peak RSS, 200 accounts <= 128 MB", f"{m['peak_rss_mb']:.0f} MB", m["peak_rss_mb"] <= 128))
    rounds = results["calls"]["poll_round"]
    batched = all(r["warm"].get("dynamodb:PutItem", 0) == 0 and r["warm"].get("dynamodb:UpdateItem", 0) == 0 for r in rounds.values())
    checks.append(("writes batched (no per-item put in a round)", "BatchWriteItem only" if batched else "per-item writes", batched))
    one_query = results["calls"]["get_balances"] == {"dynamodb:Query": 1}
    checks.append(("GET /balances is one Query", json.dumps(results["calls"]["get_balances"]), one_query))
    secret_once = all(r["warm"].get("secretsmanager:GetSecretValue", 0) == 0 for r in rounds.values())
    checks.append(("secret fetched once per warm container", "0 calls when warm" if secret_once else "fetched when warm", secret_once))
    if "skipped" not in s:
        layer = s["CommonLayer"]["unzipped_bytes"] / 1e6
        checks.append(("layer <= 15 MB unzipped", f"{layer:.1f} MB", layer <= 15))
        biggest = max(v["unzipped_bytes"] for k, v in s.items() if k not in {"CommonLayer", "template.yaml"})
        checks.append(("each function <= 100 KB (code only)", f"largest {biggest / 1000:.1f} KB", biggest <= 100_000))
    return checks


def render(results: dict) -> str:
    """README.md's bench block: the goals and the figures behind them, all from one run."""
    f, c = results["fan_out"], results["cold_start"]
    lines = [
        f"Latest `make bench`: {results['date']}, {results['cores']} cores, {results.get('wall_s', 0):.0f} s.",
        "",
        "| goal | | measured |",
        "| --- | --- | --- |",
    ]
    for goal in results["goals"]:
        lines.append(f"| {'met' if goal['met'] else '**missed**'} | {goal['goal']} | {goal['measured']} |")
    lines += [
        "",
        f"Fan-out: one poller run against a simulator answering in {f['latency_s'] * 1000:.0f} ms, at most "
        f"{f['max_concurrency']} requests in flight over one pooled session.",
        "",
        "| accounts | one run | vs one account |",
        "| --- | --- | --- |",
    ]
    one = f["seconds"]["1"] if "1" in f["seconds"] else f["seconds"][1]
    for count, seconds in f["seconds"].items():
        lines.append(f"| {count} | {seconds:.2f} s | {seconds / one:.2f}x |")
    lines += [
        "",
        f"The sequential baseline (one request at a time) takes {f['sequential_50_s']:.1f} s for 50 accounts: "
        f"concurrent polling is {f['speedup_50']:.0f}x faster.",
        "",
        "Cold start, median import of 15 fresh processes:",
        "",
        "| module | import | vs `import boto3` |",
        "| --- | --- | --- |",
    ]
    for name, ms in c["median_import_ms"].items():
        ratio = "1.00x" if name == "boto3" else f"{c['ratio_to_boto3'][name]:.2f}x"
        lines.append(f"| {name} | {ms:.0f} ms | {ratio} |")
    return "\n".join(lines)


def load() -> dict:
    return json.loads(RESULTS.read_text())
