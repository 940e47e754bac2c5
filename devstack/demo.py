"""`make demo`: the whole system on this machine, with no AWS account.

A moto server gets the table, secrets, thresholds parameter, alert topic, queues and EventBridge rules
from template.yaml, with a poller for every provider definition in the bundle and a Slack and a generic
webhook pointed at a local receiver; each provider's simulator answers as its definition's documented
example does; demo keys go into the secrets. Then three
rounds: every poller runs through its real handler with a scheduled event, the table's stream is
delivered to the real aggregator handler, and the alerts it publishes are read back from an SQS
subscription of the SNS topic, from a rule of our own on the bus, and from the webhook receiver (the
template's rules, connections and input transformers deliver them). The stored balances and every
message are printed at the end.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from credit_monitor.model import Reading, format_time
from credit_monitor.storage import BalanceStore
from credit_monitor.storage.items import history_item
from credit_monitor_cli.spend import spend_lines
from credit_monitor_cli.status import balance_table, balances_from_table
from devstack import ROOT
from devstack.events import EventRouter, WebhookReceiver
from devstack.invoke import function_invoker, invoke_aggregator, invoke_api, invoke_poller
from devstack.moto_stack import AlertInbox, LocalStack
from devstack.simulators import Fault, ProviderSimulator, with_available
from devstack.stepfunctions import StateMachineRunner
from devstack.streams import StreamPump
from devstack.template import every_provider

LOG_FILE = ROOT / ".demo" / "handler-output.jsonl"
CONFIG_FILE = ROOT / ".demo" / "alerting-configuration.json"

# Two accounts per provider (available, or (available, frozen)), four at apimall (whose outage the story tells), and
# one sunor key the provider revoked. A provider not named here (one you added) gets one account, "prod", answering
# its documented example.
DEMO_ACCOUNTS = {
    "crun": {"prod": 1000, "staging": 2400},
    "sunor": {"prod": (950, 10), "staging": 600},
    "srtgen": {"prod": 1250, "staging": 3000},
    "apimall": {"prod": 1200, "staging": 900, "batch": 5000, "eu": 2500},
    "pixverse": {"prod": 1072650, "staging": 80000},
    "openrouter": {"prod": 37.5},  # defined by configuration only: providers/definitions/openrouter.json
}
SECOND_SECRET = ("crun", "staging")  # crun's keys span two secrets: its staging key is in <crun's secret>-2
REVOKED = ("sunor", "legacy")
LEAKED = ("pixverse", "prod")  # a week of steady spending, then a leaked key spending thirty times as fast
DOWN = "http://127.0.0.1:9"  # apimall's outage: every connection refused
SLACK_PATH, DISCORD_PATH, GENERIC_PATH = "/slack", "/discord", "/generic"
THRESHOLDS = {
    "default": {"warning": 500, "critical": 100},
    "pixverse": {"warning": 20000, "critical": 5000},
    "srtgen": {"warning_percent": 30, "critical_percent": 10, "percent_of": "allowance"},  # of its plan's 1,000 a month
    "openrouter": {"warning": 20, "critical": 5},  # USD
    "silences": [{"provider": "apimall", "account": "staging", "reason": "load test this week", "until": "<a week from now>"}],
    "prices": {"currency": "USD", "crun": 0.002, "sunor": 0.01, "srtgen": 0.005, "apimall": 0.004, "pixverse": 0.0001},
    "labels": {"default": {"team": "platform"}, "pixverse": {"team": "video"}, "sunor": {"team": "audio"}},
    "anomaly": {"default": {"factor": 5, "floor": 500}},  # five times the usual hourly spend, and at least 500 an hour
}


def thresholds_document(now: datetime) -> dict:
    document = json.loads(json.dumps(THRESHOLDS))
    document["silences"][0]["until"] = format_time(now + timedelta(days=7))
    return document


def demo_key(provider: str, account: str) -> str:
    return f"demo-{provider}-{account}-key"


class Demo:
    def __init__(self, stack: LocalStack, sims: dict[str, ProviderSimulator], inbox: AlertInbox, log: io.TextIOBase) -> None:
        self.stack, self.sims, self.inbox, self.log = stack, sims, inbox, log
        self.pump = StreamPump(stack)
        self.router = EventRouter(stack)
        self.output = io.StringIO()  # what the functions the state machines invoke log, until the round copies it to the log
        invoke = function_invoker(stack, {provider: sim.base_url for provider, sim in sims.items()}, output=self.output)
        self.machines = StateMachineRunner(stack, invoke)

        self.events = stack.subscribe_events(f"{inbox.url.rsplit('/', 1)[-1]}-events")

    def run_machines(self) -> None:
        """Step Functions' part: a round's shards, and the alert timers (a notification group goes out)."""
        while self.machines.run_pending():
            pass
        self.log.write(self.output.getvalue())
        self.output.seek(0)
        self.output.truncate()

    def set_up(self) -> None:
        now = datetime.now(UTC)
        self.stack.set_thresholds(json.dumps(thresholds_document(now)))
        for provider, sim in self.sims.items():
            keys = {}
            for account, credits in DEMO_ACCOUNTS.get(provider, {"prod": None}).items():
                keys[account] = demo_key(provider, account)
                if credits is None:
                    sim.set_response(keys[account], sim.spec.success)
                else:
                    sim.set_balance(keys[account], *(credits if isinstance(credits, tuple) else (credits,)))
            keys = {account: sim.credentials(key) for account, key in keys.items()}
            if provider == REVOKED[0]:
                keys[REVOKED[1]] = demo_key(*REVOKED)  # unknown to the simulator: every poll is rejected
            if provider == SECOND_SECRET[0]:
                self.stack.add_api_keys_secret(provider, "2", {SECOND_SECRET[1]: keys.pop(SECOND_SECRET[1])})
            self.stack.put_api_keys(provider, keys)
        # The leaked key's account has a week of history, as the poller would have written it: 100 credits an hour.
        provider, account = LEAKED
        start = DEMO_ACCOUNTS[provider][account] + 7 * 24 * 100
        for hours in range(7 * 24, 0, -1):
            when = format_time(now - timedelta(hours=hours))
            self.stack.table().put_item(Item=history_item(provider, account, when, Reading(start - (7 * 24 - hours) * 100), 400))

    def set_balance(self, provider: str, account: str, credits: float) -> None:
        key = demo_key(provider, account)
        self.sims[provider].set_balance(key, credits, self.sims[provider].reading(key).frozen)

    def round(self, title: str, *, down: tuple[str, ...] = ()) -> None:
        print(f"\n{title}")
        event = json.loads((ROOT / "events" / "poller-schedule.json").read_text())
        for provider, sim in self.sims.items():
            output = io.StringIO()
            summary = invoke_poller(self.stack, provider, event, base_url=DOWN if provider in down else sim.base_url, output=output)
            self.log.write(output.getvalue())
            polled = summary["polled"]
            print(
                f"  poll {provider:<10} {polled} account{'' if polled == 1 else 's'}: {summary['succeeded']} ok, {summary['failed']} failed"
            )
            for line in logged(output, "reading not confirmed"):
                name, second = f"{line['provider']}/{line['account']}", f"{line['second']:,g}"
                print(
                    f"    -> {name}: {line['suspicion']} not confirmed by an immediate second poll ({second}): the second reading is stored"
                )
        output = io.StringIO()
        self.run_machines()
        delivered = self.pump.deliver(lambda batch: invoke_aggregator(self.stack, batch, output=output))
        self.run_machines()  # the alert timer: people's messages go out once their group has waited
        self.log.write(output.getvalue())
        alerts = self.inbox.fetch()
        print(f"  aggregator: {delivered} stream records (changes, failures, rounds), {len(alerts)} message(s)"
              + "".join(f"\n    -> {a['subject']}" for a in alerts))  # fmt: skip
        for line in logged(output, "alert silenced"):
            print(f"    (held back by a silence: {line['provider']}/{line['account']} {line['alert_level'].upper()}, {line['reason']})")
        for line in logged(output, "failure alerts held back by an incident"):
            print(f"    ({line['accounts']} {line['provider']} accounts' own failure alerts held back by its incident)")
        self.say_failing_without_alert()
        before = len(self.router.deliveries)
        self.router.deliver()
        events = self.events.fetch()
        if events or self.router.deliveries[before:]:
            posts = Counter(d.rule.removesuffix("WebhookRule").lower() for d in self.router.deliveries[before:] if d.ok)
            print(f"  EventBridge: {len(events)} alert event(s) on the bus; webhook POSTs: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(posts.items())))  # fmt: skip

    def say_failing_without_alert(self) -> None:
        """Why a failing account has no alert yet: FailureAlertAfter polls in a row first (one failure is no news)."""
        after = int(self.stack.environment("Aggregator")["FAILURE_ALERT_AFTER"])
        store = BalanceStore(self.stack.table())
        waiting = [b for p in self.sims for b in store.latest(p).values() if b.status == "error" and b.consecutive_failures < after]
        if waiting:
            shown = ", ".join(f"{b.provider}/{b.account} {b.consecutive_failures} of {after}" for b in waiting)
            print(f"    (failing, no alert yet: {shown} failed polls in a row, FailureAlertAfter={after})")


def logged(output: io.StringIO, message: str) -> list[dict]:
    """The handler's JSON log lines whose message starts with ``message``."""
    lines = [json.loads(line) for line in output.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if str(line.get("message", "")).startswith(message)]


