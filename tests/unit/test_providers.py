"""The bundled providers, each one definition file, against its vendor's documented responses and failures."""

import json
import uuid

import pytest

from credit_monitor.errors import PollFailure
from credit_monitor.model import FailureKind
from credit_monitor.polling.providers import BUILT_IN, Credentials, get_provider, known_providers
from devstack.simulators import example_response

BUNDLED = sorted(known_providers())
EXAMPLES = [(p, e) for p in BUNDLED for e in get_provider(p).examples]


def parse(provider, body, status=200):
    return get_provider(provider).parse(status, body)


def failure(provider, body, status=200) -> PollFailure:
    with pytest.raises(PollFailure) as caught:
        parse(provider, body, status)
    return caught.value


def test_the_five_built_ins_are_bundled_definitions_and_no_provider_exists_twice():
    assert set(BUILT_IN) <= set(BUNDLED)
    sources = [get_provider(p).source for p in BUNDLED]
    assert sources == [f"{p}.json" for p in BUNDLED]


@pytest.mark.parametrize(("provider", "example"), EXAMPLES, ids=[f"{p}-{e.name}" for p, e in EXAMPLES])
def test_every_documented_response_reads_as_documented(provider, example):
    if "error_kind" in example.expect or not example.succeeds:
        caught = failure(provider, example.body, example.status)
        assert caught.kind.value == example.expect.get("error_kind", caught.kind.value)
        assert example.expect.get("message_contains", "") in caught.message
    else:
        reading = parse(provider, example.body, example.status)
        for field in ("available", "frozen", "total", "unit", "allowance", "resets_at"):
            if field in example.expect:
                assert getattr(reading, field) == pytest.approx(example.expect[field]) if isinstance(example.expect[field], float) \
                    else getattr(reading, field) == example.expect[field]  # fmt: skip


def test_crun_example_is_its_balance():
    reading = parse("crun", example_response("crun"))
    assert (reading.available, reading.frozen, reading.total, reading.breakdown) == (1000, 0, 1000, {})


def test_sunor_separates_available_and_frozen():
    reading = parse("sunor", example_response("sunor"))
    assert (reading.available, reading.frozen, reading.total) == (950, 10, 960)


def test_srtgen_gives_total_balance_its_pools_and_plan_reset_without_the_user():
    reading = parse("srtgen", example_response("srtgen"))
    assert (reading.available, reading.allowance, reading.resets_at) == (1250, 1000, "2026-04-29T17:48:46Z")
    assert reading.breakdown["plans"][0] == {"id": "starter", "name": "Starter Plan", "status": "active", "balance": 1000, "total": 1000,
                                             "resets_at": "2026-04-29T17:48:46.000Z"}  # fmt: skip
    flattened = json.dumps(reading.breakdown)
    assert "alex.rivera@example.com" not in flattened
    assert "Alex Rivera" not in flattened


@pytest.mark.parametrize(("value", "says"), [(-5, "negative"), (float("nan"), "not a finite"), (1e300, "implausibly large")])
def test_srtgen_checks_every_plan_balance_as_a_credit_amount(value, says):
    body = example_response("srtgen")
    body["credits"]["plans"][0]["balance"] = value
    caught = failure("srtgen", body)
    assert caught.kind is FailureKind.BAD_RESPONSE
    assert "breakdown.plans[0].balance" in caught.message
    assert says in caught.message


def test_apimall_spends_api_credits_and_explains_a_403():
    body = example_response("apimall")
    body["data"]["credits"] = 500
    assert (parse("apimall", body).available, parse("apimall", body).breakdown) == (120, {"credits": 500})
    body = {"success": False, "error": {"code": "forbidden", "message": "API access not approved"}, "request_id": "r"}
    caught = failure("apimall", body, status=403)
    assert caught.kind is FailureKind.AUTH
    assert caught.message == "apimall code forbidden: API access not approved (API access not approved, or not the gateway host)"


def test_pixverse_adds_monthly_and_package_credits():
    reading = parse("pixverse", example_response("pixverse"))
    assert reading.available == 1069020 + 3630
    assert reading.breakdown == {"monthly": 1069020, "package": 3630}


