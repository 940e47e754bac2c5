"""Re-drive what the dead-letter queues hold, once the cause is fixed (`make replay STACK=...`).

- The async queue holds scheduled runs (polls, checks, digests) that failed after Lambda's retries,
  each with its original event: each is invoked again, asynchronously, as the schedule would.
- The stream queue holds references to balance-stream batches the aggregator could not process; the
  records themselves may have aged out of the stream, so the aggregator re-evaluates every account's
  current latest balance instead (``{"task": "reevaluate"}``), which publishes only what was missed; a
  re-evaluation applies a bounded number of accounts per run and answers where to go on (``next``), which
  is invoked in turn until the whole fleet was seen.

A message is deleted only after its replay was accepted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Invoke = Callable[[str, dict[str, Any], bool], Any]  # (function name or ARN, payload, asynchronous) -> a synchronous answer


@dataclass
class ReplaySummary:
    scheduled_runs: int = 0
    stream_batches: int = 0
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"replayed {self.scheduled_runs} scheduled run(s) and {self.stream_batches} stream batch(es)"
        return text + (f"; {len(self.failures)} failed: " + "; ".join(self.failures) if self.failures else "")


def lambda_invoker(functions: Any) -> Invoke:
    """Invoke through a Lambda client (``aws.lambda_service()``)."""

    def invoke(function: str, payload: dict[str, Any], asynchronous: bool) -> Any:
        response = functions.invoke(
            FunctionName=function, InvocationType="Event" if asynchronous else "RequestResponse", Payload=json.dumps(payload).encode()
        )
        if response.get("FunctionError"):
            raise RuntimeError(f"{function} failed: {response['Payload'].read().decode()[:300]}")
        return None if asynchronous else json.loads(response["Payload"].read() or b"null")

    return invoke


def _messages(sqs: Any, queue_url: str) -> Iterator[dict[str, Any]]:
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=120).get("Messages", [])
        if not batch:
            return
        yield from batch


def replay(*, sqs: Any, invoke: Invoke, async_queue_url: str, stream_queue_url: str, aggregator: str) -> ReplaySummary:
    summary = ReplaySummary()
    for message in _messages(sqs, async_queue_url):
        try:
            record = json.loads(message["Body"])
            function = record["requestContext"]["functionArn"]
            invoke(function, record.get("requestPayload") or {}, True)
        except Exception as exc:  # one bad message must not stop the others; it stays queued
            summary.failures.append(f"scheduled run {message['MessageId']}: {exc}")
            continue
        sqs.delete_message(QueueUrl=async_queue_url, ReceiptHandle=message["ReceiptHandle"])
        summary.scheduled_runs += 1

    stream_messages = list(_messages(sqs, stream_queue_url))
    if stream_messages:
        try:
            task: Any = {"task": "reevaluate"}
            while isinstance(task, dict):
                answer = invoke(aggregator, task, False)
                task = answer.get("next") if isinstance(answer, dict) else None
        except Exception as exc:
            summary.failures.append(f"re-evaluation for {len(stream_messages)} stream batch(es): {exc}")
            return summary
        for message in stream_messages:
            sqs.delete_message(QueueUrl=stream_queue_url, ReceiptHandle=message["ReceiptHandle"])
        summary.stream_batches = len(stream_messages)
    return summary
