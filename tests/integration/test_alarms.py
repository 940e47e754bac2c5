"""The template's alarms, evaluated as CloudWatch would over the metrics the real handlers emit.

moto stores alarms but does not evaluate them; devstack.alarms does, with CloudWatch's rules (statistic,
M out of N, missing data), and publishes the alarm notifications to the alert topic, where an SNS
subscriber (the inbox) receives them.
"""

import json
from datetime import UTC, datetime, timedelta

import boto3
from boto3.dynamodb.conditions import Key

POLL_INTERVAL = timedelta(minutes=5)  # the template's default PollIntervalMinutes


def alarm_notices(inbox):
    return [(message["subject"].split(":")[0], json.loads(message["message"])["AlarmName"]) for message in inbox.fetch()]


def check_at(aggregate, cloudwatch, at):
    """One scheduled check, its metrics stamped ``at`` (a story over several poll intervals)."""
    before = len(aggregate.records())
    aggregate.check()
    cloudwatch.put_emf(aggregate.records()[before:], at=at)


def test_a_fresh_deploy_with_empty_secrets_raises_no_alarm_and_bills_one_series(stack, poll, aggregate, inbox, cloudwatch):
    """Every secret still `{}`: each poller runs on its schedule and the checks run; nothing may alarm."""
    assert set(cloudwatch.states().values()) == {"INSUFFICIENT_DATA"}  # as CloudWatch creates them
    assert "ALARM" not in cloudwatch.evaluate().values()  # the first evaluation, before anything ran

    for provider in stack.pollers():
        cloudwatch.put_emf(poll(provider).records())
    now = datetime.now(UTC)
    for interval in range(4):  # the checks keep running, every interval
        at = now + interval * POLL_INTERVAL
        check_at(aggregate, cloudwatch, at)
        states = cloudwatch.evaluate(at)
        assert "ALARM" not in states.values(), states

    # Only the heartbeat is a metric: a provider with no accounts costs its secret and nothing else.
    assert {name for _, name, _ in cloudwatch.series()} == {"MonitorHeartbeat"}
    notices = alarm_notices(inbox)
    assert notices
    assert {state for state, _ in notices} == {"OK"}  # each alarm says OK once, as CloudWatch does
    assert stack.table().query(KeyConditionExpression=Key("pk").eq("ACCOUNTS"))["Items"] == []


def test_the_heartbeat_alarm_notifies_when_the_checks_stop_and_when_they_resume(stack, aggregate, inbox, cloudwatch):
    start = datetime.now(UTC)
    check_at(aggregate, cloudwatch, start)
    assert cloudwatch.evaluate(start)[f"{stack.stack_name}-HeartbeatAlarm"] == "OK"
    inbox.fetch()

    # The schedule stops (disabled, deleted, throttled): two missed checks are not yet three intervals.
    assert cloudwatch.evaluate(start + 2 * POLL_INTERVAL)[f"{stack.stack_name}-HeartbeatAlarm"] == "OK"
    stopped = cloudwatch.evaluate(start + 3 * POLL_INTERVAL + timedelta(seconds=1))
    assert stopped[f"{stack.stack_name}-HeartbeatAlarm"] == "INSUFFICIENT_DATA"
    [message] = inbox.fetch()
    assert message["subject"].startswith('INSUFFICIENT_DATA: "credit-monitor-test-HeartbeatAlarm"')
    assert "The monitor stopped checking" in json.loads(message["message"])["AlarmDescription"]

    resumed = start + 4 * POLL_INTERVAL
    check_at(aggregate, cloudwatch, resumed)
    assert cloudwatch.evaluate(resumed)[f"{stack.stack_name}-HeartbeatAlarm"] == "OK"
    assert alarm_notices(inbox) == [("OK", f"{stack.stack_name}-HeartbeatAlarm")]


def test_a_failing_scheduled_run_alarms_once_it_waits_in_the_dead_letter_queue(stack, inbox, cloudwatch):
    """A poller that keeps failing (storage, permissions) has no alarm of its own: its runs end here, which alarms."""
    cloudwatch.evaluate()
    inbox.fetch()
    queue = stack.physical_ids["AsyncDeadLetterQueue"]
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps({"requestContext": {"condition": "RetriesExhausted"}}))

    states = cloudwatch.evaluate()

    assert states[f"{stack.stack_name}-AsyncDeadLetterAlarm"] == "ALARM"
    assert alarm_notices(inbox) == [("ALARM", f"{stack.stack_name}-AsyncDeadLetterAlarm")]
