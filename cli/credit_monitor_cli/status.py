"""``credit-monitor status``: every account's balance as a table, read from a deployed stack.

By default through the balance API (SigV4-signed with the caller's AWS credentials, or with an API key
from an environment variable); with ``--from-table``, straight from the DynamoDB table.
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from typing import Any
from urllib.parse import quote

from credit_monitor_cli import aws
from credit_monitor_cli.errors import CommandError, UsageError
from credit_monitor_cli.stack import required_output, stack_outputs

TIMEOUT_SECONDS = 15
MAX_PAGES = 100_000  # 100 million accounts at 1,000 a page: more means the API is handing out the same pages again


class StatusError(CommandError):
    """The balances could not be read; the message says why and what to try."""


def balances_from_api(url: str, api_key_env: str | None) -> list[dict[str, Any]]:
    """Every balance the API lists, following ``next_token`` page after page (DESIGN.md: at most 1,000 a page)."""
    endpoint = url.rstrip("/") + "/balances"
    key = api_key(api_key_env)
    balances: list[dict[str, Any]] = []
    seen: set[str] = set()
    token: str | None = None
    for _ in range(MAX_PAGES):
        # RFC 3986 encoding, as SigV4 signs the query string: an opaque token may hold + / =.
        page_url = endpoint if token is None else f"{endpoint}?next_token={quote(token, safe='-_.~')}"
        page, token = _page(endpoint, page_url, key)
        balances += page
        if token is None:
            return balances
        if token in seen:
            raise StatusError(f"GET {endpoint} handed out next_token {printable(token)[:40]!r} twice: the listing does not end")
        seen.add(token)
    raise StatusError(f"GET {endpoint} still had more after {MAX_PAGES:,} pages")


def _page(endpoint: str, page_url: str, key: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``GET /balances``: its balances and the token of the next page (None on the last)."""
    body = get_json(endpoint, page_url, key)
    try:
        balances, token = body["balances"], body.get("next_token")
    except (KeyError, TypeError, AttributeError):
        raise StatusError(f"GET {endpoint} answered 200 but not a balance listing: is {endpoint} a credit monitor's API?") from None
    if not isinstance(balances, list) or not (token is None or isinstance(token, str)):
        raise StatusError(f"GET {endpoint} answered 200 but not a balance listing: is {endpoint} a credit monitor's API?")
    return balances, token or None


def get_json(endpoint: str, page_url: str, key: str | None) -> Any:
    """``GET page_url`` with the API key, or SigV4-signed; its JSON body, or StatusError saying what went wrong."""
    import requests  # noqa: PLC0415

    try:
        if key is not None:
            response = requests.get(page_url, headers={"x-api-key": key}, timeout=TIMEOUT_SECONDS)
        else:
            response = aws.signed_get(page_url, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise StatusError(f"could not reach {endpoint} ({type(exc).__name__}): check --api-url or the stack, and the network") from None
    if response.status_code != 200:
        raise StatusError(f"GET {endpoint} answered {response.status_code}: {_message(response)}")
    try:
        return response.json()
    except ValueError:
        raise StatusError(f"GET {endpoint} answered 200 but not JSON: is {endpoint} a credit monitor's API?") from None


def api_key(api_key_env: str | None) -> str | None:
    if not api_key_env:
        return None
    key = os.environ.get(api_key_env, "").strip()
    if not key:
        raise StatusError(f"environment variable {api_key_env} is empty or not set; export the API key there")
    return key


def balances_from_table(table_name: str, providers: list[str]) -> list[dict[str, Any]]:
    """Every account of ``providers``, read a page at a time from the table (as the API does)."""
    from credit_monitor.api.queries import to_balance  # noqa: PLC0415
    from credit_monitor.aws import table  # noqa: PLC0415 - the layer's table resource, as the API reads it
    from credit_monitor.storage import BalanceStore  # noqa: PLC0415

    store = BalanceStore(table(table_name))
    return [dataclasses.asdict(to_balance(s)) for provider in providers for s in store.each_account(provider) if s.balance is not None]


def read_balances(stack_name: str | None, api_url: str | None, api_key_env: str | None, from_table: bool) -> list[dict[str, Any]]:
    if api_url:
        return balances_from_api(api_url, api_key_env)
    if stack_name is None:
        raise UsageError("give --stack-name (a deployed stack) or --api-url (e.g. make serve's http://127.0.0.1:8080)")
    outputs = stack_outputs(stack_name)
    if from_table:
        providers = [p for p in required_output(outputs, "MonitoredProviders", stack_name).split(",") if p]
        return balances_from_table(required_output(outputs, "BalancesTableName", stack_name), providers)
    return balances_from_api(required_output(outputs, "BalanceApiUrl", stack_name), api_key_env)


def balance_table(balances: list[dict[str, Any]]) -> list[str]:
    """The balances as aligned text rows, numbers right-aligned, the last poll's outcome last.

    Every cell is made printable first: a failure message is the vendor's text, and escape sequences
    in it would otherwise retitle the terminal, move the cursor or forge rows of this table.
    """
    rows = [("PROVIDER", "ACCOUNT", "AVAILABLE", "FROZEN", "UNIT", "LEVEL", "STATUS", "FETCHED AT", "LAST POLL")]
    for b in sorted(balances, key=lambda b: (str(b.get("provider")), str(b.get("account")))):
        last_poll = f"{b.get('error_kind')}: {b.get('error')}" if b.get("status") == "error" else "ok"
        row = (b.get("provider"), b.get("account"), _number(b.get("available")), _number(b.get("frozen")), b.get("unit") or "credits",
               b.get("alert_level") or "-", b.get("status") or "?", b.get("fetched_at") or "never", last_poll)  # fmt: skip
        rows.append(tuple(printable(str(cell)) for cell in row))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if i in (2, 3) else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join(cells) + "  " + row[-1])
    return lines


# Escape sequences as terminals read them (ECMA-48), removed whole so their parameters do not show as text:
# strings (OSC retitles the window, DCS, APC...) up to their terminator, or to the end when unterminated;
# control sequences (CSI: cursor moves, colours, erasing lines); other two-character escapes. 8-bit forms too.
ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b[ -/]*[0-~]?",
    re.DOTALL,
)
# Bidirectional controls reorder what follows them on the line (Trojan Source): a cell could show text it does not hold.
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def printable(text: str) -> str:
    """``text`` without escape sequences, control characters (C0, DEL, C1) or bidi overrides; line breaks become spaces."""
    return "".join(_printable(c) for c in ESCAPE_SEQUENCE.sub("", text).translate(BIDI_CONTROLS))


def _printable(character: str) -> str:
    if unicodedata.category(character) in ("Cc", "Zl", "Zp"):  # controls, and the line and paragraph separators
        return " " if character.isspace() else ""
    return character


def _number(value: object) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int | float) else str(value)


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return printable(response.text[:200])
    return printable(str(body.get("message") or body)[:200] if isinstance(body, dict) else str(body)[:200])
