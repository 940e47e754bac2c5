"""The balance API through its real handler, on data the real poller and aggregator wrote."""

import base64
import json

import pytest
from boto3.dynamodb.conditions import Key

from credit_monitor import aws
from credit_monitor.model import AlertMessage, Reading
from credit_monitor.storage import query as storage_query
from credit_monitor.storage.items import alert_log_items, history_item, history_pk
from devstack.invoke import invoke_api
from devstack.openapi import OPENAPI_FILE
from devstack.openapi import current as current_openapi

pytestmark = pytest.mark.integration


@pytest.fixture
def accounts(stack, sims, poll, aggregate):
    """crun prod (healthy) and staging (critical), sunor team with a failing last poll."""
    sims["crun"].set_balance("sk-crun-prod", 1000)
    sims["crun"].set_balance("sk-crun-staging", 80)
    stack.put_api_keys("crun", {"prod": "sk-crun-prod", "staging": "sk-crun-staging"})
    sims["sunor"].set_balance("sk-sunor-team", 700, 30)
    stack.put_api_keys("sunor", {"team": "sk-sunor-team"})
    poll("crun")
    poll("sunor")
    sims["sunor"].fail("sk-sunor-team", "auth")
    poll("sunor")
    aggregate.stream()


@pytest.fixture
def api(stack):
    def get(path, **query):
        return invoke_api(stack, path, {k: str(v) for k, v in query.items()} or None)

    return get


def pages(api, path, **query):
    """Every page of a listing, following next_token until the API says there is no more."""
    token = None
    while True:
        answer = api(path, **query, **({"next_token": token} if token else {}))
        assert answer.status == 200, answer.body
        yield answer.body
        token = answer.body["next_token"]
        if token is None:
            return


@pytest.fixture
def dynamodb_calls():
    """Every DynamoDB operation the API's client makes, counted at the client."""
    calls = []
    client = aws._dynamodb().meta.client
    handler = lambda model, **kwargs: calls.append(model.name)  # noqa: E731
    client.meta.events.register("before-call.dynamodb", handler)
    yield calls
    client.meta.events.unregister("before-call.dynamodb", handler)


def test_all_balances_a_page_at_a_time_each_provider_one_page_of_reads(accounts, api, dynamodb_calls):
    first = api("/balances")
    # Per provider on the page: its accounts, their alert items (the same name range), its round item; a provider
    # without accounts, one empty Query; and the alerting configuration (kept a minute). Never a Scan.
    providers = 6  # every bundled definition is deployed in the test stack; crun and sunor have accounts
    assert dynamodb_calls == ["Query"] * (2 * 3 + (providers - 2) + 1)
    dynamodb_calls.clear()

    response = api("/balances")

    assert response.status == 200
    assert response.body == first.body
    assert response.body["next_token"] is None
    balances = {(b["provider"], b["account"]): b for b in response.body["balances"]}
    assert set(balances) == {("crun", "prod"), ("crun", "staging"), ("sunor", "team")}
    assert dynamodb_calls == ["Query"] * (2 * 3 + (providers - 2))


def test_all_balances_page_through_every_provider_without_gaps_or_repeats(accounts, api):
    listing = list(pages(api, "/balances", limit=2))
    assert [len(body["balances"]) for body in listing] == [2, 1]
    seen = [(b["provider"], b["account"]) for body in listing for b in body["balances"]]
    assert seen == [("crun", "prod"), ("crun", "staging"), ("sunor", "team")]  # in the stack's Providers order
    crun = api("/balances/crun", limit=1).body
    assert [b["account"] for b in crun["balances"]] == ["prod"]
    rest = api("/balances/crun", limit=1, next_token=crun["next_token"]).body
    assert ([b["account"] for b in rest["balances"]], rest["next_token"]) == (["staging"], None)
    refused = api("/balances/sunor", next_token=crun["next_token"])
    assert (refused.status, refused.body["message"]) == (400, "next_token was issued for another listing of balances")


def test_a_balance_carries_the_contract_fields(accounts, api):
    balance = api("/balances/crun/staging").body
    assert balance["provider"] == "crun"
    assert balance["account"] == "staging"
    assert (balance["available"], balance["frozen"], balance["total"]) == (80, 0, 80)
    assert balance["status"] == "ok"
    assert balance["alert_level"] == "critical"
    assert balance["fetched_at"].endswith("Z")
    assert balance["breakdown"] == {}


