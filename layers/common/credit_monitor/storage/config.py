"""Configuration kept in the table: the last thresholds document that was accepted.

While the SSM parameter holds a malformed document, the aggregator keeps using this one.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from credit_monitor.storage.items import CONFIG_KIND, THRESHOLDS_KEY
from credit_monitor.storage.query import key


class ConfigStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def last_good_thresholds(self) -> str | None:
        # A Query rather than a GetItem: the balance API reads this too, and Query is all its role may do.
        condition = key("pk").eq(THRESHOLDS_KEY["pk"]) & key("sk").eq(THRESHOLDS_KEY["sk"])
        items = self._table.query(KeyConditionExpression=condition, ConsistentRead=True).get("Items", [])
        return items[0]["document"] if items else None

    def remember_thresholds(self, document: str, digest: str) -> bool:
        """Store ``document`` as the last good one unless it already is; True when it was written."""
        try:
            self._table.put_item(
                Item={**THRESHOLDS_KEY, "kind": CONFIG_KIND, "document": document, "digest": digest},
                ConditionExpression="attribute_not_exists(digest) OR digest <> :digest",
                ExpressionAttributeValues={":digest": digest},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True