def created_resources(stack: LocalStack) -> int:
    """How many of the template's resources the local stack created (functions run in-process instead)."""
    return len(stack.physical_ids)


def print_balances(stack: LocalStack) -> None:
    """The table `credit-monitor status --from-table` prints for a deployed stack."""
    providers = list(stack.pollers())
    for line in balance_table(balances_from_table(stack.physical_ids["BalancesTable"], providers)):
        print("  " + line)


def print_webhooks(receiver: WebhookReceiver, inbox: AlertInbox) -> None:
    subjects = [m["subject"] for m in inbox.received]
    slack = [r.body["text"] for r in receiver.at(SLACK_PATH)]
    same = "the same messages in the same order as SNS" if slack == subjects else f"DIFFERENT from SNS: {slack}"
    print(f"  {SLACK_PATH}: {len(slack)} POSTs (every notification), {same}")
    discord = [r.body["embeds"][0]["title"] for r in receiver.at(DISCORD_PATH)]
    print(f"  {DISCORD_PATH}: {len(discord)} POSTs, only team=video's (DiscordWebhookLabels): " + "; ".join(discord))
    generic = [r.body["alert"] for r in receiver.at(GENERIC_PATH)]
    print(f"  {GENERIC_PATH}: {len(generic)} POSTs, one per alert and account (machines are not grouped)")
    print("\nThe first, as Slack's incoming webhook received it (rendered and escaped by the aggregator):\n")
    print("  | " + json.dumps(receiver.at(SLACK_PATH)[0].body)[:300] + "...")
    print("\nand as the generic endpoint received it (the whole event detail, schema version 1):\n")
    alert = generic[0]
    kept = ("schema_version", "alert_id", "provider", "account", "event", "level", "previous_level", "condition", "resolved", "severity",
            "available", "unit", "threshold", "labels", "subject")  # fmt: skip
    print(
        "  | "
        + json.dumps({"source": "credit-monitor", "type": "Credit balance alert", "alert": {**{k: alert[k] for k in kept}, "...": "..."}})
    )