def test_a_failed_last_poll_shows_its_error_and_keeps_the_last_good_balance(accounts, api):
    balance = api("/balances/sunor/team").body
    assert (balance["status"], balance["error_kind"]) == ("error", "auth")
    assert "sunor code 401" in balance["error"]
    assert (balance["available"], balance["frozen"], balance["total"]) == (700, 30, 730)


def test_one_providers_balances(accounts, api, dynamodb_calls):
    response = api("/balances/crun")
    assert [b["account"] for b in response.body["balances"]] == ["prod", "staging"]
    assert dynamodb_calls == ["Query"] * 4  # its accounts, their alert items, its round, and the alerting configuration


def test_an_account_never_read_has_no_alert_level_rather_than_ok(accounts, stack, poll, aggregate, api):
    stack.put_api_keys("crun", {"prod": "sk-crun-prod", "staging": "sk-crun-staging", "fresh": "sk-never-accepted"})
    aws.clear_caches()  # a new container reads the secret again
    poll("crun")
    aggregate.stream()
    balance = api("/balances/crun/fresh").body
    assert (balance["status"], balance["available"], balance["alert_level"]) == ("error", None, None)
    assert api("/balances/crun/prod").body["alert_level"] == "ok"


@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-inf", "1_000", "0x10", "1e", " 5", "5 "])
def test_a_required_amount_that_is_not_a_json_number_is_refused_for_that_reason(accounts, api, value):
    response = api("/balances/crun/prod/check", required=value)
    assert response.status == 422
    assert response.body["message"].startswith("query parameter 'required': ")
    assert "is not a number" in response.body["message"]


def test_a_known_provider_without_accounts_is_an_empty_list(accounts, api):
    body = api("/balances/pixverse").body
    assert body["balances"] == []
    assert (body["summary"]["total_value"], body["summary"]["runs_out_first"]) == (None, None)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/balances/openai", "unknown provider 'openai'"),
        ("/balances/crun/ghost", "no account 'ghost' for provider 'crun'"),
        ("/balances/crun/ghost/history", "no account 'ghost'"),
        ("/balances/crun/ghost/check?required=1", "no account 'ghost'"),
        ("/balances/crun/prod/unknown", "no route GET"),
    ],
)
def test_unknown_things_are_404_naming_them(accounts, stack, path, says):
    route, _, query = path.partition("?")
    response = invoke_api(stack, route, dict([query.split("=")]) if query else None)
    assert response.status == 404
    assert says in response.body["message"]


def test_check_answers_whether_there_is_enough(accounts, api):
    assert api("/balances/crun/prod/check", required=900).body == {
        "sufficient": True,
        "available": 1000,
        "required": 900,
        "shortfall": 0,
        "margin_percent": 0,
        "required_with_margin": 900,
        "status": "ok",
        "fetched_at": api("/balances/crun/prod").body["fetched_at"],
        "reason": None,
    }
    short = api("/balances/crun/prod/check", required=900, margin=20).body
    assert (short["sufficient"], short["required_with_margin"], short["shortfall"]) == (False, 1080, 80)
    assert api("/balances/crun/staging/check", required=80).body["sufficient"] is True
    assert api("/balances/crun/staging/check", required=80.5).body["shortfall"] == 0.5


def test_check_on_an_account_never_read_says_it_cannot_tell(accounts, stack, poll, aggregate, api):
    stack.put_api_keys("crun", {"prod": "sk-crun-prod", "staging": "sk-crun-staging", "fresh": "sk-never-accepted"})
    aws.clear_caches()
    poll("crun")
    answer = api("/balances/crun/fresh/check", required=1).body
    assert (answer["sufficient"], answer["available"], answer["shortfall"]) == (False, None, None)
    assert answer["reason"] == "no balance has been read for this account yet (auth): cannot tell"


def write_history(stack, count, provider="crun", account="prod"):
    table = stack.table()
    with table.batch_writer() as batch:
        for i in range(count):
            fetched = f"2026-10-{1 + i // 1440:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00Z"
            batch.put_item(Item=history_item(provider, account, fetched, Reading(available=10_000 - i), 400))


