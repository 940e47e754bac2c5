"""Every provider against every fault, over real HTTP: the run survives and records what happened.

Each case: a good round first, then a round in which one account ("victim") meets the fault while
another ("healthy") answers normally. The victim's classified error is recorded with its last good
balance kept, the healthy account is stored, the run ends inside its time budget, and nothing is
raised out of the handler. With RELIABILITY_RESULTS=<file> the outcomes are written there for the
docs/operating.md's table (make reliability).
"""

import json
import math
import os
import socket
import time

import pytest

from devstack.simulators import SPECS, Fault, example_response, with_available

pytestmark = pytest.mark.integration

PROVIDERS = sorted(SPECS)
BUDGET_S = 4.0
RESULTS: list[dict] = []


def with_value(provider, value):
    return json.dumps(with_available(provider, value), allow_nan=True)


def body_level_failure(provider):
    """The provider's own failure envelope, sent with HTTP 200."""
    _, body = SPECS[provider].errors["auth"]
    return Fault(status=200, body=body)


FAULTS = {
    "connection refused": (None, "unreachable"),
    "connection dropped": (lambda p: Fault(drop=True), "unreachable"),
    "no answer (timeout)": (lambda p: Fault(delay=30), "timeout"),
    "reset mid-body": (lambda p: Fault(body=json.dumps(example_response(p)), truncate=True), "provider_error"),
    "slow trickle body": (lambda p: Fault(body=json.dumps(example_response(p)) + " " * 400, trickle=0.02), "timeout"),
    "HTTP 500": (lambda p: Fault(status=500, body={}), "provider_error"),
    "HTTP 502 HTML page": (lambda p: Fault(status=502, body="<html><h1>502 Bad Gateway</h1></html>"), "provider_error"),
    "429 with huge Retry-After": (lambda p: Fault(status=429, body={}, headers={"Retry-After": "86400"}), "rate_limited"),
    "HTTP 401": (lambda p: Fault(status=401, body={}), "auth"),
    "HTTP 403": (lambda p: Fault(status=403, body={}), "auth"),
    "failure body with HTTP 200": (body_level_failure, "auth"),
    "malformed JSON": (lambda p: Fault(body='{"data": {'), "bad_response"),
    "credits as a string": (lambda p: Fault(body=with_value(p, "1000")), "bad_response"),
    "negative credits": (lambda p: Fault(body=with_value(p, -50)), "bad_response"),
    "NaN credits": (lambda p: Fault(body=with_value(p, math.nan)), "bad_response"),
    "boolean credits": (lambda p: Fault(body=with_value(p, True)), "bad_response"),
    "1e308 credits": (lambda p: Fault(body=with_value(p, 1e308)), "bad_response"),
    "missing fields": (lambda p: Fault(body={"unexpected": True}), None),  # each provider names this its own way
    "20 MB body": (lambda p: Fault(body=b" " * 20_000_000), "bad_response"),
}


@pytest.fixture(scope="module", autouse=True)
def write_results():
    yield
    target = os.environ.get("RELIABILITY_RESULTS")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump({"fault_matrix": RESULTS}, handle, indent=1)


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once the socket closes


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_fault_is_recorded_and_everything_else_carries_on(stack, sims, poll, balances, provider, fault):
    sim = sims[provider]
    sim.set_balance("sk-victim", 500)
    sim.set_balance("sk-healthy", 300)
    stack.put_api_keys(provider, {"victim": "sk-victim", "healthy": "sk-healthy"})
    assert poll(provider).summary["succeeded"] == 2
    sim.set_balance("sk-healthy", 250)
    make_fault, expected_kind = FAULTS[fault]
    base_url = closed_port_url() if make_fault is None else None
    if make_fault is not None:
        sim.inject("sk-victim", make_fault(provider))

    started = time.monotonic()
    run = poll(provider, timeout=BUDGET_S, base_url=base_url)  # raises if anything escapes the handler
    elapsed = time.monotonic() - started

    latest = balances.latest(provider)
    victim = latest["victim"]
    outcome = {"provider": provider, "fault": fault, "kind": victim.get("error_kind"), "seconds": round(elapsed, 2)}
    RESULTS.append(outcome)
    assert elapsed < BUDGET_S, f"the run took {elapsed:.1f}s of a {BUDGET_S}s budget"
    assert victim["status"] == "error"
    if expected_kind:
        assert victim["error_kind"] == expected_kind, victim["error"]
    else:
        assert victim["error_kind"] in ("bad_response", "auth", "provider_error"), victim["error"]
    assert victim["available"] == 500, "the last good balance is kept"
    if make_fault is not None:  # a host-wide fault (refused) reaches every account; a per-key one does not
        assert latest["healthy"]["status"] == "ok"
        assert latest["healthy"]["available"] == 250
        assert run.summary["succeeded"] == 1
    outcome["survived"] = True
