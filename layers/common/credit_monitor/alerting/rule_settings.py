"""The alert rules' settings, where the rules live: a plain value the rules take, built by settings.py from the environment.

Its own module, beside rules.py, so that settings.py (which every function imports) builds it without
loading the rules, and the rules take it without reading the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class AlertSettings:
    """The alert rules' knobs (template parameters of the same names)."""

    hysteresis: float = 0.10  # fraction of the threshold a balance must clear to recover
    failure_after: int = 3  # consecutive failed polls before a failure alert
    stale_after: timedelta = timedelta(minutes=15)  # age of the last good balance before a stale alert
    forecast_days: float = 3.0  # alert when the forecast says credits run out sooner than this
    reminder: timedelta | None = None  # repeat a threshold alert while still below; None: never
