"""What a hostile or broken vendor can make the poller keep: every byte it sends may be written to break us.

Given a simulator answering as a vendor that quotes the account's key (whole, or where a cut falls), redirects
with the key in the query string, or writes chat markup and terminal escapes into the fields a definition
reads, when the real poller handler runs, then nothing of the key (no run of 8 of its characters, in any
form) reaches the log, the table or the API, and what is kept is plain text.
"""

import io
import json

import pytest

from credit_monitor.polling.providers import add_definitions, remove_definitions
from devstack import ROOT
from devstack.invoke import invoke_api, invoke_poller
from devstack.moto_stack import LocalStack
from devstack.simulators import Fault, ProviderSimulator, example_response
from devstack.template import every_provider
from tests.leak_scan import leaked

pytestmark = pytest.mark.integration

KEY = "sk-live-Qx7pL2mN9vR4tW8yZ1aB5cD3eF6gH0jK2lM4nP7qR9sT1uV3wX5yZ8aB0c"  # 64 characters, as real keys are
OTHER = "sk-live-healthy-0123456789abcdefghijklmnopqrstuvwxyz0123456789AB"
MARKUP = "<!channel> @everyone ```\x1b[2J\x1b]0;pwned\x07``` [log in here](https://evil.example/login) \u202etxt.exe <@U024BE7LH>"


def everything(run_output: str, summary: dict, stack, provider: str) -> str:
    """What the round wrote and what anyone can read back: its log, its summary, the table, the API."""
    answers = [invoke_api(stack, f"/balances/{provider}").body, invoke_api(stack, f"/balances/{provider}/prod").body]
    return "\n".join([run_output, json.dumps(summary), json.dumps(stack.table().scan()["Items"], default=str), json.dumps(answers)])


def test_a_key_quoted_where_the_message_is_cut_leaves_nothing_of_it_anywhere(stack, sims, poll, balances):
    # Seen: a key at offset 150 of a 401 message; the message was cut at 200, then redacted: 50 characters stayed.
    sims["crun"].set_balance(OTHER, 10)
    message = "x" * 150 + f"{KEY} is not a valid key"
    sims["crun"].inject(KEY, Fault(status=401, body={"code": 401, "message": message}))
    stack.put_api_keys("crun", {"prod": KEY, "other": OTHER})

    run = poll("crun")

    stored = balances.latest("crun")["prod"]
    assert stored["error_kind"] == "auth"
    assert stored["error"] == "crun code 401: " + "x" * 150 + "*** is not a valid key"
    assert leaked(everything(run.output, run.summary, stack, "crun"), [KEY]) == []


def test_a_vendor_quoting_the_start_of_the_key_it_rejects_has_that_masked(stack, sims, poll, balances):
    sims["crun"].inject(KEY, Fault(status=401, body={"code": 401, "message": f"Incorrect API key provided: {KEY[:11]}...{KEY[-4:]}"}))
    stack.put_api_keys("crun", {"prod": KEY})

    run = poll("crun")

    assert balances.latest("crun")["prod"]["error"] == f"crun code 401: Incorrect API key provided: ***...{KEY[-4:]}"
    assert leaked(everything(run.output, run.summary, stack, "crun"), [KEY]) == []


def test_a_malformed_status_line_quoting_part_of_the_key_leaves_nothing_of_it_in_urllib3s_retry_warnings(stack, sims, poll, balances):
    # urllib3 retries a broken answer and logs why, quoting the vendor's status line: our log redaction saw
    # only whole keys there.
    sims["crun"].inject(KEY, Fault(status_line=f"HTTP/1.1 2OO key {KEY[:20]} rejected"))
    stack.put_api_keys("crun", {"prod": KEY})

    run = poll("crun")

    assert any(r["message"].startswith("Retrying") for r in run.logs()), "urllib3 retried and said why"
    assert balances.latest("crun")["prod"]["error_kind"] == "unreachable"
    assert leaked(everything(run.output, run.summary, stack, "crun"), [KEY]) == []


def test_markup_in_a_vendor_message_is_kept_as_plain_words(stack, sims, poll, balances):
    sims["crun"].inject(KEY, Fault(status=200, body={"code": 455, "message": MARKUP}))
    stack.put_api_keys("crun", {"prod": KEY})

    poll("crun")

    error = balances.latest("crun")["prod"]["error"]
    assert error == "crun code 455: channel everyone '''''' log in here (hxxps://evil[.]example/login) txt.exe U024BE7LH"
    assert balances.latest("crun")["prod"]["error_kind"] == "maintenance"


