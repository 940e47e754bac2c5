"""`make cost`: the monthly cost of the deployed configuration, itemized, from cost/prices-us-east-1.json.

Quantities come from the template (memory, alarms, secrets, metric dimensions), from the call counts
the tests verify (DynamoDB units per poll round: tests/integration/test_cost.py), and from durations and
log volume measured here by running the real handlers on the local stack. Local durations are an
estimate of Lambda's: Lambda bills at least 1 ms per invocation and arm64 at 256 MB has less CPU than
this machine, but polls are dominated by waiting on the provider.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass

from devstack import ROOT
from devstack.template import Resolver, deployed_template, function_setting, load_template, resources_of_type

PRICES_FILE = ROOT / "cost" / "prices-us-east-1.json"
HOURS_PER_MONTH = 730
GOAL_USD = 4.0

LATEST_ITEM_KB = 0.6  # a latest balance item; a history item is about half
HISTORY_ITEM_KB = 0.3
ALERT_WRITES_PER_MESSAGE = 4  # commit with the message, claim the lease, remove the message, release


def dynamodb_per_poll_round(accounts: int) -> dict[str, float]:
    """DynamoDB calls and request units of one poll round of ``accounts`` accounts (all successful).

    One Query reads the provider's previous latest items (eventually consistent: 0.5 unit per 4 KB);
    one BatchWriteItem per 25 items writes a latest and a history item per account (1 unit each, < 1 KB).
    """
    items = 2 * accounts
    return {
        "Query": 1,
        "BatchWriteItem": math.ceil(items / 25),
        "read_units": 0.5 * max(1, math.ceil(accounts * LATEST_ITEM_KB / 4)),
        "write_units": items,
    }


@dataclass(frozen=True)
class Durations:
    poll_round_ms: float
    stream_batch_ms: float
    check_ms: float
    api_request_ms: float
    log_bytes_per_round: float
    source: str  # where the figures come from, as the report says it


DEFAULT_DURATIONS = Durations(
    poll_round_ms=400, stream_batch_ms=100, check_ms=150, api_request_ms=50, log_bytes_per_round=3000, source="defaults (--no-measure)"
)
BENCH_RESULTS = ROOT / "bench" / "results.json"


def recorded_durations(accounts: int) -> Durations:
    """The durations `make bench` measured on the local stack, or a fresh measurement when it has none."""
    recorded = json.loads(BENCH_RESULTS.read_text()).get("durations") if BENCH_RESULTS.exists() else None
    if not recorded:
        return measure(accounts)
    values = {k: v for k, v in recorded.items() if k in Durations.__dataclass_fields__ and k != "source"}
    return Durations(**values, source=f"measured by make bench on {recorded['date']}")


def measure(accounts: int, runs: int = 5) -> Durations:
    """Median durations of the real handlers on the local stack, for ``accounts`` accounts."""
    from devstack.invoke import invoke_aggregator, invoke_api, invoke_poller, reset_warm_state  # noqa: PLC0415
    from devstack.moto_stack import LocalStack  # noqa: PLC0415
    from devstack.simulators import ProviderSimulator  # noqa: PLC0415
    from devstack.streams import StreamPump  # noqa: PLC0415

    def timed(action):
        started = time.perf_counter()
        action()
        return (time.perf_counter() - started) * 1000

    with LocalStack(stack_name="credit-monitor-cost") as stack, ProviderSimulator("crun") as sim:
        stack.create_resources()
        reset_warm_state()  # a fresh deployment: no client from an earlier stack in this process
        keys = {f"acct{i}": f"sk-cost-{i}" for i in range(accounts)}
        for key in keys.values():
            sim.set_balance(key, 1000)
        stack.put_api_keys("crun", keys)
        pump = StreamPump(stack)
        invoke_poller(stack, "crun", {}, base_url=sim.base_url)  # warm up, as a warm container would be
        pump.deliver(lambda batch: invoke_aggregator(stack, batch))
        polls, batches, checks, requests, logs = [], [], [], [], []
        for _ in range(runs):
            output = io.StringIO()
            polls.append(timed(lambda output=output: invoke_poller(stack, "crun", {}, base_url=sim.base_url, output=output)))
            logs.append(len(output.getvalue().encode()))
            batches.append(timed(lambda: pump.deliver(lambda batch: invoke_aggregator(stack, batch))))
            checks.append(timed(lambda: invoke_aggregator(stack, {"task": "check"})))
            requests.append(timed(lambda: invoke_api(stack, "/balances")))
    return Durations(*(statistics.median(v) for v in (polls, batches, checks, requests, logs)), source="measured on the local stack now")


@dataclass
class Line:
    item: str
    price: str
    quantity: float
    unit_text: str


def alarm_metrics(template: dict, providers: int, accounts: int) -> int:
    """Alarm metrics billed: each metric in a math alarm, each series a Metrics Insights query reads."""
    count = 0
    for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values():
        metrics = alarm["Properties"].get("Metrics")
        if not metrics:
            count += 1
        elif any("SELECT" in str(m.get("Expression", "")) for m in metrics):
            count += accounts  # one provider's AvailableCredits series
        else:
            count += sum(1 for m in metrics if "MetricStat" in m)
    return count


def deployed_for(providers: int) -> dict:
    """The template as deployed with ``providers`` entries in Providers (the built-ins first, then made-up ids):
    only the resources whose condition holds with these parameters."""
    listed = load_template()["Parameters"]["Providers"]["Default"].split(",")
    ids = (listed + [f"vendor{i}" for i in range(max(0, providers - len(listed)))])[:providers]
    parameters = {"Providers": ",".join(ids)}
    template = deployed_template(parameters)
    resolver = Resolver(template, "stack", {}, parameters)
    return {**template, "Resources": {k: r for k, r in template["Resources"].items() if resolver.deployed(r)}}


def usage(providers: int, accounts: int, poll_minutes: int, api_requests: int, alerts: int, d: Durations) -> list[Line]:
    template = deployed_for(providers)
    functions = resources_of_type(template, "AWS::Serverless::Function")
    poller = next(name for name, f in functions.items() if "PROVIDER" in f["Properties"].get("Environment", {}).get("Variables", {}))
    memory_gb = {name: function_setting(template, name, "MemorySize") / 1024 for name in (poller, "Aggregator", "BalanceApiFunction")}
    memory_gb["poller"] = memory_gb[poller]
    rounds = providers * HOURS_PER_MONTH * 60 / poll_minutes  # poll rounds a month, all providers
    checks = HOURS_PER_MONTH * 60 / poll_minutes
    total_accounts = providers * accounts
    per_round = dynamodb_per_poll_round(accounts)
    history_items_per_check = 72 * 60 / poll_minutes
    forecast_reads = total_accounts * HOURS_PER_MONTH * 0.5 * math.ceil(history_items_per_check * HISTORY_ITEM_KB / 4)
    history_gb = total_accounts * (HOURS_PER_MONTH * 60 / poll_minutes) * (400 / 30.4) * HISTORY_ITEM_KB / 1024**2
    invocations = rounds + rounds + checks + api_requests  # pollers, one stream batch per round, checks, API
    secrets = len(resources_of_type(template, "AWS::SecretsManager::Secret"))
    return [
        Line("Lambda requests", "lambda_request", invocations, "requests"),
        Line(
            "Lambda compute (arm64)",
            "lambda_arm_gb_second",
            (
                rounds * d.poll_round_ms * memory_gb["poller"]
                + (rounds * d.stream_batch_ms + checks * d.check_ms) * memory_gb["Aggregator"]
                + api_requests * d.api_request_ms * memory_gb["BalanceApiFunction"]
            )
            / 1000,
            "GB-seconds",
        ),
        Line(
            "DynamoDB writes",
            "dynamodb_write_request_unit",
            rounds * per_round["write_units"] + alerts * ALERT_WRITES_PER_MESSAGE + total_accounts * HOURS_PER_MONTH,
            "write units",
        ),
        Line(
            "DynamoDB reads",
            "dynamodb_read_request_unit",
            rounds * per_round["read_units"]
            + rounds * accounts * 1.0  # the aggregator's consistent read per stream record
            + checks * (0.5 * math.ceil(total_accounts * 2 * LATEST_ITEM_KB / 4) + total_accounts)
            + forecast_reads
            + api_requests * 0.5,
            "read units",
        ),
        Line("DynamoDB storage (history, 400 days)", "dynamodb_storage_gb_month", history_gb, "GB-month"),
        Line("DynamoDB point-in-time recovery", "dynamodb_pitr_gb_month", history_gb, "GB-month"),
        Line("Secrets Manager secrets", "secrets_manager_secret_month", secrets, "secrets"),
        Line("Secrets Manager calls (worst case: every run)", "secrets_manager_api_call", rounds, "calls"),
        Line("CloudWatch custom metric series", "cloudwatch_custom_metric_month", total_accounts + providers, "series"),
        Line("CloudWatch alarms", "cloudwatch_alarm_metric_month", alarm_metrics(template, providers, accounts), "alarm metrics"),
        Line("CloudWatch dashboard", "cloudwatch_dashboard_month", 1, "dashboard"),
        Line("CloudWatch Logs ingestion", "cloudwatch_logs_ingested_gb", rounds * d.log_bytes_per_round * 2 / 1024**3, "GB"),
        Line("SNS publishes", "sns_publish", alerts, "messages"),
        Line("SNS email deliveries", "sns_email", alerts, "emails"),
        Line("API Gateway requests", "api_gateway_rest_request", api_requests, "requests"),
        Line("EventBridge Scheduler", "scheduler_invocation", rounds + checks, "invocations"),
        Line("X-Ray traces", "xray_trace_recorded", invocations, "traces"),
    ]


def report(lines: list[Line], prices: dict) -> tuple[str, float, float]:
    rows, total_list, total_free = [], 0.0, 0.0
    for line in lines:
        price = prices["prices"][line.price]
        listed = line.quantity * price["usd"]
        billed = max(0.0, line.quantity - price["free"]) * price["usd"]
        total_list, total_free = total_list + listed, total_free + billed
        rows.append(f"  {line.item:<46} {line.quantity:>14,.1f} {line.unit_text:<14} {listed:>9.2f} {billed:>10.2f}")
    header = f"  {'item':<46} {'quantity/month':>14} {'':<14} {'list USD':>9} {'after free':>10}"
    total = f"  {'total':<46} {'':>14} {'':<14} {total_list:>9.2f} {total_free:>10.2f}"
    return "\n".join([header, *rows, total]), total_list, total_free


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--providers", type=int, default=5)
    parser.add_argument("--accounts", type=int, default=2, help="accounts per provider")
    parser.add_argument("--poll-minutes", type=int, default=5)
    parser.add_argument("--api-requests", type=int, default=10_000, help="balance API requests a month")
    parser.add_argument("--alerts", type=int, default=60, help="alert messages a month")
    parser.add_argument("--measure", action="store_true", help="measure the handlers' durations now (default: those make bench recorded)")
    parser.add_argument("--no-measure", action="store_true", help="use fixed default durations instead of measured ones")
    args = parser.parse_args(argv)
    prices = json.loads(PRICES_FILE.read_text())
    durations = DEFAULT_DURATIONS if args.no_measure else measure(args.accounts) if args.measure else recorded_durations(args.accounts)
    table, total_list, total_free = report(
        usage(args.providers, args.accounts, args.poll_minutes, args.api_requests, args.alerts, durations), prices
    )
    print(f"Monthly cost: {args.providers} providers x {args.accounts} accounts, polling every {args.poll_minutes} min, "
          f"{args.api_requests:,} API requests, {args.alerts} alerts; {prices['region']} prices recorded {prices['recorded']}")  # fmt: skip
    source = durations.source
    print(f"Durations {source}: poll round {durations.poll_round_ms:.0f} ms, stream batch {durations.stream_batch_ms:.0f} ms, "
          f"check {durations.check_ms:.0f} ms, API request {durations.api_request_ms:.0f} ms\n")  # fmt: skip
    print(table)
    verdict = "met" if total_free < GOAL_USD else "MISSED"
    print(f"\nGoal: under {GOAL_USD:.0f} USD a month: {verdict} with the always-free tier ({total_free:.2f} USD); "
          f"at list price without any free tier: {total_list:.2f} USD.")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
