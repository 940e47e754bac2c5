"""The poller handler, end to end: simulators over real HTTP, moto over real boto3 calls.

Given accounts in a provider's secret and a simulator answering for them, when the real handler runs,
then the right balances (or classified failures) are stored, metrics emitted, and nothing leaks.
"""

import json
import socket
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from credit_monitor.errors import ConfigurationError
from credit_monitor.storage import BalanceStore
from devstack.simulators import Fault, example_response

pytestmark = pytest.mark.integration

PROVIDERS = ["crun", "sunor", "srtgen", "apimall", "pixverse"]


def given_accounts(stack, sims, provider, balances: dict[str, float]) -> dict[str, str]:
    keys = {account: f"sk-{provider}-{account}-0123456789" for account in balances}
    for account, credits in balances.items():
        sims[provider].set_balance(keys[account], credits)
    stack.put_api_keys(provider, keys)
    return keys


# -- success ----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_documented_example_is_polled_normalized_and_stored(stack, sims, poll, balances, provider):
    key = f"sk-{provider}-example"
    sims[provider].set_response(key, example_response(provider))
    stack.put_api_keys(provider, {"prod": key})

    run = poll(provider)

    expected = {"crun": (1000, 0), "sunor": (950, 10), "srtgen": (1250, 0), "apimall": (120, 0), "pixverse": (1072650, 0)}[provider]
    assert run.summary["succeeded"] == 1
    item = balances.latest(provider)["prod"]
    assert (item["available"], item["frozen"], item["total"]) == (*expected, sum(expected))
    assert item["status"] == "ok"
    assert item["fetched_at"].endswith("Z")
    [history] = balances.history(provider, "prod")
    assert history["available"] == expected[0]
    assert int(history["expires_at"]) > time.time() + 399 * 86400


def test_every_account_of_a_provider_is_polled_in_one_run(stack, sims, poll, balances):
    given_accounts(stack, sims, "sunor", {f"team-{i}": 100 * i for i in range(12)})

    run = poll("sunor")

    assert run.summary["polled"] == 12
    assert {a: i["available"] for a, i in balances.latest("sunor").items()} == {f"team-{i}": 100 * i for i in range(12)}


