"""srtgen.com: ``GET /api/v1/balance`` with ``x-api-key``.

``credits.totalBalance`` (monthly allowances + extra credits) is spendable. The response also carries
the user's name and email: personal data. ``extract`` reads only the fields named below, so they never
leave this module.

Written as code because every plan's balance is checked as a credit amount, which a definition
cannot express; definitions/builtin/srtgen.json is tested to agree on the seed example.
"""

from credit_monitor.model import FailureKind, PollFailure, Reading, check_credits
from credit_monitor.polling.providers.base import STATUS_KINDS, Provider, credits_at, dig, message_of

MAX_PLANS = 20


def check(status, body):
    if body.get("success") is True:
        return
    error = body.get("error")
    code = dig(body, "error.code")
    if isinstance(error, dict):
        kind = FailureKind.AUTH if code == "unauthorized" else STATUS_KINDS.get(status, FailureKind.PROVIDER_ERROR)
        raise PollFailure(kind, f"srtgen {message_of(code)}: {message_of(error.get('message'))}")
    if 200 <= status < 300:
        raise PollFailure(FailureKind.BAD_RESPONSE, "response does not say success")


def extract(body):
    plans = dig(body, "credits.plans")
    if plans is not None and not isinstance(plans, list):
        raise PollFailure(FailureKind.BAD_RESPONSE, "credits.plans is not a list")
    breakdown = {
        "monthly": _optional_credits(body, "credits.totalMonthlyCredits"),
        "extra": credits_at(body, "credits.extraCredits"),
        "plans": [_plan(plan, i) for i, plan in enumerate((plans or [])[:MAX_PLANS])],
    }
    storage = body.get("storage")
    if isinstance(storage, dict):
        breakdown["storage"] = {
            "used_bytes": _optional_credits(body, "storage.usage"),
            "limit_bytes": _optional_credits(body, "storage.limit"),
        }
    return Reading(available=credits_at(body, "credits.totalBalance"), breakdown=breakdown)


def _plan(plan, index):
    where = f"credits.plans[{index}]"
    if not isinstance(plan, dict):
        raise PollFailure(FailureKind.BAD_RESPONSE, f"{where} is not an object")
    return {
        "id": _text(plan.get("id")),
        "name": _text(plan.get("name")),
        "status": _text(plan.get("status")),
        "balance": check_credits(plan.get("balance"), f"{where}.balance"),
        "total": _optional(plan.get("total"), f"{where}.total"),
        "resets_at": _text(plan.get("resetTime")),
    }


def _optional_credits(body, path):
    return _optional(dig(body, path), path)


def _optional(value, where):
    return None if value is None else check_credits(value, where)


def _text(value):
    return value[:100] if isinstance(value, str) else None


PROVIDER = Provider(
    id="srtgen",
    default_base_url="https://api.srtgen.com",
    path="/api/v1/balance",
    auth_headers=lambda key: {"x-api-key": key},
    check=check,
    extract=extract,
)
