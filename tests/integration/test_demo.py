"""`make demo` runs the whole local system; this runs the same entry point and reads what it prints."""

import json
import os
import subprocess
import sys

import pytest

from devstack import PYTHONPATH, ROOT
from devstack import readme as readme_module

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo():
    result = subprocess.run(
        [sys.executable, "-m", "devstack.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{PYTHONPATH}{os.pathsep}{ROOT}"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def table_rows(output):
    """The stored-balances table, each row by (provider, account) as a dict of its columns."""
    table = output.split("Stored balances", 1)[1].split("SNS messages", 1)[0]
    lines = [line for line in table.splitlines() if line.startswith("  ")]
    header = lines[0].replace("FETCHED AT", "FETCHED_AT").replace("LAST POLL", "LAST_POLL").split()
    rows = [dict(zip(header, line.split(maxsplit=len(header) - 1), strict=True)) for line in lines[1:]]
    return {(r["PROVIDER"], r["ACCOUNT"]): r for r in rows}


def test_the_demo_polls_all_five_providers_through_the_real_handlers(demo):
    rows = table_rows(demo)
    assert {provider for provider, _ in rows} == {"crun", "sunor", "srtgen", "apimall", "pixverse", "openrouter"}
    assert rows[("crun", "staging")]["STATUS"] == "error"  # under maintenance, last good balance kept
    assert rows[("crun", "staging")]["AVAILABLE"] == "2,400"
    assert rows[("sunor", "legacy")]["STATUS"] == "error"  # a revoked key
    assert rows[("sunor", "legacy")]["LEVEL"] == "-"  # never read: no level
    assert [r["STATUS"] for r in rows.values()].count("ok") == 12  # apimall's outage is over
    assert len(rows) == 14
    assert (rows[("openrouter", "prod")]["AVAILABLE"], rows[("openrouter", "prod")]["UNIT"]) == ("12.25", "USD")


def test_the_demo_shows_the_alert_story(demo):
    messages = demo.split("SNS messages published", 1)[1]
    for line in (
        "[threshold warning ] crun/prod WARNING: 450 credits left",
        "[threshold critical] sunor/staging CRITICAL: 80 credits left",
        "[recovery  ok      ] crun/prod recovered to OK: 3,000 credits",
        "[failure   unknown ] sunor/legacy polls failing: API key rejected",
    ):
        assert line in messages
    assert "sunor/staging CRITICAL: 20" not in messages  # still critical: no second message
    assert "What to do:" in messages


def test_the_demo_never_shows_a_key(demo):
    assert "demo-" not in demo


def test_the_demo_ends_with_the_api_answering(demo):
    api = demo.split("The balance API", 1)[1]
    assert "GET /balances " in api
    assert "14 balances" in api
    assert "GET /balances/crun/prod/check?required=2500&margin=10" in api
    assert '"sufficient": true' in api  # 3,000 available covers 2,750
    assert '"sufficient": false' in api  # sunor/staging has 20 for 50
    assert "GET /balances/openai" in api
    assert "404" in api
    assert "422" in api


def test_the_demo_alerts_on_the_provider_defined_by_configuration(demo):
    assert "openrouter/prod WARNING: 12.25 USD left" in demo


def test_the_docs_demo_story_is_what_the_demo_prints(demo):
    shown = readme_module.normalized(readme_module.shown("demo"))
    assert shown == readme_module.normalized(readme_module.demo_block(demo)), "docs/local.md's demo block is stale: run make readme"


def test_the_demo_shows_the_alerts_arriving_at_local_webhooks_routed_by_label(demo):
    webhooks = demo.split("The alerts as EventBridge events", 1)[1].split("The balance API", 1)[0]
    sent = demo.split("SNS messages published (", 1)[1].split(")", 1)[0]
    assert f"/slack: {sent} POSTs (every notification), the same messages in the same order as SNS" in webhooks
    assert f"/generic: {sent} POSTs, one per alert and account" in webhooks
    discord = webhooks.split("/discord: ", 1)[1].splitlines()[0]
    assert discord.startswith("2 POSTs, only team=video's")
    assert "pixverse/staging" in discord
    assert "pixverse/prod ANOMALY" in discord
    assert "crun" not in discord
    assert '| {"text": "' in webhooks  # Slack's incoming-webhook format
    generic = json.loads(webhooks.rsplit("| ", 1)[1].strip())
    assert generic["source"] == "credit-monitor"
    assert generic["alert"]["schema_version"] == "1"
    assert "GET /alerts?provider=sunor&limit=2" in demo
    assert "GET /alerts?label=team=video&limit=5                   200  2 alerts" in demo


def test_an_outage_is_one_incident_and_one_all_clear_not_an_alert_per_account(demo):
    messages = demo.split("SNS messages published", 1)[1].split("As an email subscriber", 1)[0]
    assert messages.count("apimall") == 2
    assert "apimall INCIDENT: 4 of 4 accounts polls failing: provider unreachable" in messages
    assert "apimall incident over: provider unreachable" in messages
    assert "4 apimall accounts' own failure alerts held back by its incident" in demo


def test_a_leaked_key_spending_fast_is_an_anomaly_and_spend_is_reported_per_team(demo):
    assert "-> pixverse/prod ANOMALY: spending " in demo
    spend = demo.split("What each team spent this week", 1)[1]
    teams = {line.split()[0] for line in spend.splitlines()[3:] if line.startswith("    ") and not line.startswith("    TEAM")}
    assert teams == {"audio", "platform", "video"}
    assert "credits of different units are never added up" in spend


def test_a_provider_in_two_secrets_is_polled_as_one(demo):
    assert "crun's keys are in two secrets" in demo
    assert "  poll crun       2 accounts:" in demo


def test_the_demo_shows_a_silence_a_relative_threshold_and_a_rejected_glitch(demo):
    assert "(held back by a silence: apimall/staging CRITICAL, load test this week)" in demo
    assert "apimall/staging CRITICAL" not in demo.split("SNS messages published", 1)[1].split("The balance API", 1)[0]
    assert "-> srtgen/staging WARNING: 250 credits left" in demo  # 30% of its plan's 1,000: not the default 500
    assert '"threshold": "30% and 10% of the plan\'s allowance (1000)"' in demo
    assert "-> srtgen/prod: a reading of 0 not confirmed by an immediate second poll (1,250): the second reading is stored" in demo
    assert "srtgen/prod DEPLETED" not in demo
    assert "GET /balances                                          200  worth " in demo
