"""`make cost`: what the stack costs a month for the parameters given, itemized, from cost/prices-us-east-1.json.

What is billed per month (secrets, alarms, dashboards) is counted in template.yaml as CloudFormation
deploys it for these parameters: Fn::ForEach over the providers, every Condition evaluated. Metric
series are those the pollers emit with the AccountMetrics the template gives them. Request counts follow
the calls the handlers make (tests/integration/test_cost.py counts them at the client). Item sizes,
durations and log volume are measured by running the real handlers on the local stack (`make bench`
records them; --measure measures now), plus the time a round waits on the vendor, which Lambda bills too.
Lambda bills at least 1 ms per invocation and arm64 at 256 MB has less CPU than this machine, but a poll
is mostly waiting on the provider.

"After the free tier" is what the stack would cost with the account's always-free allowances to itself;
they are per account and shared, so the output shows both figures and says so. Named setups (SETUPS)
carry their own goals; add a setup there to price it by name.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import statistics
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack import ROOT
from devstack.template import Resolver, deployed_template, function_setting, load_template, resources_of_type

PRICES_FILE = ROOT / "cost" / "prices-us-east-1.json"
BENCH_RESULTS = ROOT / "bench" / "results.json"
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = 30.4
GOAL_DEFAULT_USD = 3.0  # the default stack, after the always-free tier
GOAL_IDLE_ACCOUNT_USD = 0.005  # one more idle account of a fleet (its free tier long spent), per month
# A poll round waits on the vendor, and Lambda bills the wait: one round trip per PollConcurrency accounts.
# 300 ms is what make bench's simulated vendor takes (bench/run.py LATENCY); --vendor-latency-ms changes it.
VENDOR_LATENCY_MS = 300.0

# What the handlers do, as tests/integration/test_cost.py counts it at the DynamoDB client.
BATCH_ITEMS = 25  # BatchWriteItem's limit
QUERY_PAGE_KB = 1024  # a Query answers at most 1 MB a page
STREAM_BATCH = 100  # the aggregator's stream BatchSize (template.yaml AggregatorStream)
FORECAST_WINDOW_HOURS = 72  # AggregatorSettings.forecast_window: the history each forecast reads
HEARTBEAT_MINUTES = 60  # storage.balances.HEARTBEAT: an unchanged reading is stored again this often
API_PAGE = 1000  # GET /balances answers at most this many balances a page (DESIGN.md)
MAX_PARALLEL_SHARDS = 40  # polling.shards.MAX_PARALLEL_SHARDS: the shard Map's MaxConcurrency
EXPRESS_GB = 64 / 1024  # an Express execution is billed in 64 MB chunks; these carry a few KB
ALERT_WRITE_UNITS = 14  # one alert: its transition with the message (2), the lease (2), a delivered mark per
#                         channel (~2), and the final transaction removing it and keeping 3 copies (8)
ITEM_OVERHEAD_KB = 0.1  # DynamoDB bills 100 bytes of index overhead per stored item
DASHBOARD_RANGE_HOURS = 3  # a dashboard opens on its last 3 hours: each log widget scans that much
SECRET_CACHE_MINUTES = 15  # aws.SECRET_CACHE_SECONDS
DIGEST_SHOWN = 50  # alerting.digest.SHOWN: accounts whose day-ago balance the digest reads

CHANNELS = {  # --channel name: the parameters that turn it on (placeholders: only whether they are set matters)
    "email": {"AlertEmail": "ops@example.com"},
    "sms": {"AlertSmsNumber": "+15555550100"},
    "slack-chat": {"SlackWorkspaceId": "T0000000000", "SlackChannelId": "C0000000000"},
    "teams-chat": {"TeamsTenantId": "00000000-0000-0000-0000-000000000000", "TeamsTeamId": "19:team", "TeamsChannelId": "19:channel"},
    "slack-webhook": {"SlackWebhookUrl": "https://hooks.slack.com/services/T0/B0/x"},
    "discord-webhook": {"DiscordWebhookUrl": "https://discord.com/api/webhooks/0/x"},
    "generic-webhook": {"GenericWebhookUrl": "https://hooks.example.com/credit-monitor"},
    "pagerduty": {"PagerDutyRoutingKey": "R0000000000000000000000000000000"},
}
WEBHOOK_RULES = ("SlackWebhookRule", "DiscordWebhookRule", "GenericWebhookRule", "PagerDutyTriggerRule", "PagerDutyResolveRule")


# -- the deployment priced ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """One deployment: its template parameters and how it is used."""

    accounts: tuple[int, ...] = (2, 2, 2, 2, 2)  # accounts of each provider in the Providers list
    poll_minutes: int = 5
    changing: float = 0.5  # share of accounts whose balance changes between two polls (spent or topped up)
    failing: float = 0.0  # share of accounts whose polls fail
    account_metrics: bool = False
    tracing: bool = False
    digest: bool = False
    channels: frozenset[str] = field(default_factory=lambda: frozenset({"email"}))
    retention_days: int = 400  # HistoryRetentionDays: how long each history item is stored
    api_requests: int = 10_000
    alerts: int = 60
    dashboard_views: int = 30
    vendor_latency_ms: float = VENDOR_LATENCY_MS

    def parameters(self) -> dict[str, str]:
        """The template parameters of this deployment, as `sam deploy --parameter-overrides` would pass them."""
        listed = load_template()["Parameters"]["Providers"]["Default"].split(",")
        ids = (listed + [f"vendor{i}" for i in range(len(self.accounts))])[: len(self.accounts)]
        chosen = {
            "Providers": ",".join(ids),
            "PollIntervalMinutes": str(self.poll_minutes),
            "AccountMetrics": "ENABLED" if self.account_metrics else "DISABLED",
            "Tracing": "ENABLED" if self.tracing else "DISABLED",
            "DigestEnabled": "ENABLED" if self.digest else "DISABLED",
            "HistoryRetentionDays": str(self.retention_days),
        }
        for channel in sorted(self.channels):
            chosen.update(CHANNELS[channel])
        return chosen

    def plus_account(self, more: int = 1) -> Setup:
        return replace(self, accounts=(self.accounts[0] + more, *self.accounts[1:]))

    def plus_provider(self, accounts: int | None = None) -> Setup:
        typical = self.accounts[0] if self.accounts else 0
        return replace(self, accounts=(*self.accounts, typical if accounts is None else accounts))

    def stored_share(self) -> float:
        """Of an account's polls, the share that stores its latest item and a history point: every poll of a
        changing account, the hourly heartbeat of an unchanged one. A failing one's polls are updates."""
        heartbeat = min(1.0, self.poll_minutes / HEARTBEAT_MINUTES)
        return self.changing + max(0.0, 1 - self.changing - self.failing) * heartbeat

    def describe(self) -> str:
        channels = ", ".join(sorted(self.channels)) or "none"
        sizes = "/".join(f"{n:,}" for n in self.accounts) if len(set(self.accounts)) > 1 else f"{self.accounts[0]:,} each"
        return (f"{len(self.accounts):,} providers, {sum(self.accounts):,} accounts ({sizes}), polling every "
                f"{self.poll_minutes} min, {self.changing:.0%} of the accounts changing between polls, {self.failing:.0%} failing; "
                f"account metrics {'ENABLED' if self.account_metrics else 'DISABLED'}, tracing "
                f"{'ENABLED' if self.tracing else 'DISABLED'}, digest {'ENABLED' if self.digest else 'DISABLED'}; history kept "
                f"{self.retention_days:,} days; channels: {channels}; {self.api_requests:,} API requests, {self.alerts:,} alerts, "
                f"{self.dashboard_views:,} dashboard views a month")  # fmt: skip


