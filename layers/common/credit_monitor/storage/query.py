"""One page of a partition, newest first: what the API's paginated listings (history, sent alerts) read."""

from __future__ import annotations

from typing import Any


def key(name: str) -> Any:
    """A key condition builder (boto3's Key), imported on first use: boto3 is not on a handler's import path."""
    from boto3.dynamodb.conditions import Key  # noqa: PLC0415

    return Key(name)


def newest_first(
    table: Any, pk: str, condition: Any, limit: int, after: str | None, **extra: Any
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """Up to ``limit`` items of partition ``pk`` matching ``condition``, newest (highest sort key) first,
    resuming after the sort key ``after``; whether there are more; and the sort key to resume after.

    ``pk`` is always the caller's own: a resume key cannot reach another partition. With a FilterExpression
    in ``extra``, DynamoDB reads ``Limit`` items and returns those that pass, so a sparse filter is read over
    up to FILTERED_READS queries of at least FILTERED_READ_ITEMS items each (each at most 1 MB) until the page
    is full: a page may still hold fewer (even none) and have a next one, but it never reads the partition whole.
    """
    query: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": False, **extra}
    if after:
        query["ExclusiveStartKey"] = {"pk": pk, "sk": after}
    if "FilterExpression" in extra:
        return _filtered(table, pk, query, limit)
    # One more than asked, to know whether there is a next page without a second read.
    query["Limit"] = limit + 1
    answer = table.query(**query)
    items = answer.get("Items", [])
    if len(items) > limit:
        return items[:limit], True, items[limit - 1]["sk"]
    if "LastEvaluatedKey" in answer:  # DynamoDB stopped at its 1 MB cap before the page was full: resume there
        return items, True, items[-1]["sk"] if items else answer["LastEvaluatedKey"]["sk"]
    return items, False, None


FILTERED_READS = 10  # queries one filtered page may take before it answers with what it has and a next key
FILTERED_READ_ITEMS = 100  # items each of them reads at least (a sent alert is ~2 KB: well under a 1 MB page)


def _filtered(table: Any, pk: str, query: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], bool, str | None]:
    found: list[dict[str, Any]] = []
    query["Limit"] = max(limit, FILTERED_READ_ITEMS)
    for _ in range(FILTERED_READS):
        answer = table.query(**query)
        found.extend(answer.get("Items", []))
        last = answer.get("LastEvaluatedKey")
        if len(found) >= limit:
            # More passed than the page holds: resume after the last one kept (more may pass after it).
            kept = found[:limit]
            more = len(found) > limit or last is not None
            return kept, more, kept[-1]["sk"] if more else None
        if last is None:
            return found, False, None
        query["ExclusiveStartKey"] = {"pk": pk, "sk": last["sk"]}
    return found, True, query["ExclusiveStartKey"]["sk"]
