"""The provider secret: accounts and keys, and errors that name the secret but never its value."""

import json

import pytest

from credit_monitor.model import ConfigurationError
from credit_monitor.polling.accounts import parse_api_keys

SECRET = "credit-monitor/crun/api-keys"


def rejected(raw) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_api_keys(SECRET, raw)
    message = str(caught.value)
    assert SECRET in message
    return message


def test_a_json_object_maps_accounts_to_keys():
    assert parse_api_keys(SECRET, '{"prod": "sk-1", "staging.eu": "sk-2"}') == {"prod": "sk-1", "staging.eu": "sk-2"}


def test_a_plain_string_is_one_account_named_default():
    assert parse_api_keys(SECRET, "  sk-plain-key\n") == {"default": "sk-plain-key"}


def test_the_empty_placeholder_means_no_accounts_yet():
    assert parse_api_keys(SECRET, "{}") == {}


def test_binary_secrets_are_read_as_utf8():
    assert parse_api_keys(SECRET, b'{"prod": "sk-1"}') == {"prod": "sk-1"}


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
