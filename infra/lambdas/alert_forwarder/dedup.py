"""Drop duplicate deliveries by SNS MessageId: a conditional write to a small DynamoDB table.

SNS delivers at least once, and SQS may hand a message to two invocations; the SNS MessageId is
the same in every copy. A record is claimed ("sending", with a lease) before the post and marked
"sent" after it; a failed post releases the claim so the retry may post. A claim whose lease ran
out (the function died mid-post) can be taken over. Records expire through the table's TTL once
no copy of the message can still be in the queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

Claim = Literal["claimed", "duplicate", "in-progress"]


class Deduplicator:
    def __init__(
        self, client: Any, table: str, *, lease_seconds: int, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.client, self.table = client, table
        self.lease, self.ttl, self.clock = lease_seconds, ttl_seconds, clock

    def claim(self, message_id: str) -> Claim:
        now = int(self.clock())
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "message_id": {"S": message_id},
                    "state": {"S": "sending"},
                    "lease_until": {"N": str(now + self.lease)},
                    "expires_at": {"N": str(now + self.ttl)},
                },
                ConditionExpression="attribute_not_exists(message_id) OR (#s = :sending AND lease_until < :now)",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":sending": {"S": "sending"}, ":now": {"N": str(now)}},
            )
            return "claimed"
        except self.client.exceptions.ConditionalCheckFailedException:
            item = self.client.get_item(
                TableName=self.table, Key={"message_id": {"S": message_id}}, ConsistentRead=True
            )
            state = item.get("Item", {}).get("state", {}).get("S")
            return "duplicate" if state == "sent" else "in-progress"

    def sent(self, message_id: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key={"message_id": {"S": message_id}},
            UpdateExpression="SET #s = :sent",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":sent": {"S": "sent"}},
        )

    def release(self, message_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"message_id": {"S": message_id}})
