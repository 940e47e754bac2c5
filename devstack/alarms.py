"""CloudWatch's part that moto does not perform: metrics from EMF lines, and alarms that evaluate them.

Deployed, CloudWatch Logs turns the functions' EMF lines into metric data, AWS publishes its own metrics
(an SQS queue's depth every minute), and every alarm of template.yaml evaluates its metric period by
period and, when its state changes, notifies the actions of the new state. moto stores metric data and
alarms (the local stack creates the template's alarms in it) but never evaluates them. This does, with
CloudWatch's rules for statistics, M-out-of-N and missing data, so a test sees the alarms and the alarm
notifications that a deployed stack would raise for the same story.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

REGION_NAME = "US East (N. Virginia)"
COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
STATISTICS = {
    "Sum": sum,
    "SampleCount": len,
    "Average": lambda values: sum(values) / len(values),
    "Maximum": max,
    "Minimum": min,
}


class CloudWatch:
    """The local stack's metrics and alarms (see the module's docstring)."""

    def __init__(self) -> None:
        self.client = boto3.client("cloudwatch")
        self.points: list[tuple[str, str, frozenset[tuple[str, str]], float, datetime]] = []

    # -- metric data -------------------------------------------------------------------------------
    def put_emf(self, records: Iterable[dict[str, Any]], at: datetime | None = None) -> int:
        """Extract the metric data of EMF records (other log lines are skipped), as CloudWatch Logs does.

        ``at`` overrides the records' own timestamps, to tell a story over several poll intervals.
        Returns the number of data points stored.
        """
        stored = 0
        for record in records:
            meta = record.get("_aws") if isinstance(record, dict) else None
            if not meta:
                continue
            when = at or datetime.fromtimestamp(meta["Timestamp"] / 1000, UTC)
            for directive in meta["CloudWatchMetrics"]:
                for dimension_set in directive["Dimensions"] or [[]]:
                    dimensions = frozenset((name, str(record[name])) for name in dimension_set)
                    for metric in directive["Metrics"]:
                        values = record[metric["Name"]]
                        for value in values if isinstance(values, list) else [values]:
                            self._put(directive["Namespace"], metric["Name"], dimensions, float(value), when)
                            stored += 1
        return stored

    def _put(self, namespace: str, name: str, dimensions: frozenset[tuple[str, str]], value: float, when: datetime) -> None:
        self.points.append((namespace, name, dimensions, value, when))
        listed = [{"Name": k, "Value": v} for k, v in sorted(dimensions)]
        datum = {"MetricName": name, "Dimensions": listed, "Value": value, "Timestamp": when}
        self.client.put_metric_data(Namespace=namespace, MetricData=[datum])  # in moto too: list_metrics shows the series

    def series(self) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
        """Every custom metric series that received data: what CloudWatch bills per month (AWS/* is free)."""
        return {(namespace, name, dimensions) for namespace, name, dimensions, _, _ in self.points if not namespace.startswith("AWS/")}

    # -- alarms ------------------------------------------------------------------------------------
    def states(self) -> dict[str, str]:
        return {alarm["AlarmName"]: alarm["StateValue"] for alarm in self._alarms()}

    def evaluate(self, at: datetime | None = None) -> dict[str, str]:
        """Evaluate every alarm as of ``at`` (now by default); notify the actions of each state change.

        Returns every alarm's state afterwards.
        """
        at = at or datetime.now(UTC)
        self._observe_queues(at)
        for alarm in self._alarms():
            state, reason = self._state(alarm, at)
            if state != alarm["StateValue"]:
                self.client.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=state, StateReason=reason)
                self._notify(alarm, state, reason, at)
        return self.states()

    def _alarms(self) -> list[dict[str, Any]]:
        return self.client.describe_alarms(AlarmTypes=["MetricAlarm"])["MetricAlarms"]

    def _observe_queues(self, at: datetime) -> None:
        """AWS/SQS publishes each queue's depth every minute: read it from moto for the alarms that watch one."""
        sqs = boto3.client("sqs")
        for alarm in self._alarms():
            if (alarm.get("Namespace"), alarm.get("MetricName")) != ("AWS/SQS", "ApproximateNumberOfMessagesVisible"):
                continue
            [queue] = [d["Value"] for d in alarm["Dimensions"] if d["Name"] == "QueueName"]
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            self._put("AWS/SQS", "ApproximateNumberOfMessagesVisible", frozenset({("QueueName", queue)}),
                      float(depth["ApproximateNumberOfMessages"]), at)  # fmt: skip

    def _state(self, alarm: dict[str, Any], at: datetime) -> tuple[str, str]:
        if alarm.get("Metrics"):
            raise NotImplementedError(f"{alarm['AlarmName']}: metric math alarms are not evaluated locally")
        period, count = timedelta(seconds=alarm["Period"]), alarm["EvaluationPeriods"]
        needed = alarm.get("DatapointsToAlarm") or count
        dimensions = frozenset((d["Name"], d["Value"]) for d in alarm.get("Dimensions", []))
        statistic, compare = STATISTICS[alarm["Statistic"]], COMPARE[alarm["ComparisonOperator"]]
        watched = [(value, when) for namespace, name, dims, value, when in self.points
                   if (namespace, name, dims) == (alarm["Namespace"], alarm["MetricName"], dimensions)]  # fmt: skip
        values: list[float | None] = []
        for index in range(count):  # the last ``count`` whole periods up to ``at``, newest last
            end = at - period * (count - 1 - index)
            found = [value for value, when in watched if end - period < when <= end]
            values.append(statistic(found) if found else None)
        treat = alarm.get("TreatMissingData", "missing")
        present = [value for value in values if value is not None]
        if not present:
            return {"breaching": ("ALARM", "no data, treated as breaching"), "notBreaching": ("OK", "no data, treated as not breaching"),
                    "missing": ("INSUFFICIENT_DATA", "no data in the evaluation range"),
                    "ignore": (alarm["StateValue"], "no data: state kept")}[treat]  # fmt: skip
        breaching = sum(1 for value in present if compare(value, alarm["Threshold"]))
        if treat == "breaching":
            breaching += len(values) - len(present)
        shown = ", ".join("missing" if value is None else f"{value:g}" for value in values)
        threshold = f"{alarm['ComparisonOperator']} {alarm['Threshold']:g}"
        if breaching >= min(needed, len(present) if treat in ("missing", "ignore") else needed):
            return "ALARM", f"{breaching} of the last {count} datapoints [{shown}] {threshold}"
        return "OK", f"datapoints [{shown}] not {threshold}"

    def _notify(self, alarm: dict[str, Any], state: str, reason: str, at: datetime) -> None:
        """What CloudWatch publishes to an action's topic (an alarm notification is JSON, without attributes)."""
        actions = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}[state]
        message = {"AlarmName": alarm["AlarmName"], "AlarmDescription": alarm.get("AlarmDescription", ""), "NewStateValue": state,
                   "NewStateReason": reason, "OldStateValue": alarm["StateValue"], "StateChangeTime": at.isoformat(),
                   "Region": REGION_NAME, "Trigger": {"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"]}}  # fmt: skip
        sns = boto3.client("sns")
        for topic in alarm.get(actions, []):
            sns.publish(TopicArn=topic, Subject=f'{state}: "{alarm["AlarmName"]}" in {REGION_NAME}', Message=json.dumps(message))
