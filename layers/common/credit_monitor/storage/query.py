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
    in ``extra``, DynamoDB reads ``limit`` items and returns those that pass: a page may hold fewer (even
    none) and still have a next one, and it never reads more than one page (1 MB) however few pass.
    """
    query: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": False, **extra}
    if after:
        query["ExclusiveStartKey"] = {"pk": pk, "sk": after}
    if "FilterExpression" in extra:
        query["Limit"] = limit
        answer = table.query(**query)
        last = answer.get("LastEvaluatedKey")
        return answer.get("Items", []), last is not None, last["sk"] if last else None
    # One more than asked, to know whether there is a next page without a second read.
    query["Limit"] = limit + 1
    items = table.query(**query).get("Items", [])
    more = len(items) > limit
    return items[:limit], more, items[limit - 1]["sk"] if more else None
