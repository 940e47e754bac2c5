"""Any alerting configuration document is accepted or rejected with a message naming what is wrong: never
an exception that would fail the stream batch (and lose the alert it carried)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_monitor.alerting.thresholds import Thresholds, parse_thresholds
from credit_monitor.errors import ThresholdsError

KEYS = st.sampled_from(["default", "crun", "crun/prod", "pixverse/*", "silences", "prices", "labels", "$schema", "Bad Key", "x/"])
FIELDS = st.sampled_from(["warning", "critical", "warning_percent", "critical_percent", "percent_of", "warning_days", "critical_days",
                          "provider", "account", "reason", "until", "levels", "events", "currency", "team", "env"])  # fmt: skip
NUMBERS = st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**400), st.floats(allow_nan=True, allow_infinity=True))
DATES = st.one_of(st.just("0001-01-01T00:00:00+14:00"), st.just("9999-12-31T23:59:59-14:00"), st.just("0999-06-01T00:00:00Z"),
                  st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=30))  # fmt: skip
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, DATES, st.text(max_size=20))
NAMES = st.one_of(FIELDS, st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=5), max_leaves=30)


def outcome(text):
    """The document parsed, or the message it was rejected with; any other exception escapes (and fails the test)."""
    try:
        return parse_thresholds(text)
    except ThresholdsError as exc:
        return str(exc)


def document_text(value):
    try:
        return json.dumps(value)
    except ValueError:  # NaN and infinities: written as JSON's extensions, as a careless tool might
        return json.dumps(value, allow_nan=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_document_is_accepted_or_rejected_naming_what_is_wrong(document):
    found = outcome(document_text(document))
    assert isinstance(found, Thresholds) or "thresholds" in found


@settings(max_examples=100, deadline=None)
@given(VALUES)
def test_any_json_value_at_all_is_accepted_or_rejected(value):
    found = outcome(document_text(value))
    assert isinstance(found, Thresholds) or "thresholds" in found


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"default": {"warning": 1' + "0" * 400 + ', "critical": 1}}', "thresholds['default'].warning must be at most 1e+15"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ('{"labels": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}", "nested too deeply"),
        ('{"prices": {"currency": "USD", "crun": 1e400}}', "thresholds[\"prices\"]['crun'] must be a number >= 0"),
        ('{"silences": [{"reason": "x", "until": "0001-01-01T00:00:00+14:00"}]}', "outside the years 1970..9999"),
        ('{"silences": [{"reason": "x", "until": "9999-12-31T23:59:59-14:00"}]}', "outside the years 1970..9999"),
        ('{"silences": [{"reason": "x", "until": "0999-06-01T00:00:00Z"}]}', "outside the years 1970..9999"),
        ('{"labels": {"crun": {"Team": "video"}}}', 'thresholds["labels"]["crun"] has the label name "Team"'),
        ('{"labels": {"crun": {"team": "video team"}}}', 'thresholds["labels"]["crun"].team must be 1-64 of'),
        ('{"labels": {"crun/x y": {"team": "v"}}}', 'thresholds["labels"] key "crun/x y" must be'),
        ('{"labels": {"default": {"a": "1", "b": "1", "c": "1", "d": "1", "e": "1", "f": "1"}}}', "at most 5"),
    ],
)
def test_what_crashed_the_aggregator_is_rejected_with_its_message(text, says):
    with pytest.raises(ThresholdsError) as rejected:
        parse_thresholds(text)
    assert says in str(rejected.value)


def test_a_silence_is_stored_in_the_one_fixed_width_time_format():
    found = parse_thresholds('{"silences": [{"reason": "x", "until": "2027-01-01T02:00:00+02:00"}]}')
    assert found.silences[0].until == "2027-01-01T00:00:00Z"