def test_history_pages_through_everything_newest_first_without_gaps(accounts, stack, api):
    write_history(stack, 250)
    listing = list(pages(api, "/balances/crun/prod/history", limit=100))
    seen = [item["fetched_at"] for page in listing for item in page["items"]]
    assert len(listing) == 3
    assert len(seen) == 251  # 250 written + the poller's own reading
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == len(seen)


def test_history_time_range(accounts, stack, api):
    write_history(stack, 120)  # 2026-10-01 00:00 to 01:59, one a minute
    page = api("/balances/crun/prod/history", since="2026-10-01T01:00:00Z", until="2026-10-01T01:09:00+00:00").body
    assert [i["fetched_at"] for i in page["items"]] == [f"2026-10-01T01:{m:02d}:00Z" for m in range(9, -1, -1)]
    assert page["items"][0]["available"] == 10_000 - 69


@pytest.mark.parametrize(
    ("path", "query", "status", "names"),
    [
        ("/balances/crun/prod/history", {"limit": "0"}, 422, "'limit'"),
        ("/balances/crun/prod/history", {"limit": "1001"}, 422, "'limit'"),
        ("/balances/crun/prod/history", {"limit": "ten"}, 422, "'limit'"),
        ("/balances/crun/prod/history", {"since": "yesterday"}, 422, "'since'"),
        ("/balances/crun/prod/history", {"until": "2026-13-45"}, 422, "'until'"),
        # The edges of time: converting to UTC overflowed (a 502 through API Gateway); years below 1000 were misread.
        ("/balances/crun/prod/history", {"since": "0001-01-01T00:00:00+14:00"}, 422, "'since': '0001-01-01T00:00:00+14:00' is outside"),
        ("/balances/crun/prod/history", {"until": "9999-12-31T23:59:59-14:00"}, 422, "'until': '9999-12-31T23:59:59-14:00' is outside"),
        ("/balances/crun/prod/history", {"since": "0999-01-01T00:00:00Z"}, 422, "outside the years 1970..9999"),
        ("/alerts", {"since": "0001-01-01T00:00:00+14:00"}, 422, "query parameter 'since'"),
        # An unencoded + arrives as a space.
        ("/balances/crun/prod/history", {"since": "2026-11-21T08:00:00 02:00"}, 422, "send + as %2B"),
        ("/balances/crun/prod/history", {"limit": "1e3"}, 422, "'1e3' is not an integer (digits only"),
        ("/balances/crun/prod/history", {"limit": "9" * 5000}, 422, "is too large"),
        ("/balances/crun/prod/history", {"since": "2026-11-02", "until": "2026-11-01"}, 400, "since must not be after until"),
        ("/balances/crun/prod/history", {"next_token": "garbage!"}, 400, "next_token"),
        ("/balances/crun/prod/history", {"next_token": "x" * 600}, 422, "'next_token'"),
        ("/balances/crun/prod/check", {}, 422, "'required'"),
        ("/balances/crun/prod/check", {"required": "lots"}, 422, "'required'"),
        ("/balances/crun/prod/check", {"required": "-5"}, 422, "'required'"),
        ("/balances/crun/prod/check", {"required": "nan"}, 422, "'required'"),
        ("/balances/crun/prod/check", {"required": "1e400"}, 422, "'required'"),
        ("/balances/crun/prod/check", {"required": "5", "margin": "-1"}, 422, "'margin'"),
        ("/balances/Crun%20X", {}, 422, "path parameter 'provider'"),
        ("/balances/crun/" + "a" * 65, {}, 422, "path parameter 'account'"),
        ("/balances/crun/bad%23name", {}, 404, "no route GET /balances/crun/bad#name"),  # '#' can match no route
    ],
)
def test_bad_input_is_a_4xx_naming_the_parameter(accounts, stack, path, query, status, names):
    from urllib.parse import unquote  # noqa: PLC0415

    response = invoke_api(stack, unquote(path), query or None)
    assert response.status == status, response.body
    assert names in response.body["message"]
    assert response.body["error"] in ("bad_request", "invalid_parameter", "not_found")


