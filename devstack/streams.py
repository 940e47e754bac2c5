"""Deliver the table's DynamoDB stream to the aggregator as Lambda's event source mapping would.

Batch size, filter pattern, retries and bisection come from the mapping in template.yaml (the
``AWS::Lambda::EventSourceMapping`` reading the table's stream). Records are read from moto's stream,
filtered with moto's own EventBridge pattern matcher (the filter syntax Lambda uses), batched, and handed
to the handler, as Lambda does (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html):

- records the handler reports as failed (``batchItemFailures``) are delivered again from the first of
  them, each retry counting against MaximumRetryAttempts;
- a batch whose invocation raised is, with BisectBatchOnFunctionError, split in two and each half
  delivered on its own (a split does not count as a retry); a single record that keeps raising is retried
  until MaximumRetryAttempts, then goes to the on-failure destination (``dead_letters``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
from moto.events.models import EventPattern, EventPatternParser

from devstack.moto_stack import LocalStack
from devstack.template import resources_of_type

Handler = Callable[[dict[str, Any]], dict[str, Any] | None]


def stream_mapping(template: dict[str, Any], function_id: str = "Aggregator") -> dict[str, Any]:
    """The properties of the event source mapping that feeds the table's stream to ``function_id``."""
    [mapping] = [
        m["Properties"]
        for m in resources_of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id}
        and m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["BalancesTable", "StreamArn"]}
    ]
    return mapping


def stream_filters(mapping: dict[str, Any]) -> list[EventPattern]:
    """The mapping's filter patterns, parsed and matched by moto (independent of this project's code)."""
    raws = [f["Pattern"] for f in mapping.get("FilterCriteria", {}).get("Filters", [])]
    return [EventPattern(raw, EventPatternParser(raw).parse()) for raw in raws]


class StreamPump:
    def __init__(self, stack: LocalStack, function_id: str = "Aggregator") -> None:
        config = stream_mapping(stack.template, function_id)
        self.batch_size = int(config.get("BatchSize", 100))
        self.max_retries = int(config.get("MaximumRetryAttempts", -1))
        self.bisect = bool(config.get("BisectBatchOnFunctionError", False))
        self.filters = stream_filters(config)
        self.stream_arn = stack.attributes["BalancesTable"]["StreamArn"]
        self.client = boto3.client("dynamodbstreams")
        self.iterators: dict[str, str] = {}
        self.dead_letters: list[dict[str, Any]] = []
        self.invocations = 0
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

    def admits(self, record: dict[str, Any]) -> bool:
        return not self.filters or any(f.matches_event(record) for f in self.filters)

    def deliver(self, handler: Handler, retries: int | None = None) -> int:
        """Read, filter and deliver pending records; returns how many reached the handler.

        Records still failing after ``retries`` (default: the template's) go to ``dead_letters``.
        """
        retries = self.max_retries if retries is None else retries
        records = [r for r in self.read() if self.admits(r)]
        for start in range(0, len(records), self.batch_size):
            self._deliver(handler, records[start : start + self.batch_size], retries)
        return len(records)

    def _deliver(self, handler: Handler, batch: list[dict[str, Any]], retries: int) -> None:
        attempts = 0
        while batch:
            self.invocations += 1
            try:
                response = handler({"Records": batch}) or {}
            except Exception:  # a function error: bisected, or the whole batch retried
                if self.bisect and len(batch) > 1:
                    half = len(batch) // 2
                    self._deliver(handler, batch[:half], retries - attempts)
                    self._deliver(handler, batch[half:], retries - attempts)
                    return
                failed = {r["dynamodb"]["SequenceNumber"] for r in batch}
            else:
                failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            if not failed:
                return
            first = min(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed)
            batch = batch[first:]
            if attempts >= (retries if retries >= 0 else 100):  # -1: until the records expire (here: 100 tries)
                self.dead_letters.extend(batch)
                return
            attempts += 1


def _as_lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    record = json.loads(json.dumps(record, default=_json_default))
    return {**record, "eventSourceARN": stream_arn}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot serialize {type(value).__name__}")
