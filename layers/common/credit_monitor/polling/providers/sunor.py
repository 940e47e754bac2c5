"""sunor.cc: ``GET /api/v1/account/balance`` with ``x-api-key``.

``data.available`` is spendable; ``data.frozen`` is reserved by running tasks; total = available + frozen.

Written as code for messages that name the body code; definitions/builtin/sunor.json is the same
provider as a definition, tested to agree on the seed example.
"""

from credit_monitor.model import Reading
from credit_monitor.polling.providers.base import STATUS_KINDS, Provider, check_code, credits_at


def check(status, body):
    # sunor's body code mirrors HTTP statuses (200, 401, 500...).
    check_code("sunor", status, body, field="code", success=200, kinds=STATUS_KINDS, message_field="message")


def extract(body):
    return Reading(available=credits_at(body, "data.available"), frozen=credits_at(body, "data.frozen"))


PROVIDER = Provider(
    id="sunor",
    default_base_url="https://sunor.cc",
    path="/api/v1/account/balance",
    auth_headers=lambda key: {"x-api-key": key},
    check=check,
    extract=extract,
)