def test_a_token_from_another_account_cannot_read_its_items(accounts, stack, api):
    write_history(stack, 5, account="staging")
    page = api("/balances/crun/staging/history", limit=2).body
    assert page["next_token"]

    replayed = api("/balances/crun/prod/history", limit=2, next_token=page["next_token"])
    assert replayed.status == 400
    assert "another account" in replayed.body["message"]

    # A forged token naming this account but crafted to resume elsewhere still reads only this account.
    forged = base64.urlsafe_b64encode(json.dumps({"p": "crun", "a": "prod", "k": "2099-01-01T00:00:00Z"}).encode()).decode()
    items = api("/balances/crun/prod/history", next_token=forged).body["items"]
    assert all(item["available"] == 1000 for item in items)  # prod's own reading, none of staging's


def write_alerts(stack, teams):
    """Sent-alert records, one per team in ``teams``, oldest first, one second apart."""
    table = stack.table()
    with table.batch_writer() as batch:
        for i, team in enumerate(teams):
            detail = {"provider": "crun", "account": f"a{i:04d}", "event": "threshold", "level": "warning", "labels": {"team": team}}
            message = AlertMessage(subject=f"alert {i} {team}", body="", sms="", attributes={}, detail=detail)
            for item in alert_log_items(f"{(1_790_000_000 + i) * 10**9:020d}-{i:08x}", message, 30):
                batch.put_item(Item=item)


def test_a_sparse_label_filter_fills_its_pages_and_pages_through_every_match(stack, api, dynamodb_calls):
    # 1 alert in 25 is team=video: a page of 5 is read over several queries, not answered with 0 or 1; and
    # at 1 in 400 the matches are further apart than a page's reads reach: a short page, then the rest.
    teams = ["video" if (i < 1500 and i % 25 == 0) or i in (2400, 3600) else "other" for i in range(4000)]
    write_alerts(stack, teams)
    seen, token, sizes = [], None, []
    while True:
        dynamodb_calls.clear()
        answer = api("/alerts", label="team=video", limit=5, **({"next_token": token} if token else {}))
        assert answer.status == 200, answer.body
        body = answer.body
        sizes.append(len(body["items"]))
        assert dynamodb_calls.count("Query") <= storage_query.FILTERED_READS  # bounded, never the partition whole
        seen += [item["subject"] for item in body["items"]]
        token = body["next_token"]
        if token is None:
            break
    matches = [i for i, team in enumerate(teams) if team == "video"]
    assert seen == [f"alert {i} video" for i in reversed(matches)]  # every match, newest first, once
    assert sizes[:2] == [1, 1]
    assert sizes[-4:-1] == [5, 5, 5]


def test_openapi_json_is_current():
    assert OPENAPI_FILE.read_text() == current_openapi(), "openapi.json is stale: run `make openapi`"


def test_a_listing_cut_by_dynamodbs_1_mb_page_says_there_is_more_and_skips_no_account(accounts, stack, api):
    # Large latest items (a long breakdown, ~3 KB each): 600 of them are ~1.8 MB, more than one Query page
    # returns (DynamoDB stops at 1 MB whatever Limit says). The listing must not end at the cut.
    table = stack.table()
    stored = table.get_item(Key={"pk": "BALANCE#crun", "sk": "prod"})["Item"]
    names = [f"pool-{i:04d}" for i in range(600)]
    with table.batch_writer() as batch:
        for name in names:
            batch.put_item(Item={**stored, "sk": name, "account": name, "breakdown": {"plan": "x" * 3000}})
    listing = list(pages(api, "/balances/crun", limit=1000))
    seen = [b["account"] for body in listing for b in body["balances"]]
    assert len(listing) >= 2  # one 1 MB page could not hold them
    assert seen == sorted([*names, "prod", "staging"])  # every account once, in order


def test_a_history_page_cut_by_dynamodbs_1_mb_cap_goes_on_where_it_stopped(accounts, stack, api):
    write_history(stack, 600)
    table = stack.table()
    with table.batch_writer() as batch:  # ~3 KB each: 600 readings are more than one 1 MB Query page
        for item in table.query(KeyConditionExpression=Key("pk").eq(history_pk("crun", "prod")))["Items"]:
            batch.put_item(Item={**item, "pad": "x" * 3000})
    seen = [item["fetched_at"] for page in pages(api, "/balances/crun/prod/history", limit=1000) for item in page["items"]]
    assert len(seen) == len(set(seen)) == 601  # 600 written + the poller's own reading, none lost at the cut
    assert seen == sorted(seen, reverse=True)
