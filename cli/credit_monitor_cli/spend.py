"""``credit-monitor spend``: what was spent, per group and unit, over a range, read from the balance API.

``GET /spend`` answers a page of accounts at a time (each page reads those accounts' history over the range);
this follows every page and adds the pages' groups up, so a fleet's report is as cheap per account as one
account's. Spend is in each account's unit, and in the reporting currency where prices are configured.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from credit_monitor_cli.errors import UsageError
from credit_monitor_cli.stack import required_output, stack_outputs
from credit_monitor_cli.status import MAX_PAGES, StatusError, api_key, get_json, printable


def spend_report(api_url: str, api_key_env: str | None, query: dict[str, str]) -> tuple[dict[tuple[str, str], list[float]], dict[str, Any]]:
    """Every page of GET /spend: the groups' sums across pages ((group, unit) -> [spent, top-ups, value, accounts]),
    and the first page's range and currency."""
    endpoint = api_url.rstrip("/") + "/spend"
    key = api_key(api_key_env)
    sums: dict[tuple[str, str], list[float]] = {}
    first: dict[str, Any] = {}
    token, seen = None, set()
    for _ in range(MAX_PAGES):
        parameters = {**query, **({"next_token": token} if token else {})}
        body = get_json(endpoint, f"{endpoint}?{urlencode(parameters, safe='-_.~')}", key)
        if not isinstance(body, dict) or not isinstance(body.get("totals"), list):
            raise StatusError(f"GET {endpoint} answered 200 but not a spend report: is {endpoint} a credit monitor's API?")
        first = first or body
        for row in body["totals"]:
            entry = sums.setdefault((str(row["group"]), str(row["unit"])), [0.0, 0.0, None, 0])
            entry[0] += row["spent"]
            entry[1] += row["top_ups"]
            if row.get("value") is not None:
                entry[2] = (entry[2] or 0.0) + row["value"]
            entry[3] += row["accounts"]
        token = body.get("next_token")
        if token is None:
            return sums, first
        if token in seen:
            raise StatusError(f"GET {endpoint} handed out the same next_token twice: the listing does not end")
        seen.add(token)
    raise StatusError(f"GET {endpoint} still had more after {MAX_PAGES:,} pages")


def spend_lines(sums: dict[tuple[str, str], list[float]], report: dict[str, Any], group_by: str) -> list[str]:
    currency = report.get("currency")
    title = group_by.upper().replace("LABEL:", "")
    rows = [(title, "UNIT", "SPENT", "TOP-UPS", f"VALUE ({currency})" if currency else "VALUE", "ACCOUNTS")]
    total = None
    for (group, unit), (spent, topped, value, accounts) in sorted(sums.items()):
        rows.append((group, unit, _amount(spent), _amount(topped), _amount(value) if value is not None else "-", f"{int(accounts):,}"))
        total = (total or 0.0) + value if value is not None else total
    rows = [tuple(printable(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"Spend from {report.get('since')} to {report.get('until')}:"]
    lines += ["  " + "  ".join(cell.rjust(w) if i >= 2 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
              for row in rows]  # fmt: skip
    if total is not None:
        lines.append(f"Total: {_amount(total)} {currency} (priced accounts; credits of different units are never added up)")
    return lines


def _amount(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 100 and value != int(value) else f"{value:,.0f}"


def read_spend(stack_name: str | None, api_url: str | None, api_key_env: str | None, query: dict[str, str]) -> list[str]:
    if not api_url:
        if stack_name is None:
            raise UsageError("give --stack-name (a deployed stack) or --api-url (e.g. make serve's http://127.0.0.1:8080)")
        api_url = required_output(stack_outputs(stack_name), "BalanceApiUrl", stack_name)
    sums, first = spend_report(api_url, api_key_env, query)
    if not sums:
        return [f"Spend from {first.get('since')} to {first.get('until')}: nothing spent (no account matched, or no history yet)"]
    return spend_lines(sums, first, query.get("group_by", "provider"))
