"""PixVerse: ``GET /openapi/v2/account/balance`` with ``API-KEY`` and a fresh ``Ai-trace-id``.

HTTP 200 with ``ErrCode`` 0 is success; any other ErrCode is a failure even with HTTP 200. Spendable
credit is ``credit_monthly`` (resets each month) + ``credit_package`` (does not).

Written as code for messages that name the ErrCode; definitions/builtin/pixverse.json, with its
{uuid} trace header, is tested to agree on the seed example.
"""

import uuid

from credit_monitor.model import FailureKind, Reading
from credit_monitor.polling.providers.base import Provider, check_code, credits_at

ERR_KINDS = {
    400012: FailureKind.AUTH,  # invalid account
    500020: FailureKind.AUTH,  # no permission
    500069: FailureKind.RATE_LIMITED,  # high load: back off
    500090: FailureKind.INSUFFICIENT_CREDITS,
    500043: FailureKind.INSUFFICIENT_CREDITS,  # all credits used up
}


def headers(key):
    # PixVerse requires a different trace id for every request.
    return {"API-KEY": key, "Ai-trace-id": str(uuid.uuid4())}


def check(status, body):
    check_code("pixverse", status, body, field="ErrCode", success=0, kinds=ERR_KINDS, message_field="ErrMsg")


def extract(body):
    monthly = credits_at(body, "Resp.credit_monthly")
    package = credits_at(body, "Resp.credit_package")
    return Reading(available=monthly + package, breakdown={"monthly": monthly, "package": package})


PROVIDER = Provider(
    id="pixverse",
    default_base_url="https://app-api.pixverse.ai",
    path="/openapi/v2/account/balance",
    auth_headers=headers,
    check=check,
    extract=extract,
)
