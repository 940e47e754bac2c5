"""The definition format: what it can express, and validation that names the file, the field and the problem."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from credit_monitor.errors import DefinitionError, PollFailure
from credit_monitor.model import FailureKind
from credit_monitor.polling.providers import DEFINITIONS, Credentials
from credit_monitor.polling.providers.definition import build_provider, load_definition, load_folder
from devstack import ROOT

SCHEMA = json.loads((DEFINITIONS / "schema.json").read_text())
EXAMPLES = ROOT / "examples" / "providers"
ALL_FILES = [p for p in [*DEFINITIONS.glob("*.json"), *EXAMPLES.glob("*.json")] if p.name != "schema.json"]

MINIMAL = {
    "id": "acme",
    "base_url": "https://api.acme.example",
    "path": "/v1/credits",
    "auth": {"header": "Authorization", "value": "Bearer {key}"},
    "success": "credits != null",
    "error_code": "error.code",
    "error_message": "error.message",
    "fields": {"available": "credits"},
    "examples": [{"name": "balance", "status": 200, "body": {"credits": 42}, "expect": {"available": 42}}],
}


def define(**changes):
    document = copy.deepcopy(MINIMAL)
    for path, value in changes.items():
        target, *parents, last = document, *path.split("__")
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return document


def problems_of(document, source="acme.json", **kwargs):
    with pytest.raises(DefinitionError) as caught:
        build_provider(document, source, **kwargs)
    return caught.value.problems


# -- what the format expresses ------------------------------------------------------------------------


def example(body):
    return [{"name": "balance", "status": 200, "body": body}]


def test_numbers_given_as_strings_and_in_fractions_of_a_unit():
    fields = {"available": "divide(to_number(balance), `10000`)", "unit": "USD"}
    provider = build_provider(define(fields=fields, examples=example({"balance": "1234500", "credits": 1})), "x.json")
    reading = provider.parse(200, {"balance": "1234500", "credits": 1})
    assert (reading.available, reading.unit) == (123.45, "USD")


def test_the_unit_can_be_read_from_the_answer():
    fields = {"available": "credits", "unit": "USD", "unit_from": "currency"}
    provider = build_provider(define(fields=fields, examples=example({"credits": 1, "currency": "GBP"})), "x.json")
    assert provider.parse(200, {"credits": 5, "currency": "EUR"}).unit == "EUR"
    assert provider.parse(200, {"credits": 5}).unit == "USD"  # not given: the fixed unit


def test_one_entry_picked_out_of_a_list():
    provider = build_provider(define(fields={"available": "balances[?currency == 'USD'] | [0].amount"},
                                     examples=[{"name": "b", "status": 200, "body": {"credits": 1, "balances": [
                                         {"currency": "EUR", "amount": 7}, {"currency": "USD", "amount": 9}]}}]), "x.json")  # fmt: skip
    assert (
        provider.parse(200, {"credits": 1, "balances": [{"currency": "EUR", "amount": 7}, {"currency": "USD", "amount": 9}]}).available == 9
    )


def test_fixed_query_parameters_headers_and_per_account_variables():
    headers = {"X-Api-Version": "2024-11-06", "X-Trace": "{uuid}", "X-Team": "{project_id}"}
    document = define(path="/v1/projects/{project_id}/credits", variables=["project_id"], query={"expand": "credits"}, headers=headers)
    provider = build_provider(document, "x.json")
    request = provider.request("https://api.acme.example", Credentials("sk-1", {"project_id": "p/1 x"}))
    assert request.url == "https://api.acme.example/v1/projects/p%2F1%20x/credits"  # a value cannot add path segments
    assert request.params == {"expand": "credits"}
    assert request.headers["X-Api-Version"] == "2024-11-06"
    assert request.headers["X-Team"] == "p/1 x"
    assert request.headers["Authorization"] == "Bearer sk-1"
    assert provider.variables == ("project_id",)


def test_the_key_can_travel_in_the_query_string():
    provider = build_provider(define(auth={"query": "api_key"}, query={"output": "json"}), "x.json")
    request = provider.request("https://api.acme.example", Credentials("sk-9"))
    assert request.params == {"output": "json", "api_key": "sk-9"}
    assert "Authorization" not in request.headers


@pytest.mark.parametrize(("status", "body", "kind"), [
    (429, {"error": {"code": "credits_exhausted", "message": "out of credits"}}, FailureKind.INSUFFICIENT_CREDITS),
    (429, {"error": {"code": "slow_down", "message": "too many requests"}}, FailureKind.RATE_LIMITED),
    (200, {"error": {"code": "credits_exhausted", "message": "out of credits"}}, FailureKind.INSUFFICIENT_CREDITS),
])  # fmt: skip
def test_a_body_failure_code_wins_over_the_http_status_class(status, body, kind):
    provider = build_provider(define(error_kinds={"credits_exhausted": "insufficient_credits"}), "x.json")
    with pytest.raises(PollFailure) as caught:
        provider.parse(status, body)
    assert caught.value.kind is kind


def test_a_failure_can_be_told_by_its_message_and_explained_by_a_hint():
    provider = build_provider(
        define(error_messages={"run out of": "insufficient_credits"}, error_hints={"403": "needs an admin key"}), "x.json"
    )
    with pytest.raises(PollFailure) as caught:
        provider.parse(429, {"error": {"message": "Your account has RUN OUT OF searches."}})
    assert caught.value.kind is FailureKind.INSUFFICIENT_CREDITS
    with pytest.raises(PollFailure) as caught:
        provider.parse(403, {})
    assert (caught.value.kind, caught.value.message) == (FailureKind.AUTH, "HTTP 403 Forbidden: needs an admin key")


@pytest.mark.parametrize(("negative", "reads"), [("clamp", (0, {"overage": 12})), ("error", None)])
def test_a_negative_balance_is_clamped_with_its_overage_or_refused_as_the_definition_says(negative, reads):
    provider = build_provider(define(negative=negative), "x.json")
    if reads is None:
        with pytest.raises(PollFailure, match=r"available \(credits\) is negative \(-12\)"):
            provider.parse(200, {"credits": -12})
    else:
        reading = provider.parse(200, {"credits": -12})
        assert (reading.available, reading.breakdown) == reads


def test_a_plan_quota_with_its_allowance_and_reset_time():
    fields = {"available": "subtract(limit, used)", "unit": "characters", "allowance": "limit", "resets_at": "reset_unix"}
    body = {"credits": 1, "limit": 100, "used": 30, "reset_unix": 1738356858}
    provider = build_provider(define(fields=fields, examples=example(body)), "x.json")
    reading = provider.parse(200, body)
    assert (reading.available, reading.allowance, reading.resets_at) == (70, 100, "2025-01-31T20:54:18Z")


def test_a_required_answer_field_fails_with_the_definitions_own_words():
    requires = [{"expression": "limit != null", "message": "the key has no limit", "error_kind": "auth"}]
    provider = build_provider(define(requires=requires, examples=example({"credits": 1, "limit": 5})), "x.json")
    with pytest.raises(PollFailure) as caught:
        provider.parse(200, {"credits": 1})
    assert (caught.value.kind, caught.value.message) == (FailureKind.AUTH, "acme: the key has no limit")


def test_a_breakdown_is_kept_bounded_and_never_holds_garbage_numbers():
    fields = {"available": "credits", "breakdown": {"note": "note", "items": "items"}}
    provider = build_provider(define(fields=fields, examples=example({"credits": 1, "note": "n", "items": [1]})), "x.json")
    reading = provider.parse(200, {"credits": 1, "note": "x" * 5000, "items": list(range(500))})
    assert len(reading.breakdown["note"]) == 100
    assert len(reading.breakdown["items"]) == 20
    with pytest.raises(PollFailure, match=r"breakdown\.items"):
        provider.parse(200, {"credits": 1, "note": "", "items": [1e300]})


# -- validation ------------------------------------------------------------------------------------------


INVALID = [
    (define(colour="blue"), "colour: unknown key"),
    (define(fields__avaliable="x"), "fields.avaliable: unknown key"),
    (define(fields__available=None), "fields.available: is required"),
    (define(fields__available="credits.[x"), "fields.available: JMESPath 'credits.[x' does not compile"),
    (define(fields__available="substract(credits, `1`)"), "fields.available: Unknown function: substract()"),
    (define(fields__available="credit"), "fields.available: 'credit' finds nothing in example 'balance': check the path"),
    (define(fields__breakdown={"x": "nothing.here"}), "fields.breakdown.x: 'nothing.here' finds nothing in example 'balance'"),
    (define(fields__available="subtract(name, `1`)", examples=[{"name": "balance", "status": 200, "body": {"credits": 1, "name": "a"}}]),
     "fields.available: In function subtract(), invalid type for value: a"),
    (define(success="=="), "success: JMESPath '==' does not compile"),
    (define(base_url="http://api.acme.example"), "base_url: must use https://"),
    (define(id="Acme Co"), "id: 'Acme Co' must be 1-32"),
    (define(id="crun"), "id: 'crun' is a built-in provider"),
    (define(path="v1/credits"), "path: 'v1/credits' must start with /"),
    (define(path="/v1/{project}"), "path: unknown placeholder {project}"),
    (define(variables=["project"]), "variables: 'project' is declared but used nowhere"),
    (define(auth={"header": "Authorization", "value": "Bearer"}), "auth.value: must be a template containing {key}"),
    (define(auth={"header": "Authorization"}), "auth: must be"),
    (define(headers={"authorization": "Bearer x"}), "headers.Authorization: sets the auth header"),
    (define(auth={"query": "api_key"}, query={"api_key": "x"}), "query: sets 'api_key', the parameter that carries the key"),
    (define(headers={"X-Trace": "{request}"}), "headers.X-Trace: unknown placeholder {request}"),
    (define(error_kinds={"401": "unauthorized"}), "error_kinds.401: 'unauthorized' is not one of"),
    (define(negative="zero"), "negative: 'zero' must be error"),
    (define(fields__unit=""), "fields.unit:"),
    (define(examples=[]), "examples: must list the vendor's documented responses"),
    (define(examples=[{"name": "e", "status": 401, "body": {}, "expect": {"error_kind": "auth"}}]),
     "examples: must include at least one successful"),
    (define(examples=[{"name": "balance", "status": 200, "body": {"credits": 42}, "expect": {"available": 41}}]),
     "examples.balance.expect.available: reads 42, expected 41"),
    (define(examples=[{"name": "balance", "status": 200, "body": {"credits": 42}},
                      {"name": "auth", "status": 401, "body": {}, "expect": {"error_kind": "rate_limited"}}]),
     "examples.auth: classified as auth (HTTP 401 Unauthorized), expected rate_limited"),
]  # fmt: skip


@pytest.mark.parametrize(("document", "says"), INVALID, ids=[s.split(":")[0] + "-" + str(i) for i, (_, s) in enumerate(INVALID)])
def test_an_invalid_definition_is_rejected_naming_the_file_field_and_problem(document, says):
    problems = problems_of(document)
    assert any(p.startswith("acme.json: " + says) for p in problems), problems


def test_every_problem_of_a_definition_is_reported_at_once():
    document = define(colour="blue", headers={"authorization": "x"}, fields={"available": "substract(credits, `1`)",
                                                                               "breakdown": {"x": "nope"}})  # fmt: skip
    problems = problems_of(document)
    for field in ("colour", "headers.Authorization", "fields.available", "fields.breakdown.x"):
        assert any(p.startswith(f"acme.json: {field}: ") for p in problems), (field, problems)


def test_every_problem_of_every_file_in_a_folder_is_reported_at_once(tmp_path: Path):
    (tmp_path / "one.json").write_text(json.dumps(define(id="one", fields__available="substract(credits, `1`)")))
    (tmp_path / "two.json").write_text(json.dumps(define(id="two", colour="x")))
    (tmp_path / "three.json").write_text("{not json")
    with pytest.raises(DefinitionError) as caught:
        load_folder(tmp_path)
    sources = {p.split(":")[0] for p in caught.value.problems}
    assert sources == {"one.json", "two.json", "three.json"}


def test_a_mistyped_path_is_named_even_inside_a_function():
    """JMESPath hands divide() the null a mistyped path finds, and would blame divide(): the path is what to fix."""
    document = define(fields__available="divide(data.availableBal, `100`)",
                      examples=[{"name": "balance", "status": 200, "body": {"credits": 1, "data": {"available": 420}}}])  # fmt: skip
    assert problems_of(document) == [
        "acme.json: fields.available: 'data.availableBal' finds nothing in example 'balance' "
        "(in 'divide(data.availableBal, `100`)'): check the path"
    ]


@pytest.mark.parametrize(("available", "says"), [
    ("sum(balances[?units == 'usd'].amount)", None),  # no usd entry: a sum of nothing is 0, not a mistake
    ("balances[?units == 'usd'] | [0].amount", """"balances[?units == 'usd'] | [0].amount" finds nothing in example 'balance'"""),
    ("to_number(balances[0].amont)", "'balances[0].amont' finds nothing in example 'balance' (in 'to_number(balances[0].amont)')"),
])  # fmt: skip
def test_only_paths_read_from_the_answer_itself_are_blamed(available, says):
    """Inside a filter or after a pipe, a field is read from each element or from the result, not from the answer."""
    body = {"credits": 1, "balances": [{"units": "eur", "amount": 5}]}
    document = define(fields__available=available, examples=[{"name": "balance", "status": 200, "body": body}])
    if says is None:
        assert build_provider(document, "acme.json").parse(200, body).available == 0
    else:
        assert problems_of(document) == [f"acme.json: fields.available: {says}: check the path"]


def test_one_mistake_is_one_problem_naming_every_example_it_fails_on():
    examples = [{"name": "balance", "status": 200, "body": {"credits": 42}, "expect": {"available": 42}},
                {"name": "empty", "status": 200, "body": {"credits": 0}, "expect": {"available": 0}},
                {"name": "auth", "status": 401, "body": {}, "expect": {"error_kind": "auth"}}]  # fmt: skip
    assert problems_of(define(fields__available="credit", examples=examples)) == [
        "acme.json: fields.available: 'credit' finds nothing in examples 'balance', 'empty': check the path"
    ]  # not again as "documented as a balance but fails", nor as "expect.available: reads None"
    assert problems_of(define(fields__breakdown={"bonus": "bonus"}, examples=examples)) == [
        "acme.json: fields.breakdown.bonus: 'bonus' finds nothing in examples 'balance', 'empty': check the path"
    ]


def test_a_definition_file_given_by_path_is_named_as_given_and_must_be_named_after_its_id(tmp_path: Path):
    folder = tmp_path / "vendors"
    folder.mkdir()
    (folder / "acme-v2.json").write_text(json.dumps(MINIMAL))
    given = Path(folder.relative_to(tmp_path), "acme-v2.json")  # a relative path, as typed on a command line
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        with pytest.raises(DefinitionError) as caught:
            load_definition(given)
    assert caught.value.problems == [
        "vendors/acme-v2.json: id: 'acme' must be defined in a file named acme.json, not acme-v2.json: rename one or the other"
    ]


def test_a_bundled_definition_lives_in_a_file_named_after_its_id():
    assert any("must be defined in a file named acme.json" in p for p in problems_of(MINIMAL, source="other.json", bundled=True))


def test_a_broken_definition_file_names_itself(tmp_path: Path):
    broken = tmp_path / "acme.json"
    broken.write_text("{not json")
    with pytest.raises(DefinitionError, match=r"acme\.json: \(file\): not readable JSON"):
        load_definition(broken)


@pytest.mark.parametrize("path", ALL_FILES, ids=[p.name for p in ALL_FILES])
def test_the_json_schema_accepts_every_shipped_and_example_definition(path):
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)


@pytest.mark.parametrize(("document", "says"), [case for case in INVALID if "finds nothing" not in case[1] and "compile" not in case[1]
                                                and "function" not in case[1] and "examples." not in case[1] and "built-in" not in case[1]
                                                and "declared but used" not in case[1] and "placeholder" not in case[1]
                                                and "sets " not in case[1] and "at least one successful" not in case[1]])  # fmt: skip
def test_the_json_schema_rejects_what_the_validator_rejects_short_of_evaluating(document, says):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


def test_the_schema_and_the_validator_agree_on_the_provider_id_pattern():
    from credit_monitor.model import PROVIDER_ID  # noqa: PLC0415

    assert SCHEMA["properties"]["id"]["pattern"] == f"^{PROVIDER_ID.pattern}$"
