"""The values that cross the three flows (polling, alerting, api) and the storage beneath them.

One copy of every shared rule lives here: what a provider id and an account name look like, the
largest plausible credit amount, the stored time format, what each kind of failure means and what to
do about it. Typed values (a reading, a stored balance, an account's alert state, an alert message)
are built once, in storage or in the poller, and travel as themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from credit_monitor.errors import PollFailure

# -- identifiers ------------------------------------------------------------------------------------

PROVIDER_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
PROVIDER_ID_RULE = "1-32 of a-z 0-9 _ - starting with a letter or digit"
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
ACCOUNT_NAME_RULE = "1-64 of A-Z a-z 0-9 _ . -"


def valid_provider_id(value: object) -> bool:
    return isinstance(value, str) and PROVIDER_ID.fullmatch(value) is not None


def valid_account_name(value: object) -> bool:
    return isinstance(value, str) and ACCOUNT_NAME.fullmatch(value) is not None


# -- time -------------------------------------------------------------------------------------------

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # every stored time: ISO-8601 UTC, to the second
# Stored times are compared as text, which orders them only while every year has four digits; and no reading,
# silence or query of this system is before Unix time or past what a datetime holds.
MIN_YEAR, MAX_YEAR = 1970, 9999
ISO8601_EXAMPLE = "2026-11-21T08:00:00Z"


def format_time(moment: datetime) -> str:
    """A time as stored: always ``YYYY-MM-DDTHH:MM:SSZ``; a naive datetime is taken as UTC.

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
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"


def parse_iso8601(text: object) -> datetime:
    """An ISO-8601 date-time (``Z`` or an offset; without one, UTC) as an aware datetime in UTC.

    The one parser for times that come from outside (API parameters, the thresholds document, vendors).
    Raises ValueError saying what is wrong: not a string, not ISO-8601, or a year outside
    MIN_YEAR..MAX_YEAR (including the edges of time, where converting to UTC overflows)."""
    if not isinstance(text, str):
        raise ValueError(f"must be a string such as {ISO8601_EXAMPLE}, got a {type(text).__name__}")
    shown = repr(text if len(text) <= 40 else text[:37] + "...")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        # Say why when Python knows (a month of 13), not its generic "Invalid isoformat string" that repeats the text.
        reason = str(exc) if "isoformat" not in str(exc) and "offset must be" not in str(exc) else ""
        raise ValueError(f"{shown} is not an ISO-8601 date-time such as {ISO8601_EXAMPLE}" + (f" ({reason})" if reason else "")) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValueError(f"{shown} is outside the years {MIN_YEAR}..{MAX_YEAR}")
    return moment


_STORED_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def parse_time(text: str) -> datetime:
    """A time in TIME_FORMAT, and nothing else (strptime's error otherwise); parsed without strptime, which
    costs more than the rest of storing a reading."""
    if isinstance(text, str) and _STORED_TIME.fullmatch(text):
        with contextlib.suppress(ValueError):  # an impossible date: strptime says what is wrong
            return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def utc_now() -> str:
    return format_time(datetime.now(UTC))


# -- text from outside ------------------------------------------------------------------------------
# A vendor's words (an error message, a plan name) are shown in logs, the API, email, SMS, chat and
# webhooks. Whoever wrote them may want to rewrite a terminal, reorder text (bidi overrides), ping a whole
# chat channel or slip a link into an alert: clean_text leaves plain words. Keys are not its business
# (the poller redacts them before, see polling.redaction.vendor_text); escaping for one channel's
# markup (Slack's &<>, Markdown) is the sender's.