def test_a_key_echoed_in_the_fields_a_definition_reads_is_masked_on_the_success_path(stack, sims, poll, balances):
    # srtgen's definition keeps each plan's name and status and reads its reset time: a vendor echoing the key
    # there exposed it whole in the table and the API.
    body = example_response("srtgen")
    plan = body["credits"]["plans"][0]
    plan.update(name=f"plan of {KEY}", status=f"{MARKUP} {KEY[:20]}", resetTime=KEY)
    body["credits"]["plans"].append({"id": KEY, "name": "x" * 90 + KEY, "status": "active", "balance": 0, "total": 0})
    sims["srtgen"].set_response(KEY, body)
    stack.put_api_keys("srtgen", {"prod": KEY})

    run = poll("srtgen")

    assert run.summary["succeeded"] == 1
    stored = balances.latest("srtgen")["prod"]
    first, second = stored["breakdown"]["plans"]
    assert first["name"] == "plan of ***"
    assert first["status"] == "channel everyone '''''' log in here (hxxps://evil[.]example/login) txt.exe U024BE7LH ***"
    assert first["resets_at"] == "***"
    assert second["id"] == "***"
    assert second["name"] == "x" * 90 + "***"
    assert "resets_at" not in stored  # a key is not a time: the reading has no reset time, and the log says so
    assert any(r["message"].startswith("resets_at read no time") for r in run.logs())
    assert leaked(everything(run.output, run.summary, stack, "srtgen"), [KEY]) == []


def test_a_breakdown_larger_than_a_reading_keeps_is_cut_not_stored_whole(stack, sims, poll, balances):
    # A 1 MB answer of nested plan names outgrew DynamoDB's 400 KB item and failed the whole round's write.
    body = example_response("srtgen")
    body["credits"]["plans"] = [
        {"id": f"p{i}", "name": [["n" * 100] * 20] * 20, "status": "active", "balance": 0, "total": 0} for i in range(20)
    ]
    sims["srtgen"].set_response(KEY, body)
    sims["srtgen"].set_balance(OTHER, 5)
    stack.put_api_keys("srtgen", {"prod": KEY, "other": OTHER})

    run = poll("srtgen")

    assert run.summary["succeeded"] == 2
    stored = balances.latest("srtgen")["prod"]
    assert stored["available"] == 1250
    assert len(json.dumps(stored["breakdown"])) < 40_000
    assert any(r["message"].startswith("breakdown cut") for r in run.logs())


# -- vendors the repository only has examples of: a key in the query string, a unit read from the answer ------

EXAMPLES = ROOT / "examples" / "providers"


@pytest.fixture(scope="module")
def example_stack():
    add_definitions(EXAMPLES)
    try:
        with LocalStack(stack_name="credit-monitor-hostile", parameters=every_provider("serpapi", "fal")) as stack:
            stack.create_resources()
            yield stack
    finally:
        remove_definitions(EXAMPLES)


def poll_example(stack, provider: str, sim: ProviderSimulator) -> tuple[dict, str]:
    output = io.StringIO()
    summary = invoke_poller(stack, provider, {}, base_url=sim.base_url, timeout=8, output=output)
    return summary, output.getvalue()


def test_a_redirect_keeping_a_query_key_is_reported_without_any_of_it(example_stack):
    # Seen: serpapi-style auth (the key in the query string), a 301 to a new host keeping the query string;
    # the Location was cut at 100 characters before it was redacted, and 42 of the key's 64 stayed in the log.
    with ProviderSimulator("serpapi") as sim:
        location = f"https://serpapi.example.net/account.json?api_key={KEY}"
        sim.inject(KEY, Fault(status=301, body="", headers={"Location": location}))
        example_stack.put_api_keys("serpapi", {"prod": KEY})

        summary, output = poll_example(example_stack, "serpapi", sim)

    [outcome] = summary["accounts"]
    defanged = "hxxps://serpapi[.]example[.]net/account.json?api_key=***"
    assert outcome["error"] == f"HTTP 301 Moved Permanently: redirected to {defanged}; not followed"
    assert leaked(everything(output, summary, example_stack, "serpapi"), [KEY]) == []


def test_a_unit_that_is_not_a_plain_word_falls_back_to_the_definitions_and_says_so(example_stack):
    with ProviderSimulator("fal") as sim:
        for key, currency in ((KEY, "<!here> USD"), (OTHER, "EUR")):
            body = example_response("fal")
            body["credits"]["currency"] = currency
            sim.set_response(key, body)
        example_stack.put_api_keys("fal", {"prod": KEY, "other": OTHER})

        summary, output = poll_example(example_stack, "fal", sim)

    assert summary["succeeded"] == 2
    units = {item["account"]: item["unit"] for item in invoke_api(example_stack, "/balances/fal").body["balances"]}
    assert units == {"prod": "USD", "other": "EUR"}  # the definition's unit, and a plain word as the vendor says
    [line] = [json.loads(line) for line in output.splitlines() if "unit_from read no plain unit" in line]
    assert (line["unit"], line["found"]) == ("USD", "here USD")
