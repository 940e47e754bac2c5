"""Aggregator: alerts from the balance stream; staleness, forecasts and digests on schedules."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_monitor.alerting.handler import handle_event
from credit_monitor.tracing import traced

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle_event(event, context)
