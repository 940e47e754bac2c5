"""Providers defined by configuration: the engine, the built-in definitions, and validation errors."""

import copy
import json
import uuid
from pathlib import Path

import jsonschema
import pytest

from credit_monitor.model import FailureKind, PollFailure
from credit_monitor.polling.providers import BUILT_IN, get_provider, known_providers, parse_response
from credit_monitor.polling.providers.declarative import DEFINITIONS, DefinitionError, build_provider, load_definition
from devstack.simulators import SPECS, seed_response

BUILTIN_DEFINITIONS = DEFINITIONS / "builtin"
SCHEMA = json.loads((DEFINITIONS / "schema.json").read_text())
OPENROUTER = json.loads((DEFINITIONS / "openrouter.json").read_text())


@pytest.mark.parametrize("provider", sorted(BUILT_IN))
def test_each_built_in_definition_reads_the_seed_example_as_its_adapter_does(provider):
    defined = load_definition(BUILTIN_DEFINITIONS / f"{provider}.json")
    body = seed_response(provider)
    assert parse_response(defined, 200, body) == parse_response(BUILT_IN[provider], 200, body)
    assert defined.url(defined.default_base_url) == BUILT_IN[provider].url(BUILT_IN[provider].default_base_url)


@pytest.mark.parametrize(("provider", "error"), [(p, e) for p in sorted(BUILT_IN) for e in SPECS[p].errors])
def test_each_built_in_definition_classifies_failures_as_its_adapter_does(provider, error):
    status, body = SPECS[provider].errors[error]
    outcomes = []
    for adapter in (load_definition(BUILTIN_DEFINITIONS / f"{provider}.json"), BUILT_IN[provider]):
        with pytest.raises(PollFailure) as caught:
            parse_response(adapter, status, copy.deepcopy(body))
        outcomes.append(caught.value.kind)
    assert outcomes[0] == outcomes[1]


def test_the_srtgen_definition_never_reads_the_users_email():
    reading = parse_response(load_definition(BUILTIN_DEFINITIONS / "srtgen.json"), 200, seed_response("srtgen"))
    assert "alex.rivera@example.com" not in json.dumps(reading.breakdown)


def test_auth_headers_and_a_fresh_uuid_per_request():
    pixverse = load_definition(BUILTIN_DEFINITIONS / "pixverse.json")
    first, second = pixverse.auth_headers("k"), pixverse.auth_headers("k")
    assert first["API-KEY"] == "k"
    assert uuid.UUID(first["Ai-trace-id"]).version == 4
    assert first["Ai-trace-id"] != second["Ai-trace-id"]
    assert load_definition(DEFINITIONS / "openrouter.json").auth_headers("sk-1") == {"Authorization": "Bearer sk-1"}


def test_a_query_parameter_can_carry_the_key():
    provider = build_provider({**OPENROUTER, "auth": {"query": "api_key"}}, "q.json")
    assert provider.query_params("sk-9") == {"api_key": "sk-9"}
    assert provider.auth_headers("sk-9") == {}


def test_openrouter_available_is_credits_bought_minus_used_in_usd():
    reading = parse_response(get_provider("openrouter"), 200, seed_response("openrouter"))
    assert (reading.available, reading.unit) == (37.5, "USD")
    assert reading.breakdown == {"total_credits": 50.0, "total_usage": 12.5}


@pytest.mark.parametrize(
    ("status", "body", "kind", "says"),
    [
        (401, {"error": {"code": 401, "message": "No auth credentials found"}}, FailureKind.AUTH, "openrouter 401: No auth"),
        (402, {"error": {"code": 402, "message": "Insufficient credits"}}, FailureKind.INSUFFICIENT_CREDITS, "402"),
        (200, {"data": None}, FailureKind.BAD_RESPONSE, "does not pass its success test"),
        (503, {}, FailureKind.PROVIDER_ERROR, "HTTP 503"),
        (200, {"data": {"total_credits": "50", "total_usage": 1}}, FailureKind.BAD_RESPONSE, "available"),
    ],
)
def test_openrouter_failures_are_classified(status, body, kind, says):
    with pytest.raises(PollFailure) as caught:
        parse_response(get_provider("openrouter"), status, body)
    assert caught.value.kind is kind
    assert says in caught.value.message


def test_bundled_definitions_are_known_providers_and_cannot_shadow_built_ins():
    assert "openrouter" in known_providers()
    assert get_provider("crun") is BUILT_IN["crun"]


def edited(**changes):
    document = copy.deepcopy(OPENROUTER)
    for path, value in changes.items():
        target = document
        *parents, last = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return document


INVALID = [
    (edited(colour="blue"), "my.json: colour: unknown key"),
    (edited(fields__avaliable="data.x"), "my.json: fields.avaliable: unknown key"),
    (edited(fields__available=None), "my.json: fields.available: is required"),
    (edited(fields__available="data.[total"), "my.json: fields.available: JMESPath 'data.[total' does not compile"),
    (edited(success="=="), "my.json: success: JMESPath '==' does not compile"),
    (edited(base_url="http://openrouter.ai"), "my.json: base_url: must use https://"),
    (edited(base_url="openrouter.ai"), "my.json: base_url:"),
    (edited(id="Open Router"), "my.json: id: 'Open Router' must be 1-32"),
    (edited(path="api/v1/credits"), "my.json: path:"),
    (edited(auth={"header": "Authorization", "value": "Bearer"}), "my.json: auth.value: must be a template containing {key}"),
    (edited(auth={"header": "Authorization"}), "my.json: auth: must be"),
    (edited(headers={"X-Trace": "{request}"}), "my.json: headers.X-Trace: unknown placeholder {request}"),
    (edited(error_kinds={"401": "unauthorized"}), "my.json: error_kinds.401: 'unauthorized' is not one of"),
    (edited(fields__unit=""), "my.json: fields.unit:"),
    (edited(fields__breakdown={"x": 5}), "my.json: fields.breakdown.x:"),
]


@pytest.mark.parametrize(("document", "says"), INVALID, ids=[s.split(": ", 1)[1][:40] for _, s in INVALID])
def test_an_invalid_definition_is_rejected_naming_the_file_field_and_problem(document, says):
    with pytest.raises(DefinitionError) as caught:
        build_provider(document, "my.json")
    assert str(caught.value).startswith(says)


def test_the_json_schema_accepts_every_bundled_definition():
    for path in [*DEFINITIONS.glob("*.json"), *BUILTIN_DEFINITIONS.glob("*.json")]:
        if path.name != "schema.json":
            jsonschema.validate(json.loads(path.read_text()), SCHEMA)


@pytest.mark.parametrize(("document", "says"), [case for case in INVALID if "compile" not in case[1]])
def test_the_json_schema_rejects_what_the_validator_rejects_short_of_jmespath(document, says):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


def test_a_broken_definition_file_names_itself(tmp_path: Path):
    broken = tmp_path / "acme.json"
    broken.write_text("{not json")
    with pytest.raises(DefinitionError, match=r"acme\.json: not readable JSON"):
        load_definition(broken)
