"""Times: the one ISO-8601 formatter and the one ISO-8601 parser of the package.

Every stored time is ISO-8601 UTC to the second (``YYYY-MM-DDTHH:MM:SSZ``), fixed width, so that times
compare as text; format_time writes it and parse_time reads it back, or (``lenient``) reads any ISO-8601
time that comes from outside (API parameters, the thresholds document, vendors).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # every stored time: ISO-8601 UTC, to the second (what format_time writes)
# Stored times are compared as text, which orders them only while every year has four digits; and no reading,
# silence or query of this system is before Unix time or past what a datetime holds.
MIN_YEAR, MAX_YEAR = 1970, 9999
ISO8601_EXAMPLE = "2026-11-21T08:00:00Z"
_STORED_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def format_time(moment: datetime, *, microseconds: bool = False) -> str:
    """A time as stored: always ``YYYY-MM-DDTHH:MM:SSZ`` (``microseconds``: ``...SS.ffffffZ``); a naive datetime is taken as UTC.

    Raises ValueError for a year outside MIN_YEAR..MAX_YEAR rather than writing text that sorts wrong
    (strftime writes the year 999 as ``999-...``, which sorts after today)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # an offset that takes 0001-01-01 or 9999-12-31 out of datetime's range
        raise ValueError(f"{moment.isoformat()} is outside the years {MIN_YEAR}..{MAX_YEAR}") from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValueError(f"{moment.isoformat()} is outside the years {MIN_YEAR}..{MAX_YEAR}")
    fraction = f".{moment.microsecond:06d}" if microseconds else ""
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}{fraction}Z"


def parse_time(text: object, *, lenient: bool = False) -> datetime:
    """An ISO-8601 time as an aware datetime in UTC.

    By default only the stored form (``YYYY-MM-DDTHH:MM:SSZ``, what format_time writes), which every stored
    time is read as; ``lenient`` for times from outside: any ISO-8601 date-time, with ``Z`` or an offset
    (without one, UTC), or a date alone. Raises ValueError saying what is wrong: not a string, not ISO-8601
    (or not the stored form), an impossible date, or a year outside MIN_YEAR..MAX_YEAR (including the edges
    of time, where converting to UTC overflows)."""
    if not isinstance(text, str):
        raise ValueError(f"must be a string such as {ISO8601_EXAMPLE}, got a {type(text).__name__}")
    if not lenient and _STORED_TIME.fullmatch(text) is None:
        raise ValueError(f"{_shown(text)} is not a time as stored, such as {ISO8601_EXAMPLE}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        # Say why when Python knows (a month of 13), not its generic "Invalid isoformat string" that repeats the text.
        reason = str(exc) if "isoformat" not in str(exc) and "offset must be" not in str(exc) else ""
        because = f" ({reason})" if reason else ""
        raise ValueError(f"{_shown(text)} is not an ISO-8601 date-time such as {ISO8601_EXAMPLE}{because}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValueError(f"{_shown(text)} is outside the years {MIN_YEAR}..{MAX_YEAR}")
    return moment


def utc_now() -> str:
    return format_time(datetime.now(UTC))


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
