"""What a poll round stores for each account, before it reaches DynamoDB."""

from decimal import Decimal

from credit_monitor.model import AccountResult, FailureKind, PollFailure, Reading
from credit_monitor.store import from_dynamodb, history_item, latest_item, to_dynamodb

GOOD = AccountResult("prod", "2026-11-21T10:00:00Z", reading=Reading(available=900, frozen=10, breakdown={"monthly": 1.5}))
FAILED = AccountResult("prod", "2026-11-21T10:05:00Z", failure=PollFailure(FailureKind.TIMEOUT, "sunor.cc did not answer in time"))


def test_a_good_poll_stores_the_normalized_balance():
    item = latest_item("sunor", GOOD, previous=None)
    assert item["sk"] == "sunor#prod#balance"
    assert (item["available"], item["frozen"], item["total"], item["status"]) == (900, 10, 910, "ok")
    assert item["fetched_at"] == "2026-11-21T10:00:00Z"
    assert item["consecutive_failures"] == 0


def test_a_failed_poll_keeps_the_last_good_balance_and_says_why():
    previous = latest_item("sunor", GOOD, previous=None)
    item = latest_item("sunor", FAILED, previous=previous)
    assert (item["available"], item["frozen"], item["total"]) == (900, 10, 910)
    assert item["fetched_at"] == "2026-11-21T10:00:00Z"  # when the kept balance was true
    assert item["polled_at"] == "2026-11-21T10:05:00Z"
    assert (item["status"], item["error_kind"]) == ("error", "timeout")
    assert item["error"] == "sunor.cc did not answer in time"
    assert (item["failing_since"], item["consecutive_failures"]) == ("2026-11-21T10:05:00Z", 1)


def test_consecutive_failures_count_up_and_remember_when_failing_began():
    first = latest_item("sunor", FAILED, previous=latest_item("sunor", GOOD, previous=None))
    later = AccountResult("prod", "2026-11-21T10:10:00Z", failure=PollFailure(FailureKind.AUTH, "sunor code 401"))
    second = latest_item("sunor", later, previous=first)
    assert (second["consecutive_failures"], second["failing_since"]) == (2, "2026-11-21T10:05:00Z")
    assert second["error_kind"] == "auth"
    recovered = latest_item("sunor", GOOD, previous=second)
    assert (recovered["status"], recovered["consecutive_failures"]) == ("ok", 0)
    assert "error" not in recovered


def test_a_first_poll_that_fails_stores_no_balance():
    item = latest_item("sunor", FAILED, previous=None)
    assert "available" not in item
    assert item["status"] == "error"


def test_history_expires_after_the_retention_period():
    item = history_item("sunor", "prod", "2026-11-21T10:00:00Z", GOOD.reading, history_days=400)
    assert item["pk"] == "HISTORY#sunor#prod"
    assert item["sk"] == "2026-11-21T10:00:00Z"
    polled_epoch = 1795255200  # 2026-11-21T10:00:00Z
    assert item["expires_at"] == polled_epoch + 400 * 86400


def test_numbers_round_trip_through_dynamodb_types():
    stored = to_dynamodb({"a": 1.1, "b": [2.5, 3], "c": {"d": 0.1}})
    assert stored == {"a": Decimal("1.1"), "b": [Decimal("2.5"), 3], "c": {"d": Decimal("0.1")}}
    assert from_dynamodb(stored) == {"a": 1.1, "b": [2.5, 3], "c": {"d": 0.1}}
