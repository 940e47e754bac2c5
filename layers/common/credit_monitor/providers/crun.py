"""crun.ai: ``GET /api/v1/client/account/balance`` with ``x-api-key``.

Success is the body's ``code`` 200 (not 0); any other body code is a failure, whatever the HTTP status.

Written as code because its failure messages name the body code ("crun code 455"); the same
provider as a definition is definitions/builtin/crun.json, tested to read the seed example alike.
"""

from credit_monitor.model import FailureKind, PollFailure, Reading
from credit_monitor.providers.base import Provider, credits_at, message_of

# Body codes documented by crun, by what they mean for a balance poll.
CODE_KINDS = {
    401: FailureKind.AUTH,
    402: FailureKind.INSUFFICIENT_CREDITS,
    429: FailureKind.RATE_LIMITED,
    455: FailureKind.MAINTENANCE,
}


def check(status, body):
    code = body.get("code")
    if code == 200:
        return
    if isinstance(code, int) and not isinstance(code, bool):
        kind = CODE_KINDS.get(code, FailureKind.PROVIDER_ERROR)
        raise PollFailure(kind, f"crun code {code}: {message_of(body.get('message'))}")
    if 200 <= status < 300:
        raise PollFailure(FailureKind.BAD_RESPONSE, "response has no numeric code")


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