@dataclass(frozen=True)
class Goal:
    """A ceiling a named setup is held to: ``cost`` says what it costs a month, in USD."""

    text: str
    limit_usd: float
    cost: Callable[[Setup, Measured, dict[str, Any]], float]


@dataclass(frozen=True)
class NamedSetup:
    """A setup worth pricing by name (make cost ARGS="--setup NAME"), with the goals it is held to."""

    description: str
    setup: Setup
    goals: tuple[Goal, ...] = ()


def _after_free_tier(setup: Setup, measured: Measured, prices: dict[str, Any]) -> float:
    return bill(setup, measured, prices).total_after_free


def _one_more_account(setup: Setup, measured: Measured, prices: dict[str, Any]) -> float:
    """What an account adds to the bill, averaged over a shard's worth of them: the account that opens a new
    shard adds that shard's runs, the next ones nearly nothing, so one account alone would say either."""
    more = int(Stack.of(setup).poller_variable("SHARD_SIZE"))
    added = bill(setup.plus_account(more), measured, prices).total_after_free - bill(setup, measured, prices).total_after_free
    return added / more


def _per_account(setup: Setup, measured: Measured, prices: dict[str, Any]) -> float:
    return bill(setup, measured, prices).total_after_free / max(1, sum(setup.accounts))


def _fleet(providers: int, each: int, changing: float) -> Setup:
    return Setup(accounts=(each,) * providers, changing=changing, api_requests=100_000, alerts=600, dashboard_views=300)


FLEETS = ("fleet-10k-idle", "fleet-10k-busy", "fleet-100k-idle", "fleet-100k-busy")

# Add a setup here (a fleet, an idle or a busy account...): --setup lists it, its goals print with its bill.
SETUPS: dict[str, NamedSetup] = {
    "default": NamedSetup(
        "the template's defaults: the five built-in providers with two accounts each",
        Setup(),
        goals=(
            Goal(f"the default stack, after the free tier*, < {GOAL_DEFAULT_USD:g} USD a month", GOAL_DEFAULT_USD, _after_free_tier),
        ),
    ),
    "fleet-10k-idle": NamedSetup("one provider with 10,000 accounts, none spending (a key pool at rest)", _fleet(1, 10_000, 0.0),
                                 goals=(Goal(f"one more idle account, after the free tier*, < {GOAL_IDLE_ACCOUNT_USD:g} USD a month",
                                             GOAL_IDLE_ACCOUNT_USD, _one_more_account),)),
    "fleet-10k-busy": NamedSetup("one provider with 10,000 accounts, every one spending between every two polls",
                                 _fleet(1, 10_000, 1.0)),
    "fleet-100k-idle": NamedSetup("ten providers with 10,000 accounts each, none spending", _fleet(10, 10_000, 0.0),
                                  goals=(Goal(f"one more idle account, after the free tier*, < {GOAL_IDLE_ACCOUNT_USD:g} USD a month",
                                              GOAL_IDLE_ACCOUNT_USD, _one_more_account),)),
    "fleet-100k-busy": NamedSetup("ten providers with 10,000 accounts each, every one spending between every two polls",
                                  _fleet(10, 10_000, 1.0)),
}  # fmt: skip


