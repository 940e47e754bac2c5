"""Fleet scale: keys over several secrets (a secret holds at most 64 KB), rounds split into shards run by the
template's state machine, writes only when a reading changes, accounts that leave the secrets forgotten."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from credit_monitor import aws
from credit_monitor.storage import BalanceStore
from credit_monitor.storage.items import history_pk

pytestmark = pytest.mark.integration


def keys(count, prefix="acct", start=0):
    return {f"{prefix}-{i:05d}": f"sk-{prefix}-{i:05d}-0123456789abcdef" for i in range(start, start + count)}


def test_a_secret_over_64_kb_is_refused_as_aws_refuses_it(stack):
    too_many = keys(1500)  # ~72 KB of "name": "key" pairs
    assert len(json.dumps(too_many)) > 65536
    with pytest.raises(ClientError, match="65,536 bytes"):
        stack.put_api_keys("crun", too_many)


def test_a_providers_accounts_span_every_secret_named_after_its_own(stack, sims, poll, balances):
    first, second = keys(3), keys(2, start=3)
    for key in [*first.values(), *second.values()]:
        sims["crun"].set_balance(key, 500)
    stack.put_api_keys("crun", first)
    stack.add_api_keys_secret("crun", "2", second)
    stack.add_api_keys_secret("sunor", "2", {"not-crun": "sk-x"})  # another provider's: not read

    run = poll("crun")

    assert (run.summary["polled"], run.summary["succeeded"]) == (5, 5)
    assert sorted(balances.latest("crun")) == sorted([*first, *second])


def test_an_account_in_two_secrets_is_refused_naming_both_and_the_others_are_polled(stack, sims, poll, balances):
    for key in ("sk-a", "sk-b", "sk-b2"):
        sims["crun"].set_balance(key, 500)
    stack.put_api_keys("crun", {"a": "sk-a", "b": "sk-b"})
    other = stack.add_api_keys_secret("crun", "eu", {"b": "sk-b2"})

    run = poll("crun")

    latest = balances.latest("crun")
    assert latest["a"]["status"] == "ok"
    assert (latest["b"]["status"], latest["b"]["error_kind"]) == ("error", "configuration")
    own = stack.environment(stack.pollers()["crun"])["API_KEYS_SECRET"]
    assert latest["b"]["error"] == f"account 'b' is in 2 secrets ({own}, {other}); keep it in one"
    assert "sk-b" not in run.output


def test_an_unchanged_reading_is_not_written_again_until_its_hourly_heartbeat(stack, sims, poll, balances):
    sims["crun"].set_balance("sk-a", 500)
    stack.put_api_keys("crun", {"a": "sk-a"})
    poll("crun")
    first = balances.latest("crun")["a"]
    for _ in range(3):
        run = poll("crun")
    assert run.summary["unchanged"] == 1
    assert balances.latest("crun")["a"]["polled_at"] == first["polled_at"]  # not written again
    assert [line["message"] for line in run.logs() if line.get("account") == "a"] == []  # nor logged: the round's line counts it
    assert [line["unchanged"] for line in run.logs() if line["message"] == "poll round stored"] == [1]
    assert len(balances.history("crun", "a")) == 1
    # ...yet it reads as polled just now: the round item says every account of a full round was read.
    balance = BalanceStore(stack.table()).accounts("crun", "a")[0].balance
    assert balance.fetched_at >= BalanceStore(stack.table()).last_round("crun").started_at
    time.sleep(1.1)  # history points are keyed by the second of their poll
    sims["crun"].set_balance("sk-a", 450)
    run = poll("crun")
    assert len(balances.history("crun", "a")) == 2
    assert [line["available"] for line in run.logs() if line["message"] == "account polled"] == [450]


def test_an_account_removed_from_the_secrets_is_no_longer_monitored(stack, sims, poll, balances):
    for key in ("sk-a", "sk-b"):
        sims["crun"].set_balance(key, 500)
    stack.put_api_keys("crun", {"a": "sk-a", "b": "sk-b"})
    poll("crun")
    stack.put_api_keys("crun", {"a": "sk-a"})
    aws.clear_caches()  # a new container reads the secret again
    poll("crun")
    assert sorted(balances.latest("crun")) == ["a"]
    assert stack.table().query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": history_pk("crun", "b")})["Items"]


def test_a_round_larger_than_a_shard_runs_in_shards_through_the_state_machine_and_sums_up_once(stack, sims, poll, balances, aggregate):
    found = keys(25)
    for key in found.values():
        sims["crun"].set_balance(key, 700)
    stack.put_api_keys("crun", found)

    run = poll("crun", env={"SHARD_SIZE": "10", "POLL_CONCURRENCY": "9"})

    assert (run.summary["accounts"], run.summary["shards"]) == (25, 3)
    [execution] = [e for e in aggregate.executions if e.state_machine == "crunShards"]
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert len(balances.latest("crun")) == 25
    summary = BalanceStore(stack.table()).last_round("crun")
    assert (summary.polled, summary.succeeded, summary.shards, summary.shards_failed, summary.full) == (25, 25, 3, 0, True)
    logged = [json.loads(line) for line in aggregate.output.getvalue().splitlines() if '"poll round stored"' in line]
    assert [(line["polled"], line["shards"]) for line in logged] == [(25, 3)]  # one summary for the round
    shards = [json.loads(line) for line in aggregate.output.getvalue().splitlines() if '"poll shard stored"' in line]
    assert sorted(line["polled"] for line in shards) == [5, 10, 10]
    # Requests in flight stay under PollConcurrency in total: each of the 3 shards keeps 9 // 3 = 3.
    lines = [json.loads(x) for x in aggregate.output.getvalue().splitlines()]
    assert {line["concurrency"] for line in lines if "concurrency" in line} <= {3}


def test_a_sharded_round_forgets_removed_accounts_in_each_shard_without_reading_the_whole_provider(stack, sims, poll, balances):
    found = keys(25)
    for key in found.values():
        sims["crun"].set_balance(key, 700)
    stack.put_api_keys("crun", found)
    sharded = {"SHARD_SIZE": "10", "POLL_CONCURRENCY": "9"}
    poll("crun", env=sharded)
    kept = dict(list(found.items())[::2])  # every other account leaves the pool: some in each shard's range
    stack.put_api_keys("crun", kept)
    aws.clear_caches()
    stack.calls.clear()

    poll("crun", env=sharded)

    assert sorted(balances.latest("crun")) == sorted(kept)
    # The dispatching run reads no balances at all; each of the 3 shards reads its own range once.
    assert stack.calls["dynamodb:Query"] == 3, dict(stack.calls)