def print_messages(inbox: AlertInbox) -> None:
    for message in inbox.received:
        a = message["attributes"]
        print(f"  [{a['event']:<9} {a['level']:<8}] {message['subject']}")
    critical = next((m for m in inbox.received if m["attributes"]["level"] == "critical"), None)
    if critical:
        print("\nAs an email subscriber reads the critical one:\n")
        print("\n".join("  | " + line for line in critical["message"].splitlines()))


API_REQUESTS = [
    ("/balances", None),
    ("/balances/sunor/staging", None),
    ("/balances/srtgen/staging", None),
    ("/balances/apimall/staging", None),
    ("/balances/crun/prod/check", {"required": "2500", "margin": "10"}),
    ("/balances/sunor/staging/check", {"required": "50"}),
    ("/balances/crun/prod/history", {"limit": "2"}),
    ("/balances/openai", None),
    ("/balances/crun/prod/history", {"limit": "0"}),
    ("/alerts", {"provider": "sunor", "limit": "2"}),
    ("/alerts", {"label": "team=video", "limit": "5"}),
]


def print_api(stack: LocalStack) -> None:
    for path, query in API_REQUESTS:
        response = invoke_api(stack, path, query)
        shown = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
        body = response.body
        if path == "/balances":
            total = body["summary"]
            summary = (
                f"worth {total['total_value']:,.2f} {total['currency']} ({len(total['unpriced'])} unpriced); "
                f"{len(body['balances'])} balances: "
                + ", ".join(
                    f"{b['provider']}/{b['account']} {b['alert_level'] or 'no level yet'}"
                    for b in body["balances"]
                    if b["alert_level"] != "ok"
                )
                + " not ok"
            )
        elif path == "/alerts":
            summary = f"{len(body['items'])} alerts, newest first: " + "; ".join(a["subject"] for a in body["items"])
        elif path.endswith("/history"):
            summary = (
                json.dumps(body)[:150] if response.status != 200 else f"{len(body['items'])} items, newest {body['items'][0]['fetched_at']}"
            )
        else:
            keep = (
                "available",
                "status",
                "alert_level",
                "error_kind",
                "sufficient",
                "required_with_margin",
                "shortfall",
                "error",
                "message",
            )
            facts = {k: v for k, v in body.items() if k in keep and v is not None}
            if body.get("threshold") and body["threshold"]["basis"] != "absolute credits":
                facts["threshold"] = body["threshold"]["basis"]
            if body.get("silence"):
                facts["silence"] = body["silence"]["reason"]
            summary = json.dumps(facts)
        print(f"  GET {shown:<50} {response.status}  {summary}")


