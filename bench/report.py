"""Render bench/results.json (written by `make bench`): the goals, and docs/operating.md's bench block."""

from __future__ import annotations

import json

from devstack import ROOT

RESULTS = ROOT / "bench" / "results.json"


def goals(results: dict) -> list[tuple[str, str, bool]]:
    f, c, s, room = results["fan_out"], results["cold_start"], results["bundle"], results["capacity"]
    ratios = {int(k): v for k, v in f["ratios"].items()}
    rss = {int(k): v for k, v in f["peak_rss_mb"].items()}
    largest = max(rss)
    checks = [
        ("fan-out: 200 accounts <= 2x one account", f"{ratios[200]:.2f}x", ratios[200] <= 2),
        ("fan-out: 1,000 accounts <= 4x one account", f"{ratios[1000]:.2f}x", ratios[1000] <= 4),
        ("CPU per account polled <= 1.5 ms", f"{f['cpu_ms_per_account']:.2f} ms", f["cpu_ms_per_account"] <= 1.5),
        (f"peak memory, {largest:,} accounts <= the poller's {room['memory_mb']:.0f} MB", f"{rss[largest]:.0f} MB",
         rss[largest] <= room["memory_mb"]),
    ]  # fmt: skip
    for name, ratio in c["ratio_to_boto3"].items():
        checks.append((f"cold start: {name} handler import <= 1.5x import boto3", f"{ratio:.2f}x", ratio <= 1.5))
    rounds = results["calls"]["poll_round"]
    # A round writes balances in batches; its one summary item (a conditional put) is the only single write, whatever its size.
    singles = {count: r["warm"].get("dynamodb:PutItem", 0) + r["warm"].get("dynamodb:UpdateItem", 0) for count, r in rounds.items()}
    batched = len(set(singles.values())) == 1 and max(singles.values()) <= 1
    checks.append(("writes batched (single writes do not grow with a round)", "BatchWriteItem, one summary put" if batched
                   else f"single writes by round size: {singles}", batched))  # fmt: skip
    listing = results["calls"]["get_balances"]
    warm, providers = listing["warm"], listing.get("providers")  # providers: recorded since the bound was restated
    queried = warm.get("dynamodb:Query", 0) > 0 and set(warm) <= {"dynamodb:Query"}  # a page of Queries per provider, never a Scan
    if providers:  # a page reads each provider's accounts, their alert states and its last round: at most 3 Queries each
        bounded = queried and warm["dynamodb:Query"] <= 3 * providers
        checks.append(("GET /balances (warm container): Queries only, <= 3 per provider on the page",
                       f"{warm.get('dynamodb:Query', 0)} Queries for {providers} providers" + ("" if queried else f", {json.dumps(warm)}"),
                       bounded))  # fmt: skip
    else:
        checks.append(("GET /balances (warm container) reads by Query only, never a Scan", json.dumps(warm), queried))
    secret_once = all(r["warm"].get("secretsmanager:GetSecretValue", 0) == 0 for r in rounds.values())
    checks.append(("secret fetched once per warm container", "0 calls when warm" if secret_once else "fetched when warm", secret_once))
    if "fleet" in results:  # recorded since the fleet round was added to make bench
        fl = results["fleet"]
        whole = fl["first"]["succeeded"] == fl["accounts"] and fl["first"]["shards_failed"] == 0 and fl["stored"] == fl["accounts"]
        checks.append((f"fleet: {fl['accounts']:,} accounts over several secrets, one sharded round, every one stored",
                       f"{fl['first']['succeeded']:,} polled ok over {fl['secrets']} secrets, {fl['first']['shards']} shards",
                       whole and fl["secrets"] > 1))  # fmt: skip
        checks.append(("fleet: the same round unchanged writes no balance", f"{fl['unchanged_batch_writes']} batch writes",
                       fl["unchanged_batch_writes"] == 0))  # fmt: skip
    if "anomaly" in results:  # recorded since the anomaly rule (issue 23)
        base, record = results["anomaly"]["baseline"], results["anomaly"]["per_record"]
        checks.append((f"anomaly: one account's usual and recent rate from a week of history ({base['readings']:,} readings) <= 500 ms",
                       f"{base['median_ms']:.0f} ms", base["median_ms"] <= 500))  # fmt: skip
        checks.append(("anomaly: a rule moves the aggregator's cost per balance record by <= 20 %", f"{record['ratio']:.2f}x",
                       record["ratio"] <= 1.2))  # fmt: skip
    if "skipped" not in s:
        layer = s["CommonLayer"]["unzipped_bytes"] / 1e6
        checks.append(("layer <= 15 MB unzipped", f"{layer:.1f} MB", layer <= 15))
        code = {k: v for k, v in s.items() if k not in {"CommonLayer", "TracingLayer", "template.yaml"}}
        biggest = max(v["unzipped_bytes"] for v in code.values())
        checks.append(("each function <= 100 KB (code only)", f"largest {biggest / 1000:.1f} KB", biggest <= 100_000))
    return checks


