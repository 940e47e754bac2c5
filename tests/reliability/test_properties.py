"""Property-based tests: any JSON into any adapter, any sequence of balances into the state machine."""

import copy
import math
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_monitor.alerting.rule_settings import AlertSettings
from credit_monitor.alerting.rules import evaluate_balance, raw_level
from credit_monitor.alerting.thresholds import Threshold
from credit_monitor.errors import PollFailure
from credit_monitor.model import MAX_CREDITS, RANK, AlertState, BalanceItem, Reading
from credit_monitor.polling.providers import known_providers, parse_response
from devstack.simulators import example_response

PROVIDERS = sorted(known_providers())
NOW = datetime(2026, 11, 21, tzinfo=UTC)
json_leaf = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=20)
json_value = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=25
)
statuses = st.sampled_from([200, 200, 200, 201, 301, 400, 401, 402, 403, 404, 429, 455, 500, 502, 503])


def outcome(provider, status, body):
    """The reading, or the failure's message; anything else raised fails the test."""
    try:
        return parse_response(known_providers()[provider], status, body)
    except PollFailure as failure:
        return failure.message


def assert_valid(reading: Reading) -> None:
    for value in (reading.available, reading.frozen):
        assert isinstance(value, int | float)
        assert not isinstance(value, bool)
        assert math.isfinite(value)
        assert 0 <= value <= MAX_CREDITS
    assert reading.total == reading.available + reading.frozen


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(provider=st.sampled_from(PROVIDERS), status=statuses, body=json_value)
def test_any_json_gives_a_valid_reading_or_a_classified_failure(provider, status, body):
    result = outcome(provider, status, body)
    if isinstance(result, str):
        assert result  # a failure always says why
    else:
        assert 200 <= status < 300
        assert_valid(result)


def mutate(body, choice, value):
    """Replace one node (chosen by index) of a documented example with an arbitrary JSON value."""
    body = copy.deepcopy(body)
    places = []

    def walk(node):
        keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        for key in keys:
            places.append((node, key))
            walk(node[key])

    walk(body)
    if places:
        parent, key = places[choice % len(places)]
        parent[key] = value
    return body


@settings(max_examples=600, deadline=None)
@given(provider=st.sampled_from(PROVIDERS), choice=st.integers(0, 1000), value=json_value)
def test_a_documented_example_with_any_field_broken_never_crashes(provider, choice, value):
    result = outcome(provider, 200, mutate(example_response(provider), choice, value))
    if not isinstance(result, str):
        assert_valid(result)


thresholds = st.tuples(st.integers(0, 2000), st.integers(0, 2000)).map(lambda t: Threshold(warning=max(t), critical=min(t)))
balances = st.lists(st.one_of(st.integers(-100, 5000), st.floats(-100, 5000, allow_nan=False)), min_size=1, max_size=40)


@settings(max_examples=500, deadline=None)
@given(threshold=thresholds, sequence=balances, hysteresis=st.sampled_from([0.0, 0.1, 0.5]))
def test_any_sequence_of_balances_sends_exactly_one_message_per_transition(threshold, sequence, hysteresis):
    alert_settings = AlertSettings(hysteresis=hysteresis)
    state = AlertState()
    for i, available in enumerate(sequence):
        item = BalanceItem("crun", "prod", polled_at=f"2026-11-21T10:{i // 60:02d}:{i % 60:02d}Z", available=available)
        before = state
        state, events = evaluate_balance(state, item, threshold, alert_settings, NOW)
        changed = state.level != before.level
        first_and_ok = before.level is None and state.level == "ok"  # a first reading that is ok is no news
        assert len(events) == (1 if changed and not first_and_ok else 0)  # one message per transition, none while it holds
        if events:
            [event] = events
            assert (event.level, event.previous_level) == (state.level, before.level_name)
            worse = before.level is None or RANK[state.level] > RANK[before.level]
            assert event.event == ("threshold" if worse else "recovery")
        raw = RANK[raw_level(available, threshold)]
        assert RANK[state.level] >= raw  # a level is never better than the balance says
        if before.level is None or raw >= RANK[before.level]:
            assert RANK[state.level] == raw  # falling (or holding) is immediate
        else:
            assert raw <= RANK[state.level] <= RANK[before.level]  # hysteresis holds a rise back, never overshoots
        assert evaluate_balance(state, item, threshold, alert_settings, NOW) == (state, [])  # redelivery sends nothing