# Escape sequences, removed whole: OSC/DCS/APC/PM/SOS strings (to BEL or ST), CSI sequences, then any
# other ESC and the character after it; and their 8-bit (C1) forms.
_ESCAPE_SEQUENCES = re.compile(
    r"[\x1b][\]P_^X][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b.?",
    re.DOTALL,
)
# Unicode's format characters (category Cf): zero-width ones, bidi embeddings, overrides and isolates,
# tag characters (which hide text from readers); removed.
_FORMAT_CHARACTERS = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
# Control characters (Cc) and line/paragraph separators (Zl, Zp) become spaces; lone surrogates (Cs, from a
# JSON "\ud800") cannot be encoded as UTF-8 at all, and become U+FFFD.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATES = re.compile("[\ud800-\udfff]")
# Chat markup. Slack's <!channel>, <!here>, <@U123>, <#C123|name>, <!subteam^S1|@team>; Discord's
# <@123>, <@&123>, <#123>; Teams' <at>...</at>: the words are kept, never the mention.
_CHAT_SEQUENCE = re.compile(r"<[!@#][&!]?([^<>|]*)(?:\|([^<>]*))?>")
_TEAMS_MENTION = re.compile(r"</?at>", re.IGNORECASE)
_BROADCAST = re.compile(r"@+(everyone|here|channel)", re.IGNORECASE)  # inside longer words too: no chat's word rules to guess
# Links: Slack's <url|label>, Markdown's [label](url), and bare URLs: kept as defanged text (hxxps://host[.]tld)
# that no chat renders as a link.
_SLACK_LINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]*:[^<>|\s]*)(?:\|([^<>]*))?>")
_MARKDOWN_LINK = re.compile(r"\[([^\[\]]*)\]\(\s*(\S*?)\s*\)")
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^\s/?#<>]*)|\b(www\.[^\s/?#<>]*)", re.IGNORECASE)
_DEFANGED_SCHEMES = {"http": "hxxp", "https": "hxxps", "ftp": "fxp", "ws": "wxs", "wss": "wxss"}
_OPEN_DOT = re.compile(r"(?<!\[)\.(?!\])")  # a dot not already defanged as [.]: cleaning twice changes nothing
_MARKUP_PASSES = 8  # nested markup (<!<!here>channel>) unwraps one level a pass; deeper is flattened outright


def _defang(match: re.Match[str]) -> str:
    scheme, host, www = match.groups()
    if www is not None:
        return _OPEN_DOT.sub("[.]", www)
    lower = scheme.lower()
    if lower in _DEFANGED_SCHEMES.values():
        return match.group(0)[: len(scheme) + 3] + _OPEN_DOT.sub("[.]", host)
    shown = _DEFANGED_SCHEMES.get(lower)
    return (f"{shown}://" if shown else f"{scheme}[:]//") + _OPEN_DOT.sub("[.]", host)


def _unwrap_markup(text: str) -> str:
    text = _SLACK_LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    text = _CHAT_SEQUENCE.sub(lambda m: m.group(2) or m.group(1), text)
    text = _TEAMS_MENTION.sub("", text)
    text = _MARKDOWN_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text).replace("](", "] (")  # and any link left half-formed
    text = _URL.sub(_defang, text)
    return _BROADCAST.sub(r"\1", text)


def clean_text(text: str) -> str:
    """``text`` as plain words on one line: no control characters, escape sequences, bidi or zero-width
    characters, code fences, mentions or links (URLs are kept, defanged: ``hxxps://host[.]tld/path``).

    Whitespace runs become one space; cleaning clean text changes nothing. Not a cut and not a
    redaction: vendor text goes through polling.redaction.vendor_text (redact, clean, cut)."""
    text = _ESCAPE_SEQUENCES.sub("", text)
    text = _FORMAT_CHARACTERS.sub("", text)
    text = _CONTROL_CHARACTERS.sub(" ", text)
    text = _SURROGATES.sub("\ufffd", text)
    text = text.replace("`", "'")  # no code span or fence can open or close
    # Unwrapping markup can join its neighbours into new markup ("<!<!here>channel>"): again until nothing changes.
    for _ in range(_MARKUP_PASSES):
        unwrapped = _unwrap_markup(text)
        if unwrapped == text:
            break
        text = unwrapped
    else:
        text = text.translate(_FLATTENED)
    return " ".join(text.split())


# What is left of markup nested deeper than _MARKUP_PASSES: look-alikes no chat reads as markup.
_FLATTENED = str.maketrans({"<": "\u2039", ">": "\u203a", "@": "\uff20", "[": "(", "]": ")"})


# -- failures ---------------------------------------------------------------------------------------


