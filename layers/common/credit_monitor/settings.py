"""Each function's configuration, read from its environment once per container and validated then.

One style for every function: a frozen dataclass built by ``from_env``, which reads through
:class:`Environment` so that every problem names its variable and all of them are reported together.
Nothing here (or anywhere in the package) reads the environment at import: ``current(SettingsClass)``
builds the settings on first use and keeps them while the container is warm.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from credit_monitor.alerting.rule_settings import AlertSettings
from credit_monitor.errors import ConfigurationError
from credit_monitor.model import valid_provider_id, validate_base_url

DEFAULT_HISTORY_DAYS = 400


class Environment:
    """Typed reads of environment variables that collect problems instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str:
        value = self._environ.get(name, "").strip()
        if value:
            return value
        if default is None:
            self.problems.append(f"{name} is not set")
            return ""
        return default

    def number(self, name: str, default: float, *, minimum: float = 0, maximum: float | None = None, whole: bool = False) -> float:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum) or value != value:  # noqa: PLR0124 - NaN
            kind = "a whole number" if whole else "a number"
            bounds = f"from {minimum:g} to {maximum:g}" if maximum is not None else f"of at least {minimum:g}"
            self.problems.append(f"{name} must be {kind} {bounds}, got {raw!r}")
            return default
        return value

    def url(self, name: str) -> str:
        """A provider base URL (https, or http to loopback), or "" when unset."""
        raw = self._environ.get(name, "").strip()
        if not raw:
            return ""
        try:
            return validate_base_url(raw, variable=name)
        except ConfigurationError as exc:
            self.problems.append(str(exc))
            return ""

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self._environ.get(name, "").strip() or default
        if value not in choices:
            self.problems.append(f"{name} must be one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def words(self, name: str, separator: str = ",") -> tuple[str, ...]:
        return tuple(part.strip() for part in self._environ.get(name, "").split(separator) if part.strip())

    def raise_problems(self, what: str) -> None:
        if self.problems:
            raise ConfigurationError(f"{what} is misconfigured: " + "; ".join(self.problems))


@dataclass(frozen=True)
class StorageSettings:
    table_name: str
    history_days: int = DEFAULT_HISTORY_DAYS

    @staticmethod
    def read(env: Environment) -> StorageSettings:
        return StorageSettings(
            table_name=env.text("TABLE_NAME"),
            history_days=int(env.number("HISTORY_TTL_DAYS", DEFAULT_HISTORY_DAYS, minimum=1, whole=True)),
        )


@dataclass(frozen=True)
class PollerSettings:
    provider: str
    base_url: str  # "" means the provider definition's own base URL
    secret_name: str
    storage: StorageSettings
    confirm_drop: float = 0.5  # CONFIRM_DROP_PERCENT / 100: a larger drop since the last reading is polled again
    concurrency: int = 256  # POLL_CONCURRENCY: requests in flight at once, across every shard of a round
    account_metrics: bool = False  # ACCOUNT_METRICS=ENABLED: one AvailableCredits series per account
    shard_size: int = 1000  # SHARD_SIZE: a round of more accounts is split into shards of this many
    shard_machine: str = ""  # SHARD_STATE_MACHINE: the state machine that runs a round's shards ("" polls every account in one run)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PollerSettings:
        env = Environment(environ)
        provider = env.text("PROVIDER")
        if provider and not valid_provider_id(provider):
            env.problems.append(f"PROVIDER {provider[:40]!r} is not a provider id")
        settings = cls(
            provider=provider,
            base_url=env.url("PROVIDER_BASE_URL"),
            secret_name=env.text("API_KEYS_SECRET"),
            storage=StorageSettings.read(env),
            confirm_drop=env.number("CONFIRM_DROP_PERCENT", 50, maximum=100) / 100,
            concurrency=int(env.number("POLL_CONCURRENCY", 256, minimum=1, maximum=1000, whole=True)),
            account_metrics=env.choice("ACCOUNT_METRICS", ("ENABLED", "DISABLED"), "DISABLED") == "ENABLED",
            shard_size=int(env.number("SHARD_SIZE", 1000, minimum=2, maximum=5000, whole=True)),
            shard_machine=env.text("SHARD_STATE_MACHINE", ""),
        )
        env.raise_problems("the poller")
        return settings


@dataclass(frozen=True)
class AggregatorSettings:
    storage: StorageSettings
    topic_arn: str
    thresholds_parameter: str
    alert: AlertSettings
    event_bus: str = "default"  # EVENT_BUS_NAME: the EventBridge bus every alert is also put on
    forecast_window: timedelta = timedelta(hours=72)
    forecast_refresh: timedelta = timedelta(hours=1)
    providers: tuple[str, ...] = ()  # PROVIDERS: the stack's providers (the check reads each one's round)
    timer_machine: str = ""  # ALERT_TIMER_STATE_MACHINE: runs a task later ("" : notification groups are sent at once)
    group_wait: int = 30  # GROUP_WAIT_SECONDS: how long an alert waits for others of its group
    incident_min_accounts: int = 3  # INCIDENT_MIN_ACCOUNTS
    incident_min_share: float = 0.5  # INCIDENT_MIN_PERCENT / 100

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AggregatorSettings:
        env = Environment(environ)
        poll_minutes = env.number("POLL_INTERVAL_MINUTES", 5, minimum=1)
        reminder_hours = env.number("REMINDER_HOURS", 0)
        settings = cls(
            storage=StorageSettings.read(env),
            topic_arn=env.text("ALERT_TOPIC_ARN"),
            thresholds_parameter=env.text("THRESHOLDS_PARAMETER"),
            event_bus=env.text("EVENT_BUS_NAME", "default"),
            providers=_providers(env),
            timer_machine=env.text("ALERT_TIMER_STATE_MACHINE", ""),
            group_wait=int(env.number("GROUP_WAIT_SECONDS", 30, minimum=0, maximum=900, whole=True)),
            incident_min_accounts=int(env.number("INCIDENT_MIN_ACCOUNTS", 3, minimum=2, whole=True)),
            incident_min_share=env.number("INCIDENT_MIN_PERCENT", 50, minimum=1, maximum=100) / 100,
            alert=AlertSettings(
                hysteresis=env.number("HYSTERESIS_PERCENT", 10, maximum=100) / 100,
                failure_after=int(env.number("FAILURE_ALERT_AFTER", 3, minimum=1, whole=True)),
                stale_after=timedelta(minutes=poll_minutes * env.number("STALE_AFTER_POLLS", 3, minimum=1)),
                forecast_days=env.number("FORECAST_ALERT_DAYS", 3),
                reminder=timedelta(hours=reminder_hours) if reminder_hours else None,
            ),
        )
        env.raise_problems("the aggregator")
        return settings


def _providers(env: Environment) -> tuple[str, ...]:
    providers = env.words("PROVIDERS")
    for provider in providers:
        if not valid_provider_id(provider):
            env.problems.append(f"PROVIDERS has {provider[:40]!r}, which is not a provider id")
    return providers


@dataclass(frozen=True)
class ApiSettings:
    storage: StorageSettings
    cors_origins: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()  # PROVIDERS: the stack's providers, in the order GET /balances lists them

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        env = Environment(environ)
        settings = cls(storage=StorageSettings.read(env), cors_origins=env.words("CORS_ALLOWED_ORIGINS"), providers=_providers(env))
        env.raise_problems("the balance API")
        return settings


@dataclass(frozen=True)
class TracingSettings:
    """X-Ray through Powertools Tracer: on only where the stack says so (Tracing=ENABLED sets
    POWERTOOLS_TRACE_DISABLED=false). Unset counts as off, so local runs never load the X-Ray SDK."""

    enabled: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TracingSettings:
        env = Environment(environ)
        disabled = env.choice("POWERTOOLS_TRACE_DISABLED", ("true", "false"), "true")
        env.raise_problems("tracing")
        return cls(enabled=disabled == "false")


Settings = TypeVar("Settings", PollerSettings, AggregatorSettings, ApiSettings, TracingSettings)


@functools.cache
def current(kind: type[Settings]) -> Settings:
    """This container's settings of ``kind``, read on first use (a misconfigured function fails then, saying why)."""
    return kind.from_env()


def forget() -> None:
    """Read the environment again on next use (tests and the local stack, between 'deploys')."""
    current.cache_clear()
