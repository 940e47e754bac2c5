"""Aggregator: alerts from the balance stream; staleness, forecasts and digests on schedules."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_monitor.aggregator import handle_stream_record, run_task

logger = Logger()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


# No log_metrics: the aggregator emits no custom metric (alerts sent are SNS's own free metric).
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if isinstance(event, dict) and "Records" in event:
        # Failed records are reported individually; the stream retries from the first of them.
        return process_partial_response(event=event, record_handler=handle_stream_record, processor=processor, context=context)
    return run_task(event)