def test_by_default_the_metrics_are_per_provider_and_each_account_is_a_log_line(stack, sims, poll):
    given_accounts(stack, sims, "crun", {"prod": 700, "staging": 30})
    stack.put_api_keys("crun", {"prod": "sk-crun-prod-0123456789", "staging": "sk-crun-staging-0123456789", "old": "sk-revoked"})

    run = poll("crun")  # AccountMetrics=DISABLED, the default: no series per account

    assert run.metrics("AvailableCredits") == []
    [lowest] = run.metrics("LowestAvailable")
    assert lowest["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Provider"]]
    assert (lowest["Provider"], lowest["LowestAvailable"]) == ("crun", [30.0])
    [failures] = run.metrics("PollFailures")
    assert (failures["Provider"], failures["PollFailures"]) == ("crun", [1.0])
    series = {(r["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], r.get("Provider")) for r in run.records() if "_aws" in r}
    assert series == {("LowestAvailable", "crun"), ("PollFailures", "crun")}  # two series, however many accounts
    # The dashboard draws every account from these lines instead (Logs Insights over the pollers' log group).
    lines = {line["account"]: line for line in run.logs() if line["message"] == "account polled"}
    assert (lines["prod"]["available"], lines["staging"]["available"], lines["old"]["status"]) == (700, 30, "error")


def test_with_account_metrics_enabled_each_account_is_a_series(stack, sims, poll):
    given_accounts(stack, sims, "crun", {"prod": 700, "staging": 30})
    stack.put_api_keys("crun", {"prod": "sk-crun-prod-0123456789", "staging": "sk-crun-staging-0123456789", "old": "sk-revoked"})

    run = poll("crun", env={"ACCOUNT_METRICS": "ENABLED"})  # as AccountMetrics=ENABLED sets it

    available = {m["Account"]: m["AvailableCredits"] for m in run.metrics("AvailableCredits")}
    assert available == {"prod": [700.0], "staging": [30.0]}
    for record in run.metrics("AvailableCredits"):
        [definition] = record["_aws"]["CloudWatchMetrics"]
        assert definition["Namespace"] == "CreditMonitor"
        assert definition["Dimensions"] == [["Provider", "Account"]]
    [failures] = run.metrics("PollFailures")
    assert failures["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Provider"]]
    assert (failures["Provider"], failures["PollFailures"]) == ("crun", [1.0])


def test_pixverse_gets_a_fresh_trace_id_on_every_request(stack, sims, poll):
    given_accounts(stack, sims, "pixverse", {"a": 1, "b": 2, "c": 3})

    poll("pixverse")
    poll("pixverse")

    trace_ids = [r.headers["ai-trace-id"] for r in sims["pixverse"].requests]
    assert len(trace_ids) == 6
    assert len(set(trace_ids)) == 6


def test_apimall_is_called_with_a_bearer_token(stack, sims, poll):
    keys = given_accounts(stack, sims, "apimall", {"prod": 120})

    poll("apimall")

    [request] = sims["apimall"].requests
    assert request.headers["authorization"] == f"Bearer {keys['prod']}"
    assert request.path == "/api/v1/account/balances"


def test_a_manual_refresh_polls_only_the_named_accounts(stack, sims, poll, balances):
    given_accounts(stack, sims, "crun", {"prod": 10, "staging": 20})

    run = poll("crun", {"accounts": ["prod", "ghost"]})

    assert run.summary["polled"] == 1
    assert run.summary["unknown_accounts"] == ["ghost"]
    assert set(balances.latest("crun")) == {"prod"}


@pytest.mark.parametrize("event", [{}, {"version": "0", "detail-type": "Scheduled Event", "detail": {}}, [], "x", None])
def test_the_poller_does_not_depend_on_the_events_content(stack, sims, poll, event):
    given_accounts(stack, sims, "crun", {"prod": 10})
    assert poll("crun", event if event is not None else {}).summary["succeeded"] == 1


def test_a_malformed_refresh_event_is_refused_clearly(stack, sims, poll, balances):
    given_accounts(stack, sims, "crun", {"prod": 10})
    run = poll("crun", {"accounts": "prod"})
    assert "accounts" in run.summary["error"]
    assert balances.latest("crun") == {}


# -- failures are data ------------------------------------------------------------------------


def first_good_round(stack, sims, poll, provider="crun"):
    keys = given_accounts(stack, sims, provider, {"prod": 500, "other": 300})
    assert poll(provider).summary["succeeded"] == 2
    return keys


def assert_recorded(balances, provider, kind, says=""):
    latest = balances.latest(provider)
    prod, other = latest["prod"], latest["other"]
    assert prod["status"] == "error"
    assert prod["error_kind"] == kind, prod["error"]
    assert says in prod["error"]
    assert prod["available"] == 500  # the last good balance is kept
    assert other["status"] == "ok"  # the other account was still polled and stored
    assert other["available"] == 250
    return prod


def spend_other(sims, keys, provider="crun"):
    sims[provider].set_balance(keys["other"], 250)


@pytest.mark.parametrize(
    ("provider", "error", "kind", "says"),
    [
        ("crun", "auth", "auth", "crun code 401"),
        ("crun", "insufficient", "insufficient_credits", "code 402"),
        ("crun", "maintenance", "maintenance", "code 455"),
        ("crun", "server", "provider_error", "code 500"),
        ("sunor", "auth", "auth", "invalid API key"),
        ("srtgen", "auth", "auth", "unauthorized"),
        ("srtgen", "server", "provider_error", "server_error"),
        ("apimall", "forbidden", "auth", "not approved"),
        ("pixverse", "auth", "auth", "400012"),
        ("pixverse", "insufficient", "insufficient_credits", "500090"),
    ],
)
def test_a_providers_own_failure_envelope_is_classified(stack, sims, poll, balances, provider, error, kind, says):
    keys = first_good_round(stack, sims, poll, provider)
    spend_other(sims, keys, provider)
    sims[provider].fail(keys["prod"], error)

    run = poll(provider)

    assert run.summary["failed"] == 1
    assert_recorded(balances, provider, kind, says)


@pytest.mark.parametrize(
    ("fault", "kind", "says"),
    [
        (Fault(status=502, body="<html><body>Bad Gateway</body></html>"), "provider_error", "HTTP 502"),
        (Fault(status=200, body="{not json"), "bad_response", "not valid JSON"),
        (
            Fault(status=200, body={"code": 200, "data": {"balance": "lots"}}),
            "bad_response",
            "available (data.balance) is a str, expected a number",
        ),
        (Fault(status=200, body={"code": 200, "data": {}}), "bad_response", "available (data.balance) is missing"),
        (Fault(status=401, body=""), "auth", "HTTP 401"),
        (Fault(status=429, body={"code": 429}, headers={"Retry-After": "86400"}), "rate_limited", "retry after 86400"),
        (Fault(status=302, body="", headers={"Location": "http://elsewhere.invalid/steal"}), "provider_error", "not followed"),
        (Fault(status=200, body=b"x" * 2_000_000), "bad_response", "exceeds the 1 MB limit; not read"),
        (Fault(status=200, body=b"{}", declared_length=20_000_000), "bad_response", "20000000 bytes"),
        (Fault(status=200, body=json.dumps(example_response("crun")), truncate=True), "provider_error", "connection broken"),
        (Fault(drop=True), "unreachable", "could not connect"),
    ],
    ids=[
        "502-html",
        "malformed-json",
        "string-balance",
        "missing-balance",
        "401",
        "429-huge-retry-after",
        "redirect",
        "2mb-body",
        "declared-20mb",
        "reset-mid-body",
        "dropped",
    ],
)
def test_transport_and_content_faults_are_classified(stack, sims, poll, balances, fault, kind, says):
    keys = first_good_round(stack, sims, poll)
    spend_other(sims, keys)
    sims["crun"].inject(keys["prod"], fault)

    started = time.monotonic()
    run = poll("crun")

    assert run.summary["failed"] == 1
    assert_recorded(balances, "crun", kind, says)
    assert time.monotonic() - started < 25, "a fault must not hold the run to the function timeout"


def test_a_huge_retry_after_is_reported_not_slept_through(stack, sims, poll, balances):
    keys = first_good_round(stack, sims, poll)
    sims["crun"].inject(keys["prod"], Fault(status=429, body={"code": 429, "message": "slow down"}, headers={"Retry-After": "3600"}))

    poll("crun")

    assert len([r for r in sims["crun"].requests if r.headers["x-api-key"] == keys["prod"]]) == 2  # 1 good round + 1, no retry
    assert balances.latest("crun")["prod"]["error_kind"] == "rate_limited"


def test_transient_server_errors_are_retried_until_they_pass(stack, sims, poll, balances):
    keys = first_good_round(stack, sims, poll)
    sims["crun"].set_balance(keys["prod"], 480)
    sims["crun"].inject(keys["prod"], Fault(status=503, body={"code": 500, "message": "busy"}, times=2))

    run = poll("crun")

    assert run.summary["failed"] == 0
    assert balances.latest("crun")["prod"]["available"] == 480
    attempts = [r for r in sims["crun"].requests[2:] if r.headers["x-api-key"] == keys["prod"]]
    assert len(attempts) == 3


def test_a_short_retry_after_is_honoured(stack, sims, poll, balances):
    keys = first_good_round(stack, sims, poll)
    sims["crun"].inject(keys["prod"], Fault(status=429, body={"code": 429}, headers={"Retry-After": "1"}, times=1))

    started = time.monotonic()
    run = poll("crun")

    assert run.summary["failed"] == 0
    assert time.monotonic() - started >= 1.0  # it waited as asked before trying again


def test_an_unreachable_provider_is_recorded_for_every_account(stack, sims, poll, balances):
    first_good_round(stack, sims, poll)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound but never listening: connections are refused

        run = poll("crun", base_url=f"http://127.0.0.1:{port}")

    assert run.summary["failed"] == 2
    retries = [r for r in run.logs() if r["message"].startswith("Retrying")]
    assert retries, "connection errors are retried, and urllib3 logs that as JSON like every other line"
    for item in balances.latest("crun").values():
        assert item["error_kind"] == "unreachable"
        assert "could not connect to 127.0.0.1" in item["error"]
        assert item["available"] in (500, 300)


def test_a_silent_provider_times_out_within_the_functions_budget(stack, sims, poll, balances):
    keys = first_good_round(stack, sims, poll)
    spend_other(sims, keys)
    sims["crun"].inject(keys["prod"], Fault(delay=60, body={"code": 200, "data": {"balance": 1}}))

    started = time.monotonic()
    run = poll("crun", timeout=4)
    elapsed = time.monotonic() - started

    assert elapsed < 4, f"the run took {elapsed:.1f}s of a 4s function timeout"
    assert run.summary["failed"] == 1
    assert_recorded(balances, "crun", "timeout", "did not answer in time")


def test_a_vendor_dribbling_its_status_line_and_headers_costs_only_its_own_account(stack, sims, poll, balances):
    # One byte every second: each read brings one, so no read timeout ever fires. The round's deadline was
    # enforced only while reading the body; the run went on past the function's timeout, Lambda killed it,
    # and the healthy accounts' readings were lost with it.
    keys = first_good_round(stack, sims, poll)
    spend_other(sims, keys)
    sims["crun"].inject(keys["prod"], Fault(body={"code": 200, "data": {"balance": 1}}, dribble_head=1.0))

    started = time.monotonic()
    run = poll("crun", timeout=4)
    elapsed = time.monotonic() - started

    assert elapsed < 4, f"the run took {elapsed:.1f}s of a 4s function timeout"
    assert run.summary["failed"] == 1
    prod = assert_recorded(balances, "crun", "timeout", "in time")
    assert "time budget" in prod["error"]


def test_a_trickling_body_is_cut_off_at_the_budget(stack, sims, poll, balances):
    keys = first_good_round(stack, sims, poll)
    spend_other(sims, keys)
    sims["crun"].inject(keys["prod"], Fault(body=json.dumps(example_response("crun")) + " " * 500, trickle=0.05))

    started = time.monotonic()
    poll("crun", timeout=3)

    assert time.monotonic() - started < 3
    assert_recorded(balances, "crun", "timeout", "still arriving")


def test_consecutive_failures_are_counted_until_a_poll_succeeds(stack, sims, poll, balances):
    keys = first_good_round(stack, sims, poll)
    sims["crun"].fail(keys["prod"], "auth")
    poll("crun")
    poll("crun")
    failing = balances.latest("crun")["prod"]
    assert failing["consecutive_failures"] == 2

    sims["crun"].clear_fault(keys["prod"])
    poll("crun")

    recovered = balances.latest("crun")["prod"]
    assert recovered["status"] == "ok"
    assert "consecutive_failures" not in recovered  # no failures: nothing stored, read back as 0
    assert BalanceStore(stack.table()).latest("crun")["prod"].consecutive_failures == 0
    assert "error" not in recovered
    assert len(balances.history("crun", "prod")) >= 1


def test_an_account_whose_first_poll_fails_is_stored_without_a_balance(stack, sims, poll, balances):
    stack.put_api_keys("crun", {"new": "sk-never-registered"})

    run = poll("crun")

    assert run.summary["failed"] == 1
    item = balances.latest("crun")["new"]
    assert item["status"] == "error"
    assert "available" not in item
    assert balances.history("crun", "new") == []


# -- configuration faults ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "says"),
    [('{"prod": "sk-SECRETVALUE-1" ', "not valid JSON"), ('{"bad name": "sk-SECRETVALUE-1"}', "invalid account name"), ("", "empty")],
)
def test_a_malformed_secret_is_a_clear_error_naming_the_secret_not_its_value(stack, sims, poll, balances, secret, says):
    if secret:
        stack.put_api_keys("crun", secret)
    else:
        stack.put_api_keys("crun", " ")

    run = poll("crun")

    secret_name = stack.environment(stack.pollers()["crun"])["API_KEYS_SECRET"]
    assert secret_name in run.summary["error"]
    assert says in run.summary["error"]
    assert "SECRETVALUE" not in run.output + json.dumps(run.summary)
    assert balances.everything() == []
    [error_log] = [r for r in run.logs() if r["level"] == "ERROR"]
    assert secret_name in error_log["error"]
    assert run.metrics("PollFailures")[0]["PollFailures"] == [1.0]


def test_a_missing_secret_is_a_configuration_error_not_a_crash(stack, sims, poll):
    secret_name = stack.environment(stack.pollers()["crun"])["API_KEYS_SECRET"]
    boto3.client("secretsmanager").delete_secret(SecretId=secret_name, ForceDeleteWithoutRecovery=True)

    run = poll("crun")

    assert "ResourceNotFoundException" in run.summary["error"]


def test_the_empty_placeholder_secret_polls_nothing_says_so_and_costs_nothing(stack, sims, poll, balances):
    run = poll("crun", env={"ACCOUNT_METRICS": "ENABLED"})
    assert run.summary["polled"] == 0
    assert any(r["message"] == "no accounts configured yet" for r in run.logs())
    assert balances.everything() == []
    assert [r for r in run.records() if "_aws" in r] == []  # not a fault: no metric series, nothing to alarm on


def test_plain_http_to_a_non_loopback_host_is_refused(stack, sims, poll):
    stack.put_api_keys("crun", {"prod": "sk-1"})
    with pytest.raises(ConfigurationError, match="must use https"):
        poll("crun", base_url="http://api.crun.ai")


def test_a_storage_failure_raises_so_lambda_retries(stack, sims, poll):
    given_accounts(stack, sims, "crun", {"prod": 10})
    stack.table().delete()

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        poll("crun")


# -- what must never leak ---------------------------------------------------------------------


def test_keys_and_the_srtgen_email_never_reach_logs_storage_or_the_summary(stack, sims, poll, balances):
    everywhere = ""
    for provider in PROVIDERS:
        keys = given_accounts(stack, sims, provider, {"prod": 100, "revoked": 1})
        sims[provider].fail(keys["revoked"], "auth")
        run = poll(provider)
        everywhere += run.output + json.dumps(run.summary)
        assert run.summary["failed"] == 1
    sims["crun"].inject("sk-crun-prod-0123456789", Fault(status=400, body={"code": 422, "message": "bad key sk-crun-prod-0123456789"}))
    run = poll("crun")
    everywhere += run.output + json.dumps(run.summary)
    everywhere += json.dumps(balances.everything(), default=str)

    assert "sk-" not in everywhere, "an API key leaked"
    assert "alex.rivera@example.com" not in everywhere
    assert "Alex Rivera" not in everywhere
    assert balances.latest("crun")["prod"]["error"] == "crun code 422: bad key ***"
