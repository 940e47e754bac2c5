"""The local stack answers as moto does: its shortcut for DynamoDB items changes no answer."""

import boto3
from moto import mock_aws
from moto.core.serialize import BaseJSONSerializer

from devstack.moto_stack import _copy_attribute_values_through

ITEM = {
    "pk": {"S": "ACCOUNTS"},
    "sk": {"S": "crun#prod#balance"},
    "available": {"N": "12.5"},
    "ok": {"BOOL": True},
    "gone": {"NULL": True},
    "breakdown": {"M": {"monthly": {"N": "3"}, "plans": {"L": [{"S": "pro"}, {"M": {"n": {"N": "1"}}}]}}},
    "tags": {"SS": ["a", "b"]},
    "sizes": {"NS": ["1", "2"]},
    "blob": {"B": b"\x00\x01"},
    "blobs": {"BS": [b"\x02"]},
}


def _answers() -> dict:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        keys = [("pk", "HASH"), ("sk", "RANGE")]
        client.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
        )
        client.put_item(TableName="t", Item=ITEM)
        key = {"pk": ITEM["pk"], "sk": ITEM["sk"]}
        return {
            "get": client.get_item(TableName="t", Key=key)["Item"],
            "query": client.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": ITEM["pk"]})["Items"],
            "projected": client.query(
                TableName="t",
                KeyConditionExpression="pk = :p",
                ProjectionExpression="breakdown, #b",
                ExpressionAttributeNames={"#b": "blob"},
                ExpressionAttributeValues={":p": ITEM["pk"]},
            )["Items"],
        }


def test_items_copied_through_are_the_items_moto_would_answer(monkeypatch):
    current = BaseJSONSerializer._serialize_type_structure  # a local stack started earlier may have copied through
    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure", getattr(current, "moto_s_own", current))
    moto_s_own = _answers()
    _copy_attribute_values_through()
    assert getattr(BaseJSONSerializer._serialize_type_structure, "copies_attribute_values", False)
    assert _answers() == moto_s_own
    assert moto_s_own["get"] == ITEM