def print_spend(stack: LocalStack, port: int) -> None:
    """`credit-monitor spend --group-by label:team` through the real API handler (make serve's)."""
    since = format_time(datetime.now(UTC) - timedelta(days=7))
    sums: dict = {}
    report: dict = {}
    token = None
    while True:
        body = invoke_api(stack, "/spend", {"since": since, "group_by": "label:team", **({"next_token": token} if token else {})}).body
        report = report or body
        for row in body["totals"]:
            entry = sums.setdefault((row["group"], row["unit"]), [0.0, 0.0, None, 0])
            entry[0], entry[1], entry[3] = entry[0] + row["spent"], entry[1] + row["top_ups"], entry[3] + row["accounts"]
            if row["value"] is not None:
                entry[2] = (entry[2] or 0.0) + row["value"]
        token = body["next_token"]
        if token is None:
            break
    for line in spend_lines(sums, report, "label:team"):
        print("  " + line)


def tell_story(demo: Demo, sims: dict[str, ProviderSimulator]) -> None:
    """Six rounds: thresholds, a silence, a relative threshold, a glitch, a revoked key, an outage, a leaked key."""

    demo.round("Round 1: every poller runs through its real handler; the stream reaches the aggregator")
    demo.set_balance("crun", "prod", 450)
    demo.set_balance("sunor", "staging", 80)
    demo.set_balance("pixverse", "staging", 15000)
    demo.set_balance("openrouter", "prod", 12.25)
    demo.set_balance("srtgen", "staging", 250)
    demo.set_balance("apimall", "staging", 80)
    sims["crun"].fail(demo_key("crun", "staging"), "maintenance")
    demo.round("Round 2: credits spent (crun/prod, sunor/staging, pixverse/staging, openrouter/prod, srtgen/staging under 30% of "
               "its plan, apimall/staging while silenced); crun/staging in maintenance")  # fmt: skip
    demo.set_balance("crun", "prod", 3000)
    demo.set_balance("sunor", "staging", 20)
    sims["srtgen"].inject(demo_key("srtgen", "prod"), Fault(body=with_available("srtgen", 0), times=1))
    demo.round("Round 3: crun/prod topped up; sunor/staging still critical; sunor/legacy rejected a third time; "
               "srtgen/prod answers one glitchy 0; apimall is down", down=("apimall",))  # fmt: skip
    demo.round("Round 4: apimall still down", down=("apimall",))
    demo.set_balance(*LEAKED, DEMO_ACCOUNTS[LEAKED[0]][LEAKED[1]] - 500)
    demo.round("Round 5: apimall down a third round (one incident, not one alert per account); pixverse/prod's key leaked: "
               "500 credits in minutes, usually 100 an hour", down=("apimall",))  # fmt: skip
    demo.round("Round 6: apimall is back")


