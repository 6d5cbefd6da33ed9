"""The emulator's faster TransactWriteItems keeps moto's all-or-nothing semantics."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from debouncer.local.transactions import item_level_rollback


def _table() -> Any:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "buffer"}, "v": {"N": "1"}})
    return dynamodb


def _items(dynamodb: Any) -> list[dict[str, Any]]:
    return sorted(dynamodb.scan(TableName="t")["Items"], key=lambda item: item["sk"]["S"])


def _claim(version: str) -> list[dict[str, Any]]:
    return [
        {
            "Update": {
                "TableName": "t",
                "Key": {"pk": {"S": "a"}, "sk": {"S": "buffer"}},
                "UpdateExpression": "SET v = v + :one",
                "ConditionExpression": "v = :v",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":v": {"N": version}},
            }
        },
        {
            "Put": {
                "TableName": "t",
                "Item": {"pk": {"S": "a"}, "sk": {"S": "turn"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]


def test_a_cancelled_transaction_leaves_every_item_as_it_was() -> None:
    with item_level_rollback(), mock_aws():
        dynamodb = _table()
        before = _items(dynamodb)
        with pytest.raises(ClientError) as cancelled:
            # The update and the put would succeed; the condition check on a missing item cancels all three.
            dynamodb.transact_write_items(
                TransactItems=[
                    *_claim("1"),
                    {
                        "ConditionCheck": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "a"}, "sk": {"S": "x"}},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                ]
            )
        reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
        assert reasons == ["None", "None", "ConditionalCheckFailed"]
        assert _items(dynamodb) == before


def test_a_transaction_that_succeeds_applies_every_write() -> None:
    with item_level_rollback(), mock_aws():
        dynamodb = _table()
        dynamodb.transact_write_items(TransactItems=_claim("1"))
        assert [(i["sk"]["S"], i.get("v")) for i in _items(dynamodb)] == [("buffer", {"N": "2"}), ("turn", None)]
        with pytest.raises(ClientError):
            dynamodb.transact_write_items(TransactItems=_claim("1"))  # the version moved: nothing is written
        assert [(i["sk"]["S"], i.get("v")) for i in _items(dynamodb)] == [("buffer", {"N": "2"}), ("turn", None)]
