"""The retry loops' wait: it doubles per attempt, stops growing at its cap, and is jittered within its share."""

from __future__ import annotations

import random

import pytest

from credit_monitor import backoff
from credit_monitor.backoff import backoff_seconds


@pytest.fixture
def extremes(monkeypatch):
    """random.uniform pinned to one end of its range: "low" or "high"."""
    end = {"at": "high"}
    monkeypatch.setattr(backoff.random, "uniform", lambda low, high: low if end["at"] == "low" else high)
    return end


def test_the_wait_doubles_with_each_attempt_until_its_cap(extremes):
    assert [backoff_seconds(attempt, base=0.05, cap=2.0, least_share=0.5) for attempt in range(8)] == [
        0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0,
    ]  # fmt: skip


def test_the_jitter_keeps_at_least_its_share_of_the_delay(extremes):
    extremes["at"] = "low"
    assert backoff_seconds(3, base=0.05, cap=2.0, least_share=0.5) == pytest.approx(0.2)
    assert backoff_seconds(3, base=0.02) == 0  # full jitter: no wait at all is possible


def test_without_a_cap_the_wait_keeps_doubling(extremes):
    assert backoff_seconds(7, base=0.02) == pytest.approx(2.56)


def test_real_waits_stay_within_the_range_and_vary():
    random.seed(24)
    waits = [backoff_seconds(4, base=0.05, cap=2.0, least_share=0.5) for _ in range(200)]
    assert all(0.4 <= wait <= 0.8 for wait in waits)
    assert len(set(waits)) > 100  # jittered: writers that collided do not retry in step
