"""sunor.cc: ``GET /api/v1/account/balance`` with ``x-api-key``.

``data.available`` is spendable; ``data.frozen`` is reserved by running tasks; total = available + frozen.

Written as code for messages that name the body code; definitions/builtin/sunor.json is the same
provider as a definition, tested to agree on the seed example.
"""

from credit_monitor.model import FailureKind, PollFailure, Reading
from credit_monitor.providers.base import STATUS_KINDS, Provider, credits_at, message_of


def check(status, body):
    code = body.get("code")
    if code == 200:
        return
    if isinstance(code, int) and not isinstance(code, bool):
        kind = STATUS_KINDS.get(code, FailureKind.PROVIDER_ERROR)
        raise PollFailure(kind, f"sunor code {code}: {message_of(body.get('message'))}")
    if 200 <= status < 300:
        raise PollFailure(FailureKind.BAD_RESPONSE, "response has no numeric code")


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
