"""The request a definition describes for one account: its URL, headers and query, the key where the definition puts it."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

from credit_monitor.polling.providers.base import Credentials, HttpRequest
from credit_monitor.polling.providers.definition.compiled import Definition

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def fill_placeholders(template: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def build_request(definition: Definition, base_url: str, credentials: Credentials) -> HttpRequest:
    """The account's request: its variables filled in (quoted in the path), a fresh {uuid}, and the key."""
    values = {name: credentials.variables[name] for name in definition.variables}
    fresh = {**values, "uuid": str(uuid.uuid4())}
    headers = {name: fill_placeholders(template, fresh) for name, template in definition.headers.items()}
    params = {name: fill_placeholders(template, fresh) for name, template in definition.query.items()}
    auth = definition.auth
    if auth.in_header:
        headers[auth.header] = fill_placeholders(auth.value, {**values, "key": credentials.key})
    else:
        params[auth.query] = credentials.key
    url = base_url.rstrip("/") + fill_placeholders(definition.path, {name: quote(value, safe="") for name, value in values.items()})
    return HttpRequest(url, headers, params or None)
