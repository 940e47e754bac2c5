"""What each account, provider and team spent: GET /spend and `credit-monitor spend` agree with a hand
computation on a history with top-ups, an allowance reset, and balances in credits, USD and EUR."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer

import pytest

from credit_monitor.model import BalanceItem, Reading, format_time
from credit_monitor.storage.items import balance_item, history_item
from credit_monitor_cli import main as credit_monitor
from devstack.invoke import invoke_api, reset_warm_state
from devstack.serve import LocalApi

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SINCE, UNTIL = format_time(T0), format_time(T0 + timedelta(hours=4))
CONFIG = {"default": {"warning": 5, "critical": 1}, "prices": {"currency": "USD", "crun": 0.002, "sunor": 1.1},
          "labels": {"crun": {"team": "video"}, "openrouter": {"team": "llm"}, "sunor": {"team": "video"}}}  # fmt: skip

# (provider, account, unit, readings: (hours after T0, available, plan reset time))
HISTORY = [
    (
        "crun",
        "prod",
        "credits",
        [(-1, 1200, "a"), (0, 1000, "a"), (1, 800, "a"), (2, 1300, "a"), (3, 1200, "a"), (3.5, 5000, "b"), (6, 4975, "b")],
    ),
    ("openrouter", "prod", "USD", [(0, 50, None), (2, 40, None), (3, 45, None)]),
    ("sunor", "eu", "EUR", [(0, 100, None), (1, 70, None)]),
]
# By hand, over [T0, T0 + 4 h]: crun spent 200 + 100, and 5 of the 25 it spent evenly from 3.5 h to 6 h (half an hour of
# two and a half in the range): 305, topped up 500 (the jump to 5,000 is an allowance reset, neither; what it spent before
# T0 is outside); 0.61 USD. openrouter spent 10 and topped up 5: 10 USD (already in the currency). sunor spent 30 EUR at
# 1.1 USD: 33 USD. In all, 43.61 USD.


@pytest.fixture
def spending(stack):
    stack.set_thresholds(json.dumps(CONFIG))
    reset_warm_state()
    table = stack.table()
    for provider, account, unit, readings in HISTORY:
        for hours, available, plan in readings:
            when = format_time(T0 + timedelta(hours=hours))
            breakdown = {"plans": [{"resets_at": plan}]} if plan else {}
            table.put_item(Item=history_item(provider, account, when, Reading(available, breakdown=breakdown, unit=unit), 400))
        table.put_item(Item=balance_item(BalanceItem(provider, account, when, "ok", available, 0, available, unit=unit, fetched_at=when)))
    # The aggregator keeps the last good configuration where the API reads it.
    from credit_monitor.storage import ConfigStore  # noqa: PLC0415

    ConfigStore(table).remember_thresholds(json.dumps(CONFIG), "d")


def test_get_spend_agrees_with_the_hand_computation(stack, spending):
    body = invoke_api(stack, "/spend", {"since": SINCE, "until": UNTIL}).body
    rows = {(a["provider"], a["account"]): (a["unit"], a["spent"], a["top_ups"], a["resets"], a["value"]) for a in body["accounts"]}
    assert rows == {
        ("crun", "prod"): ("credits", 305, 500, 1, 0.61),
        ("openrouter", "prod"): ("USD", 10, 5, 0, 10),
        ("sunor", "eu"): ("EUR", 30, 0, 0, 33),
    }
    assert (body["currency"], body["value_total"], body["next_token"]) == ("USD", 43.61, None)
    totals = {(t["group"], t["unit"]): (t["spent"], t["value"]) for t in body["totals"]}
    assert totals == {("crun", "credits"): (305, 0.61), ("openrouter", "USD"): (10, 10), ("sunor", "EUR"): (30, 33)}

    by_team = invoke_api(stack, "/spend", {"since": SINCE, "until": UNTIL, "group_by": "label:team"}).body["totals"]
    assert {(t["group"], t["unit"]): t["value"] for t in by_team} == {("video", "credits"): 0.61, ("video", "EUR"): 33, ("llm", "USD"): 10}
    video = invoke_api(stack, "/spend", {"since": SINCE, "until": UNTIL, "label": "team=video"}).body
    assert sorted(a["provider"] for a in video["accounts"]) == ["crun", "sunor"]


def test_get_spend_reads_a_page_of_accounts_at_a_time(stack, spending):
    seen, token = [], None
    for _ in range(5):
        body = invoke_api(stack, "/spend", {"since": SINCE, "until": UNTIL, "limit": "1", **({"next_token": token} if token else {})}).body
        seen += [(a["provider"], a["account"]) for a in body["accounts"]]
        token = body["next_token"]
        if token is None:
            break
    assert seen == [("crun", "prod"), ("sunor", "eu"), ("openrouter", "prod")]  # the stack's Providers order
    refused = invoke_api(stack, "/spend", {"since": SINCE, "until": UNTIL, "group_by": "unit", "next_token": body.get("next_token") or "x"})
    assert refused.status == 400


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ({"since": UNTIL, "until": SINCE}, 400, "since must not be after until"),
        ({"account": "prod"}, 400, "account needs provider"),
        ({"group_by": "team"}, 422, "query parameter 'group_by'"),
        ({"label": "team"}, 422, "query parameter 'label'"),
        ({"provider": "openai"}, 404, "unknown provider 'openai'"),
        ({"limit": "101"}, 422, "must be at most 100"),
    ],
)
def test_get_spend_refuses_bad_input_naming_it(stack, spending, query, status, says):
    response = invoke_api(stack, "/spend", query)
    assert (response.status, says in response.body["message"]) == (status, True), response.body


def test_the_command_line_sums_every_page_as_the_api_does(stack, spending, capsys, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), LocalApi(stack, "spend-key").handler_class())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SPEND_KEY", "spend-key")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert credit_monitor(["spend", "--api-url", url, "--api-key-env", "SPEND_KEY", "--since", SINCE, "--until", UNTIL,
                               "--group-by", "label:team"]) == 0  # fmt: skip
    finally:
        server.shutdown()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Spend from {SINCE} to {UNTIL}:"
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in out[2:-1]}
    assert rows[("video", "credits")] == ["305", "500", "0.61", "1"]
    assert rows[("video", "EUR")] == ["30", "0", "33", "1"]
    assert rows[("llm", "USD")] == ["10", "5", "10", "1"]
    assert out[-1].startswith("Total: 43.61 USD")
