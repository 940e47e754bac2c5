"""The balance API: routes on a Powertools resolver with request validation and pydantic responses.

Domain errors become HTTP statuses in one place (the exception handlers below). Bad input is always a
4xx naming the parameter; nothing a caller sends produces a 5xx.
"""

from __future__ import annotations

import functools
import os
from datetime import datetime
from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from credit_monitor import __version__, aws
from credit_monitor.api_models import Balance, BalanceList, ErrorBody, HistoryPage, Sufficiency
from credit_monitor.model import ConfigurationError
from credit_monitor.queries import BadRequest, BalanceQueries, NotFound

logger = Logger()

MAX_CREDITS = 1e15


def cors_config() -> CORSConfig | None:
    """CORS only when CORS_ALLOWED_ORIGINS lists origins (comma-separated); off by default."""
    origins = [o.strip() for o in os.environ.get("CORS_ALLOWED_ORIGINS", "").split(",") if o.strip()]
    if not origins:
        return None
    return CORSConfig(allow_origin=origins[0], extra_origins=origins[1:], allow_credentials=False, max_age=600)


app = APIGatewayRestResolver(enable_validation=True, cors=cors_config())


@functools.cache
def queries() -> BalanceQueries:
    table_name = os.environ.get("TABLE_NAME", "").strip()
    if not table_name:
        raise ConfigurationError("environment variable TABLE_NAME is not set")
    return BalanceQueries(aws.table(table_name))


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}


ERRORS = {
    400: _error_response("next_token is not valid here, or since is after until"),
    404: _error_response("Unknown provider or account"),
    422: _error_response("A path or query parameter is invalid; the message names it"),
}


def responses(model: type) -> dict:
    return {200: {"description": "OK", "content": {"application/json": {"model": model}}}, **ERRORS}


ProviderId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="Provider id, e.g. crun")]
AccountName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Account name from the provider's secret")]


@app.get("/balances", summary="Every account's balance", responses=responses(BalanceList))
def list_balances() -> BalanceList:
    return queries().all_balances()


@app.get("/balances/<provider>", summary="The balances of one provider's accounts", responses=responses(BalanceList))
def provider_balances(provider: ProviderId) -> BalanceList:
    return queries().provider_balances(provider)


@app.get("/balances/<provider>/<account>", summary="One account's balance", responses=responses(Balance))
def account_balance(provider: ProviderId, account: AccountName) -> Balance:
    return queries().balance(provider, account)


@app.get("/balances/<provider>/<account>/history", summary="An account's balance history, newest first", responses=responses(HistoryPage))
def account_history(
    provider: ProviderId,
    account: AccountName,
    since: Annotated[datetime | None, Query(description="ISO-8601; only readings at or after this time")] = None,
    until: Annotated[datetime | None, Query(description="ISO-8601; only readings at or before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page (1-1000)")] = 100,
    next_token: Annotated[str | None, Query(max_length=512, description="From the previous page")] = None,
) -> HistoryPage:
    return queries().history(provider, account, since=since, until=until, limit=limit, next_token=next_token)


@app.get("/balances/<provider>/<account>/check", summary="Is there enough for this batch?", responses=responses(Sufficiency))
def check_sufficient(
    provider: ProviderId,
    account: AccountName,
    required: Annotated[float, Query(ge=0, le=MAX_CREDITS, description="Credits the batch needs")],
    margin: Annotated[float, Query(ge=0, le=1000, description="Safety margin, percent of required (default 0)")] = 0,
) -> Sufficiency:
    return queries().check(provider, account, required=required, margin_percent=margin)


def _error(status: int, error: str, message: str) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=ErrorBody(error=error, message=message).model_dump_json()
    )


@app.exception_handler(NotFound)
def not_found(exc: NotFound) -> Response:
    return _error(404, "not_found", str(exc))


@app.exception_handler(BadRequest)
def bad_request(exc: BadRequest) -> Response:
    return _error(400, "bad_request", str(exc))


@app.exception_handler(RequestValidationError)
def invalid_parameter(exc: RequestValidationError) -> Response:
    problems = []
    for error in exc.errors():
        where = error.get("loc", ())
        name = where[-1] if where else "request"
        kind = "query parameter" if "query" in where else "path parameter" if "path" in where else "parameter"
        problems.append(f"{kind} {name!r}: {error.get('msg', 'invalid')}")
    return _error(422, "invalid_parameter", "; ".join(problems) or "invalid request")


@app.not_found
def no_route(exc: Exception) -> Response:
    return _error(404, "not_found", f"no route {app.current_event.http_method} {app.current_event.path}")


def openapi_json() -> str:
    return app.get_openapi_json_schema(
        title="Credit balance monitor API",
        version=__version__,
        description=(
            "Credit balances of the monitored AI-generation API accounts. Every route requires AWS SigV4 "
            "(IAM) or, when the stack is deployed with API keys, an x-api-key header."
        ),
    )
