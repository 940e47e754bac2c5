"""One page of a partition, newest first: what the API's paginated listings (history, sent alerts) read."""

from __future__ import annotations

from typing import Any


def key(name: str) -> Any:
    """A key condition builder (boto3's Key), imported on first use: boto3 is not on a handler's import path."""
    from boto3.dynamodb.conditions import Key  # noqa: PLC0415

    return Key(name)


def newest_first(table: Any, pk: str, condition: Any, limit: int, after: str | None) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` items of partition ``pk`` matching ``condition``, newest (highest sort key) first,
    resuming after the sort key ``after``; and whether there are more. ``pk`` is always the caller's
    own: a resume key cannot reach another partition."""
    # One more than asked, to know whether there is a next page without a second read.
    query: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": False, "Limit": limit + 1}
    if after:
        query["ExclusiveStartKey"] = {"pk": pk, "sk": after}
    items = table.query(**query).get("Items", [])
    return items[:limit], len(items) > limit
