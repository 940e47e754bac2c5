"""Metrics are EMF lines with exactly the dimensions given, whatever order they are recorded in."""

import contextlib
import io
import json

from credit_monitor import metrics


def emitted(*calls):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for call in calls:
            call()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def dimensions(record):
    [directive] = record["_aws"]["CloudWatchMetrics"]
    [names] = directive["Dimensions"]
    return {name: record[name] for name in names}, [m["Name"] for m in directive["Metrics"]]


def test_each_metric_is_its_own_record_whatever_was_recorded_before_it():
    records = emitted(
        lambda: metrics.record_poll_failures("crun", 2),
        lambda: metrics.record_available("crun", "prod", 450),
        lambda: metrics.record_available("crun", "staging", 80),
    )
    assert [dimensions(r) for r in records] == [
        ({"Provider": "crun"}, ["PollFailures"]),
        ({"Provider": "crun", "Account": "prod"}, ["AvailableCredits"]),
        ({"Provider": "crun", "Account": "staging"}, ["AvailableCredits"]),
    ]
    assert [r.get("PollFailures") or r.get("AvailableCredits") for r in records] == [[2.0], [450.0], [80.0]]


def test_no_service_dimension_is_added_even_when_the_service_name_is_set(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "credit-monitor")
    [record] = emitted(lambda: metrics.record_poll_failures("sunor", 0))
    assert "service" not in record
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CreditMonitor"
