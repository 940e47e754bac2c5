"""Poller configuration from the environment, and the rule that keys travel only over https."""

import pytest

from credit_monitor.model import ConfigurationError
from credit_monitor.settings import PollerSettings
from credit_monitor.urls import validate_base_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.crun.ai", "https://api.crun.ai"),
        ("https://api.crun.ai/", "https://api.crun.ai"),
        ("https://proxy.example.com/crun", "https://proxy.example.com/crun"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9000/prefix/", "http://localhost:9000/prefix"),
    ],
)
def test_https_and_loopback_http_are_accepted(url, expected):
    assert validate_base_url(url) == expected


def test_plain_http_to_a_real_host_is_refused_because_of_the_key():
    with pytest.raises(ConfigurationError, match=r"PROVIDER_BASE_URL must use https://.*carry the API key"):
        validate_base_url("http://api.crun.ai")


@pytest.mark.parametrize("url", ["ftp://api.crun.ai", "api.crun.ai", "https://", "https://h/p?q=1", "https://user:pw@h"])
def test_other_malformed_base_urls_are_refused(url):
    with pytest.raises(ConfigurationError, match="PROVIDER_BASE_URL"):
        validate_base_url(url)


@pytest.fixture
def poller_env(monkeypatch):
    values = {"PROVIDER": "sunor", "API_KEYS_SECRET": "s", "TABLE_NAME": "t"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PROVIDER_BASE_URL", raising=False)
    monkeypatch.delenv("HISTORY_TTL_DAYS", raising=False)
    return monkeypatch


def test_the_base_url_defaults_to_the_production_host(poller_env):
    settings = PollerSettings.from_env()
    assert settings.base_url == "https://sunor.cc"
    assert settings.history_days == 400


def test_an_unknown_provider_is_named(poller_env):
    poller_env.setenv("PROVIDER", "openai")
    with pytest.raises(ConfigurationError, match=r"PROVIDER: unknown provider 'openai'; known providers: .*openrouter"):
        PollerSettings.from_env()


@pytest.mark.parametrize("missing", ["PROVIDER", "API_KEYS_SECRET", "TABLE_NAME"])
def test_a_missing_variable_is_named(poller_env, missing):
    poller_env.delenv(missing)
    with pytest.raises(ConfigurationError, match=missing):
        PollerSettings.from_env()


@pytest.mark.parametrize("value", ["0", "-3", "ten", "1.5"])
def test_history_days_must_be_a_positive_whole_number(poller_env, value):
    poller_env.setenv("HISTORY_TTL_DAYS", value)
    with pytest.raises(ConfigurationError, match="HISTORY_TTL_DAYS"):
        PollerSettings.from_env()
