"""Poller: one function per provider (PROVIDER env), run on a schedule or invoked to refresh accounts."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_monitor.poller import run_poll
from credit_monitor.telemetry import metrics

logger = Logger()
# urllib3 reports retries through its own logger; give it the same JSON format as ours.
copy_config_to_registered_loggers(source_logger=logger, include={"urllib3"})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics  # no cold-start metric: every extra series is billed monthly (DESIGN.md, metrics)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return run_poll(event, remaining_ms=context.get_remaining_time_in_millis())