class FailureKind(StrEnum):
    """Why a poll failed. Stored with the account and used by alerts, so operators can tell
    "API key rejected" from "provider down" without reading logs."""

    AUTH = "auth"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    RATE_LIMITED = "rate_limited"
    PROVIDER_ERROR = "provider_error"
    MAINTENANCE = "maintenance"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    BAD_RESPONSE = "bad_response"
    CONFIGURATION = "configuration"  # the account itself is misconfigured (its name in two secrets)

    @property
    def summary(self) -> str:
        return _SUMMARIES[self]

    @property
    def advice(self) -> str:
        """What an operator should do about it: the last line of a failure alert."""
        return _ADVICE[self]

    @classmethod
    def of(cls, value: object) -> FailureKind:
        """The kind named by a stored value; an unknown one reads as a provider error."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.PROVIDER_ERROR


_SUMMARIES = {
    FailureKind.AUTH: "API key rejected",
    FailureKind.INSUFFICIENT_CREDITS: "provider reports insufficient credits",
    FailureKind.RATE_LIMITED: "rate limited by the provider",
    FailureKind.PROVIDER_ERROR: "provider returned an error",
    FailureKind.MAINTENANCE: "provider under maintenance",
    FailureKind.TIMEOUT: "provider did not answer in time",
    FailureKind.UNREACHABLE: "provider unreachable",
    FailureKind.BAD_RESPONSE: "unexpected response from the provider",
    FailureKind.CONFIGURATION: "account misconfigured in the provider's secrets",
}

_ADVICE = {
    FailureKind.AUTH: "Check the API key in the provider's secret (it may be revoked or mistyped), then invoke the poller to re-check.",
    FailureKind.INSUFFICIENT_CREDITS: "The provider reports no credits: top up this account now.",
    FailureKind.RATE_LIMITED: "The provider is rate limiting the poller; check nothing else shares this key, or poll less often.",
    FailureKind.MAINTENANCE: "The provider is under maintenance; polls resume by themselves. Check the provider's status page if it lasts.",
    FailureKind.PROVIDER_ERROR: "The provider is answering with errors; check its status page. The last good balance is kept meanwhile.",
    FailureKind.TIMEOUT: "The provider is not answering in time; check its status page. The last good balance is kept meanwhile.",
    FailureKind.UNREACHABLE: "The provider cannot be reached (DNS, TLS or connection refused); check its status and the base URL.",
    FailureKind.BAD_RESPONSE: "The provider's response is not what its API documents; the API may have changed. Check the poller's logs.",
    FailureKind.CONFIGURATION: "The account is configured twice (the message names both secrets): keep it in one secret only.",
}


# -- credits ----------------------------------------------------------------------------------------

Number = int | float

# Anything larger is not a credit balance; it is a broken or hostile response.
MAX_CREDITS = 1e15


def check_credits(value: Any, where: str) -> Number:
    """Return ``value`` if it is a plausible credit amount, else raise a BAD_RESPONSE failure."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is {got}, expected a number")
    if not math.isfinite(value):
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is not a finite number")
    if value < 0:
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is negative ({value})")
    if value > MAX_CREDITS:
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is implausibly large ({value:g})")
    return value


@dataclass(frozen=True)
class Reading:
    """A provider's balance, normalized. ``available`` is what can be spent now."""

    available: Number
    frozen: Number = 0
    breakdown: dict[str, Any] = field(default_factory=dict)
    unit: str = "credits"
    allowance: Number | None = None  # the plan's allowance per period, when the provider gives one
    resets_at: str | None = None  # when the allowance resets (ISO-8601 UTC), when the provider says

    @property
    def total(self) -> Number:
        return self.available + self.frozen

    @property
    def digest(self) -> str:
        """A short fingerprint of everything a reading says: equal digests mean nothing changed, so the
        latest item and the history need no write (writes cost more than anything else an idle account does)."""
        facts = [self.available, self.frozen, self.unit, self.allowance, self.resets_at, self.breakdown]
        text = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AccountResult:
    """The outcome of polling one account: a reading, or a failure. ``polled_at`` is ISO-8601 UTC."""

    account: str
    polled_at: str
    reading: Reading | None = None
    failure: PollFailure | None = None

    @property
    def ok(self) -> bool:
        return self.reading is not None


