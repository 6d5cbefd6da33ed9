"""The tenants, as DynamoDB items in the conversations table: one item per tenant (pk "tenants", sk its id, its
entry as JSON), written by Terraform (aws_dynamodb_table_item) or, locally, by the local runtime from TENANTS_FILE.

Each execution environment reads them with one Query and keeps them for CACHE_SECONDS: an apply that changes one
tenant changes one item, and every function sees it within the cache's age, with no restart and no code change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from debouncer.domain.errors import ConfigurationError, RetryableError
from debouncer.tenants import Tenancy, Tenant

TENANTS_PK = "tenants"
CACHE_SECONDS = 60.0


def tenant_item(tenant: Tenant) -> dict[str, Any]:
    """A tenant's item, as Terraform's aws_dynamodb_table_item writes it (main.tf) and the local runtime does."""
    return {"pk": {"S": TENANTS_PK}, "sk": {"S": tenant.id}, "tenant": {"S": tenant.model_dump_json()}}


class DynamoDbTenantCatalog:
    """The deployment's tenants, read from the table and cached per execution environment."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        max_age: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._table = table
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: Tenancy | None = None
        self._read_at = 0.0

    def tenancy(self) -> Tenancy:
        """The tenants as of at most max_age ago."""
        with self._lock:
            if self._cached is None or self._clock() - self._read_at >= self._max_age:
                self._cached = Tenancy(self._read())
                self._read_at = self._clock()
            return self._cached

    def _read(self) -> list[Tenant]:
        tenants: list[Tenant] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": TENANTS_PK}},
        }
        while True:
            try:
                page = self._client.query(**request)
            except ClientError as e:
                raise RetryableError(f"read tenants: {e.response.get('Error', {}).get('Code', 'error')}") from e
            for item in page.get("Items", []):
                try:
                    tenants.append(Tenant.model_validate_json(item["tenant"]["S"]))
                except (KeyError, ValidationError) as e:
                    # Terraform checks the shape before it writes: a bad item is a broken deployment, not a message.
                    raise ConfigurationError(f"tenant item {item.get('sk', {}).get('S', '?')!r} is not valid") from e
            if "LastEvaluatedKey" not in page:
                return tenants
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
