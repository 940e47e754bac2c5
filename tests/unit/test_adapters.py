"""Each adapter against its provider's documented example, failure envelopes and malformed values."""

import json
import uuid

import pytest

from credit_monitor.model import FailureKind, PollFailure
from credit_monitor.polling.providers import PROVIDERS, get_provider, parse_response
from devstack.simulators import SPECS, seed_response


def parse(provider, body, status=200):
    return parse_response(PROVIDERS[provider], status, body)


def failure(provider, body, status=200) -> PollFailure:
    with pytest.raises(PollFailure) as caught:
        parse(provider, body, status)
    return caught.value


# -- the documented examples -------------------------------------------------------------------


def test_crun_example_is_its_balance():
    reading = parse("crun", seed_response("crun"))
    assert (reading.available, reading.frozen, reading.total, reading.breakdown) == (1000, 0, 1000, {})


def test_sunor_example_separates_available_and_frozen():
    reading = parse("sunor", seed_response("sunor"))
    assert (reading.available, reading.frozen, reading.total) == (950, 10, 960)


def test_srtgen_example_gives_total_balance_and_its_pools_without_the_user():
    reading = parse("srtgen", seed_response("srtgen"))
    assert reading.available == 1250
    assert reading.breakdown["monthly"] == 1000
    assert reading.breakdown["extra"] == 250
    assert reading.breakdown["plans"] == [
        {
            "id": "starter",
            "name": "Starter Plan",
            "status": "active",
            "balance": 1000,
            "total": 1000,
            "resets_at": "2026-04-29T17:48:46.000Z",
        }
    ]
    assert reading.breakdown["storage"] == {"used_bytes": 209715200, "limit_bytes": 10737418240}
    flattened = json.dumps(reading.breakdown)
    assert "alex.rivera@example.com" not in flattened
    assert "Alex Rivera" not in flattened


def test_apimall_example_spends_api_credits_and_reports_credits():
    body = seed_response("apimall")
    body["data"]["credits"] = 500  # the two fields can differ; api_credits is what API calls spend
    reading = parse("apimall", body)
    assert reading.available == 120
    assert reading.breakdown == {"credits": 500}


def test_pixverse_example_adds_monthly_and_package_credits():
    reading = parse("pixverse", seed_response("pixverse"))
    assert reading.available == 1069020 + 3630
    assert reading.breakdown == {"monthly": 1069020, "package": 3630}


# -- failures the providers report in their bodies ------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (401, FailureKind.AUTH),
        (402, FailureKind.INSUFFICIENT_CREDITS),
        (404, FailureKind.PROVIDER_ERROR),
        (422, FailureKind.PROVIDER_ERROR),
        (429, FailureKind.RATE_LIMITED),
        (455, FailureKind.MAINTENANCE),
        (500, FailureKind.PROVIDER_ERROR),
        (501, FailureKind.PROVIDER_ERROR),
        (505, FailureKind.PROVIDER_ERROR),
    ],
)
def test_crun_body_code_other_than_200_fails_even_with_http_200(code, kind):
    caught = failure("crun", {"code": code, "message": "nope", "data": None}, status=200)
    assert caught.kind is kind
    assert f"code {code}" in caught.message


def test_sunor_invalid_key_is_an_auth_failure():
    caught = failure("sunor", {"code": 401, "message": "Missing or invalid API key"}, status=401)
    assert caught.kind is FailureKind.AUTH
    assert "Missing or invalid API key" in caught.message


def test_srtgen_unauthorized_envelope_is_an_auth_failure():
    caught = failure("srtgen", {"success": False, "error": {"code": "unauthorized", "message": "API key is missing"}}, status=401)
    assert caught.kind is FailureKind.AUTH


def test_srtgen_server_error_envelope_is_a_provider_error():
    body = {"success": False, "error": {"code": "server_error", "message": "An unexpected internal error occurred."}}
    assert failure("srtgen", body, status=500).kind is FailureKind.PROVIDER_ERROR


def test_apimall_403_says_access_not_approved():
    body = {"success": False, "error": {"code": "forbidden", "message": "API access not approved"}, "request_id": "r"}
    caught = failure("apimall", body, status=403)
    assert caught.kind is FailureKind.AUTH
    assert "not approved" in caught.message


