"""The alert event: what its detail says for each kind of alert, its schema, and what each channel's
input transformer makes of it (the local emulation of EventBridge's, on the template's own templates)."""

import json
import re
from datetime import UTC, datetime

import jsonschema
import pytest

from credit_monitor.alerting.messages import AccountContext, configuration_message, render
from credit_monitor.alerting.notify import event_detail, marked_alert_id, marked_test_alert
from credit_monitor.alerting.rules import AlertEvent
from credit_monitor.alerting.thresholds import Threshold
from credit_monitor.model import AlertState, BalanceItem
from devstack import ROOT
from devstack.events import transform
from devstack.template import Resolver, deployed_template

SCHEMA = json.loads((ROOT / "schemas" / "credit-balance-alert.v1.json").read_text())
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALERT_ID = "01795254807964089824-c706588d"


def detail_of(event, available=87.5, level="critical", status="ok", **state):
    balance = BalanceItem("crun", "prod", "2026-11-21T11:55:00Z", status, available, 0, available, fetched_at="2026-11-21T11:55:00Z",
                          error_kind="auth" if status == "error" else None)  # fmt: skip
    message = render(event, AccountContext(balance, Threshold(500, 100), AlertState(level=level, **state), NOW))
    return event_detail(message, ALERT_ID)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (AlertEvent("threshold", "warning", "ok", about="level"), ("balance", False, "warning", 500)),
        (AlertEvent("threshold", "critical", "warning", about="level"), ("balance", False, "critical", 100)),
        (AlertEvent("threshold", "depleted", "critical", about="level"), ("balance", False, "critical", 0)),
        (AlertEvent("recovery", "warning", "critical", about="level"), ("balance", False, "warning", 100)),  # still below warning
        (AlertEvent("recovery", "ok", "warning", about="level"), ("balance", True, "info", 500)),
        (AlertEvent("failure", "ok", "ok", about="auth"), ("polls", False, "error", None)),
        (AlertEvent("recovery", "ok", "ok", about="polls"), ("polls", True, "info", None)),
        (AlertEvent("stale", "ok", "ok", about="staleness"), ("staleness", False, "warning", None)),
        (AlertEvent("recovery", "ok", "ok", about="staleness"), ("staleness", True, "info", None)),
        (AlertEvent("forecast", "warning", "warning", about="forecast"), ("forecast", False, "warning", None)),
    ],
)
def test_every_alert_says_what_it_is_about_whether_that_is_over_and_how_bad(event, expected):
    detail = detail_of(event, days_left=1.5)
    jsonschema.validate(detail, SCHEMA)
    assert (detail["condition"], detail["resolved"], detail["severity"], detail["threshold"]) == expected
    assert (detail["event"], detail["level"], detail["previous_level"]) == (event.event, event.level, event.previous_level)
    assert (detail["provider"], detail["account"], detail["available"], detail["unit"]) == ("crun", "prod", 87.5, "credits")
    assert detail["alert_id"] == ALERT_ID
    assert detail["days_left"] == 1.5
    assert detail["error_kind"] == ("auth" if event.event == "failure" else None)
    assert detail["test"] is False


def test_the_thresholds_document_alert_and_the_test_alert_fit_the_schema():
    for event in (AlertEvent("configuration", "warning", about="rejected"), AlertEvent("recovery", "ok", about="configuration")):
        detail = event_detail(configuration_message(event, "/stack/thresholds", "default.warning: not a number"), ALERT_ID)
        jsonschema.validate(detail, SCHEMA)
        assert (detail["provider"], detail["condition"]) == ("monitor", "configuration")
    test = event_detail(marked_test_alert(NOW), marked_alert_id(), test=True)
    jsonschema.validate(test, SCHEMA)
    assert (test["event"], test["resolved"], test["test"]) == ("test", True, True)
    assert test["subject"].startswith("[TEST]")


def test_the_schema_refuses_what_a_consumer_could_not_rely_on():
    detail = detail_of(AlertEvent("threshold", "critical", "warning", about="level"))
    for broken in ({**detail, "level": "dire"}, {**detail, "schema_version": "2"}, {k: v for k, v in detail.items() if k != "alert_id"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


# -- input transformers -----------------------------------------------------------------------------

TRICKY = 'He said "stop"\\ then\nleft\ttabbed \u00e9'


def test_a_quoted_variable_is_json_escaped_and_an_unquoted_one_is_json():
    event = {"detail": {"text": TRICKY, "n": 3, "obj": {"a": [1, "b"]}}}
    out = transform(event, {"text": "$.detail.text", "n": "$.detail.n", "obj": "$.detail.obj"}, '{"t": "<text>!", "n": <n>, "o": <obj>}')
    assert json.loads(out) == {"t": TRICKY + "!", "n": 3, "o": {"a": [1, "b"]}}


def test_a_plain_text_template_takes_strings_as_they_are():
    assert transform({"detail": {"x": "a b"}}, {"x": "$.detail.x"}, "<x> is here") == "a b is here"


def channel_templates():
    """Every input template of the template's rules, with their paths, as deployed with every channel on."""
    parameters = {"SlackWebhookUrl": "https://x", "DiscordWebhookUrl": "https://x", "GenericWebhookUrl": "https://x",
                  "PagerDutyRoutingKey": "k", "SlackWorkspaceId": "T", "SlackChannelId": "C"}  # fmt: skip
    template = deployed_template(parameters)
    resolver = Resolver(template, "stack", {name: name for name in template["Resources"]}, parameters)
    found = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Events::Rule":
            [target] = resource["Properties"]["Targets"]
            found[name] = resolver.resolve(target["InputTransformer"])
    return found


def strings(value):
    """Every string in a JSON value, however deep."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@pytest.mark.parametrize("rule", sorted(channel_templates()))
def test_every_channels_body_is_valid_json_whatever_the_alert_says(rule):
    transformer = channel_templates()[rule]
    assert set(re.findall(r"<([A-Za-z0-9_.-]+)>", transformer["InputTemplate"])) <= set(transformer["InputPathsMap"])  # none missing
    detail = detail_of(AlertEvent("threshold", "critical", "warning", about="level"))
    detail = {**detail, "subject": "crun/prod: " + TRICKY, "message": TRICKY * 3, "account": 'we"ird'}

    body = json.loads(transform({"detail": detail}, transformer["InputPathsMap"], transformer["InputTemplate"]))

    found = strings(body)
    if "<subject>" in transformer["InputTemplate"]:
        assert any(detail["subject"] in text for text in found)
    if "<message>" in transformer["InputTemplate"]:
        assert any(detail["message"] in text for text in found)
    assert any('we"ird' in text for text in found)  # the account, in the dedup key, the footer or the detail