@pytest.mark.parametrize("provider", ["crun", "pixverse"])
def test_a_body_failure_code_wins_even_with_http_200(provider):
    body = {"code": 402, "message": "Insufficient Credits", "data": None} if provider == "crun" else {"ErrCode": 500090, "ErrMsg": "no"}
    assert failure(provider, body, status=200).kind is FailureKind.INSUFFICIENT_CREDITS


def test_openrouter_reads_the_credit_left_on_an_ordinary_key_and_says_when_the_key_has_no_limit():
    reading = parse("openrouter", example_response("openrouter"))
    assert (reading.available, reading.unit, reading.allowance) == (74.5, "USD", 100)
    body = {"data": {"limit": None, "limit_remaining": None, "usage": 3.0}}
    caught = failure("openrouter", body)
    assert caught.kind is FailureKind.AUTH
    assert "no credit limit" in caught.message
    assert get_provider("openrouter").path == "/api/v1/key"


@pytest.mark.parametrize("provider", BUNDLED)
def test_http_error_without_a_provider_body_is_classified_by_status(provider):
    assert failure(provider, ["not", "an", "object"], status=502).kind is FailureKind.PROVIDER_ERROR
    assert failure(provider, {}, status=401).kind is FailureKind.AUTH
    assert failure(provider, {}, status=429).kind is FailureKind.RATE_LIMITED


@pytest.mark.parametrize("provider", BUNDLED)
def test_success_status_with_a_non_object_body_is_a_bad_response(provider):
    caught = failure(provider, [1, 2, 3])
    assert caught.kind is FailureKind.BAD_RESPONSE
    assert "array" in caught.message


SPENDABLE = {"crun": ("data", "balance"), "sunor": ("data", "available"), "srtgen": ("credits", "totalBalance"),
             "apimall": ("data", "api_credits"), "pixverse": ("Resp", "credit_package"),
             "openrouter": ("data", "limit_remaining")}  # fmt: skip


@pytest.mark.parametrize("provider", sorted(SPENDABLE))
@pytest.mark.parametrize("value", ["1000", -5, float("nan"), True, 1e308])
def test_a_spendable_field_that_is_not_a_plausible_number_is_a_bad_response(provider, value):
    body = example_response(provider)
    outer, inner = SPENDABLE[provider]
    body[outer][inner] = value
    caught = failure(provider, body)
    assert caught.kind is FailureKind.BAD_RESPONSE
    assert caught.message.startswith(("available", "breakdown.")), caught.message  # names the field at fault


@pytest.mark.parametrize("provider", sorted(SPENDABLE))
def test_a_missing_data_object_is_a_bad_response(provider):
    body = example_response(provider)
    body.pop(SPENDABLE[provider][0])
    assert failure(provider, body).kind is FailureKind.BAD_RESPONSE


def request(provider, key="k1"):
    return get_provider(provider).request(get_provider(provider).default_base_url, Credentials(key))


def test_auth_follows_each_providers_docs():
    assert request("crun").headers == {"x-api-key": "k1"}
    assert request("sunor").headers == {"x-api-key": "k1"}
    assert request("srtgen").headers == {"x-api-key": "k1"}
    assert request("apimall").headers == {"Authorization": "Bearer k1"}
    assert request("openrouter").headers == {"Authorization": "Bearer k1"}
    pixverse = request("pixverse").headers
    assert pixverse["API-KEY"] == "k1"
    assert uuid.UUID(pixverse["Ai-trace-id"]).version == 4
    assert all(request(p).params is None for p in BUNDLED)


def test_pixverse_trace_id_is_fresh_for_every_request():
    assert len({request("pixverse").headers["Ai-trace-id"] for _ in range(50)}) == 50


def test_documented_endpoints():
    assert {p: request(p).url for p in BUILT_IN} == {
        "crun": "https://api.crun.ai/api/v1/client/account/balance",
        "sunor": "https://sunor.cc/api/v1/account/balance",
        "srtgen": "https://api.srtgen.com/api/v1/balance",
        "apimall": "https://gateway.apimall.ai/api/v1/account/balances",
        "pixverse": "https://app-api.pixverse.ai/openapi/v2/account/balance",
    }


def test_unknown_provider_names_the_known_ones():
    with pytest.raises(LookupError, match="known providers: apimall, crun, openrouter, pixverse, srtgen, sunor"):
        get_provider("openai")
