"""The provider secret: accounts and their credentials (a key, and the per-account variables a definition
declares), and errors that name the secret, the account and the field but never a value."""

import json

import pytest

from credit_monitor.errors import ConfigurationError
from credit_monitor.polling.accounts import parse_accounts
from credit_monitor.polling.providers import Credentials

SECRET = "credit-monitor/crun/api-keys"


def keys(raw) -> dict[str, str]:
    return {name: credentials.key for name, credentials in parse_accounts(SECRET, raw).items()}


def rejected(raw, variables=()) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_accounts(SECRET, raw, variables)
    message = str(caught.value)
    assert SECRET in message
    return message


def test_a_json_object_maps_accounts_to_keys():
    assert keys('{"prod": "sk-1", "staging.eu": "sk-2"}') == {"prod": "sk-1", "staging.eu": "sk-2"}


def test_a_plain_string_is_one_account_named_default():
    assert keys("  sk-plain-key\n") == {"default": "sk-plain-key"}


def test_the_empty_placeholder_means_no_accounts_yet():
    assert keys("{}") == {}


def test_binary_secrets_are_read_as_utf8():
    assert keys(b'{"prod": "sk-1"}') == {"prod": "sk-1"}


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_an_empty_secret_says_what_to_store(raw):
    assert "empty" in rejected(raw)


def test_invalid_json_says_where_without_quoting_the_value():
    message = rejected('{"prod": "sk-TOPSECRET" "staging": "sk-2"}')
    assert "not valid JSON" in message
    assert "line 1" in message
    assert "TOPSECRET" not in message


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "a/b", "prod#1"])
def test_invalid_account_names_are_named(name):
    assert "invalid account name" in rejected(f'{{"{name}": "sk-1"}}')


@pytest.mark.parametrize("key", ["", "   ", 123, None, ["sk"]])
def test_each_key_must_be_a_non_empty_string(key):
    message = rejected(json.dumps({"prod": key}))
    assert "'prod'" in message


def test_a_plain_key_with_whitespace_inside_is_refused_without_echoing_it():
    message = rejected("sk-part-one sk-part-two")
    assert "sk-part" not in message


def test_a_json_array_is_not_an_account_map():
    message = rejected('["sk-1"]')
    assert "sk-1" not in message


# -- per-account variables (a definition's "variables", e.g. Deepgram's project_id) ----------------

VARIABLES = ("project_id",)


def test_an_account_object_gives_its_key_and_each_variable():
    accounts = parse_accounts(SECRET, '{"prod": {"key": "sk-1", "project_id": "p-123"}}', VARIABLES)
    assert accounts == {"prod": Credentials(key="sk-1", variables={"project_id": "p-123"})}


def test_a_plain_key_where_variables_are_needed_shows_the_object_to_store():
    message = rejected('{"prod": "sk-SECRET"}', VARIABLES)
    assert '{"prod": {"key": "<api key>", "project_id": "..."}}' in message
    assert "sk-SECRET" not in message


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"key": "sk-1"}, "missing project_id"),
        ({"project_id": "p-1"}, "missing key"),
        ({"key": "sk-1", "project_id": "p-1", "projectid": "typo"}, "unknown field(s) 'projectid'"),
        ({"key": "sk-1", "project_id": ""}, "project_id must be a non-empty string"),
        ({"key": "sk-1", "project_id": 42}, "project_id must be a non-empty string"),
        ({"key": "sk-1", "project_id": "p\n1"}, "project_id must be at most 200 printable characters"),
        ({"key": "sk-1", "project_id": "p" * 201}, "project_id must be at most 200 printable characters"),
        (["sk-1"], "must be the API key (a string) or an object"),
    ],
)
def test_each_bad_account_object_names_the_account_and_the_field(value, says):
    message = rejected(json.dumps({"prod": value}), VARIABLES)
    assert "account 'prod'" in message
    assert says in message
    assert "sk-1" not in message


def test_an_object_with_an_unknown_field_is_refused_for_a_provider_without_variables():
    assert "unknown field(s) 'project_id'; expected key" in rejected('{"prod": {"key": "sk-1", "project_id": "p"}}')