def main() -> int:
    started = time.monotonic()
    LOG_FILE.parent.mkdir(exist_ok=True)
    # Every bundled definition is deployed: the template's Providers list, then openrouter (and any you add).
    parameters = every_provider()
    receiver = WebhookReceiver().start()
    channels = {"SlackWebhookUrl": receiver.url(SLACK_PATH), "GenericWebhookUrl": receiver.url(GENERIC_PATH),
                "DiscordWebhookUrl": receiver.url(DISCORD_PATH), "DiscordWebhookLabels": "team=video"}  # fmt: skip
    with LocalStack(parameters={**parameters, **channels}) as stack, open(LOG_FILE, "w", encoding="utf-8") as log:
        stack.create_resources()
        sims = {provider: ProviderSimulator(provider) for provider in stack.pollers()}
        try:
            for sim in sims.values():
                sim.start()
            (CONFIG_FILE).write_text(json.dumps(thresholds_document(datetime.now(UTC)), indent=2) + "\n")
            print(f"The local stack: {created_resources(stack)} resources of template.yaml on moto, {len(sims)} provider simulators "
                  f"({', '.join(sims)}), a Slack, a Discord (team=video only) and a generic webhook on a local receiver.")  # fmt: skip
            print(f"Alerting configuration (thresholds, a silence, prices, labels, an anomaly rule): {CONFIG_FILE.relative_to(ROOT)}")
            print(f"crun's keys are in two secrets (its own and <its own>-2); {REVOKED[0]}/{REVOKED[1]}'s key was revoked.")
            demo = Demo(stack, sims, stack.subscribe_inbox("demo-inbox"), log)
            demo.set_up()
            tell_story(demo, sims)
            check = invoke_aggregator(stack, {"task": "check"}, output=log)
            demo.run_machines()
            print(f"\nScheduled check (staleness per provider, marked accounts, waiting groups): {check['providers']} providers, "
                  f"{check['accounts']} accounts, {check['published']} sent")  # fmt: skip

            print("\nStored balances (read back from DynamoDB); a failed poll keeps the last good balance:")
            print_balances(stack)
            print(f"\nSNS messages published ({len(demo.inbox.received)}), read from an SQS subscription of the alert topic:")
            print_messages(demo.inbox)
            events = len(demo.events.received)
            print(f"\nThe alerts as EventBridge events ({events}: one per alert and account), and the webhooks, delivered by the "
                  "template's rules to a local receiver:")  # fmt: skip
            print_webhooks(receiver, demo.inbox)
            print("\nThe balance API, through its real handler (deployed, it requires SigV4 or an API key):")
            print_api(stack)
            print(
                "\nWhat each team spent this week (GET /spend?group_by=label:team, "
                "as credit-monitor spend --group-by label:team prints it):"
            )
            print_spend(stack, 0)
        finally:
            for sim in sims.values():
                sim.stop()
            receiver.stop()
    print(f"\nHandler logs and EMF metrics: {LOG_FILE.relative_to(ROOT)}")
    print(f"Done in {time.monotonic() - started:.1f}s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
