"""The alerting configuration in force: the SSM parameter's document, or the last good one while it is malformed.

Reading it is only a read (at most a minute old). Recording what was found (remembering a good document,
alerting once on a rejected one, reporting an expired silence once) is a separate step whose failure is
logged and retried, and never fails the balance records of a stream batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from aws_lambda_powertools import Logger

from credit_monitor import aws
from credit_monitor.alerting.messages import configuration_message, expired_silence_message
from credit_monitor.alerting.pipeline import labelled
from credit_monitor.alerting.rules import evaluate_configuration
from credit_monitor.alerting.thresholds import DEFAULT_DOCUMENT, Thresholds, document_digest, parse_thresholds
from credit_monitor.errors import ThresholdsError
from credit_monitor.model import AlertState
from credit_monitor.storage import ConfigStore
from credit_monitor.storage.alerts import AlertStore

logger = Logger()

CACHE_SECONDS = 60


@dataclass(frozen=True)
class ThresholdsInForce:
    thresholds: Thresholds
    document: str  # the parameter's text as read
    rejected: str | None = None  # why the parameter's document was rejected (the last good one is in force)

    @property
    def digest(self) -> str:
        return document_digest(self.document)


class Configuration:
    def __init__(self, parameter: str, store: ConfigStore, alerts: AlertStore, send: Callable[[dict[str, str]], int],
                 clock: Callable[[], datetime]) -> None:  # fmt: skip
        self.parameter = parameter
        self._store, self._alerts, self._send, self._clock = store, alerts, send, clock
        self._in_force: ThresholdsInForce | None = None
        self._settled: str | None = None  # digest of the document whose state was last recorded

    def current(self) -> ThresholdsInForce:
        """The configuration in force: the parameter's, or the last good one while it is malformed. Reads only."""
        text = aws.get_parameter(self.parameter, max_age=CACHE_SECONDS)
        if self._in_force is not None and self._in_force.document == text:
            return self._in_force
        try:
            in_force = ThresholdsInForce(parse_thresholds(text), text)
        except ThresholdsError as exc:
            logger.error("thresholds rejected; the last good ones stay in force", extra={"parameter": self.parameter, "reason": str(exc)})
            last_good = self._store.last_good_thresholds()
            if last_good is None:
                logger.warning("no good thresholds were ever stored; using the built-in default", extra={"thresholds": DEFAULT_DOCUMENT})
            in_force = ThresholdsInForce(parse_thresholds(last_good or DEFAULT_DOCUMENT), text, rejected=str(exc))
        self._in_force = in_force
        return in_force

    @property
    def thresholds(self) -> Thresholds:
        return self.current().thresholds

    def record(self, *, force: bool = False) -> int:
        """Record the document's state: remember a good one, alert once on a rejected one and once on each silence
        past its end. Done once per document per container (``force``: regardless, which also sends a message left
        queued). Returns the messages sent; raises when storing or sending fails."""
        in_force = self.current()
        if self._settled == in_force.digest and not force:
            return 0
        if in_force.rejected is None:
            self._store.remember_thresholds(in_force.document, in_force.digest)
        rejected, labels = in_force.rejected, in_force.thresholds.labels.rules.get("default", {})
        expired = in_force.thresholds.expired(self._clock())

        def alert_on_document_and_silences(state: AlertState):
            new, events = evaluate_configuration(state, in_force.digest if rejected else None)
            messages = [configuration_message(e, self.parameter, rejected or "") for e in events]
            # An expired silence is ignored; it is reported once (until it is removed from the document).
            reported = set(state.reported or [])
            messages += [expired_silence_message(silence, self.parameter) for silence in expired if silence.ident not in reported]
            keep = sorted(silence.ident for silence in expired)
            new = replace(new, reported=keep or None) if keep != sorted(reported) else new
            return new, [labelled(message, labels) for message in messages]

        _, pending = self._alerts.decide_configuration(alert_on_document_and_silences)
        sent = self._send(self._alerts.configuration_key()) if pending else 0
        self._settled = in_force.digest
        return sent
