"""The template's shard state machine on the local stack: started with boto3 on moto as the poller starts it,
performed by devstack.stepfunctions from template.yaml's definition, its dead letters landing on moto."""

import json
import re

import boto3
import pytest
from botocore.exceptions import ClientError

from credit_monitor.polling.shards import MAX_SHARDS
from devstack.stepfunctions import PAYLOAD_LIMIT_BYTES, StateMachineRunner

pytestmark = pytest.mark.integration


class ShardFailed(Exception):
    pass


def shard(index, of=3):
    names = ["acct-a", "acct-c", "acct-e"]
    return {"provider": "crun", "round": "r-1", "started_at": "2026-11-21T12:00:00Z", "index": index, "of": of,
            "from": names[index] if index else None, "to": names[index + 1] if index + 1 < of else None, "concurrency": 85}  # fmt: skip


ROUND = {"provider": "crun", "round": "r-1", "started_at": "2026-11-21T12:00:00Z", "accounts": 6, "shards": [shard(i) for i in range(3)]}


def counts(index):
    return {"shard": index, "accounts": 2, "polled": 2, "succeeded": 2, "failed": 0, "unchanged": 1, "failures": {}, "lowest": 100 + index}


class Poller:
    """A stand-in for the crun poller: shard 1 always fails; the summary echoes what it was given."""

    def __init__(self, summary_fails=False):
        self.calls = []
        self.summary_fails = summary_fails

    def __call__(self, function, payload):
        self.calls.append((function, payload))
        if "round_summary" in payload:
            if self.summary_fails:
                raise ShardFailed("the table is unavailable")
            return {"provider": "crun", "summarized": payload["round_summary"]}
        if payload["shard"]["index"] == 1:
            raise ShardFailed("vendor answered 503 for every account")
        return counts(payload["shard"]["index"])


def start_round(stack, document=ROUND, name="round-r-1"):
    execution = boto3.client("stepfunctions").start_execution(stateMachineArn=stack.physical_ids["crunShards"], name=name,
                                                              input=json.dumps(document))  # fmt: skip
    return execution["executionArn"]


def dead_letters(stack):
    sqs = boto3.client("sqs")
    found = sqs.receive_message(QueueUrl=stack.physical_ids["AsyncDeadLetterQueue"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in found.get("Messages", [])]


def test_each_poller_starts_its_own_providers_shard_state_machine(stack):
    machines = boto3.client("stepfunctions").list_state_machines()["stateMachines"]
    for provider, poller in stack.pollers().items():
        logical_id = re.sub(r"[^A-Za-z0-9]", "", provider) + "Shards"
        assert stack.environment(poller)["SHARD_STATE_MACHINE"] == stack.physical_ids[logical_id]
        assert stack.attributes[logical_id]["Name"] == f"{stack.stack_name}-{provider}-shards"
    assert {m["type"] for m in machines} == {"EXPRESS"}


def test_a_round_polls_its_shards_dead_letters_the_one_that_keeps_failing_and_sums_up_the_rest(stack):
    poller = Poller()
    runner = StateMachineRunner(stack, poller)
    arn = start_round(stack)

    (result,) = runner.run_pending()

    assert (result.execution_arn, result.state_machine, result.status) == (arn, "crunShards", "SUCCEEDED")
    assert {function for function, _ in poller.calls} == {"crunPoller"}
    shard_calls = [payload["shard"]["index"] for _, payload in poller.calls if "shard" in payload]
    assert sorted(shard_calls) == [0, 1, 1, 1, 2]  # the failing shard: once, then its two retries
    assert [(r.state, r.error, r.seconds) for r in result.retries] == [("Poll", "ShardFailed", 2), ("Poll", "ShardFailed", 4)]

    # The summary is given the round and every shard's outcome, in shard order; the dead-lettered one as failed.
    summary_payload = poller.calls[-1][1]
    assert summary_payload == {"round_summary": {**ROUND, "shards": [counts(0), {"failed": True}, counts(2)]}}
    assert result.output == {"provider": "crun", "summarized": summary_payload["round_summary"]}

    # The failed shard waits in the dead-letter queue as Lambda records a failed asynchronous run (make replay).
    (record,) = dead_letters(stack)
    assert record["requestContext"] == {"functionArn": stack.attributes["crunPoller"]["Arn"], "condition": "RetriesExhausted",
                                        "approximateInvokeCount": 3}  # fmt: skip
    assert record["requestContext"]["functionArn"].rsplit(":", 1)[-1] == stack.physical_ids["crunPoller"]
    assert record["requestPayload"] == {"shard": shard(1)}
    assert record["responsePayload"]["Error"] == "ShardFailed"
    cause = json.loads(record["responsePayload"]["Cause"])
    assert (cause["errorType"], cause["errorMessage"]) == ("ShardFailed", "vendor answered 503 for every account")

    described = boto3.client("stepfunctions").describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == result.output
    assert runner.run_pending() == []  # each execution is performed once


def test_a_summary_that_keeps_failing_fails_the_execution(stack):
    runner = StateMachineRunner(stack, Poller(summary_fails=True))
    arn = start_round(stack)

    (result,) = runner.run_pending()

    assert (result.status, result.error) == ("FAILED", "ShardFailed")
    assert [r.state for r in result.retries] == ["Poll", "Poll", "Summarize", "Summarize"]
    described = boto3.client("stepfunctions").describe_execution(executionArn=arn)
    assert (described["status"], described["error"]) == ("FAILED", "ShardFailed")


def test_start_execution_refuses_an_input_over_256_kib_as_aws_does(stack):
    document = {**ROUND, "padding": "x" * PAYLOAD_LIMIT_BYTES}
    with pytest.raises(ClientError) as refused:
        start_round(stack, document)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert StateMachineRunner(stack, Poller()).run_pending() == []


def test_executions_are_performed_in_the_order_they_started(stack):
    runner = StateMachineRunner(stack, Poller())
    first = start_round(stack, name="round-first")
    second = start_round(stack, {**ROUND, "round": "r-2"}, name="round-second")
    assert [r.execution_arn for r in runner.run_pending()] == [first, second]


def test_the_largest_round_the_poller_starts_stays_within_256_kib_at_every_state(stack):
    """Each shard's counts replace its range in the state (the Map's ResultPath), so the largest round polling/shards.py
    starts (MAX_SHARDS shards, long account names) keeps every state under Step Functions' 256 KiB."""
    size = MAX_SHARDS
    shards = [{**shard(0), "index": i, "of": size, "from": f"{'customer-account-' * 3}{i:07d}"[:64],
               "to": f"{'customer-account-' * 3}{i + 1:07d}"[:64]} for i in range(size)]  # fmt: skip
    document = {**ROUND, "accounts": size * 1000, "shards": shards}
    poller = Poller()
    runner = StateMachineRunner(
        stack,
        lambda function, payload: (
            {**counts(payload["shard"]["index"]), "failures": {"timeout": 3, "auth": 1}}
            if "shard" in payload
            else poller(function, payload)
        ),
    )
    start_round(stack, document)

    (result,) = runner.run_pending()

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    [(_, summary)] = poller.calls
    assert len(summary["round_summary"]["shards"]) == size
