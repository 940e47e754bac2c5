"""``credit-monitor status``: every account's balance as a table, read from a deployed stack.

By default through the balance API (SigV4-signed with the caller's AWS credentials, or with an API key
from an environment variable); with ``--from-table``, straight from the DynamoDB table.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from credit_monitor import aws
from credit_monitor.cli.errors import CommandError, UsageError
from credit_monitor.cli.stack import required_output, stack_outputs

TIMEOUT_SECONDS = 15


class StatusError(CommandError):
    """The balances could not be read; the message says why and what to try."""


def balances_from_api(url: str, api_key_env: str | None) -> list[dict[str, Any]]:
    import requests  # noqa: PLC0415

    endpoint = url.rstrip("/") + "/balances"
    try:
        if api_key_env:
            key = os.environ.get(api_key_env, "").strip()
            if not key:
                raise StatusError(f"environment variable {api_key_env} is empty or not set; export the API key there")
            response = requests.get(endpoint, headers={"x-api-key": key}, timeout=TIMEOUT_SECONDS)
        else:
            response = aws.signed_get(endpoint, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise StatusError(f"could not reach {endpoint}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise StatusError(f"GET {endpoint} answered {response.status_code}: {_message(response)}")
    return response.json()["balances"]


def balances_from_table(table_name: str) -> list[dict[str, Any]]:
    from credit_monitor.api.queries import to_balance  # noqa: PLC0415
    from credit_monitor.storage import BalanceStore  # noqa: PLC0415

    snapshots = BalanceStore(aws.table(table_name)).accounts()
    return [dataclasses.asdict(to_balance(s)) for s in snapshots if s.balance is not None]


def read_balances(stack_name: str | None, api_url: str | None, api_key_env: str | None, from_table: bool) -> list[dict[str, Any]]:
    if api_url:
        return balances_from_api(api_url, api_key_env)
    if stack_name is None:
        raise UsageError("give --stack-name (a deployed stack) or --api-url (e.g. make serve's http://127.0.0.1:8080)")
    outputs = stack_outputs(stack_name)
    if from_table:
        return balances_from_table(required_output(outputs, "BalancesTableName", stack_name))
    return balances_from_api(required_output(outputs, "BalanceApiUrl", stack_name), api_key_env)


def balance_table(balances: list[dict[str, Any]]) -> list[str]:
    """The balances as aligned text rows, numbers right-aligned, the last poll's outcome last."""
    rows = [("PROVIDER", "ACCOUNT", "AVAILABLE", "FROZEN", "UNIT", "LEVEL", "STATUS", "FETCHED AT", "LAST POLL")]
    for b in sorted(balances, key=lambda b: (b["provider"], b["account"])):
        last_poll = f"{b.get('error_kind')}: {b.get('error')}" if b.get("status") == "error" else "ok"
        rows.append((b["provider"], b["account"], _number(b.get("available")), _number(b.get("frozen")), b.get("unit") or "credits",
                     b.get("alert_level") or "-", b.get("status") or "?", b.get("fetched_at") or "never", last_poll))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if i in (2, 3) else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join(cells) + "  " + row[-1])
    return lines


def _number(value: object) -> str:
    return "-" if value is None else f"{value:,}"


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message") or body)[:200] if isinstance(body, dict) else str(body)[:200]