@dataclass(frozen=True)
class Stack:
    """template.yaml as deployed for a Setup: only the resources whose Condition holds, values resolved."""

    template: dict[str, Any]
    resolver: Resolver

    @classmethod
    def of(cls, setup: Setup) -> Stack:
        parameters = setup.parameters()
        template = deployed_template(parameters)
        resolver = Resolver(template, "stack", {name: name for name in template["Resources"]}, parameters)
        deployed = {name: r for name, r in template["Resources"].items() if resolver.deployed(r)}
        return cls({**template, "Resources": deployed}, resolver)

    def count(self, resource_type: str) -> int:
        return len(resources_of_type(self.template, resource_type))

    def pollers(self) -> dict[str, dict[str, Any]]:
        functions = resources_of_type(self.template, "AWS::Serverless::Function")
        return {name: f for name, f in functions.items() if "PROVIDER" in f["Properties"].get("Environment", {}).get("Variables", {})}

    def poller_variable(self, name: str) -> str:
        poller = next(iter(self.pollers().values()))
        return str(self.resolver.resolve(poller["Properties"]["Environment"]["Variables"][name]))

    def memory_gb(self, function: str) -> float:
        return float(self.resolver.resolve(function_setting(self.template, function, "MemorySize"))) / 1024

    def log_widgets(self) -> int:
        body = self.template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
        attributes = {name: {"TopicName": name, "QueueName": name} for name in self.template["Resources"]}
        resolver = Resolver(
            self.template, "stack", {n: n for n in self.template["Resources"]}, self.resolver.parameters, attributes=attributes
        )
        return sum(1 for widget in json.loads(resolver.resolve(body))["widgets"] if widget["type"] == "log")

    def webhook_rules(self) -> int:
        return sum(1 for name in WEBHOOK_RULES if name in self.template["Resources"] and name != "PagerDutyResolveRule")


def metric_series(setup: Setup, stack: Stack) -> int:
    """Custom metric series the code emits for this deployment (credit_monitor.metrics): the heartbeat, and per
    provider with accounts PollFailures and LowestAvailable; AvailableCredits per account only when the
    template gives the pollers ACCOUNT_METRICS=ENABLED. A provider with no accounts emits nothing."""
    with_accounts = [n for n in setup.accounts if n > 0]
    per_account = sum(with_accounts) if stack.poller_variable("ACCOUNT_METRICS") == "ENABLED" else 0
    return 1 + 2 * len(with_accounts) + per_account


# -- what the handlers cost, measured on the local stack ---------------------------------------------


@dataclass(frozen=True)
class Measured:
    """Durations, log bytes and item sizes of the real handlers on the local stack (fixed part + per account)."""

    poll_empty_ms: float  # a round of a provider whose secret is still {}
    poll_ms: float  # a round's fixed part
    poll_per_account_ms: float  # each account polled, its reading unchanged (nothing stored)
    poll_per_stored_ms: float  # more for each account whose reading is stored (changed, or its heartbeat)
    stream_batch_ms: float  # an aggregator invocation's fixed part
    stream_per_record_ms: float  # each stream record (a changed balance, a round)
    forecast_ms: float  # an account's hourly forecast and spend tally, over a history of hourly points
    check_per_provider_ms: float  # the scheduled check, per provider
    api_request_ms: float
    poll_log_bytes: float  # a run's fixed part
    poll_log_bytes_per_stored: float  # the "account polled" line of each account stored
    forecast_log_bytes: float  # the "account forecast" line of each hourly forecast
    latest_item_kb: float
    alert_item_kb: float
    history_item_kb: float
    round_item_kb: float
    source: str = ""

    @classmethod
    def recorded(cls) -> Measured:
        """What `make bench` recorded, or a fresh measurement when it recorded nothing (or other figures)."""
        recorded = json.loads(BENCH_RESULTS.read_text()).get("measured") if BENCH_RESULTS.exists() else None
        if not recorded or set(recorded) - {"date"} != {f.name for f in dataclasses.fields(cls)} - {"source"}:
            return measure()
        values = {k: v for k, v in recorded.items() if k != "date"}
        return cls(**values, source=f"measured by make bench on {recorded['date']}")

    def as_record(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "source"}


SLOPE_ACCOUNTS = (1, 21)  # two round sizes: their difference gives what one more account costs


