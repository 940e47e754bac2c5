"""How long a hand-written retry loop waits before its next attempt: exponential backoff with jitter.

The AWS SDK retries its own calls; these are the loops around what it does not retry (items a BatchWriteItem
leaves unprocessed, a conditional write another writer beat). The delay doubles with each attempt up to
``cap`` and is scaled by a random share of itself, so writers that collided do not collide again in step.
"""

from __future__ import annotations

import math
import random
import time


def backoff_seconds(attempt: int, *, base: float, cap: float = math.inf, least_share: float = 0.0) -> float:
    """``base * 2**attempt`` seconds (at most ``cap``), times a random share between ``least_share`` and 1.

    ``least_share=0`` is "full jitter" (anywhere from no wait to the whole delay); 0.5 keeps at least half.
    """
    return min(cap, base * 2**attempt) * random.uniform(least_share, 1.0)  # noqa: S311 - jitter, not crypto


def wait_before_retry(attempt: int, *, base: float, cap: float = math.inf, least_share: float = 0.0) -> None:
    """Sleep for backoff_seconds(attempt, ...) before attempt ``attempt + 1``."""
    time.sleep(backoff_seconds(attempt, base=base, cap=cap, least_share=least_share))
