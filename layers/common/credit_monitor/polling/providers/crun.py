"""crun.ai: ``GET /api/v1/client/account/balance`` with ``x-api-key``.

Success is the body's ``code`` 200 (not 0); any other body code is a failure, whatever the HTTP status.

Written as code because its failure messages name the body code ("crun code 455"); the same
provider as a definition is definitions/builtin/crun.json, tested to read the seed example alike.
"""

from credit_monitor.model import FailureKind, Reading
from credit_monitor.polling.providers.base import Provider, check_code, credits_at

# Body codes documented by crun, by what they mean for a balance poll.
CODE_KINDS = {
    401: FailureKind.AUTH,
    402: FailureKind.INSUFFICIENT_CREDITS,
    429: FailureKind.RATE_LIMITED,
    455: FailureKind.MAINTENANCE,
}


def check(status, body):
    check_code("crun", status, body, field="code", success=200, kinds=CODE_KINDS, message_field="message")


def extract(body):
    return Reading(available=credits_at(body, "data.balance"))


PROVIDER = Provider(
    id="crun",
    default_base_url="https://api.crun.ai",
    path="/api/v1/client/account/balance",
    auth_headers=lambda key: {"x-api-key": key},
    check=check,
    extract=extract,
)
