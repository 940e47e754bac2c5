"""The alert event: what its detail says for each kind of alert, its schema, and what each channel's
input transformer makes of it (the local emulation of EventBridge's, on the template's own templates)."""

import json
import re
from dataclasses import replace
from datetime import UTC, datetime

import jsonschema
import pytest

from credit_monitor.alerting.messages import AccountContext, configuration_message, render
from credit_monitor.alerting.notify import event_detail, notification_detail
from credit_monitor.alerting.rules import AlertEvent
from credit_monitor.alerting.thresholds import Threshold
from credit_monitor.model import AlertState, BalanceItem
from credit_monitor_cli.send_test import marked_alert_id, marked_test_alert
from devstack import ROOT
from devstack.events import json_path, transform
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


# -- what each channel receives ---------------------------------------------------------------------

TRICKY = 'He said "stop"\\ then\nleft\ttabbed \u00e9 ``` <!channel> <https://evil.example|click> @everyone'
NOTIFICATION = json.loads((ROOT / "schemas" / "credit-balance-notification.v1.json").read_text())


def test_a_variable_outside_quotes_is_json_and_inside_quotes_is_pasted_unescaped_as_aws_does():
    event = {"detail": {"text": 'say "hi"\nnow', "n": 3, "obj": {"a": [1, "b"]}}}
    out = transform(event, {"n": "$.detail.n", "obj": "$.detail.obj"}, '{"n": <n>, "o": <obj>}')
    assert json.loads(out) == {"n": 3, "o": {"a": [1, "b"]}}
    # EventBridge user guide, "Common issues with transforming input": values inside quotes are not escaped.
    broken = transform(event, {"text": "$.detail.text"}, '{"t": "<text>"}')
    assert broken == '{"t": "say "hi"\nnow"}'
    with pytest.raises(ValueError, match="Expecting"):
        json.loads(broken)


def test_a_plain_text_template_takes_strings_as_they_are():
    assert transform({"detail": {"x": "a b"}}, {"x": "$.detail.x"}, "<x> is here") == "a b is here"


def channel_targets():
    """Every rule's target of the template, as deployed with every channel on (with label filters)."""
    parameters = {"SlackWebhookUrl": "https://x", "DiscordWebhookUrl": "https://x", "GenericWebhookUrl": "https://x",
                  "PagerDutyRoutingKey": "k", "SlackWorkspaceId": "T", "SlackChannelId": "C",
                  "SlackWebhookLabels": "team=video"}  # fmt: skip
    template = deployed_template(parameters)
    resolver = Resolver(template, "stack", {name: name for name in template["Resources"]}, parameters)
    found = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Events::Rule":
            [target] = resource["Properties"]["Targets"]
            pattern = resolver.resolve(resource["Properties"]["EventPattern"])
            found[name] = (pattern["detail-type"][0], resolver.resolve(target))
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


def tricky_message():
    balance = BalanceItem("crun", 'we"ird', "2026-11-21T11:55:00Z", "error", 87.5, 0, 87.5, fetched_at="2026-11-21T11:55:00Z",
                          error_kind="auth", error=TRICKY)  # fmt: skip
    message = render(AlertEvent("threshold", "critical", "warning", about="level"), AccountContext(balance, Threshold(500, 100),
                     AlertState(level="critical"), NOW))  # fmt: skip
    return replace(message, subject="crun/prod: " + TRICKY)


@pytest.mark.parametrize("rule", sorted(channel_targets()))
def test_every_channels_body_is_valid_json_whatever_the_alert_says(rule):
    detail_type, target = channel_targets()[rule]
    message = tricky_message()
    if detail_type == "Credit balance notification":
        detail = notification_detail(message, "n-1")
        jsonschema.validate(detail, NOTIFICATION)
    else:
        detail = event_detail(message, ALERT_ID)
        jsonschema.validate(detail, SCHEMA)
    event = {"detail-type": detail_type, "detail": detail}
    if "InputTransformer" in target:
        transformer = target["InputTransformer"]
        assert set(re.findall(r"<([A-Za-z0-9_.-]+)>", transformer["InputTemplate"])) <= set(transformer["InputPathsMap"])
        text = transform(event, transformer["InputPathsMap"], transformer["InputTemplate"])
    else:
        text = json.dumps(json_path(event, target["InputPath"]))

    body = json.loads(text)  # AWS pastes unescaped text into quoted placeholders: none may be left

    texts = strings(body)
    assert any("stop" in text for text in texts)  # the alert's words arrive whole
    if rule in ("SlackWebhookRule", "ChatRule"):  # no mention or link of Slack's syntax renders
        assert not any("<!channel>" in text or "<https://evil.example|click>" in text for text in texts)
    if rule in ("SlackWebhookRule", "DiscordWebhookRule", "ChatRule"):  # a code block cannot be closed from inside it
        blocks = [text for text in texts if text.startswith("```")]
        assert blocks
        assert all("```" not in block[3:-3] for block in blocks)
        assert not any("```" in text for text in texts if not text.startswith("```"))
    if rule == "DiscordWebhookRule":
        assert body["allowed_mentions"] == {"parse": []}  # Discord never pings, whatever the text says


def test_a_label_filter_is_applied_by_the_rules_pattern():
    parameters = {"SlackWebhookUrl": "https://x", "SlackWebhookLabels": "team=video"}
    template = deployed_template(parameters)
    resolver = Resolver(template, "stack", {name: name for name in template["Resources"]}, parameters)
    pattern = resolver.resolve(template["Resources"]["SlackWebhookRule"]["Properties"]["EventPattern"])
    assert pattern["detail"]["$or"][0]["label_pairs"] == ["team=video"]
    unfiltered = deployed_template({"SlackWebhookUrl": "https://x"})
    resolver = Resolver(unfiltered, "stack", {name: name for name in unfiltered["Resources"]}, {"SlackWebhookUrl": "https://x"})
    pattern = resolver.resolve(unfiltered["Resources"]["SlackWebhookRule"]["Properties"]["EventPattern"])
    assert "label_pairs" not in pattern["detail"]["$or"][0]