# -- what is stored per account ----------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceItem:
    """An account's latest state: its last good balance and how its latest poll went.

    ``available`` is None until a poll has succeeded; after a failed poll the balance fields keep the
    last good values and ``error``/``error_kind`` say why the latest one failed.
    """

    provider: str
    account: str
    polled_at: str
    status: str = "ok"  # "ok" or "error"
    available: Number | None = None
    frozen: Number | None = None
    total: Number | None = None
    unit: str = "credits"
    breakdown: dict[str, Any] = field(default_factory=dict)
    allowance: Number | None = None
    resets_at: str | None = None
    fetched_at: str | None = None  # last successful poll
    error: str | None = None
    error_kind: str | None = None
    failing_since: str | None = None
    consecutive_failures: int = 0
    digest: str | None = None  # the last good reading's Reading.digest

    @property
    def ever_read(self) -> bool:
        return self.available is not None

    @classmethod
    def after_poll(cls, provider: str, result: AccountResult, previous: BalanceItem | None) -> BalanceItem:
        """The state a poll leaves: a good reading replaces the balance; a failure keeps the last good one."""
        if result.reading is not None:
            reading = result.reading
            return cls(
                provider=provider, account=result.account, polled_at=result.polled_at, status="ok", available=reading.available,
                frozen=reading.frozen, total=reading.total, unit=reading.unit, breakdown=reading.breakdown, allowance=reading.allowance,
                resets_at=reading.resets_at, fetched_at=result.polled_at, digest=reading.digest,
            )  # fmt: skip
        last_good = previous if previous is not None and previous.ever_read else None
        kept = {name: getattr(last_good, name) for name in cls.LAST_GOOD} if last_good else {}
        return cls(provider=provider, account=result.account, **kept, **cls.failure_fields(result, previous))

    # What a failed poll leaves as it was: the last good balance.
    LAST_GOOD = ("available", "frozen", "total", "unit", "breakdown", "allowance", "resets_at", "fetched_at", "digest")

    @staticmethod
    def failure_fields(result: AccountResult, previous: BalanceItem | LastPoll | None) -> dict[str, Any]:
        """What a failed poll changes: how the poll went, and how long the account has been failing."""
        was_failing = previous is not None and previous.status == "error"
        return {
            "polled_at": result.polled_at,
            "status": "error",
            "error": result.failure.message,
            "error_kind": result.failure.kind.value,
            "failing_since": (previous.failing_since or result.polled_at) if was_failing else result.polled_at,
            "consecutive_failures": (previous.consecutive_failures if was_failing else 0) + 1,
        }


@dataclass(frozen=True)
class LastPoll:
    """What a poll round needs to know of an account's previous poll: its balance (to doubt a sudden drop),
    when it was polled (an overlapping run's newer poll wins), its failure streak, and the fingerprint and
    time of its last good reading (an unchanged reading is not written again until a heartbeat is due).
    The rest of the latest item is never read by a round: a success replaces it, a failure leaves it."""

    account: str
    polled_at: str
    status: str = "ok"
    available: Number | None = None
    failing_since: str | None = None
    consecutive_failures: int = 0
    fetched_at: str | None = None
    digest: str | None = None

    @property
    def ever_read(self) -> bool:
        return self.available is not None


@dataclass(frozen=True)
class RoundSummary:
    """How one poll round of a provider went, as a whole (every shard of it): what the aggregator reads to
    tell a vendor outage from unlucky accounts, and to know every account was polled without a write each.

    ``full`` is true when every configured account was polled (each either written, because its reading
    changed or failed, or left as it was because nothing changed); ``last_full_at`` is the start of the
    newest full round. An account whose latest item is ok was read successfully at ``last_full_at``.
    """

    provider: str
    round: str  # the round's id: its start time, to the microsecond, and a suffix
    started_at: str
    finished_at: str
    accounts: int  # configured in the provider's secrets
    polled: int
    succeeded: int
    failed: int
    failures: dict[str, int] = field(default_factory=dict)  # failure kind -> accounts
    unchanged: int = 0  # succeeded without a change: nothing written
    shards: int = 1
    shards_failed: int = 0
    full: bool = True
    last_full_at: str | None = None
    lowest: Number | None = None  # the lowest balance read this round


@dataclass(frozen=True)
class HistoryReading:
    """One successful reading of an account, as kept in its history."""

    fetched_at: str
    available: Number
    frozen: Number = 0
    total: Number = 0
    breakdown: dict[str, Any] = field(default_factory=dict)


# -- alert state ------------------------------------------------------------------------------------

LEVELS = ("ok", "warning", "critical", "depleted")
RANK = {level: rank for rank, level in enumerate(LEVELS)}
UNKNOWN_LEVEL = "unknown"  # the level of an account never read successfully (alert attributes, digest)


