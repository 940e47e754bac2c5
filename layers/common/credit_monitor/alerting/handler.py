"""The aggregator's entry point: a stream batch (partial failures reported per record) or a task.

Triggered by the table's stream (latest balances and round summaries: alerting.stream), by schedules
(``{"task": "check"}``, ``{"task": "digest"}``) and by the alert timer (``{"task": "flush", ...}``), and
invoked to replay (``{"task": "reevaluate"}``: alerting.tasks). It never calls providers; pollers never alert.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from credit_monitor.alerting import tasks
from credit_monitor.alerting.service import alerting
from credit_monitor.alerting.stream import handle_balance, handle_round
from credit_monitor.errors import RunIncomplete
from credit_monitor.storage.balances import balance_from_stream, round_from_stream
from credit_monitor.tracing import span

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

logger = Logger()

__all__ = ["TASKS", "RunIncomplete", "handle_event", "handle_stream_record", "run_task"]


@functools.cache
def _stream_processor() -> Any:
    # Only stream deliveries need the batch processor (and the asyncio it imports); schedules do not.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType  # noqa: PLC0415

    return BatchProcessor(event_type=EventType.DynamoDBStreams)


def handle_event(event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and "Records" in event:
        from aws_lambda_powertools.utilities.batch import process_partial_response  # noqa: PLC0415

        try:
            alerting().configuration.record()
        except Exception:  # never a reason to fail the balance records; the next batch or check retries it
            logger.exception("could not record the thresholds' state; retried with the next batch or check")
        # Failed records are reported individually; the stream retries from the first of them.
        with span("balance changes", records=len(event["Records"])) as annotate:
            result = process_partial_response(
                event=event, record_handler=handle_stream_record, processor=_stream_processor(), context=context
            )
            annotate(failed_records=len(result.get("batchItemFailures", [])))
            return result
    return run_task(event)


def handle_stream_record(record: DynamoDBRecord) -> None:
    """Record handler for Powertools' BatchProcessor: raise to have the record retried."""
    images = record.dynamodb
    new_image = images.new_image if images else None
    balance = balance_from_stream(new_image)
    if balance is not None:
        handle_balance(alerting(), balance, balance_from_stream(images.old_image))
        return
    summary = round_from_stream(new_image)
    if summary is not None:  # the event source filter admits only these two kinds; anything else is ignored
        handle_round(alerting(), summary)


TASKS = {
    "check": lambda service, event: tasks.run_check(service),
    "digest": tasks.run_digest,
    "reevaluate": tasks.run_reevaluate,
    "flush": tasks.run_flush,
}


def run_task(event: Any) -> dict[str, Any]:
    event = event if isinstance(event, dict) else {}
    task = event.get("task", "check")
    if task not in TASKS:
        raise ValueError(f"unknown aggregator task {task!r}; expected one of: {', '.join(TASKS)}")
    with span(task, task=task):
        return TASKS[task](alerting(), event)
