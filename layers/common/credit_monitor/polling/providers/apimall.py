"""apimall.ai: ``GET /api/v1/account/balances`` with ``Authorization: Bearer <key>``.

``data.api_credits`` is spendable; ``data.credits`` is reported beside it. Errors come as
``{"success": false, "error": {"code", "message"}, "request_id"}``; 403 means API access is not
approved or the host is not the gateway.

Written as code to explain a 403 (API access not approved, or not the gateway host);
definitions/builtin/apimall.json is tested to agree on the seed example.
"""

from credit_monitor.model import FailureKind, PollFailure, Reading
from credit_monitor.polling.providers.base import STATUS_KINDS, Provider, credits_at, dig, message_of

ERROR_KINDS = {"unauthorized": FailureKind.AUTH, "forbidden": FailureKind.AUTH, "rate_limited": FailureKind.RATE_LIMITED}


def check(status, body):
    if body.get("success") is True:
        return
    error = body.get("error")
    if isinstance(error, dict):
        code = dig(body, "error.code")
        kind = ERROR_KINDS.get(code) or STATUS_KINDS.get(status, FailureKind.PROVIDER_ERROR)
        hint = " (API access not approved, or not the gateway host)" if status == 403 else ""
        raise PollFailure(kind, f"apimall {message_of(code)}: {message_of(error.get('message'))}{hint}")
    if 200 <= status < 300:
        raise PollFailure(FailureKind.BAD_RESPONSE, "response does not say success")


def extract(body):
    reported = dig(body, "data.credits")
    breakdown = {"credits": credits_at(body, "data.credits")} if reported is not None else {}
    return Reading(available=credits_at(body, "data.api_credits"), breakdown=breakdown)


PROVIDER = Provider(
    id="apimall",
    default_base_url="https://gateway.apimall.ai",
    path="/api/v1/account/balances",
    auth_headers=lambda key: {"Authorization": f"Bearer {key}"},
    check=check,
    extract=extract,
)