def fleet_lines(fl: dict | None) -> list[str]:
    """The fleet round of make bench (bench/fleet.py), or nothing in results recorded before it existed."""
    if not fl:
        return []
    first, again = fl["first"], fl["unchanged"]
    return [
        f"Fleet: {fl['accounts']:,} accounts of one provider over {fl['secrets']} secrets (each under a secret's 64 KB), one round "
        f"through the template's resources: the scheduled run split it into {first['shards']} shards, the state machine ran them, "
        f"{first['succeeded']:,} of {first['polled']:,} polled ok and one summary was stored, in {first['wall_s']:.0f} s on the "
        f"local stack (moto answers DynamoDB far slower than DynamoDB). The same round unchanged took {again['wall_s']:.0f} s and "
        f"wrote {fl['unchanged_batch_writes']} balance batches.",
        "",
    ]


def anomaly_lines(found: dict | None) -> list[str]:
    """The anomaly rule's cost (bench/anomaly.py), or nothing in results recorded before it existed."""
    if not found:
        return []
    base, record = found["baseline"], found["per_record"]
    return [
        f"Anomaly rule: counting a busy account's week ({base['readings']:,} readings five minutes apart) into the spend tally "
        f"its alert item keeps, then its usual and recent rate, takes {base['median_ms']:.0f} ms from scratch; the aggregator "
        f"counts only the hour since its last count ({base['median_ms'] / base['readings'] * 12:.1f} ms). Applying a balance "
        f"record ({record['accounts']} accounts, {record['records']} changed records each way, {record['history_hours']} h of "
        f"history, against the local stack) takes {record['median_ms']['without']:.1f} ms without an anomaly rule and "
        f"{record['median_ms']['with']:.1f} ms with one ({record['ratio']:.2f}x): the window of history is read only for a "
        f"change fast enough to cross the rule's line.",
        "",
    ]


def render(results: dict) -> str:
    """docs/operating.md's bench block (and what `make bench` prints): the goals and the figures behind them, from one run."""
    f, c, room = results["fan_out"], results["cold_start"], results["capacity"]
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
        f"Fan-out: one poll round in a fresh process (as a new Lambda container runs it), the provider answering in "
        f"{f['latency_s'] * 1000:.0f} ms, at most {f['concurrency']} requests in flight (`PollConcurrency`); median of "
        f"{f['repeats']} runs each.",
        "",
        "| accounts | one round | vs one account | CPU | peak memory |",
        "| --- | --- | --- | --- | --- |",
    ]
    for count, seconds in f["seconds"].items():
        ratio, cpu, rss = f["ratios"][count], f["cpu_s"][count], f["peak_rss_mb"][count]
        lines.append(f"| {int(count):,} | {seconds:.2f} s | {ratio:.2f}x | {cpu * 1000:.0f} ms | {rss:.0f} MB |")
    lines += [
        "",
        f"One request at a time (`PollConcurrency=1`), 50 accounts take {f['sequential_s']:.1f} s: concurrent polling is "
        f"{f['speedup']:.0f}x faster. CPU: {f['cpu_fixed_ms']:.0f} ms per round (the first AWS clients of a container) "
        f"plus {f['cpu_ms_per_account']:.2f} ms per account.",
        "",
        f"Capacity of one run: the poller has {room['timeout_s']:.0f} s (`Timeout`), of which {room['budget_s']:.0f} s for polling, "
        f"and {room['memory_mb']:.0f} MB, that is {room['cpu_share'] * 100:.1f} % of a vCPU (Lambda gives a full vCPU at 1,769 MB). "
        f"At the CPU measured here that is **{room['by_cpu']:,} accounts** per provider; with a vendor answering in 1 s, "
        f"{room['by_latency']:,} at {f['concurrency']} in flight. One run handles **{room['accounts']:,} accounts**; a round of "
        f"more than one shard (`PollShardSize`, 1,000 by default) is split into shards that the provider's state machine runs in "
        f"parallel, so this bounds a shard, not a provider.",
        "",
        *fleet_lines(results.get("fleet")),
        *anomaly_lines(results.get("anomaly")),
        "Cold start, median import of 15 fresh processes:",
        "",
        "| module | import | vs `import boto3` |",
        "| --- | --- | --- |",
    ]
    for name, ms in c["median_import_ms"].items():
        ratio = "1.00x" if name == "boto3" else f"{c['ratio_to_boto3'][name]:.2f}x"
        lines.append(f"| {name} | {ms:.0f} ms | {ratio} |")
    if "layer" in results:  # measured since the command line left the layer (results of earlier runs lack it)
        layer = results["layer"]
        with_ = ", ".join(layer["distributions"])
        lines += ["", f"The common layer as `sam build` makes it (wheels for python3.13 on arm64, boto3 left to the runtime): "
                      f"{layer['unzipped_bytes'] / 1e6:.2f} MB unzipped, {layer['zipped_bytes'] / 1e6:.2f} MB zipped, of which the "
                      f"credit_monitor package {layer['package_bytes'] / 1e3:.0f} KB; with {with_}."]  # fmt: skip
    return "\n".join(lines)


def load() -> dict:
    return json.loads(RESULTS.read_text())
