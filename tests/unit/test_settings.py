"""Each function's configuration from its environment, and the rule that keys travel only over https."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from credit_monitor.errors import ConfigurationError
from credit_monitor.model import validate_base_url
from credit_monitor.settings import AggregatorSettings, ApiSettings, PollerSettings, TracingSettings
from devstack import ROOT


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


POLLER = {"PROVIDER": "sunor", "API_KEYS_SECRET": "s", "TABLE_NAME": "t"}
AGGREGATOR = {"TABLE_NAME": "t", "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:1:t", "THRESHOLDS_PARAMETER": "/s/thresholds"}


def test_the_poller_reads_its_variables_and_leaves_the_base_url_to_the_definition_by_default():
    settings = PollerSettings.from_env(POLLER)
    assert (settings.provider, settings.secret_name, settings.storage.table_name) == ("sunor", "s", "t")
    assert settings.base_url == ""  # the provider definition's production host
    assert settings.storage.history_days == 400


def test_a_base_url_override_is_validated():
    assert (
        PollerSettings.from_env({**POLLER, "PROVIDER_BASE_URL": "https://proxy.example/sunor/"}).base_url == "https://proxy.example/sunor"
    )
    with pytest.raises(ConfigurationError, match="PROVIDER_BASE_URL must use https://"):
        PollerSettings.from_env({**POLLER, "PROVIDER_BASE_URL": "http://sunor.cc"})


def test_every_missing_or_malformed_variable_is_named_at_once():
    with pytest.raises(ConfigurationError) as caught:
        PollerSettings.from_env({"PROVIDER": "Sun Or", "HISTORY_TTL_DAYS": "ten"})
    message = str(caught.value)
    for named in ("PROVIDER 'Sun Or' is not a provider id", "API_KEYS_SECRET is not set", "TABLE_NAME is not set", "HISTORY_TTL_DAYS"):
        assert named in message


@pytest.mark.parametrize("value", ["0", "-3", "ten", "1.5"])
def test_history_days_must_be_a_positive_whole_number(value):
    with pytest.raises(ConfigurationError, match="HISTORY_TTL_DAYS must be a whole number"):
        PollerSettings.from_env({**POLLER, "HISTORY_TTL_DAYS": value})


def test_the_poller_caps_its_requests_in_flight_and_keeps_per_account_series_off_by_default():
    default = PollerSettings.from_env(POLLER)
    assert (default.concurrency, default.account_metrics) == (256, False)
    chosen = PollerSettings.from_env({**POLLER, "POLL_CONCURRENCY": "8", "ACCOUNT_METRICS": "ENABLED"})
    assert (chosen.concurrency, chosen.account_metrics) == (8, True)


@pytest.mark.parametrize(("name", "value"), [("POLL_CONCURRENCY", "0"), ("POLL_CONCURRENCY", "1001"), ("POLL_CONCURRENCY", "2.5"),
                                             ("ACCOUNT_METRICS", "yes")])  # fmt: skip
def test_a_bad_concurrency_or_metrics_choice_is_named(name, value):
    with pytest.raises(ConfigurationError, match=name):
        PollerSettings.from_env({**POLLER, name: value})


@pytest.mark.parametrize(("value", "enabled"), [(None, False), ("true", False), ("false", True)])
def test_tracing_is_on_only_where_the_stack_turns_it_on(value, enabled):
    assert TracingSettings.from_env({} if value is None else {"POWERTOOLS_TRACE_DISABLED": value}).enabled is enabled
    with pytest.raises(ConfigurationError, match="POWERTOOLS_TRACE_DISABLED"):
        TracingSettings.from_env({"POWERTOOLS_TRACE_DISABLED": "maybe"})


def test_the_aggregator_turns_its_parameters_into_alert_settings():
    settings = AggregatorSettings.from_env({**AGGREGATOR, "POLL_INTERVAL_MINUTES": "10", "STALE_AFTER_POLLS": "2",
                                            "HYSTERESIS_PERCENT": "25", "REMINDER_HOURS": "12"})  # fmt: skip
    assert settings.alert.stale_after == timedelta(minutes=20)
    assert settings.alert.hysteresis == 0.25
    assert settings.alert.reminder == timedelta(hours=12)
    assert AggregatorSettings.from_env(AGGREGATOR).alert.reminder is None


@pytest.mark.parametrize(("name", "value"), [("HYSTERESIS_PERCENT", "150"), ("FAILURE_ALERT_AFTER", "0"), ("FORECAST_ALERT_DAYS", "nan")])
def test_an_out_of_range_alert_parameter_is_named(name, value):
    with pytest.raises(ConfigurationError, match=name):
        AggregatorSettings.from_env({**AGGREGATOR, name: value})


def test_the_api_reads_its_cors_origins():
    settings = ApiSettings.from_env({"TABLE_NAME": "t", "CORS_ALLOWED_ORIGINS": "https://a.example, https://b.example"})
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert ApiSettings.from_env({"TABLE_NAME": "t"}).cors_origins == ()


def test_no_handler_reads_its_environment_at_import():
    """Importing every function's handler with an empty environment works; configuration is read on first use."""
    code = "\n".join(
        [
            "import importlib.util, sys",
            *[
                f"spec = importlib.util.spec_from_file_location('h{i}', {str(ROOT / 'functions' / f)!r}); "
                f"spec.loader.exec_module(importlib.util.module_from_spec(spec))"
                for i, f in enumerate(["poller/poll_handler.py", "aggregator/aggregate_handler.py", "api/api_handler.py"])
            ],
            "from credit_monitor import settings",
            "try:",
            "    settings.current(settings.PollerSettings)",
            "except settings.ConfigurationError as exc:",
            "    print(exc)",
        ]
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "layers" / "common")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "PROVIDER is not set; API_KEYS_SECRET is not set; TABLE_NAME is not set" in result.stdout


@pytest.mark.parametrize(
    ("module", "not_loaded"),
    [
        ("credit_monitor.settings", "credit_monitor.polling"),  # the base URL check is the model's, below both
        ("credit_monitor.settings", "credit_monitor.alerting.rules"),  # it builds the rules' settings, not the rules
        ("credit_monitor.alerting.rules", "credit_monitor.settings"),  # the rules take their settings, never the environment
    ],
)
def test_settings_and_the_alert_rules_do_not_reach_into_each_other_or_up_into_polling(module, not_loaded):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m == {not_loaded!r} or m.startswith({not_loaded + '.'!r})))"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "layers" / "common")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
