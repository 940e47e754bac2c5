"""Balance API: authenticated, read-only lookups behind API Gateway."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_monitor.api.app import handle
from credit_monitor.tracing import traced

logger = Logger()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@traced
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(event, context)