def measure(runs: int = 3) -> Measured:
    """Median durations and log bytes of the real handlers for two round sizes, unchanged and changed rounds,
    and the sizes of the items stored."""
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415

    from credit_monitor.model import Reading, format_time  # noqa: PLC0415
    from credit_monitor.storage.items import history_item  # noqa: PLC0415
    from devstack.invoke import invoke_aggregator, invoke_api, invoke_poller, reset_warm_state  # noqa: PLC0415
    from devstack.moto_stack import LocalStack  # noqa: PLC0415
    from devstack.simulators import ProviderSimulator  # noqa: PLC0415
    from devstack.streams import StreamPump  # noqa: PLC0415

    def timed(action) -> tuple[float, int]:
        output = io.StringIO()
        started = time.perf_counter()
        action(output)
        return (time.perf_counter() - started) * 1000, len(output.getvalue().encode())

    def median(samples: list[tuple[float, int]], part: int) -> float:
        return statistics.median(sample[part] for sample in samples)

    figures: dict[int, dict[str, float]] = {}
    with LocalStack(stack_name="credit-monitor-cost") as stack, ProviderSimulator("crun") as sim:
        stack.create_resources()
        reset_warm_state()  # a fresh deployment: no client from an earlier stack in this process
        pump = StreamPump(stack)
        providers = len(stack.pollers())

        def poll(output):
            return invoke_poller(stack, "crun", {}, base_url=sim.base_url, output=output)

        def deliver(output):
            pump.deliver(lambda batch: invoke_aggregator(stack, batch, output=output))

        poll(io.StringIO())  # warm: a scheduled poller's container usually is
        empty = [timed(poll) for _ in range(runs)]
        now = datetime.now(UTC)
        for count in SLOPE_ACCOUNTS:
            keys = {f"team-{i:03d}": f"sk-cost-{count}-{i:03d}" for i in range(count)}
            for key in keys.values():
                sim.set_balance(key, 100_000)
            stack.put_api_keys("crun", keys)
            with stack.table().batch_writer() as batch:  # three days of hourly points: what a forecast reads
                for account in keys:
                    for hour in range(FORECAST_WINDOW_HOURS, 0, -1):
                        at = format_time(now - timedelta(hours=hour))
                        batch.put_item(Item=history_item("crun", account, at, Reading(available=100_000 + 50 * hour), 30))
            reset_warm_state()
            poll(io.StringIO())
            forecasting = timed(deliver)  # each account's first record forecasts it
            unchanged = [timed(poll) for _ in range(runs)]
            deliver(io.StringIO())  # the unchanged rounds' round records
            changed, batches = [], []
            for run in range(runs):
                for key in keys.values():
                    sim.set_balance(key, 99_000 - run)
                changed.append(timed(poll))
                batches.append(timed(deliver))  # forecasts are an hour away: records alone
            checks = [timed(lambda output: invoke_aggregator(stack, {"task": "check"}, output=output)) for _ in range(runs)]
            figures[count] = {
                "poll_ms": median(unchanged, 0),
                "poll_log": median(unchanged, 1),
                "stored_ms": median(changed, 0) - median(unchanged, 0),
                "stored_log": median(changed, 1) - median(unchanged, 1),
                "stream_ms": median(batches, 0),
                "forecast_ms": (forecasting[0] - median(batches, 0)) / count,
                "forecast_log": (forecasting[1] - median(batches, 1)) / count,
                "check_ms": median(checks, 0),
            }
        api_ms = statistics.median(timed(lambda output: invoke_api(stack, "/balances"))[0] for _ in range(runs))
        items = stack.table().scan()["Items"]

    serializer = TypeSerializer()

    def mean_kb(chosen: list[dict[str, Any]]) -> float:
        return statistics.mean(item_bytes({k: serializer.serialize(v) for k, v in item.items()}) for item in chosen) / 1024

    small, large = SLOPE_ACCOUNTS
    a, b = figures[small], figures[large]

    def slope(name: str) -> float:
        return max(0.0, (b[name] - a[name]) / (large - small))

    def fixed(name: str) -> float:
        return max(0.0, a[name] - slope(name) * small)

    return Measured(
        poll_empty_ms=median(empty, 0),
        poll_ms=fixed("poll_ms"),
        poll_per_account_ms=slope("poll_ms"),
        poll_per_stored_ms=max(0.0, b["stored_ms"] / large),
        stream_batch_ms=fixed("stream_ms"),
        stream_per_record_ms=slope("stream_ms"),
        forecast_ms=max(0.0, b["forecast_ms"]),
        check_per_provider_ms=b["check_ms"] / providers,
        api_request_ms=api_ms,
        poll_log_bytes=fixed("poll_log"),
        poll_log_bytes_per_stored=max(0.0, b["stored_log"] / large),
        forecast_log_bytes=max(0.0, b["forecast_log"]),
        latest_item_kb=mean_kb([i for i in items if i.get("kind") == "balance"]),
        alert_item_kb=mean_kb([i for i in items if i.get("kind") == "alert"]),
        history_item_kb=mean_kb([i for i in items if str(i["pk"]).startswith("HISTORY#")]),
        round_item_kb=mean_kb([i for i in items if i.get("kind") == "round"]),
        source="measured on the local stack now",
    )


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (attribute names + values), from its wire form."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").lstrip("0") or "0"
        return 1 + math.ceil(len(digits.rstrip("0") or "0") / 2)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_bytes(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_bytes(v) + 1 for v in inner)
    return len(json.dumps(inner))


# -- the bill ----------------------------------------------------------------------------------------


def dynamodb_per_poll_round(accounts: int, stored: int = 0, failing: int = 0, latest_kb: float = 0.2) -> dict[str, float]:
    """DynamoDB calls of one (unsharded) poll round: a Query of the provider's latest items (a page per MB),
    the latest item and a history point of each account ``stored`` in batches of 25, a conditional update
    per ``failing`` account, and the round item. An account read unchanged is not written at all."""
    calls = {"Query": max(1, math.ceil(accounts * latest_kb / QUERY_PAGE_KB)), "BatchWriteItem": math.ceil(2 * stored / BATCH_ITEMS),
             "UpdateItem": failing, "PutItem": 1}  # fmt: skip
    return {name: n for name, n in calls.items() if n}


def dynamodb_per_check(providers: int, with_rounds: int) -> dict[str, float]:
    """DynamoDB calls of one scheduled check, whatever the number of accounts: the thresholds document
    remembered (a conditional put, billed even when unchanged) and its alert state read; per provider its
    round item and the accounts marked for attention (two Queries), and for one that has polled its
    incident state, read and decided (two consistent reads); one Query of the notification groups."""
    return {"PutItem": 1, "GetItem": 1 + 2 * with_rounds, "Query": 2 * providers + 1}


@dataclass
class Line:
    item: str
    price: str
    quantity: float
    unit_text: str


