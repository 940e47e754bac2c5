"""Rounds larger than one run: split into shards that Step Functions runs in parallel, summed up as one round.

A Lambda run is at most 15 minutes and, at the poller's memory, CPU-bound near 2,500 accounts in its
30 s; a Step Functions execution's input and each state's output are at most 256 KB. So the scheduled
run of a provider with more than ``SHARD_SIZE`` accounts does not poll: it cuts the sorted account names
into shards, each a half-open name range ``[from, to)`` (names, never keys, and a few bytes each however
long the names), and starts the provider's shard state machine (template.yaml, ``<provider>Shards``): a
Map runs up to MAX_PARALLEL_SHARDS shards at once, each an invocation of this same poller with
``{"shard": ...}``, retried alone when it fails and sent to the dead-letter queue when it keeps failing;
then one more invocation, ``{"round_summary": ...}``, adds the shards' counts into the round's one summary.

Each shard keeps ``concurrency`` requests in flight: the provider's PollConcurrency divided among the
shards that run at once, so the vendor never sees more than PollConcurrency in total.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from credit_monitor import aws, metrics
from credit_monitor.errors import ConfigurationError
from credit_monitor.model import format_time, parse_time, valid_account_name
from credit_monitor.polling.accounts import KeyRing
from credit_monitor.polling.round import Poller, Tally, new_round_id, polling_budget
from credit_monitor.polling.transport import Deadline
from credit_monitor.tracing import span

logger = Logger()

MAX_PARALLEL_SHARDS = 40  # the shard Map's MaxConcurrency in template.yaml (an inline Map runs at most 40 at once)
MAX_INPUT_BYTES = 256 * 1024  # a Step Functions execution's input
# An Express execution lasts at most 5 minutes: 40 shards at a time, each at most a 30 s run and its retries,
# is about 10 waves of 40. Past that, bigger shards (PollShardSize) rather than more of them.
MAX_SHARDS = 400


def plan_shards(names: list[str], size: int, concurrency: int, provider: str, round_id: str, started_at: str) -> list[dict[str, Any]]:
    """The shards of a round over the sorted ``names``: consecutive ranges of ``size`` names, the first open
    below and the last open above, so an account added meanwhile still falls in exactly one."""
    count = -(-len(names) // size)
    each = max(1, concurrency // min(count, MAX_PARALLEL_SHARDS))
    starts = [names[i * size] for i in range(count)]
    return [{"provider": provider, "round": round_id, "started_at": started_at, "index": i, "of": count,
             "from": starts[i] if i else None, "to": starts[i + 1] if i + 1 < count else None, "concurrency": each}
            for i in range(count)]  # fmt: skip


def in_shard(name: str, shard: dict[str, Any]) -> bool:
    return (shard["from"] is None or name >= shard["from"]) and (shard["to"] is None or name < shard["to"])


def start_shards(poller: Poller, ring: KeyRing, started: datetime) -> dict[str, Any]:
    """Start the round's shards; the round's summary comes from their last step (finish_round)."""
    config = poller.config
    names = ring.names
    round_id = new_round_id(started)
    shards = plan_shards(names, config.shard_size, config.concurrency, config.provider, round_id, format_time(started))
    document = json.dumps({"provider": config.provider, "round": round_id, "started_at": format_time(started), "accounts": len(names),
                           "shards": shards})  # fmt: skip
    if len(shards) > MAX_SHARDS or len(document.encode()) > MAX_INPUT_BYTES:
        raise ConfigurationError(f"{len(names):,} accounts make {len(shards)} shards of {config.shard_size}: at most {MAX_SHARDS} fit "
                                 "one round (an Express run's 5 minutes, a 256 KB input): raise PollShardSize")  # fmt: skip
    with span("start shards", provider=config.provider, shards=len(shards)):
        execution = aws.stepfunctions().start_execution(stateMachineArn=config.shard_machine, name=_execution_name(round_id),
                                                        input=document)  # fmt: skip
    logger.info("poll round sharded", extra={"accounts": len(names), "shards": len(shards), "shard_size": config.shard_size,
                                            "concurrency_per_shard": shards[0]["concurrency"], "round": round_id})  # fmt: skip
    return {"provider": config.provider, "round": round_id, "accounts": len(names), "shards": len(shards),
            "execution": execution["executionArn"]}  # fmt: skip


def _execution_name(round_id: str) -> str:
    # Execution names take 1-80 of letters, digits, - and _.
    return "round-" + "".join(c if c.isalnum() else "-" for c in round_id)


def run_shard(poller: Poller, shard: Any, remaining_ms: int) -> dict[str, Any]:
    """Poll the accounts of one shard and store them; answer its counts (a state's output is at most 256 KB)."""
    shard = _valid_shard(shard, poller.config.provider)
    logger.append_keys(round=shard["round"], shard=shard["index"])
    ring = poller.key_ring()
    names = [name for name in ring.names if in_shard(name, shard)]
    store, read = poller.store, {}

    def previous():
        with span("read previous polls", provider=poller.config.provider):
            read.update(store.last_polls(poller.config.provider, shard["from"], shard["to"]))
            return read

    tally, _ = poller.poll_and_store(ring, names, Deadline(polling_budget(remaining_ms)), concurrency=shard["concurrency"],
                                     previous=previous)  # fmt: skip
    poller.forget_removed(ring, read)  # each shard forgets the removed accounts of its own range: no whole read
    logger.info("poll shard stored", extra={"of": shard["of"], **tally.counts()})
    return {"shard": shard["index"], "accounts": len(names), **tally.counts()}


def _valid_shard(shard: Any, provider: str) -> dict[str, Any]:
    """A shard event as the state machine builds it, for this provider; anything else is refused."""
    fields = {"provider", "round", "started_at", "index", "of", "from", "to", "concurrency"}
    if not isinstance(shard, dict) or set(shard) != fields:
        raise ConfigurationError(f'a shard event must be {{"shard": {{{", ".join(sorted(fields))}}}}}')
    if shard["provider"] != provider:
        raise ConfigurationError(f"this poller polls {provider}, not {str(shard['provider'])[:40]!r}")
    for bound in ("from", "to"):
        if shard[bound] is not None and not valid_account_name(shard[bound]):
            raise ConfigurationError(f"shard {bound!r} must be an account name or null")
    if not isinstance(shard["concurrency"], int) or not 1 <= shard["concurrency"] <= 1000:
        raise ConfigurationError("shard concurrency must be a whole number from 1 to 1000")
    return shard


def finish_round(poller: Poller, document: Any) -> dict[str, Any]:
    """The shards' counts as one round: stored (the round item), logged and counted once."""
    config = poller.config
    if not isinstance(document, dict) or not isinstance(document.get("shards"), list):
        raise ConfigurationError('a round summary event must be {"round_summary": {"round", "started_at", "accounts", "shards"}}')
    tally, failed_shards = Tally(), 0
    for result in document["shards"]:  # each shard's counts (the Map put them in place of its range)
        if not isinstance(result, dict) or "polled" not in result:  # a shard that kept failing: in the dead-letter queue
            failed_shards += 1
            continue
        tally.polled += int(result["polled"])
        tally.succeeded += int(result["succeeded"])
        tally.failed += int(result["failed"])
        tally.unchanged += int(result.get("unchanged") or 0)
        tally.failures += Counter({str(k): int(v) for k, v in (result.get("failures") or {}).items()})
        if result.get("lowest") is not None:
            tally.lowest = result["lowest"] if tally.lowest is None else min(tally.lowest, result["lowest"])
    started = parse_time(document["started_at"]) if isinstance(document.get("started_at"), str) else datetime.now(UTC)
    summary = poller.record_round(str(document.get("round")), started, int(document.get("accounts") or tally.polled), tally,
                                  shards=len(document["shards"]), shards_failed=failed_shards)  # fmt: skip
    metrics.record_poll_failures(config.provider, tally.failed)
    if tally.lowest is not None:
        metrics.record_lowest_available(config.provider, tally.lowest)
    fields = {"polled": tally.polled, "succeeded": tally.succeeded, "failed": tally.failed, "unchanged": tally.unchanged,
              "shards": summary.shards, "shards_failed": failed_shards, "round": summary.round}  # fmt: skip
    if failed_shards:
        logger.error("poll round incomplete: shards failed after their retries (in the dead-letter queue)", extra=fields)
    logger.info("poll round stored", extra=fields)
    return {"provider": config.provider, **fields}
