"""One time format and one ISO-8601 parser: fixed-width UTC text that sorts as time does, sane years only."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credit_monitor.model import MAX_YEAR, MIN_YEAR, format_time, parse_time
from devstack import ROOT

SANE = st.datetimes(min_value=datetime(MIN_YEAR, 1, 2), max_value=datetime(MAX_YEAR, 12, 30), timezones=st.just(UTC))


@given(a=SANE, b=SANE)
def test_stored_times_are_fixed_width_and_sort_as_the_times_do(a, b):
    ta, tb = format_time(a), format_time(b)
    assert len(ta) == len(tb) == len("2026-11-21T08:00:00Z")
    assert (ta < tb) == (a.replace(microsecond=0) < b.replace(microsecond=0))
    assert parse_time(ta) == a.replace(microsecond=0)


@pytest.mark.parametrize("moment", [datetime(999, 12, 31, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(1, 1, 1)])
def test_a_time_outside_the_sane_years_is_refused_rather_than_stored_as_text_that_sorts_wrong(moment):
    # strftime gives "999-12-31T00:00:00Z" for the year 999, which sorts after every date of this century.
    with pytest.raises(ValueError, match=f"{MIN_YEAR}..{MAX_YEAR}"):
        format_time(moment)


def test_the_edges_of_the_sane_range_are_kept():
    assert format_time(datetime(MIN_YEAR, 1, 1, tzinfo=UTC)) == "1970-01-01T00:00:00Z"
    assert format_time(datetime(MAX_YEAR, 12, 31, 23, 59, 59)) == "9999-12-31T23:59:59Z"  # naive: taken as UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T08:00:00Z", datetime(2026, 11, 21, 8, tzinfo=UTC)),
        ("2026-11-21T08:00:00+02:00", datetime(2026, 11, 21, 6, tzinfo=UTC)),
        ("2026-11-21T08:00:00.5-01:30", datetime(2026, 11, 21, 9, 30, 0, 500000, tzinfo=UTC)),
        ("2026-11-21T08:00:00", datetime(2026, 11, 21, 8, tzinfo=UTC)),  # no offset: UTC, as every stored time is
        ("2026-11-21", datetime(2026, 11, 21, tzinfo=UTC)),
    ],
)
def test_iso8601_is_read_as_an_aware_utc_time(text, expected):
    parsed = parse_time(text, lenient=True)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0001-01-01T00:00:00+14:00", "outside the years 1970..9999"),  # OverflowError inside the conversion to UTC
        ("9999-12-31T23:59:59-14:00", "outside the years 1970..9999"),
        ("0999-06-01T00:00:00Z", "outside the years 1970..9999"),  # once read as '999-06-01...', after today
        ("1969-12-31T23:59:59Z", "outside the years 1970..9999"),
        ("yesterday", "not an ISO-8601 date-time such as 2026-11-21T08:00:00Z"),
        ("2026-13-01T00:00:00Z", "month must be in 1..12"),
        ("2026-11-21T08:00:00+25:00", "not an ISO-8601 date-time"),
        ("", "not an ISO-8601 date-time"),
    ],
)
def test_malformed_or_out_of_range_text_is_a_value_error_saying_what_is_wrong(text, says):
    with pytest.raises(ValueError, match=says.replace(".", r"\.")):
        parse_time(text, lenient=True)


def test_a_non_string_is_refused_clearly():
    with pytest.raises(ValueError, match="must be a string"):
        parse_time(20261121, lenient=True)


def test_long_text_is_quoted_short_in_the_error():
    with pytest.raises(ValueError, match="not an ISO-8601 date-time") as raised:
        parse_time("2026-" + "9" * 5000, lenient=True)
    assert len(str(raised.value)) < 200


@given(st.datetimes(min_value=datetime(MIN_YEAR, 1, 2), max_value=datetime(MAX_YEAR, 12, 30)), st.integers(-14 * 60, 14 * 60))
def test_any_offset_gives_the_same_instant_in_utc(moment, offset_minutes):
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert parse_time(aware.isoformat(), lenient=True) == aware


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-21T08:00:00+00:00",
        "2026-11-21T08:00:00.5Z",
        "2026-11-21",
        "2026-11-21 08:00:00Z",
        "1969-12-31T23:59:59Z",
        "2026-02-30T00:00:00Z",
    ],
)
def test_a_stored_time_is_read_only_in_the_stored_form_and_years(text):
    # Stored times compare as text: another form (an offset, a fraction) would sort wrong among them, so it is refused.
    with pytest.raises(ValueError, match=r"stored|outside the years|day is out of range"):
        parse_time(text)


def test_a_stored_time_that_is_not_text_is_a_value_error():
    with pytest.raises(ValueError, match="must be a string"):
        parse_time(None)


def test_times_are_written_and_read_only_by_the_model():
    # One ISO-8601 formatter and parser: a second one (strftime, strptime, fromisoformat) anywhere in the layer drifts from them.
    package = ROOT / "layers" / "common" / "credit_monitor"
    second_kind = re.compile(r"strftime|strptime|fromisoformat")
    others = {str(path.relative_to(package)) for path in package.rglob("*.py") if second_kind.search(path.read_text())}
    assert others == {"model/times.py"}


def test_a_time_to_the_microsecond_keeps_the_stored_form_and_sorts_as_the_times_do():
    # A round's id is its start to the microsecond: fixed width, so a later round's id sorts after an earlier one's.
    early = format_time(datetime(2026, 11, 21, 8, 0, 0, 5, tzinfo=UTC), microseconds=True)
    later = format_time(datetime(2026, 11, 21, 10, 0, 0, 0, tzinfo=timezone(timedelta(hours=2))), microseconds=True)
    assert early == "2026-11-21T08:00:00.000005Z"
    assert later == "2026-11-21T08:00:00.000000Z"
    assert later < early
