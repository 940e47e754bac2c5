"""The aggregator: turns balance changes into alerts, checks staleness and forecasts, sends digests.

Triggered by the table's stream (latest balance items only) and by schedules (``{"task": "check"}``,
``{"task": "digest"}``). It never calls providers; pollers never alert.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from credit_monitor import aws
from credit_monitor.alert_store import CONFIG_ALERT_KEY, AlertStore, alert_key, state_from_item
from credit_monitor.alerting import (
    DIGEST,
    LEVELS,
    RANK,
    AlertSettings,
    evaluate_balance,
    evaluate_configuration,
    evaluate_forecast,
    evaluate_staleness,
)
from credit_monitor.forecast import forecast as make_forecast
from credit_monitor.forecast import point_from_item
from credit_monitor.messages import SMS_LIMIT, SUBJECT_LIMIT, AccountContext, Message, ascii_line, configuration_message, credits, render
from credit_monitor.model import format_time, parse_time
from credit_monitor.settings import env_number, env_required
from credit_monitor.store import BALANCE_KIND, BalanceStore
from credit_monitor.thresholds import DEFAULT_DOCUMENT, Thresholds, ThresholdsError, document_digest, parse_thresholds

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

logger = Logger()

THRESHOLDS_CACHE_SECONDS = 60
LAST_GOOD_THRESHOLDS_KEY = {"pk": "CONFIG", "sk": "thresholds"}


@dataclass(frozen=True)
class AggregatorSettings:
    table_name: str
    topic_arn: str
    thresholds_parameter: str
    alert: AlertSettings
    forecast_window: timedelta = timedelta(hours=72)
    forecast_refresh: timedelta = timedelta(hours=1)

    @classmethod
    def from_env(cls) -> AggregatorSettings:
        poll_minutes = env_number("POLL_INTERVAL_MINUTES", 5, minimum=1)
        reminder_hours = env_number("REMINDER_HOURS", 0)
        return cls(
            table_name=env_required("TABLE_NAME"),
            topic_arn=env_required("ALERT_TOPIC_ARN"),
            thresholds_parameter=env_required("THRESHOLDS_PARAMETER"),
            alert=AlertSettings(
                hysteresis=env_number("HYSTERESIS_PERCENT", 10) / 100,
                failure_after=int(env_number("FAILURE_ALERT_AFTER", 3, minimum=1, whole=True)),
                stale_after=timedelta(minutes=poll_minutes * env_number("STALE_AFTER_POLLS", 3, minimum=1)),
                forecast_days=env_number("FORECAST_ALERT_DAYS", 3),
                reminder=timedelta(hours=reminder_hours) if reminder_hours else None,
            ),
        )


def sns_publisher(topic_arn: str):
    def publish(message: Message) -> None:
        aws.sns().publish(
            TopicArn=topic_arn,
            Subject=message.subject,
            # Per-protocol bodies: SMS subscribers get the one-line version, everyone else the full text.
            Message=json.dumps({"default": message.body, "email": message.body, "sms": message.sms}),
            MessageStructure="json",
            MessageAttributes={name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()},
        )
        logger.info("alert published", extra={"subject": message.subject, **message.attributes})

    return publish


class Aggregator:
    def __init__(self, settings: AggregatorSettings, table: Any, publish=None, clock=None) -> None:
        self.settings = settings
        self.table = table
        self.balances = BalanceStore(table)
        self.publish = publish or sns_publisher(settings.topic_arn)
        self.alerts = AlertStore(table, self.publish)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._thresholds_text: str | None = None
        self._thresholds: Thresholds | None = None

    # -- thresholds --------------------------------------------------------------------------------
    def thresholds(self) -> Thresholds:
        """The thresholds in force: the parameter's, or the last good ones while it is malformed."""
        text = aws.get_parameter(self.settings.thresholds_parameter, max_age=THRESHOLDS_CACHE_SECONDS)
        if text == self._thresholds_text and self._thresholds is not None:
            return self._thresholds
        try:
            parsed, rejected = parse_thresholds(text), None
        except ThresholdsError as exc:
            rejected = (document_digest(text), str(exc))
            parsed = self._last_good_thresholds()
            logger.error(
                "thresholds rejected; the last good ones stay in force",
                extra={"parameter": self.settings.thresholds_parameter, "reason": str(exc)},
            )
        else:
            self._remember_good_thresholds(text, parsed)
        self._apply_configuration_state(rejected)
        self._thresholds_text, self._thresholds = text, parsed
        return parsed

    def _last_good_thresholds(self) -> Thresholds:
        item = self.table.get_item(Key=LAST_GOOD_THRESHOLDS_KEY, ConsistentRead=True).get("Item")
        if item:
            return parse_thresholds(item["document"])
        logger.warning("no good thresholds were ever stored; using the built-in default", extra={"thresholds": DEFAULT_DOCUMENT})
        return parse_thresholds(DEFAULT_DOCUMENT)

    def _remember_good_thresholds(self, text: str, parsed: Thresholds) -> None:
        try:
            self.table.put_item(
                Item={**LAST_GOOD_THRESHOLDS_KEY, "kind": "config", "document": text, "digest": parsed.digest},
                ConditionExpression="attribute_not_exists(digest) OR digest <> :digest",
                ExpressionAttributeValues={":digest": parsed.digest},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def _apply_configuration_state(self, rejected: tuple[str, str] | None) -> None:
        parameter = self.settings.thresholds_parameter

        def decide(state):
            new, events = evaluate_configuration(state, rejected[0] if rejected else None)
            return new, [configuration_message(e, parameter, rejected[1] if rejected else "") for e in events]

        self.alerts.apply(CONFIG_ALERT_KEY, {"kind": "config-alert"}, decide)

    # -- stream ------------------------------------------------------------------------------------
    def handle_balance_item(self, item: dict[str, Any]) -> int:
        """Apply a poller's latest-balance item; returns the number of messages published."""
        provider, account = item["provider"], item["account"]
        threshold = self.thresholds().for_account(provider, account)
        now = self.clock()

        def decide(state):
            new, events = evaluate_balance(state, item, threshold, self.settings.alert, now)
            context = AccountContext(provider, account, item, threshold, new, self.settings.alert, now)
            return new, [render(e, context) for e in events]

        return self.alerts.apply(alert_key(provider, account), _identity(provider, account), decide)

    # -- scheduled check ---------------------------------------------------------------------------
    def run_check(self) -> dict[str, Any]:
        """Staleness for every account, forecasts that are due, and any message left in an outbox."""
        thresholds = self.thresholds()
        now = self.clock()
        published = 0
        accounts = self.balances.account_items()
        for (provider, account), items in accounts.items():
            balance = items.get(BALANCE_KIND)
            if balance is None:
                continue
            threshold = thresholds.for_account(provider, account)
            points = self._forecast_points(provider, account, balance, state_from_item(items.get("alert")), now)

            def decide(state, balance=balance, threshold=threshold, points=points, provider=provider, account=account):
                new, events = evaluate_staleness(state, balance, self.settings.alert, now)
                if points is not None:
                    result = make_forecast(points, float(balance["available"]), now)
                    new, more = evaluate_forecast(new, result, self.settings.alert, now)
                    events += more
                context = AccountContext(provider, account, balance, threshold, new, self.settings.alert, now)
                return new, [render(e, context) for e in events]

            published += self.alerts.apply(alert_key(provider, account), _identity(provider, account), decide)
        published += self.alerts.drain(CONFIG_ALERT_KEY)
        return {"task": "check", "accounts": len(accounts), "published": published}

    def _forecast_points(self, provider, account, balance, state, now):
        if balance.get("available") is None:
            return None
        if state.forecast_at and now - parse_time(state.forecast_at) < self.settings.forecast_refresh:
            return None
        since = format_time(now - self.settings.forecast_window)
        return [point_from_item(item) for item in self.balances.history_since(provider, account, since)]

    def run_reevaluate(self) -> dict[str, Any]:
        """Apply every account's current latest balance again, as if its stream record were redelivered.

        This is how a dead-lettered stream batch is replayed: the alert state ignores what it has
        already applied, so only a transition that was missed produces a message.
        """
        published = 0
        accounts = self.balances.account_items()
        for items in accounts.values():
            if BALANCE_KIND in items:
                published += self.handle_balance_item(items[BALANCE_KIND])
        return {"task": "reevaluate", "accounts": len(accounts), "published": published}

    # -- digest ------------------------------------------------------------------------------------
    def run_digest(self) -> dict[str, Any]:
        """One summary message: every account's balance, its change over 24 h, days left."""
        now = self.clock()
        day_ago = format_time(now - timedelta(hours=24))
        rows, worst = [], "ok"
        for (provider, account), items in sorted(self.balances.account_items().items()):
            balance, state = items.get(BALANCE_KIND), state_from_item(items.get("alert"))
            if balance is None:
                continue
            then = self.balances.history_at(provider, account, day_ago)
            change = None if then is None or balance.get("available") is None else balance["available"] - then["available"]
            worst = max(worst, state.level, key=RANK.__getitem__)
            days = f"{state.days_left:.1f} days left" if state.days_left is not None else "no forecast"
            delta = "no 24 h history" if change is None else f"{'+' if change >= 0 else ''}{credits(change)} in 24 h"
            status = "" if balance.get("status") == "ok" else f"  last poll failed: {balance.get('error_kind')}"
            rows.append(f"{provider}/{account}: {credits(balance.get('available'))} credits ({delta}), {state.level}, {days}{status}")
        below = sum(1 for row in rows if any(f", {level}," in row for level in LEVELS[1:]))
        subject = f"Credit balances: {len(rows)} accounts, {below} below warning"
        message = Message(
            subject=ascii_line(subject, SUBJECT_LIMIT),
            body="\n".join([f"{subject} (as of {format_time(now)})", "", *rows]),
            sms=ascii_line(subject, SMS_LIMIT),
            attributes={"provider": "all", "account": "all", "level": worst, "event": DIGEST},
        )
        self.publish(message)
        return {"task": "digest", "accounts": len(rows)}


def _identity(provider: str, account: str) -> dict[str, str]:
    return {"kind": "alert", "provider": provider, "account": account}


@functools.cache
def aggregator() -> Aggregator:
    """One per container, created on first use (clients and settings are reused while warm)."""
    settings = AggregatorSettings.from_env()
    return Aggregator(settings, aws.table(settings.table_name))


@functools.cache
def _stream_processor() -> Any:
    # Only stream deliveries need the batch processor (and the asyncio it imports); schedules do not.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType  # noqa: PLC0415

    return BatchProcessor(event_type=EventType.DynamoDBStreams)


def handle_event(event: Any, context: Any) -> dict[str, Any]:
    """The aggregator's entry point: a stream batch (partial failures reported per record) or a task."""
    if isinstance(event, dict) and "Records" in event:
        from aws_lambda_powertools.utilities.batch import process_partial_response  # noqa: PLC0415

        # Failed records are reported individually; the stream retries from the first of them.
        return process_partial_response(event=event, record_handler=handle_stream_record, processor=_stream_processor(), context=context)
    return run_task(event)


def handle_stream_record(record: DynamoDBRecord) -> None:
    """Record handler for Powertools' BatchProcessor: raise to have the record retried."""
    item = record.dynamodb.new_image if record.dynamodb else None
    if not item or item.get("kind") != BALANCE_KIND:
        return  # the event source filter admits only balance items; anything else is ignored
    aggregator().handle_balance_item(item)


def run_task(event: Any) -> dict[str, Any]:
    task = event.get("task", "check") if isinstance(event, dict) else "check"
    tasks = {"check": aggregator().run_check, "digest": aggregator().run_digest, "reevaluate": aggregator().run_reevaluate}
    if task not in tasks:
        raise ValueError(f"unknown aggregator task {task!r}; expected one of: {', '.join(tasks)}")
    return tasks[task]()