@dataclass(frozen=True)
class Round:
    """One provider's poll round, modeled: what it runs, stores, reads and logs."""

    accounts: int
    shards: int  # 0: one run polls the round
    runs: int  # poller invocations: 1, or a dispatching run, its shards and the summing-up run
    stored: float  # accounts whose latest item and a history point are written
    failing: float  # accounts whose failure is recorded (a conditional update)
    lambda_ms: float  # billed poller time, the wait on the vendor included
    wall_s: float  # the round from start to summary (a sharded one: the Express execution's duration)
    read_units: float
    write_units: float
    log_bytes: float

    @property
    def records(self) -> float:
        """Stream records the aggregator receives: each latest item written, and the round item."""
        return self.stored + self.failing + 1

    @classmethod
    def of(cls, accounts: int, setup: Setup, m: Measured, concurrency: int, shard_size: int) -> Round:
        if not accounts:
            return cls(0, 0, 1, 0, 0, m.poll_empty_ms, m.poll_empty_ms / 1000, 0, 0, m.poll_log_bytes)
        shards = math.ceil(accounts / shard_size) if accounts > shard_size else 0
        each = max(1, concurrency // min(shards, MAX_PARALLEL_SHARDS)) if shards else concurrency
        size = accounts / shards if shards else accounts

        def run_ms(n: float) -> float:  # one run polling n accounts at ``each`` in flight
            return (m.poll_ms + m.poll_per_account_ms * n + m.poll_per_stored_ms * n * (setup.stored_share() + setup.failing)
                    + math.ceil(n / each) * setup.vendor_latency_ms)  # fmt: skip

        stored, failing = accounts * setup.stored_share(), accounts * setup.failing
        pages = (shards or 1) * math.ceil(max(1.0, size * m.latest_item_kb) / 4)  # each run's Query: 4 KB units
        runs = shards + 2 if shards else 1
        if shards:
            waves = math.ceil(shards / MAX_PARALLEL_SHARDS)
            lambda_ms, wall_ms = shards * run_ms(size) + 2 * m.poll_ms, 2 * m.poll_ms + waves * run_ms(size)
        else:
            lambda_ms = wall_ms = run_ms(accounts)
        return cls(
            accounts=accounts, shards=shards, runs=runs, stored=stored, failing=failing, lambda_ms=lambda_ms, wall_s=wall_ms / 1000,
            read_units=0.5 * pages,  # eventually consistent
            write_units=2 * stored + failing + math.ceil(m.round_item_kb),  # every item < 1 KB: one unit each
            log_bytes=runs * m.poll_log_bytes + (stored + failing) * m.poll_log_bytes_per_stored,
        )  # fmt: skip


def usage(setup: Setup, stack: Stack, m: Measured) -> list[Line]:
    rounds = HOURS_PER_MONTH * 60 / setup.poll_minutes  # poll rounds of each provider a month, and checks
    providers, total = len(setup.accounts), sum(setup.accounts)
    active = [n for n in setup.accounts if n > 0]
    concurrency, shard_size = int(stack.poller_variable("POLL_CONCURRENCY")), int(stack.poller_variable("SHARD_SIZE"))
    polls = [Round.of(n, setup, m, concurrency, shard_size) for n in setup.accounts]
    polled = [r for r in polls if r.accounts]
    poller_gb, aggregator_gb = stack.memory_gb(next(iter(stack.pollers()))), stack.memory_gb("Aggregator")
    # The aggregator: a stream record per latest item written and per round; an hourly forecast per account
    # (each has a record at least hourly: its heartbeat), reading the window's history points.
    records = rounds * sum(r.records for r in polled)
    stream_invocations = rounds * sum(math.ceil(r.records / STREAM_BATCH) for r in polled)
    forecasts = total * (1 - setup.failing) * HOURS_PER_MONTH
    window_points = FORECAST_WINDOW_HOURS * (setup.changing * 60 / setup.poll_minutes + (1 - setup.changing))
    digests = DAYS_PER_MONTH if setup.digest else 0
    groups = setup.alerts  # at most one notification group (an alert timer run, a flush) per alert
    invocations = rounds * sum(r.runs for r in polls) + stream_invocations + rounds + digests + groups + setup.api_requests
    per_account_kb = m.latest_item_kb + m.alert_item_kb
    compute = (
        rounds * sum(r.lambda_ms for r in polls) * poller_gb
        + (stream_invocations * m.stream_batch_ms + records * m.stream_per_record_ms + forecasts * m.forecast_ms) * aggregator_gb
        + (rounds + digests) * m.check_per_provider_ms * providers * aggregator_gb
        + setup.api_requests * m.api_request_ms * stack.memory_gb("BalanceApiFunction")
    ) / 1000
    check = dynamodb_per_check(providers, len(active))
    writes = (
        rounds * sum(r.write_units for r in polled)
        + forecasts * math.ceil(m.alert_item_kb)  # each forecast updates its account's alert state
        + rounds * len(active)  # each round record: its provider's incident state, assessed
        + rounds * check["PutItem"]  # each check remembers the thresholds document
        + setup.alerts * ALERT_WRITE_UNITS
    )
    every_account = 0.5 * math.ceil(max(1, total) * per_account_kb / 4)  # a Query of every latest and alert item
    first_page = 0.5 * math.ceil(max(1, min(total, API_PAGE)) * per_account_kb / 4)  # GET /balances: one page
    failing_rounds = rounds * sum(0.5 * math.ceil(r.accounts * m.latest_item_kb / 4) + r.failing for r in polled) if setup.failing else 0
    reads = (
        rounds * sum(r.read_units for r in polled)
        + records * math.ceil(m.alert_item_kb / 4)  # each record: its alert (or incident) state, consistent
        + failing_rounds  # a round with failures: its failing accounts (a filtered Query) and their alert states
        + forecasts * (0.5 + 0.5 * math.ceil(window_points * m.history_item_kb / 4))  # the point before the window, the window
        + rounds * (check["GetItem"] + 0.5 * check["Query"])
        + digests * (every_account + DIGEST_SHOWN * 0.5)  # every account, and the day-ago balance of those it shows
        + setup.api_requests * first_page
    )
    history_days = int(stack.resolver.parameters["HistoryRetentionDays"])
    points_a_day = total * setup.stored_share() * rounds / DAYS_PER_MONTH
    stored_gb = (points_a_day * history_days * (m.history_item_kb + ITEM_OVERHEAD_KB)
                 + total * (per_account_kb + 2 * ITEM_OVERHEAD_KB)) / 1024**2  # fmt: skip
    logs = rounds * sum(r.log_bytes for r in polls) + forecasts * m.forecast_log_bytes
    scanned = setup.dashboard_views * stack.log_widgets() * logs * DASHBOARD_RANGE_HOURS / HOURS_PER_MONTH
    reads_per_container = HOURS_PER_MONTH * 60 / max(setup.poll_minutes, SECRET_CACHE_MINUTES)
    sharded = [r for r in polls if r.shards]
    # Every shard run reads the secrets too, in its own container (as many as run at once): cached there alike.
    secrets_calls = (providers + sum(min(r.shards, MAX_PARALLEL_SHARDS) for r in sharded)) * reads_per_container
    express_runs = rounds * len(sharded) + groups
    express_gb_s = (rounds * sum(r.wall_s for r in sharded) + groups * _group_wait(stack)) * EXPRESS_GB
    chat = "slack-chat" in setup.channels or "teams-chat" in setup.channels
    topic_messages = setup.alerts + digests  # the digest goes to the alert topic only, not to chat (alerting.notify)
    lines = [
        Line("Lambda requests", "lambda_request", invocations, "requests"),
        Line("Lambda compute (arm64)", "lambda_arm_gb_second", compute, "GB-seconds"),
        Line("DynamoDB writes", "dynamodb_write_request_unit", writes, "write units"),
        Line("DynamoDB reads", "dynamodb_read_request_unit", reads, "read units"),
        Line(f"DynamoDB storage (history, {history_days:,} days)", "dynamodb_storage_gb_month", stored_gb, "GB-month"),
        Line("DynamoDB point-in-time recovery", "dynamodb_pitr_gb_month", stored_gb, "GB-month"),
        Line("Secrets Manager secrets", "secrets_manager_secret_month", stack.count("AWS::SecretsManager::Secret"), "secrets"),
        Line("Secrets Manager calls (cached 15 min)", "secrets_manager_api_call", secrets_calls, "calls"),
        Line("CloudWatch custom metric series", "cloudwatch_custom_metric_month", metric_series(setup, stack), "series"),
        Line("CloudWatch alarms", "cloudwatch_alarm_metric_month", stack.count("AWS::CloudWatch::Alarm"), "alarm metrics"),
        Line("CloudWatch dashboards", "cloudwatch_dashboard_month", stack.count("AWS::CloudWatch::Dashboard"), "dashboards"),
        Line("CloudWatch Logs ingestion", "cloudwatch_logs_ingested_gb", logs / 1024**3, "GB ingested"),
        Line("CloudWatch Logs Insights (dashboard views)", "cloudwatch_logs_insights_gb_scanned", scanned / 1024**3, "GB scanned"),
        Line("SNS publishes (alert topic, chat topic)", "sns_publish", topic_messages + setup.alerts * chat, "messages"),
        Line("EventBridge alert events", "eventbridge_custom_event", 2 * setup.alerts, "events"),  # an alert's, its notification's
        Line("EventBridge Scheduler", "scheduler_invocation", providers * rounds + rounds + digests, "invocations"),
        Line("Step Functions Express (round shards, alert timers)", "stepfunctions_express_request", express_runs, "requests"),
        Line("Step Functions Express duration", "stepfunctions_express_gb_second", express_gb_s, "GB-seconds"),
        Line("API Gateway requests", "api_gateway_rest_request", setup.api_requests, "requests"),
    ]
    if "email" in setup.channels:
        lines.append(Line("SNS email deliveries", "sns_email", topic_messages, "emails"))
    if "sms" in setup.channels:
        lines.append(Line("SNS SMS (US, critical and depleted only)", "sns_sms_us", setup.alerts / 4, "messages"))
    if stack.webhook_rules():
        lines.append(Line("EventBridge API destinations (webhooks)", "eventbridge_api_destination", setup.alerts * stack.webhook_rules(),
                          "invocations"))  # fmt: skip
    if stack.resolver.resolve(stack.template["Globals"]["Function"]["Tracing"]) == "Active":
        lines.append(Line("X-Ray traces", "xray_trace_recorded", invocations, "traces"))
    return lines


def _group_wait(stack: Stack) -> float:
    """Seconds an alert timer waits (GroupWaitSeconds): its Express run's duration."""
    return float(stack.resolver.parameters.get("GroupWaitSeconds", stack.template["Parameters"]["GroupWaitSeconds"]["Default"]))


@dataclass(frozen=True)
class Bill:
    lines: list[Line]
    listed: list[float]
    billed: list[float]

    @property
    def total_list(self) -> float:
        return sum(self.listed)

    @property
    def total_after_free(self) -> float:
        return sum(self.billed)


def bill(setup: Setup, measured: Measured, prices: dict[str, Any] | None = None) -> Bill:
    prices = prices or json.loads(PRICES_FILE.read_text())
    lines = usage(setup, Stack.of(setup), measured)
    listed, billed = [], []
    for line in lines:
        price = prices["prices"][line.price]
        listed.append(line.quantity * price["usd"])
        billed.append(max(0.0, line.quantity - price["free"]) * price["usd"])
    return Bill(lines, listed, billed)


def render(result: Bill, prices: dict[str, Any]) -> str:
    width = max(46, *(len(line.item) for line in result.lines))  # the columns stay aligned whatever the longest item
    rows = [f"  {'item':<{width}} {'quantity/month':>14} {'':<14} {'list USD':>9} {'after free tier*':>17}"]
    for line, listed, billed in zip(result.lines, result.listed, result.billed, strict=True):
        rows.append(f"  {line.item:<{width}} {quantity(line.quantity):>14} {line.unit_text:<14} {listed:>9.2f} {billed:>17.2f}")
    rows.append(f"  {'total':<{width}} {'':>14} {'':<14} {result.total_list:>9.2f} {result.total_after_free:>17.2f}")
    return "\n".join([*rows, "", *free_tier_note(result, prices)])


def free_tier_note(result: Bill, prices: dict[str, Any]) -> list[str]:
    """What "after free tier" assumes: the account's always-free allowances, which every workload in it shares."""
    by_service: dict[str, list[str]] = {}
    for line in result.lines:
        free = prices["prices"][line.price]["free"]
        if free:
            by_service.setdefault(line.item.split()[0], []).append(f"{quantity(free)} {line.unit_text}")
    allowances = "; ".join(f"{service} {', '.join(amounts)}" for service, amounts in by_service.items())
    note = (
        f"* as if this stack had the always-free tier to itself. AWS gives it once per account ({allowances} a month) and "
        "everything the account runs shares it: in an account that already uses it, this stack costs up to its list price."
    )
    return textwrap.wrap(note, width=130, subsequent_indent="  ", break_on_hyphens=False)


def quantity(value: float) -> str:
    """A count as an integer when it is one, thousands separated; fractions only where they say something."""
    if abs(value - round(value)) < 1e-9 or abs(value) >= 100:
        return f"{round(value):,}"
    return f"{value:,.1f}" if abs(value) >= 1 else f"{value:.2g}"


def marginal(before: Bill, after: Bill) -> str:
    listed, billed = after.total_list - before.total_list, after.total_after_free - before.total_after_free
    return f"+{listed:.3f} USD at list price, +{billed:.3f} after the free tier*"


def named(setup: Setup) -> str | None:
    """The name of the setup in SETUPS that ``setup`` is, if any."""
    return next((name for name, entry in SETUPS.items() if entry.setup == setup), None)


def goals(setup: Setup, measured: Measured, prices: dict[str, Any]) -> list[str]:
    """The goals of the setup priced, met or missed; a setup held to none says where goals are set."""
    name = named(setup)
    entry = SETUPS.get(name) if name else None
    if entry is None or not entry.goals:
        held = ", ".join(f"--setup {n}" for n, e in SETUPS.items() if e.goals)
        return [f"Goals: none for this configuration; goals are set for named setups ({held})."]
    lines = [f"Goals of the {name} setup:"]
    for goal in entry.goals:
        value = goal.cost(setup, measured, prices)
        precision = 4 if goal.limit_usd < 0.1 else 2
        lines.append(f"  {'met   ' if value < goal.limit_usd else 'MISSED'}  {goal.text:<82} {value:.{precision}f} USD")
    return lines


def sources(setup: Setup, stack: Stack, m: Measured, prices: dict[str, Any]) -> list[str]:
    """Where each figure comes from, so that make bench's round times and these can be told apart."""
    concurrency = int(stack.poller_variable("POLL_CONCURRENCY"))
    fan_out = json.loads(BENCH_RESULTS.read_text()).get("fan_out") if BENCH_RESULTS.exists() else None
    bench = ""
    if fan_out:
        sizes = sorted(int(n) for n in fan_out["seconds"])
        size = next((n for n in sizes if n >= max(setup.accounts)), sizes[-1])
        bench = (f" The fan-out table of make bench times whole rounds instead, in a fresh process (its first AWS clients included) "
                 f"with a vendor answering in {fan_out['latency_s'] * 1000:g} ms: {fan_out['seconds'][str(size)]:.2f} s for "
                 f"{size:,} account(s); a scheduled poller's container is usually warm.")  # fmt: skip
    return [
        f"Prices: {PRICES_FILE.relative_to(ROOT)} ({prices['region']}, recorded {prices['recorded']}).",
        f"Resources: template.yaml expanded for these parameters: {stack.count('AWS::SecretsManager::Secret'):,} secrets, "
        f"{len(stack.pollers()):,} pollers, {stack.count('AWS::CloudWatch::Alarm'):,} alarms, {metric_series(setup, stack):,} metric "
        f"series, {stack.count('AWS::CloudWatch::Dashboard'):,} dashboard.",
        *textwrap.wrap(
            f"Handler time {m.source}, in a warm container against a simulator that answers at once: poll round {m.poll_ms:.0f} ms + "
            f"{m.poll_per_account_ms:.1f} ms per account read unchanged, {m.poll_per_stored_ms:.1f} ms more per account stored; stream "
            f"{m.stream_per_record_ms:.1f} ms per record, forecast {m.forecast_ms:.1f} ms per account an hour; check "
            f"{m.check_per_provider_ms:.0f} ms per provider (no account is read); API request {m.api_request_ms:.0f} ms. Lambda also "
            f"bills the wait on the vendor: {setup.vendor_latency_ms:g} ms a round per {concurrency:,} accounts (PollConcurrency requests "
            f"in flight, shared among a sharded round's shards; --vendor-latency-ms).{bench}",
            width=132,
            break_on_hyphens=False,
        ),
        f"Items, measured likewise: latest {m.latest_item_kb:.2f} KB, alert state {m.alert_item_kb:.2f} KB, history "
        f"{m.history_item_kb:.2f} KB, round {m.round_item_kb:.2f} KB. An unchanged account is stored hourly (its heartbeat).",
    ]  # fmt: skip


def parse_setup(argv: list[str] | None) -> tuple[Setup, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="make cost ARGS=...", description=__doc__.split("\n\n")[0].replace("`", ""))
    choices = ", ".join(f"{name} ({entry.description})" for name, entry in SETUPS.items())
    parser.add_argument("--setup", choices=SETUPS, default="default", metavar="NAME",
                        help=f"start from this named setup, then apply the options given: {choices}")  # fmt: skip
    # The options below default to None: only those given change the named setup.
    parser.add_argument("--providers", type=int, help="providers in the Providers list (5: the built-ins)")
    parser.add_argument("--accounts", type=int, help="accounts of each provider")
    parser.add_argument("--poll-minutes", type=int, choices=[2, 5, 10, 15, 30, 60], help="the PollIntervalMinutes parameter")
    parser.add_argument("--changing", type=float, metavar="SHARE", help="share of accounts whose balance changes between polls (0-1)")
    parser.add_argument("--failing", type=float, metavar="SHARE", help="share of accounts whose polls fail (0-1)")
    parser.add_argument("--account-metrics", choices=["ENABLED", "DISABLED"], help="the AccountMetrics parameter")
    parser.add_argument("--tracing", choices=["ENABLED", "DISABLED"], help="the Tracing parameter")
    parser.add_argument("--digest", choices=["ENABLED", "DISABLED"], help="the DigestEnabled parameter")
    parser.add_argument("--retention-days", type=int, metavar="DAYS", help="the HistoryRetentionDays parameter (1-3650): history stored")
    parser.add_argument("--channels", help=f"comma-separated, any of: {', '.join(CHANNELS)} (or none)")
    parser.add_argument("--api-requests", type=int, help="balance API requests a month")
    parser.add_argument("--alerts", type=int, help="alert messages a month")
    parser.add_argument("--dashboard-views", type=int, help="dashboard views a month")
    parser.add_argument(
        "--vendor-latency-ms", type=float, metavar="MS", help=f"how long a vendor takes to answer (default {VENDOR_LATENCY_MS:g})"
    )
    parser.add_argument("--measure", action="store_true", help="measure the handlers now (default: what make bench recorded)")
    parser.add_argument("--fleet", action="store_true", help="the fleet table: 10,000 and 100,000 accounts, idle and busy")
    args = parser.parse_args(argv)
    base = SETUPS[args.setup].setup
    changes: dict[str, Any] = {}
    if args.channels is not None:
        channels = frozenset(c.strip() for c in args.channels.split(",") if c.strip() and c.strip() != "none")
        unknown = sorted(channels - set(CHANNELS))
        if unknown:
            parser.error(f"--channels: unknown {', '.join(unknown)}; choose from {', '.join(CHANNELS)}")
        changes["channels"] = channels
    if (args.providers is not None and args.providers < 1) or (args.accounts is not None and args.accounts < 0):
        parser.error("--providers must be at least 1 and --accounts at least 0")
    for name in ("changing", "failing"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 1:
            parser.error(f"--{name} must be a share from 0 to 1, such as 0.25")
    if (args.changing or 0) + (args.failing or 0) > 1:
        parser.error("--changing and --failing together must be at most 1: an account either changes, stays, or fails")
    if args.retention_days is not None and not 1 <= args.retention_days <= 3650:
        parser.error("--retention-days must be 1 to 3650, as the template's HistoryRetentionDays allows")
    for name in ("api_requests", "alerts", "dashboard_views", "vendor_latency_ms"):
        value = getattr(args, name)
        if value is not None and value < 0:
            parser.error(f"--{name.replace('_', '-')} must be at least 0")
    if args.providers is not None or args.accounts is not None:
        providers = len(base.accounts) if args.providers is None else args.providers
        changes["accounts"] = (base.accounts[0] if args.accounts is None else args.accounts,) * providers
    switches = {"account_metrics": args.account_metrics, "tracing": args.tracing, "digest": args.digest}
    changes |= {name: value == "ENABLED" for name, value in switches.items() if value is not None}
    for name in ("poll_minutes", "changing", "failing", "retention_days", "api_requests", "alerts", "dashboard_views", "vendor_latency_ms"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    return replace(base, **changes), args


def fleet_table(measured: Measured, prices: dict[str, Any]) -> list[str]:
    """The fleet setups side by side: what each costs a month, per account, and how long its largest round takes."""
    rows = [f"  {'setup':<17} {'accounts':>9} {'changing':>9} {'list USD':>9} {'after free tier*':>17} {'per account':>12} "
            f"{'one more':>9} {'round':>7}"]  # fmt: skip
    for name in FLEETS:
        setup = SETUPS[name].setup
        stack = Stack.of(setup)
        result = bill(setup, measured, prices)
        more = _one_more_account(setup, measured, prices)
        concurrency, shard_size = int(stack.poller_variable("POLL_CONCURRENCY")), int(stack.poller_variable("SHARD_SIZE"))
        largest = Round.of(max(setup.accounts), setup, measured, concurrency, shard_size)
        rows.append(f"  {name:<17} {sum(setup.accounts):>9,} {setup.changing:>9.0%} {result.total_list:>9,.2f} "
                    f"{result.total_after_free:>17,.2f} {result.total_after_free / sum(setup.accounts):>12.5f} {more:>9.5f} "
                    f"{largest.wall_s:>6.0f}s")  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    setup, args = parse_setup(argv)
    prices = json.loads(PRICES_FILE.read_text())
    measured = measure() if args.measure else Measured.recorded()
    if args.fleet:
        print(
            f'Fleets a month (USD; polling every 5 min, vendor answering in {VENDOR_LATENCY_MS:g} ms; make cost ARGS="--setup NAME" '
            "itemizes one). Idle: no balance changes, each account stored hourly; busy: every account changes between every two "
            "polls. Round: a provider's 10,000 accounts, sharded, start to summary (modeled from the measured handler time)."
        )
        print("\n".join(fleet_table(measured, prices)))
        for name in FLEETS:
            if SETUPS[name].goals:
                print("\n".join(goals(SETUPS[name].setup, measured, prices)))
        return 0
    stack = Stack.of(setup)
    result = bill(setup, measured, prices)
    print(f"Monthly cost: {setup.describe()}.")
    print("\n".join(sources(setup, stack, measured, prices)) + "\n")
    print(render(result, prices))
    print("\nOne more:")
    print(f"  account (on one provider)           {marginal(result, bill(setup.plus_account(), measured, prices))}")
    print(f"  {f'provider with {setup.accounts[0]:,} accounts':<35} {marginal(result, bill(setup.plus_provider(), measured, prices))}")
    print(f"  provider with no accounts yet       {marginal(result, bill(setup.plus_provider(0), measured, prices))}")
    print()
    print("\n".join(goals(setup, measured, prices)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
