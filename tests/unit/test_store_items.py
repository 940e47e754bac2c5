"""What a poll round stores for each account, and how typed values become table items and back."""

from decimal import Decimal, DecimalException

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from credit_monitor.errors import PollFailure
from credit_monitor.model import AccountResult, BalanceItem, FailureKind, LastPoll, Reading
from credit_monitor.storage.items import (
    attribute_value,
    balance_from_item,
    balance_item,
    failure_update,
    from_dynamodb,
    history_item,
    to_dynamodb,
)

GOOD = AccountResult("prod", "2026-11-21T10:00:00Z", reading=Reading(available=900, frozen=10, breakdown={"monthly": 1.5}))
FAILED = AccountResult("prod", "2026-11-21T10:05:00Z", failure=PollFailure(FailureKind.TIMEOUT, "sunor.cc did not answer in time"))


def test_a_good_poll_stores_the_normalized_balance():
    balance = BalanceItem.after_poll("sunor", GOOD, previous=None)
    item = balance_item(balance)
    assert (item["pk"], item["sk"]) == ("BALANCE#sunor", "prod")
    assert (item["available"], item["frozen"], item["total"], item["status"]) == (900, 10, 910, "ok")
    assert item["fetched_at"] == "2026-11-21T10:00:00Z"
    assert "consecutive_failures" not in item  # a default is not stored: it is read back as 0
    assert balance_from_item(item).consecutive_failures == 0


def test_a_balance_of_zero_is_stored_and_read_back_as_zero():
    depleted = AccountResult("prod", "2026-11-21T10:00:00Z", reading=Reading(available=0, frozen=0))
    item = balance_item(BalanceItem.after_poll("sunor", depleted, previous=None))
    assert (item["available"], item["frozen"], item["total"]) == (0, 0, 0)
    assert balance_from_item(item).ever_read


def test_a_failed_poll_keeps_the_last_good_balance_and_says_why():
    previous = BalanceItem.after_poll("sunor", GOOD, previous=None)
    balance = BalanceItem.after_poll("sunor", FAILED, previous=previous)
    assert (balance.available, balance.frozen, balance.total) == (900, 10, 910)
    assert balance.fetched_at == "2026-11-21T10:00:00Z"  # when the kept balance was true
    assert balance.polled_at == "2026-11-21T10:05:00Z"
    assert (balance.status, balance.error_kind) == ("error", "timeout")
    assert balance.error == "sunor.cc did not answer in time"
    assert (balance.failing_since, balance.consecutive_failures) == ("2026-11-21T10:05:00Z", 1)


def test_consecutive_failures_count_up_and_remember_when_failing_began():
    first = BalanceItem.after_poll("sunor", FAILED, previous=BalanceItem.after_poll("sunor", GOOD, previous=None))
    later = AccountResult("prod", "2026-11-21T10:10:00Z", failure=PollFailure(FailureKind.AUTH, "sunor code 401"))
    second = BalanceItem.after_poll("sunor", later, previous=first)
    assert (second.consecutive_failures, second.failing_since) == (2, "2026-11-21T10:05:00Z")
    assert second.error_kind == "auth"
    recovered = BalanceItem.after_poll("sunor", GOOD, previous=second)
    assert (recovered.status, recovered.consecutive_failures, recovered.error) == ("ok", 0, None)
    assert "error" not in balance_item(recovered)


def test_a_first_poll_that_fails_stores_no_balance():
    balance = BalanceItem.after_poll("sunor", FAILED, previous=None)
    item = balance_item(balance)
    assert "available" not in item
    assert item["status"] == "error"
    assert not balance.ever_read


def test_a_balance_survives_the_round_trip_through_a_table_item():
    balance = BalanceItem.after_poll("sunor", FAILED, previous=BalanceItem.after_poll("sunor", GOOD, previous=None))
    assert balance_from_item(balance_item(balance)) == balance


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


json_like = st.recursive(
    st.none() | st.booleans() | st.text(max_size=20) | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False, width=64),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@given(json_like)
def test_the_bulk_writer_s_serializer_writes_what_boto3_writes(value):
    # The poller writes through a plain client with its own serializer: DynamoDB must receive the same JSON.
    stored = to_dynamodb(value)
    try:
        expected = TypeSerializer().serialize(stored)
    except (DecimalException, TypeError) as refused:  # a number beyond DynamoDB's 38 digits: refused alike
        with pytest.raises(type(refused)):
            attribute_value(stored)
    else:
        assert attribute_value(stored) == expected


def test_a_value_dynamodb_cannot_hold_is_refused_by_name():
    with pytest.raises(TypeError, match="Infinity"):
        attribute_value(Decimal("Infinity"))
    with pytest.raises(TypeError, match="set"):
        attribute_value({1, 2})


def test_a_failed_poll_updates_only_how_the_poll_went_and_an_older_one_never_wins():
    previous = LastPoll("prod", "2026-11-21T10:00:00Z", status="error", available=900, failing_since="2026-11-21T09:55:00Z",
                        consecutive_failures=1)  # fmt: skip
    update = failure_update("sunor", FAILED, previous)
    names, values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
    set_fields = {names[a.split(" = ")[0]]: values[a.split(" = ")[1]] for a in update["UpdateExpression"][4:].split(", ")}
    assert (set_fields["consecutive_failures"], set_fields["failing_since"]) == (2, "2026-11-21T09:55:00Z")
    assert (set_fields["status"], set_fields["error_kind"]) == ("error", "timeout")
    assert not set(set_fields) & set(BalanceItem.LAST_GOOD)  # the last good balance is left as it is
    condition = update["ConditionExpression"]
    assert "<=" in condition
    assert values[":" + condition.split(":")[-1]] == FAILED.polled_at
