"""The balance API: its routes on a Powertools resolver, answering errors.API_ERRORS with their statuses.

Each route is declared once in ROUTES (path, parameters, answer model); the resolver serves them and
devstack/openapi.py documents them from the same declarations. Bad input is always a 4xx naming the
parameter; nothing a caller sends produces a 5xx.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from credit_monitor import aws, settings
from credit_monitor.alerting.labels import PAIR as LABEL_PAIR
from credit_monitor.alerting.thresholds import Thresholds, parse_thresholds
from credit_monitor.api.models import Balance, BalanceList, ErrorBody, HistoryPage, SentAlertList, SpendReport, Sufficiency
from credit_monitor.api.params import Param
from credit_monitor.api.queries import BalanceQueries
from credit_monitor.errors import API_ERRORS, ApiError, ThresholdsError
from credit_monitor.model import ACCOUNT_NAME, MAX_CREDITS, PROVIDER_ID
from credit_monitor.settings import ApiSettings
from credit_monitor.storage import BalanceStore, ConfigStore, SentAlertLog
from credit_monitor.tracing import span

if TYPE_CHECKING:
    # Powertools' event handler (every resolver it has, and asyncio) loads with the first request, not at
    # import: the import is what every cold start pays before the handler even runs.
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

logger = Logger()

MAX_PATH_SHOWN = 120  # an error message quotes at most this much of a request path
CONFIG_CACHE_SECONDS = 60  # the aggregator reads the thresholds parameter as seldom

PROVIDER = Param("provider", "path", "string", "Provider id, e.g. crun", required=True, pattern=f"^{PROVIDER_ID.pattern}$")
ACCOUNT = Param("account", "path", "string", "Account name from the provider's secret", required=True, pattern=f"^{ACCOUNT_NAME.pattern}$")
SINCE = Param("since", "query", "date-time", "ISO-8601; only readings at or after this time")
UNTIL = Param("until", "query", "date-time", "ISO-8601; only readings at or before this time")
LIMIT = Param("limit", "query", "integer", "Items per page (1-1000)", default=100, minimum=1, maximum=1000)
PAGE_LIMIT = Param("limit", "query", "integer", "Balances per page (1-1000)", default=1000, minimum=1, maximum=1000)
LABEL_FILTER = Param("label", "query", "string", "Only alerts carrying this label: name=value, such as team=video", max_length=100,
                     pattern=f"^{LABEL_PAIR.pattern}$")  # fmt: skip
NEXT_TOKEN = Param("next_token", "query", "string", "From the previous page", max_length=512)
PROVIDER_FILTER = Param("provider", "query", "string", "Only this provider's alerts", pattern=f"^{PROVIDER_ID.pattern}$")
ACCOUNT_FILTER = Param("account", "query", "string", "Only this account's alerts (with provider)", pattern=f"^{ACCOUNT_NAME.pattern}$")
SINCE_ALERTS = Param("since", "query", "date-time", "ISO-8601; only alerts decided at or after this time")
REQUIRED = Param("required", "query", "number", "Credits the batch needs", required=True, minimum=0, maximum=MAX_CREDITS)
MARGIN = Param("margin", "query", "number", "Safety margin, percent of required (default 0)", default=0, minimum=0, maximum=1000)


@dataclass(frozen=True)
class Route:
    operation: str  # openapi.json's operationId
    path: str  # OpenAPI style: /balances/{provider}
    summary: str
    params: tuple[Param, ...]
    answer: type
    handle: Callable[[BalanceQueries, dict[str, Any]], Any]


SPEND_SINCE = Param("since", "query", "date-time", "ISO-8601; the range's start (default: a week before until)")
SPEND_UNTIL = Param("until", "query", "date-time", "ISO-8601; the range's end (default: now)")
SPEND_PROVIDER = Param("provider", "query", "string", "Only this provider's accounts", pattern=f"^{PROVIDER_ID.pattern}$")
SPEND_ACCOUNT = Param("account", "query", "string", "Only this account (with provider)", pattern=f"^{ACCOUNT_NAME.pattern}$")
SPEND_LABEL = Param("label", "query", "string", "Only accounts carrying this label: name=value, such as team=video", max_length=100,
                    pattern=f"^{LABEL_PAIR.pattern}$")  # fmt: skip
GROUP_BY = Param("group_by", "query", "string", "provider (default), account, unit, or label:<name>", default="provider", max_length=40,
                 pattern=r"^(provider|account|unit|label:[a-z][a-z0-9_]{0,31})$")  # fmt: skip
SPEND_LIMIT = Param("limit", "query", "integer", "Accounts per page (1-100): each one's history over the range is read", default=20,
                    minimum=1, maximum=100)  # fmt: skip

ROUTES = (
    Route("list_balances", "/balances", "Every account's balance, a page at a time", (PAGE_LIMIT, NEXT_TOKEN), BalanceList,
          lambda q, v: q.all_balances(limit=v["limit"], next_token=v["next_token"])),
    Route("provider_balances", "/balances/{provider}", "The balances of one provider's accounts, a page at a time",
          (PROVIDER, PAGE_LIMIT, NEXT_TOKEN), BalanceList,
          lambda q, v: q.provider_balances(v["provider"], limit=v["limit"], next_token=v["next_token"])),
    Route("account_balance", "/balances/{provider}/{account}", "One account's balance", (PROVIDER, ACCOUNT), Balance,
          lambda q, v: q.balance(v["provider"], v["account"])),
    Route("account_history", "/balances/{provider}/{account}/history", "An account's balance history, newest first",
          (PROVIDER, ACCOUNT, SINCE, UNTIL, LIMIT, NEXT_TOKEN), HistoryPage,
          lambda q, v: q.history(v["provider"], v["account"], since=v["since"], until=v["until"], limit=v["limit"],
                                 next_token=v["next_token"])),
    Route("check_sufficient", "/balances/{provider}/{account}/check", "Is there enough for this batch?",
          (PROVIDER, ACCOUNT, REQUIRED, MARGIN), Sufficiency,
          lambda q, v: q.check(v["provider"], v["account"], required=v["required"], margin_percent=v["margin"])),
    Route("list_alerts", "/alerts", "Alerts sent, newest first (all, a provider's, or an account's)",
          (PROVIDER_FILTER, ACCOUNT_FILTER, SINCE_ALERTS, LABEL_FILTER, LIMIT, NEXT_TOKEN), SentAlertList,
          lambda q, v: q.alerts(v["provider"], v["account"], since=v["since"], limit=v["limit"], next_token=v["next_token"],
                                label=v["label"])),
    Route("spend_report", "/spend", "Spend and top-ups per account over a range, summed per group, a page of accounts at a time",
          (SPEND_SINCE, SPEND_UNTIL, SPEND_PROVIDER, SPEND_ACCOUNT, SPEND_LABEL, GROUP_BY, SPEND_LIMIT, NEXT_TOKEN), SpendReport,
          lambda q, v: q.spend(since=v["since"], until=v["until"], provider=v["provider"], account=v["account"], label=v["label"],
                               group_by=v["group_by"], limit=v["limit"], next_token=v["next_token"])),
)  # fmt: skip

ERRORS = {answer.status: answer.description for answer in API_ERRORS.values()}  # openapi.json's error responses, on every route


def is_known_provider(provider: str) -> bool:
    # Only asked about a provider without accounts: the registry (and JMESPath) load only then.
    from credit_monitor.polling.providers import known_providers  # noqa: PLC0415

    return provider in known_providers()


@functools.cache
def queries() -> BalanceQueries:
    config = settings.current(ApiSettings)
    table = aws.table(config.storage.table_name)
    return BalanceQueries(BalanceStore(table), is_known_provider, SentAlertLog(table), alerting_configuration(ConfigStore(table)),
                          config.providers)  # fmt: skip


def alerting_configuration(store: ConfigStore) -> Callable[[], Thresholds | None]:
    """The last good alerting configuration (as the aggregator stored it), read at most once a minute."""
    cached: dict[str, Any] = {}

    def current() -> Thresholds | None:
        if cached.get("at", -CONFIG_CACHE_SECONDS) + CONFIG_CACHE_SECONDS <= time.monotonic():
            text = store.last_good_thresholds()
            try:
                value = parse_thresholds(text) if text else None
            except ThresholdsError:  # stored by an aggregator that accepted it; never a reason for a 5xx here
                logger.warning("the stored alerting configuration cannot be read; balances are listed without it")
                value = None
            cached.update(at=time.monotonic(), value=value)
        return cached["value"]

    return current


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    from aws_lambda_powertools.event_handler import Response, content_types  # noqa: PLC0415 - see TYPE_CHECKING above

    payload = dataclasses.asdict(body) if dataclasses.is_dataclass(body) else body
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(payload), headers=headers)


def error_response(status: int, error: str, message: str) -> Response:
    return json_response(status, ErrorBody(error=error, message=message))


def _answer_with(answer: ApiError) -> Callable[[Exception], Response]:
    """The resolver's handler for one of errors.API_ERRORS: its status and error, and the exception's message."""

    def handler(exc: Exception) -> Response:
        return error_response(answer.status, answer.error, str(exc))

    return handler


def shown_path(path: str) -> str:
    return path if len(path) <= MAX_PATH_SHOWN else path[: MAX_PATH_SHOWN - 3] + "..."


def _serve(route: Route) -> Callable[..., Response]:
    def handler(**path_values: str) -> Response:
        event = resolver().current_event
        query = event.query_string_parameters or {}
        values = {p.name: p.read(path_values.get(p.name) if p.location == "path" else query.get(p.name)) for p in route.params}
        return json_response(200, route.handle(queries(), values))

    return handler


@functools.cache
def resolver() -> APIGatewayRestResolver:
    """The resolver with every route, built on first use (CORS comes from the function's settings)."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig  # noqa: PLC0415 - see TYPE_CHECKING above

    config = settings.current(ApiSettings)
    cors = None
    if config.cors_origins:
        origins = config.cors_origins
        cors = CORSConfig(allow_origin=origins[0], extra_origins=list(origins[1:]), allow_credentials=False, max_age=600)
    app = APIGatewayRestResolver(cors=cors)
    for route in ROUTES:
        app.get(route.path.replace("{", "<").replace("}", ">"))(_serve(route))

    for error_class, answer in API_ERRORS.items():
        app.exception_handler(error_class)(_answer_with(answer))

    @app.not_found
    def no_route(exc: Exception) -> Response:
        event = app.current_event
        return error_response(404, "not_found", f"no route {event.http_method} {shown_path(event.path)}")

    return app


def handle(event: dict, context: Any) -> dict:
    with span("answer", route=str(event.get("resource") or event.get("path") or "")):
        return resolver().resolve(event, context)
