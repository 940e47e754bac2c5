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

from credit_monitor.cli.status import balance_table, balances_from_table
from credit_monitor.model import format_time
from devstack import ROOT
from devstack.events import EventRouter, WebhookReceiver
from devstack.invoke import function_invoker, invoke_aggregator, invoke_api, invoke_poller
from devstack.stepfunctions import StateMachineRunner
from devstack.moto_stack import AlertInbox, LocalStack
from devstack.simulators import Fault, ProviderSimulator, with_available
from devstack.streams import StreamPump
from devstack.template import every_provider

LOG_FILE = ROOT / ".demo" / "handler-output.jsonl"

# Two accounts per provider (available, or (available, frozen)), and one sunor key the provider revoked.
# A provider not named here (one you added) gets one account, "prod", answering its documented example.
DEMO_ACCOUNTS = {
    "crun": {"prod": 1000, "staging": 2400},
    "sunor": {"prod": (950, 10), "staging": 600},
    "srtgen": {"prod": 1250, "staging": 3000},
    "apimall": {"prod": 1200, "staging": 900},
    "pixverse": {"prod": 1072650, "staging": 80000},
    "openrouter": {"prod": 37.5},  # defined by configuration only: providers/definitions/openrouter.json
}
REVOKED = ("sunor", "legacy")
SLACK_PATH, GENERIC_PATH = "/slack", "/generic"
THRESHOLDS = {
    "default": {"warning": 500, "critical": 100},
    "pixverse": {"warning": 20000, "critical": 5000},
    "srtgen": {"warning_percent": 30, "critical_percent": 10, "percent_of": "allowance"},  # of its plan's 1,000 a month
    "openrouter": {"warning": 20, "critical": 5},  # USD
    "silences": [{"provider": "apimall", "account": "staging", "reason": "load test this week", "until": "<a week from now>"}],
    "prices": {"currency": "USD", "crun": 0.002, "sunor": 0.01, "srtgen": 0.005, "apimall": 0.004, "pixverse": 0.0001},
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
        self.stack.set_thresholds(json.dumps(thresholds_document(datetime.now(UTC))))
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
            self.stack.put_api_keys(provider, keys)

    def set_balance(self, provider: str, account: str, credits: float) -> None:
        key = demo_key(provider, account)
        self.sims[provider].set_balance(key, credits, self.sims[provider].reading(key).frozen)

    def round(self, title: str) -> None:
        print(f"\n{title}")
        event = json.loads((ROOT / "events" / "poller-schedule.json").read_text())
        for provider, sim in self.sims.items():
            output = io.StringIO()
            summary = invoke_poller(self.stack, provider, event, base_url=sim.base_url, output=output)
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
        self.run_machines()
        self.log.write(output.getvalue())
        alerts = self.inbox.fetch()
        print(f"  aggregator: {delivered} stream records, {len(alerts)} alert(s)" + "".join(f"\n    -> {a['subject']}" for a in alerts))
        for line in logged(output, "alert silenced"):
            print(f"    (held back by a silence: {line['provider']}/{line['account']} {line['alert_level'].upper()}, {line['reason']})")
        if alerts:
            before = len(self.router.deliveries)
            self.router.deliver()
            events = self.events.fetch()
            posts = Counter(d.rule.removesuffix("WebhookRule").lower() for d in self.router.deliveries[before:] if d.ok)
            print(
                f"  EventBridge: {len(events)} event(s) on the bus; webhook POSTs accepted: "
                + ", ".join(f"{k} {v}" for k, v in posts.items())
            )


def logged(output: io.StringIO, message: str) -> list[dict]:
    """The handler's JSON log lines whose message starts with ``message``."""
    lines = [json.loads(line) for line in output.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if str(line.get("message", "")).startswith(message)]


def created_resources(stack: LocalStack) -> list[str]:
    """What the local stack created, one entry per kind of per-provider resource ("<provider>ApiKeys" x6)."""
    pollers = stack.pollers()
    prefixes = [logical_id.removesuffix("Poller") for logical_id in pollers.values()]
    shown: dict[str, int] = {}
    for logical_id in sorted(stack.physical_ids):
        prefix = next((p for p in prefixes if logical_id.startswith(p) and logical_id[len(p) : len(p) + 1].isupper()), None)
        name = f"<provider>{logical_id[len(prefix) :]}" if prefix else logical_id
        shown[name] = shown.get(name, 0) + 1
    return [name if count == 1 else f"{name} x{count}" for name, count in shown.items()]


def print_balances(stack: LocalStack) -> None:
    """The table `credit-monitor status --from-table` prints for a deployed stack."""
    providers = list(stack.pollers())
    for line in balance_table(balances_from_table(stack.physical_ids["BalancesTable"], providers)):
        print("  " + line)


def print_webhooks(receiver: WebhookReceiver, inbox: AlertInbox) -> None:
    subjects = [m["subject"] for m in inbox.received]
    for path, subject_of in ((SLACK_PATH, lambda body: body["text"]), (GENERIC_PATH, lambda body: body["alert"]["subject"])):
        received = [subject_of(r.body) for r in receiver.at(path)]
        same = "the same alerts in the same order as SNS" if received == subjects else f"DIFFERENT from SNS: {received}"
        print(f"  {path}: {len(received)} POSTs, {same}")
    slack, generic = receiver.at(SLACK_PATH)[0].body, receiver.at(GENERIC_PATH)[0].body
    print("\nThe first, as Slack's incoming webhook received it (the template's input transformer):\n")
    print("  | " + json.dumps(slack)[:300] + "...")
    print("\nand as the generic endpoint received it (the whole event detail, schema version 1):\n")
    alert = generic["alert"]
    kept = ("schema_version", "alert_id", "provider", "account", "event", "level", "previous_level", "condition", "resolved", "severity",
            "available", "unit", "threshold", "subject")  # fmt: skip
    print(
        "  | " + json.dumps({"source": generic["source"], "type": generic["type"], "alert": {**{k: alert[k] for k in kept}, "...": "..."}})
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


def main() -> int:
    started = time.monotonic()
    LOG_FILE.parent.mkdir(exist_ok=True)
    print("Starting the local stack (moto server, resources from template.yaml)...")
    # Every bundled definition is deployed: the template's Providers list, then openrouter (and any you add).
    parameters = every_provider()
    receiver = WebhookReceiver().start()
    channels = {"SlackWebhookUrl": receiver.url(SLACK_PATH), "GenericWebhookUrl": receiver.url(GENERIC_PATH)}
    with LocalStack(parameters={**parameters, **channels}) as stack, open(LOG_FILE, "w", encoding="utf-8") as log:
        stack.create_resources()
        print(f"  Providers={parameters['Providers']}")
        print(f"  moto at {stack.endpoint}: {', '.join(created_resources(stack))}")
        sims = {provider: ProviderSimulator(provider) for provider in stack.pollers()}
        try:
            for sim in sims.values():
                sim.start()
            print("  simulators: " + ", ".join(f"{p} {s.base_url}" for p, s in sims.items()))
            print(f"  thresholds: {json.dumps(THRESHOLDS)}")
            print(f"  webhooks: Slack and generic formats, received on {receiver.url('/')}")
            demo = Demo(stack, sims, stack.subscribe_inbox("demo-inbox"), log)
            demo.set_up()

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
                       "srtgen/prod answers one glitchy 0")  # fmt: skip
            check = invoke_aggregator(stack, {"task": "check"}, output=log)
            demo.run_machines()
            print(f"\nScheduled check (staleness, forecasts, queued messages): {check['accounts']} accounts, {check['published']} sent")

            print("\nStored balances (read back from DynamoDB); a failed poll keeps the last good balance:")
            print_balances(stack)
            print(f"\nSNS messages published ({len(demo.inbox.received)}), read from an SQS subscription of the alert topic:")
            print_messages(demo.inbox)
            events = len(demo.events.received)
            print(f"\nThe same alerts as EventBridge events ({events}), delivered by the template's rules to a local receiver:")
            print_webhooks(receiver, demo.inbox)
            print("\nThe balance API, through its real handler (deployed, it requires SigV4 or an API key):")
            print_api(stack)
        finally:
            for sim in sims.values():
                sim.stop()
            receiver.stop()
    print(f"\nHandler logs and EMF metrics: {LOG_FILE.relative_to(ROOT)}")
    print(f"Done in {time.monotonic() - started:.1f}s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
