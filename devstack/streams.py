"""Deliver the table's DynamoDB stream to the aggregator as Lambda's event source mapping would.

Batch size, filter pattern and retry count come from the aggregator's stream event in template.yaml.
Records are read from moto's stream, filtered, batched, and handed to the handler; records the
handler reports as failed (``batchItemFailures``) are delivered again from the first of them, and a
batch whose invocation raised is delivered again whole, up to the template's MaximumRetryAttempts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3

from devstack.moto_stack import LocalStack


def matches(pattern: Any, value: Any) -> bool:
    """EventBridge-style pattern matching, for the exact-value patterns this template uses."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(key in value and matches(sub, value[key]) for key, sub in pattern.items())
    if isinstance(pattern, list):
        if any(isinstance(option, dict) for option in pattern):
            raise NotImplementedError(f"filter operator {pattern} is not emulated locally")
        return value in pattern
    raise ValueError(f"malformed filter pattern {pattern!r}")


class StreamPump:
    def __init__(self, stack: LocalStack, function_id: str = "Aggregator") -> None:
        events = stack.template["Resources"][function_id]["Properties"]["Events"]
        [config] = [e["Properties"] for e in events.values() if e["Type"] == "DynamoDB"]
        self.batch_size = int(config.get("BatchSize", 100))
        self.max_retries = int(config.get("MaximumRetryAttempts", 0))
        self.patterns = [json.loads(f["Pattern"]) for f in config.get("FilterCriteria", {}).get("Filters", [])]
        self.stream_arn = stack.attributes["BalancesTable"]["StreamArn"]
        self.client = boto3.client("dynamodbstreams")
        self.iterators: dict[str, str] = {}
        self.dead_letters: list[dict[str, Any]] = []
        self.read()  # start at the stream's current end, like StartingPosition LATEST

    def read(self) -> list[dict[str, Any]]:
        """Every record written since the last read, in order, shaped as Lambda delivers them."""
        records = []
        for shard in self.client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self.iterators:
                self.iterators[shard_id] = self.client.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            while True:
                page = self.client.get_records(ShardIterator=self.iterators[shard_id])
                self.iterators[shard_id] = page["NextShardIterator"]
                records.extend(_as_lambda_record(r, self.stream_arn) for r in page["Records"])
                if not page["Records"]:
                    break
        return records

    def deliver(self, handler: Callable[[dict[str, Any]], dict[str, Any] | None], retries: int | None = None) -> int:
        """Read, filter and deliver pending records; returns how many reached the handler.

        Records still failing after ``retries`` (default: the template's) go to ``dead_letters``.
        """
        retries = self.max_retries if retries is None else retries
        records = [r for r in self.read() if not self.patterns or any(matches(p, r) for p in self.patterns)]
        for start in range(0, len(records), self.batch_size):
            batch = records[start : start + self.batch_size]
            for _attempt in range(retries + 1):
                try:
                    response = handler({"Records": batch}) or {}
                except Exception:  # a function error fails the whole batch, which Lambda then retries
                    response = {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in batch]}
                failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
                if not failed:
                    break
                first = min(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed)
                batch = batch[first:]
            else:
                self.dead_letters.extend(batch)
        return len(records)


def _as_lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    record = json.loads(json.dumps(record, default=_json_default))
    return {**record, "eventSourceARN": stream_arn}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot serialize {type(value).__name__}")
