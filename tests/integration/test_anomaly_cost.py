"""An anomaly rule costs an account's usual balance records nothing more: the recent window of history is read
only for a change whose own interval spends at the rule's line or faster (or while an anomaly stands).

The records are applied by the aggregator's own logic against the local stack, and the DynamoDB calls they
make are counted as the moto server receives them (bench/anomaly.py measures the time the same way).
"""

import json

import pytest

from bench import anomaly
from devstack.invoke import reset_warm_state

pytestmark = pytest.mark.integration


def calls_of_a_turn(stack, accounts, document) -> dict[str, int]:
    stack.set_thresholds(json.dumps(document))
    reset_warm_state()
    stack.calls.clear()
    with anomaly.quiet():
        accounts.apply()
    return {op: n for op, n in stack.calls.items() if op.startswith("dynamodb:") and op not in {"dynamodb:PutItem"}}


@pytest.fixture
def accounts(stack, monkeypatch):
    monkeypatch.setattr(anomaly, "ACCOUNTS", 2)
    monkeypatch.setattr(anomaly, "HISTORY_HOURS", 30)  # more than the rule's 24 h: the accounts have a usual rate
    monkeypatch.setattr(anomaly, "RECORDS", 12)
    found = anomaly.Accounts(stack, anomaly.start_time())
    found.seed()
    with anomaly.quiet():
        found.apply()  # their first forecast and spend tally
    return found


def test_usual_records_read_no_more_history_with_a_rule_than_without(stack, accounts):
    without = calls_of_a_turn(stack, accounts, anomaly.WITHOUT)
    with_rule = calls_of_a_turn(stack, accounts, anomaly.WITH)
    assert with_rule == without  # the same Queries (each hour's forecast) and the same reads of alert state


def test_a_change_fast_enough_to_cross_the_line_reads_the_window(stack, accounts):
    stack.set_thresholds(json.dumps(anomaly.WITH))
    reset_warm_state()
    usual = calls_of_a_turn(stack, accounts, anomaly.WITH)
    accounts.spend_per_record = 5_000  # a leaked key: 60,000 an hour, where the usual is 100
    leaking = calls_of_a_turn(stack, accounts, anomaly.WITH)
    assert leaking.get("dynamodb:Query", 0) > usual.get("dynamodb:Query", 0)
