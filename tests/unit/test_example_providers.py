"""Real vendors we do not ship, each described by one file in examples/providers/, read their documented
responses to the right number and classify their documented failures (the definitions' own examples)."""

import json

import pytest

from credit_monitor.errors import PollFailure
from credit_monitor.model import FailureKind
from credit_monitor.polling.providers import Credentials
from credit_monitor.polling.providers.definition import load_folder
from devstack import ROOT

FOLDER = ROOT / "examples" / "providers"
VENDORS = load_folder(FOLDER)

# What each vendor's documented successful response means, worked out by hand from its docs.
DOCUMENTED = {
    "novita": (100, "USD"),  # "1000000" in 1/10000 USD
    "luma": (123.45, "USD"),  # 12345 cents
    "heygen": (60, "credits"),  # 3600 / 60
    "aimlapi": (275.7822475, "USD"),  # 551,564,495 credits / 2,000,000 per USD
    "runway": (1500, "credits"),
    "fal": (24.5, "USD"),  # currency read from the answer
    "deepgram": (200, "USD"),  # 150.25 + 49.75 in usd; the balance in hours is not money
    "stability": (0.6336833840314097, "credits"),
    "bfl": (1234.5, "credits"),
    "elevenlabs": (82769, "characters"),  # 100,000 limit - 17,231 used
    "serpapi": (5958, "searches"),
    "openrouter-credits": (74.75, "USD"),  # 100.5 bought - 25.75 used
}


def test_every_vendor_the_issue_names_has_a_definition():
    assert set(DOCUMENTED) == set(VENDORS)


@pytest.mark.parametrize("vendor", sorted(DOCUMENTED))
def test_the_documented_response_reads_as_the_right_number(vendor):
    provider = VENDORS[vendor]
    [example, *_] = [e for e in provider.examples if e.succeeds]
    reading = provider.parse(example.status, example.body)
    assert (reading.available, reading.unit) == (pytest.approx(DOCUMENTED[vendor][0]), DOCUMENTED[vendor][1])


FAILURES = [(vendor, e) for vendor, p in sorted(VENDORS.items()) for e in p.examples if not e.succeeds]


@pytest.mark.parametrize(("vendor", "example"), FAILURES, ids=[f"{v}-{e.name}" for v, e in FAILURES])
def test_documented_failures_are_classified(vendor, example):
    with pytest.raises(PollFailure) as caught:
        VENDORS[vendor].parse(example.status, example.body)
    assert caught.value.kind.value == example.expect["error_kind"]


def test_serpapi_out_of_searches_is_insufficient_credits_although_it_comes_as_a_429():
    out = VENDORS["serpapi"].parse
    with pytest.raises(PollFailure) as caught:
        out(429, {"error": "Your account has run out of searches."})
    assert caught.value.kind is FailureKind.INSUFFICIENT_CREDITS


def test_serpapi_never_reads_the_key_or_email_its_answer_echoes():
    provider = VENDORS["serpapi"]
    [example, *_] = provider.examples
    reading = json.dumps(provider.parse(200, example.body).breakdown)
    assert "secret_api_key" not in reading
    assert "demo@serpapi.com" not in reading
    assert provider.request(provider.default_base_url, Credentials("sk-q")).params == {"api_key": "sk-q"}


def test_runway_sends_its_version_header_and_fal_its_fixed_query_with_an_admin_key():
    runway = VENDORS["runway"].request("https://api.dev.runwayml.com", Credentials("k"))
    assert runway.headers == {"X-Runway-Version": "2024-11-06", "Authorization": "Bearer k"}
    fal = VENDORS["fal"].request("https://api.fal.ai", Credentials("admin"))
    assert (fal.params, fal.headers["Authorization"]) == ({"expand": "credits"}, "Key admin")


def test_deepgram_puts_each_accounts_project_in_the_path():
    request = VENDORS["deepgram"].request("https://api.deepgram.com", Credentials("dg", {"project_id": "proj-42"}))
    assert request.url == "https://api.deepgram.com/v1/projects/proj-42/balances"
    assert request.headers == {"Authorization": "Token dg"}


def test_elevenlabs_reads_a_plan_quota_and_clamps_usage_past_the_limit():
    provider = VENDORS["elevenlabs"]
    overage = next(e for e in provider.examples if e.name == "overage")
    reading = provider.parse(200, overage.body)
    assert (reading.available, reading.breakdown["overage"], reading.allowance) == (0, 12000, 500000)
    assert reading.resets_at == "2025-01-31T20:54:18Z"
