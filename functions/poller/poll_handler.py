"""Poller: one function per provider (PROVIDER env), run on a schedule or invoked to refresh accounts."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_monitor.polling.redaction import redact_log_output
from credit_monitor.polling.round import run_poll
from credit_monitor.tracing import traced

logger = Logger()
# urllib3 reports retries through its own logger; give it the same JSON format as ours, on the same
# handler, which redacts every key from every line (urllib3's retry warnings end with the request URL).
copy_config_to_registered_loggers(source_logger=logger, include={"urllib3"})
redact_log_output(logger.registered_handler)


# Metrics are EMF lines written as they are recorded (credit_monitor.metrics): no log_metrics flush here,
# and no cold-start metric, since every extra series is billed monthly.
@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return run_poll(event, remaining_ms=context.get_remaining_time_in_millis())