def test_apimall_success_false_with_http_200_is_a_failure():
    body = {"success": False, "error": {"code": "rate_limited", "message": "slow down"}, "request_id": "r"}
    assert failure("apimall", body, status=200).kind is FailureKind.RATE_LIMITED


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (400011, FailureKind.PROVIDER_ERROR),
        (400012, FailureKind.AUTH),
        (500020, FailureKind.AUTH),
        (500069, FailureKind.RATE_LIMITED),
        (500090, FailureKind.INSUFFICIENT_CREDITS),
        (500043, FailureKind.INSUFFICIENT_CREDITS),
        (99999, FailureKind.PROVIDER_ERROR),
    ],
)
def test_pixverse_nonzero_errcode_fails_even_with_http_200(code, kind):
    caught = failure("pixverse", {"ErrCode": code, "ErrMsg": "message from pixverse", "Resp": None}, status=200)
    assert caught.kind is kind
    assert str(code) in caught.message


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_http_error_without_a_provider_body_is_classified_by_status(provider):
    assert failure(provider, ["not", "an", "object"], status=502).kind is FailureKind.PROVIDER_ERROR
    assert failure(provider, {}, status=401).kind is FailureKind.AUTH
    assert failure(provider, {}, status=429).kind is FailureKind.RATE_LIMITED


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_success_status_with_a_non_object_body_is_a_bad_response(provider):
    caught = failure(provider, [1, 2, 3])
    assert caught.kind is FailureKind.BAD_RESPONSE
    assert "array" in caught.message


# -- malformed values where credits should be ------------------------------------------------------

SPENDABLE = {provider: SPECS[provider].spendable for provider in PROVIDERS}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("1000", "a str"),
        (-5, "negative"),
        (float("nan"), "not a finite"),
        (True, "a bool"),
        (1e308, "implausibly large"),
        (None, "missing"),
    ],
)
def test_a_spendable_field_that_is_not_a_plausible_number_is_a_bad_response(provider, value, says):
    body = seed_response(provider)
    outer, inner = SPENDABLE[provider]
    body[outer][inner] = value
    caught = failure(provider, body)
    assert caught.kind is FailureKind.BAD_RESPONSE
    assert inner in caught.message
    assert says in caught.message


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_missing_data_object_is_a_bad_response(provider):
    body = seed_response(provider)
    body.pop(SPENDABLE[provider][0])
    assert failure(provider, body).kind is FailureKind.BAD_RESPONSE


# -- requests ------------------------------------------------------------------------------------


def test_auth_headers_follow_each_providers_docs():
    assert get_provider("crun").auth_headers("k1") == {"x-api-key": "k1"}
    assert get_provider("sunor").auth_headers("k2") == {"x-api-key": "k2"}
    assert get_provider("srtgen").auth_headers("k3") == {"x-api-key": "k3"}
    assert get_provider("apimall").auth_headers("k4") == {"Authorization": "Bearer k4"}
    pixverse = get_provider("pixverse").auth_headers("k5")
    assert pixverse["API-KEY"] == "k5"
    assert uuid.UUID(pixverse["Ai-trace-id"]).version == 4


def test_pixverse_trace_id_is_fresh_for_every_request():
    ids = {get_provider("pixverse").auth_headers("k")["Ai-trace-id"] for _ in range(50)}
    assert len(ids) == 50


def test_documented_endpoints():
    urls = {p.id: p.url(p.default_base_url) for p in PROVIDERS.values()}
    assert urls == {
        "crun": "https://api.crun.ai/api/v1/client/account/balance",
        "sunor": "https://sunor.cc/api/v1/account/balance",
        "srtgen": "https://api.srtgen.com/api/v1/balance",
        "apimall": "https://gateway.apimall.ai/api/v1/account/balances",
        "pixverse": "https://app-api.pixverse.ai/openapi/v2/account/balance",
    }


def test_unknown_provider_names_the_known_ones():
    with pytest.raises(LookupError, match="known providers: apimall, crun, openrouter, pixverse, srtgen, sunor"):
        get_provider("openai")
