"""Dead letters are re-driven once the cause is fixed, and deleted only when the replay was accepted."""

import json

import boto3
import pytest

from credit_monitor_cli.replay import replay
from devstack.invoke import invoke_aggregator, invoke_poller

pytestmark = pytest.mark.integration


@pytest.fixture
def queues(stack):
    return stack.physical_ids["AsyncDeadLetterQueue"], stack.physical_ids["AggregatorDeadLetterQueue"]


@pytest.fixture
def local_invoke(stack, sims):
    """Lambda's Invoke, for the functions of the local stack (moto would need Docker to run them)."""
    calls = []
    by_name = {logical_id: provider for provider, logical_id in stack.pollers().items()}

    def invoke(function, payload, asynchronous):
        name = function.rsplit(":", 1)[-1].removeprefix(f"{stack.stack_name}-")  # the local stack names functions <stack>-<id>
        calls.append((name, payload, asynchronous))
        if name == "Aggregator":
            return invoke_aggregator(stack, payload)
        provider = by_name[name]
        return invoke_poller(stack, provider, payload, base_url=sims[provider].base_url)

    invoke.calls = calls
    return invoke


def dead_letter_of_scheduled_run(function, payload):
    """What Lambda sends an on-failure destination after an async invocation exhausted its retries."""
    return {
        "version": "1.0",
        "requestContext": {
            "requestId": "r-1",
            "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{function}",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
    }


def dead_letter_of_stream_batch(stack):
    return {
        "requestContext": {
            "requestId": "r-2",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:Aggregator",
            "condition": "RetryAttemptsExhausted",
        },
        "DDBStreamBatchInfo": {
            "shardId": "shardId-1",
            "startSequenceNumber": "1",
            "endSequenceNumber": "1",
            "batchSize": 1,
            "streamArn": stack.attributes["BalancesTable"]["StreamArn"],
        },
    }


def waiting(queue_url):
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_replay_re_drives_scheduled_runs_and_missed_alerts_once(stack, sims, poll, queues, local_invoke, inbox, aggregate):
    async_queue, stream_queue = queues
    sims["crun"].set_balance("sk-prod", 50)
    stack.put_api_keys("crun", {"prod": "sk-prod"})
    poll("crun")  # a critical balance whose stream batch the aggregator never processed
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=async_queue, MessageBody=json.dumps(dead_letter_of_scheduled_run("crunPoller", {"accounts": ["prod"]})))
    sqs.send_message(QueueUrl=stream_queue, MessageBody=json.dumps(dead_letter_of_stream_batch(stack)))
    requests_before = len(sims["crun"].requests)

    summary = replay(sqs=sqs, invoke=local_invoke, async_queue_url=async_queue, stream_queue_url=stream_queue, aggregator="Aggregator")

    assert (summary.scheduled_runs, summary.stream_batches, summary.failures) == (1, 1, [])
    assert str(summary) == "replayed 1 scheduled run(s) and 1 stream batch(es)"
    assert ("crunPoller", {"accounts": ["prod"]}, True) in local_invoke.calls
    assert len(sims["crun"].requests) == requests_before + 1  # the poll ran again
    aggregate.run_machines()  # the alert's notification group goes out
    assert [m["subject"] for m in inbox.fetch()] == ["crun/prod CRITICAL: 50 credits left"]
    assert (waiting(async_queue), waiting(stream_queue)) == (0, 0)

    again = replay(sqs=sqs, invoke=local_invoke, async_queue_url=async_queue, stream_queue_url=stream_queue, aggregator="Aggregator")
    assert (again.scheduled_runs, again.stream_batches) == (0, 0)
    aggregate.run_machines()
    assert inbox.fetch() == []


def test_a_shard_that_kept_failing_is_replayed_as_the_shard_it_was(stack, sims, queues, local_invoke, balances):
    """A shard's dead letter (the shard state machine's DeadLetter state) is shaped as Lambda's own: replayed alike."""
    async_queue, stream_queue = queues
    sims["crun"].set_balance("sk-b", 70)
    stack.put_api_keys("crun", {"a": "sk-a", "b": "sk-b"})
    shard = {"provider": "crun", "round": "r-1", "started_at": "2026-11-21T12:00:00Z", "index": 1, "of": 2, "from": "b", "to": None,
             "concurrency": 10}  # fmt: skip
    record = dead_letter_of_scheduled_run(f"{stack.stack_name}-crunPoller", {"shard": shard})
    boto3.client("sqs").send_message(QueueUrl=async_queue, MessageBody=json.dumps(record))

    summary = replay(sqs=boto3.client("sqs"), invoke=local_invoke, async_queue_url=async_queue, stream_queue_url=stream_queue,
                     aggregator="Aggregator")  # fmt: skip

    assert summary.scheduled_runs == 1
    assert set(balances.latest("crun")) == {"b"}  # only its shard's account was polled


def test_a_replay_that_fails_leaves_its_message_queued(stack, queues):
    async_queue, stream_queue = queues
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=async_queue, MessageBody=json.dumps(dead_letter_of_scheduled_run("crunPoller", {})))

    def broken(function, payload, asynchronous):
        raise RuntimeError("AccessDenied")

    summary = replay(sqs=sqs, invoke=broken, async_queue_url=async_queue, stream_queue_url=stream_queue, aggregator="Aggregator")

    assert summary.scheduled_runs == 0
    assert "AccessDenied" in summary.failures[0]
    # Not deleted: only hidden for the visibility timeout, then it is back for the next replay.
    attributes = sqs.get_queue_attributes(QueueUrl=async_queue, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) == 1
