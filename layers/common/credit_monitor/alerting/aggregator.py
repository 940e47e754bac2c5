"""The aggregator: turns balance changes into alerts, checks staleness and forecasts, sends digests.

Triggered by the table's stream (latest balance items only) and by schedules (``{"task": "check"}``,
``{"task": "digest"}``, ``{"task": "reevaluate"}``). It never calls providers; pollers never alert.

Reading the thresholds is only a read. Recording what it found (remembering a good document, alerting
on a rejected one) is a separate step whose failure is logged and retried, and never fails the balance
records of a stream batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from credit_monitor import aws, metrics, settings
from credit_monitor.alerting.digest import DigestRow, render_digest
from credit_monitor.alerting.forecast import forecast as make_forecast
from credit_monitor.alerting.forecast import point_from_reading
from credit_monitor.alerting.messages import AccountContext, after_silence, configuration_message, expired_silence_message, render
from credit_monitor.alerting.notify import Notifier
from credit_monitor.alerting.rules import (
    AlertEvent,
    evaluate_balance,
    evaluate_configuration,
    evaluate_forecast,
    evaluate_silence_end,
    evaluate_staleness,
)
from credit_monitor.alerting.thresholds import (
    DEFAULT_DOCUMENT,
    Threshold,
    Thresholds,
    ThresholdsError,
    document_digest,
    parse_thresholds,
    threshold_for,
)
from credit_monitor.model import AccountSnapshot, AlertMessage, AlertState, BalanceItem, format_time, parse_time
from credit_monitor.settings import AggregatorSettings
from credit_monitor.storage import AlertStore, BalanceStore, ConfigStore
from credit_monitor.storage.balances import balance_from_stream
from credit_monitor.tracing import span

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

logger = Logger()

THRESHOLDS_CACHE_SECONDS = 60


class RunIncomplete(Exception):
    """A scheduled run visited every account but could not finish some; the message lists each failure.

    Raised at the end so the invocation fails (alarm, retry): what failed stays queued and is retried.
    """


@dataclass(frozen=True)
class ThresholdsInForce:
    thresholds: Thresholds
    document: str  # the parameter's text as read
    rejected: str | None = None  # why the parameter's document was rejected (the last good one is in force)

    @property
    def digest(self) -> str:
        return document_digest(self.document)


class Aggregator:
    def __init__(
        self,
        config: AggregatorSettings,
        table: Any,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = config
        self.balances = BalanceStore(table)
        self.configuration = ConfigStore(table)
        self.notifier = notifier or Notifier(config.topic_arn, config.event_bus)
        self.alerts = AlertStore(table, self.notifier.deliver, self.notifier.channels, log_days=config.storage.history_days)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._in_force: ThresholdsInForce | None = None
        self._settled: str | None = None  # digest of the document whose state was last recorded

    # -- thresholds --------------------------------------------------------------------------------
    def thresholds(self) -> ThresholdsInForce:
        """The thresholds in force: the parameter's, or the last good ones while it is malformed. Reads only."""
        text = aws.get_parameter(self.settings.thresholds_parameter, max_age=THRESHOLDS_CACHE_SECONDS)
        if self._in_force is not None and self._in_force.document == text:
            return self._in_force
        try:
            in_force = ThresholdsInForce(parse_thresholds(text), text)
        except ThresholdsError as exc:
            logger.error(
                "thresholds rejected; the last good ones stay in force",
                extra={"parameter": self.settings.thresholds_parameter, "reason": str(exc)},
            )
            last_good = self.configuration.last_good_thresholds()
            if last_good is None:
                logger.warning("no good thresholds were ever stored; using the built-in default", extra={"thresholds": DEFAULT_DOCUMENT})
            in_force = ThresholdsInForce(parse_thresholds(last_good or DEFAULT_DOCUMENT), text, rejected=str(exc))
        self._in_force = in_force
        return in_force

    def record_configuration(self, *, force: bool = False) -> int:
        """Record the thresholds document's state: remember a good one, alert once on a rejected one.

        Done once per document per container (``force`` to do it regardless, which also sends a message
        left queued). Returns the messages sent; raises when storing or sending fails.
        """
        in_force = self.thresholds()
        if self._settled == in_force.digest and not force:
            return 0
        if in_force.rejected is None:
            self.configuration.remember_thresholds(in_force.document, in_force.digest)
        parameter, rejected = self.settings.thresholds_parameter, in_force.rejected

        expired = in_force.thresholds.expired(self.clock())

        def decide(state):
            new, events = evaluate_configuration(state, in_force.digest if rejected else None)
            messages = [configuration_message(e, parameter, rejected or "") for e in events]
            # An expired silence is ignored; it is reported once (until it is removed from the document).
            reported = set(state.reported or [])
            fresh = [silence for silence in expired if silence.ident not in reported]
            messages += [expired_silence_message(silence, parameter) for silence in fresh]
            keep = sorted(silence.ident for silence in expired)
            return (replace(new, reported=keep or None) if keep != sorted(reported) else new), messages

        sent = self.alerts.apply_configuration(decide)
        self._settled = in_force.digest
        return sent

    # -- stream ------------------------------------------------------------------------------------
    def handle_balance(self, balance: BalanceItem, previous: BalanceItem | None = None) -> int:
        """Apply a poller's latest balance (``previous``: the one it replaced); returns the messages sent."""
        thresholds = self.thresholds().thresholds
        now = self.clock()
        before = float(previous.available) if previous is not None and previous.available is not None else None

        def decide(state):
            # The threshold may follow the account (percent of its allowance or of its last top-up).
            threshold = threshold_for(thresholds, balance, state, before)
            new, events = evaluate_balance(state, balance, threshold, self.settings.alert, now, before)
            return self._speak(thresholds, balance, threshold, new, events, now)

        return self.alerts.apply(balance.provider, balance.account, decide)

    def _speak(self, thresholds: Thresholds, balance: BalanceItem, threshold: Threshold, state: AlertState, events: list[AlertEvent],
               now: datetime) -> tuple[AlertState, list[AlertMessage]]:  # fmt: skip
        """The messages for ``events``, except those an active silence holds back (the state still advances,
        and remembers the silence, so that its end can say what is still wrong)."""
        context = AccountContext(balance, threshold, state, now)
        messages = []
        for event in events:
            silence = thresholds.silence_for(balance.provider, balance.account, event.level, event.event, now)
            if silence is None:
                messages.append(render(event, context))
                continue
            logger.info("alert silenced", extra={"provider": balance.provider, "account": balance.account, "event": event.event,
                                                 "alert_level": event.level, "reason": silence.reason, "until": silence.until})  # fmt: skip
            if state.silenced_at is None:
                state = replace(state, silenced_at=format_time(now), silence_reason=silence.reason)
        return state, messages

    # -- scheduled check ---------------------------------------------------------------------------
    def run_check(self) -> dict[str, Any]:
        """Staleness for every account, forecasts that are due, and any message left queued.

        One account failing (a publish refused, a conflict) does not stop the others; every failure is
        reported at the end.
        """
        now = self.clock()
        metrics.record_heartbeat()  # the heartbeat alarm watches for this: the monitor itself stopped checking
        published, failures = 0, []
        try:
            published += self.record_configuration(force=True)
        except Exception as exc:
            failures.append(self._failed("thresholds", exc))
        thresholds = self.thresholds().thresholds
        accounts = self.balances.accounts()
        for snapshot in accounts:
            if snapshot.balance is None:
                continue
            try:
                published += self._check_account(snapshot, snapshot.balance, thresholds, now)
            except Exception as exc:
                failures.append(self._failed(snapshot.name, exc))
        return self._finish({"task": "check", "accounts": len(accounts), "published": published}, failures)

    def _check_account(self, snapshot: AccountSnapshot, balance: BalanceItem, thresholds: Thresholds, now: datetime) -> int:
        points = self._forecast_points(snapshot, balance, now)
        still_silenced = thresholds.covering(balance.provider, balance.account, now) is not None

        def decide(state):
            threshold = threshold_for(thresholds, balance, state)
            new, events = evaluate_silence_end(state, still_silenced)
            reason = state.silence_reason
            stale_state, more = evaluate_staleness(new, balance, self.settings.alert, now)
            new, events = stale_state, events + more
            if points is not None:
                result = make_forecast(points, float(balance.available), now)
                new, more = evaluate_forecast(new, result, self.settings.alert, now, threshold, float(balance.available))
                events += more
                logger.info("account forecast", extra={"provider": balance.provider, "account": balance.account,
                                                       "days_left": result.days_left, "burn_per_day": result.burn_per_day,
                                                       "depletes_at": result.depletes_at, "available": balance.available,
                                                       "unit": balance.unit})  # fmt: skip
            new, messages = self._speak(thresholds, balance, threshold, new, events, now)
            return new, [after_silence(m, reason) for m in messages]

        return self.alerts.apply(balance.provider, balance.account, decide)

    def _forecast_points(self, snapshot: AccountSnapshot, balance: BalanceItem, now: datetime):
        if balance.available is None:
            return None
        state = snapshot.alert
        if state.forecast_at and now - parse_time(state.forecast_at) < self.settings.forecast_refresh:
            return None
        since = format_time(now - self.settings.forecast_window)
        return [point_from_reading(r) for r in self.balances.history_since(balance.provider, balance.account, since)]

    def run_reevaluate(self) -> dict[str, Any]:
        """Apply every account's current latest balance again, as if its stream record were redelivered.

        This is how a dead-lettered stream batch is replayed: the alert state ignores what it has
        already applied, so only a transition that was missed produces a message.
        """
        published, failures = 0, []
        accounts = self.balances.accounts()
        for snapshot in accounts:
            if snapshot.balance is None:
                continue
            try:
                published += self.handle_balance(snapshot.balance)
            except Exception as exc:
                failures.append(self._failed(snapshot.name, exc))
        return self._finish({"task": "reevaluate", "accounts": len(accounts), "published": published}, failures)

    @staticmethod
    def _failed(what: str, exc: Exception) -> str:
        logger.exception("could not finish an account; the others go on", extra={"account": what})
        return f"{what}: {exc}"

    @staticmethod
    def _finish(summary: dict[str, Any], failures: list[str]) -> dict[str, Any]:
        if failures:
            raise RunIncomplete(f"{summary['task']} finished with {len(failures)} failure(s): " + "; ".join(failures))
        return summary

    # -- digest ------------------------------------------------------------------------------------
    def run_digest(self) -> dict[str, Any]:
        """One summary message: every account's balance, its change over 24 h, level and days left."""
        now = self.clock()
        day_ago = format_time(now - timedelta(hours=24))
        rows = []
        for snapshot in self.balances.accounts():
            balance = snapshot.balance
            if balance is None:
                continue
            then = self.balances.history_at(balance.provider, balance.account, day_ago)
            change = None if then is None or balance.available is None else balance.available - then.available
            rows.append(DigestRow(snapshot, change))
        thresholds = self.thresholds().thresholds
        active = [silence for silence in thresholds.silences if silence.active(now)]
        self.notifier.send_summary(render_digest(rows, now, thresholds.prices, active))
        return {"task": "digest", "accounts": len(rows)}