@dataclass(frozen=True)
class AlertState:
    """What the aggregator remembers about an account between events.

    ``level`` is None until a balance has been read: an account whose key was rejected from the start
    has no level, rather than a level of "ok" that nothing measured.
    """

    level: str | None = None
    failure: str | None = None  # the failure kind (or rejected document) alerted on, until recovery
    stale: bool = False
    forecast_alerted: bool = False
    notified_at: str | None = None  # last threshold message, for reminders
    seen_polled_at: str | None = None  # newest poll applied: older (redelivered, reordered) records are ignored
    burn_per_day: float | None = None
    days_left: float | None = None
    depletes_at: str | None = None
    forecast_at: str | None = None
    forecast_digest: str | None = None  # the reading (Reading.digest) the last forecast was made with
    top_up_base: float | None = None  # the balance just after the last top-up (percent_of: last_top_up)
    silenced_at: str | None = None  # when an alert was first held back by a silence still in force
    silence_reason: str | None = None
    reported: list[str] | None = None  # the thresholds document's item: expired silences already reported
    spend: dict[str, Any] | None = None  # alerting.spend.Tally: spend per hour and day, the last intervals
    anomaly_since: str | None = None  # when the account began spending far faster than usual, until it calms down
    anomaly_rate: float | None = None  # credits an hour when the anomaly was seen
    usual_rate: float | None = None  # its usual rate then
    anomaly_spent: float | None = None  # spent since the anomaly began
    version: int = 0

    STORED = ("level", "failure", "stale", "forecast_alerted", "notified_at", "seen_polled_at", "burn_per_day", "days_left",
              "depletes_at", "forecast_at", "forecast_digest", "top_up_base", "silenced_at", "silence_reason", "reported", "spend",
              "anomaly_since", "anomaly_rate", "usual_rate", "anomaly_spent")  # fmt: skip

    def stored_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.STORED}

    @property
    def level_name(self) -> str:
        """The level as a word for messages and attributes: "unknown" before the first reading."""
        return self.level or UNKNOWN_LEVEL


@dataclass(frozen=True)
class AccountSnapshot:
    """Everything stored about one account: its latest balance (None before its first poll) and alert state."""

    provider: str
    account: str
    balance: BalanceItem | None
    alert: AlertState

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.account}"


@dataclass(frozen=True)
class AlertMessage:
    """One alert as it leaves the system: subject, full text, a one-line SMS, filterable attributes, and
    the facts its event carries (``detail``: provider, account, event, level, available... see
    alerting/notify.py for the whole event and schemas/ for its schema)."""

    subject: str
    body: str
    sms: str
    attributes: dict[str, str]
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SentAlert:
    """An alert as kept once every channel took it (GET /alerts): its event's facts and words, and when."""

    alert_id: str
    provider: str
    account: str
    event: str
    level: str
    previous_level: str | None
    condition: str
    resolved: bool
    severity: str
    available: Number | None
    unit: str | None
    threshold: Number | None
    threshold_days: Number | None
    days_left: Number | None
    error_kind: str | None
    fetched_at: str | None
    subject: str
    message: str
    decided_at: str  # when the transition was committed (the alert_id's time)
    sent_at: str  # when the last channel took it
    labels: dict[str, str] = field(default_factory=dict)  # the account's labels (the configuration's "labels")


# -- incidents --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """Many accounts of one provider failing the same way at once (a vendor outage, a revoked organisation
    key) or going stale together (the provider's polls stopped): one alert instead of one per account."""

    kind: str  # a failure kind, or "stale"
    since: str  # when the first round meeting the rule started
    accounts: int  # accounts it covers, as of the latest assessment
    of: int  # accounts polled in that round
    streak: int = 1  # consecutive assessed rounds meeting the rule
    alerted: bool = False  # its alert was sent (then its end is announced too)


@dataclass(frozen=True)
class IncidentState:
    """A provider's incidents, by kind, and the newest round assessed (an older or redelivered one is ignored)."""

    assessed_round: str | None = None
    incidents: dict[str, Incident] = field(default_factory=dict)
    version: int = 0

    def stored_fields(self) -> dict[str, Any]:
        return {"assessed_round": self.assessed_round,
                "incidents": {kind: {**vars(incident)} for kind, incident in sorted(self.incidents.items())}}  # fmt: skip

    def covers(self, kind: str | None) -> bool:
        """Whether an incident (alerted or forming) holds back the accounts' own alerts of this kind."""
        return kind is not None and kind in self.incidents