@functools.cache
def aggregator() -> Aggregator:
    """One per container, created on first use (clients and settings are reused while warm)."""
    config = settings.current(AggregatorSettings)
    return Aggregator(config, aws.table(config.storage.table_name))


@functools.cache
def _stream_processor() -> Any:
    # Only stream deliveries need the batch processor (and the asyncio it imports); schedules do not.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType  # noqa: PLC0415

    return BatchProcessor(event_type=EventType.DynamoDBStreams)


def handle_event(event: Any, context: Any) -> dict[str, Any]:
    """The aggregator's entry point: a stream batch (partial failures reported per record) or a task."""
    if isinstance(event, dict) and "Records" in event:
        from aws_lambda_powertools.utilities.batch import process_partial_response  # noqa: PLC0415

        try:
            aggregator().record_configuration()
        except Exception:  # never a reason to fail the balance records; the next batch or check retries it
            logger.exception("could not record the thresholds' state; retried with the next batch or check")
        # Failed records are reported individually; the stream retries from the first of them.
        with span("balance changes", records=len(event["Records"])) as note:
            result = process_partial_response(
                event=event, record_handler=handle_stream_record, processor=_stream_processor(), context=context
            )
            note(failed_records=len(result.get("batchItemFailures", [])))
            return result
    return run_task(event)


def handle_stream_record(record: DynamoDBRecord) -> None:
    """Record handler for Powertools' BatchProcessor: raise to have the record retried."""
    images = record.dynamodb
    balance = balance_from_stream(images.new_image if images else None)
    if balance is not None:  # the event source filter admits only balance items; anything else is ignored
        aggregator().handle_balance(balance, balance_from_stream(images.old_image))


TASKS = {"check": Aggregator.run_check, "digest": Aggregator.run_digest, "reevaluate": Aggregator.run_reevaluate}


def run_task(event: Any) -> dict[str, Any]:
    task = event.get("task", "check") if isinstance(event, dict) else "check"
    if task not in TASKS:
        raise ValueError(f"unknown aggregator task {task!r}; expected one of: {', '.join(TASKS)}")
    with span(task, task=task):
        return TASKS[task](aggregator())
