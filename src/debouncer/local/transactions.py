"""moto's TransactWriteItems with item-level rollback, installed by the emulator while it runs.

moto 5.2.5 deep-copies every table a transaction names before applying it, so it can roll back. That costs time in
proportion to the whole table, under the emulator's one lock: with the reliability load (a dedupe record per message,
a turn per burst) every claim took 50-300 ms and stalled every other AWS call; it was more than half the run's CPU.
This snapshots only the items the transaction touches and puts them back if it fails, which is all a rollback needs,
so a long-running `make run` does not slow down as its table grows.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_Snapshot = tuple[Table, dict[str, Any], Any]


def _touched(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[_Snapshot]:
    """(table, key, deep copy of the item or None) for every item the transaction writes or checks."""
    snapshots: list[_Snapshot] = []
    for entry in transact_items:
        if len(entry) != 1:
            continue  # moto rejects it before writing anything
        kind, operation = next(iter(entry.items()))
        name = operation.get("TableName")
        if name not in backend.tables:
            continue
        table = backend.tables[name]
        source = operation["Item"] if kind == "Put" else operation.get("Key", {})
        try:
            key = {attr: source[attr] for attr in (table.hash_key_attr, table.range_key_attr) if attr}
            current = backend.get_item(name, key)
        except Exception:  # noqa: S112 - a malformed key: moto fails the transaction before writing it
            continue
        snapshots.append((table, key, copy.deepcopy(current)))
    return snapshots


def _restore(snapshots: list[_Snapshot]) -> None:
    for table, key, previous in reversed(snapshots):
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        if range_value is None:
            if previous is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = previous
        elif previous is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = previous


@contextmanager
def item_level_rollback() -> Iterator[None]:
    """Install the patch; moto's own requests are serialized by the emulator's lock, so swapping is safe."""
    original = DynamoDBBackend.transact_write_items

    def deepcopy_except_tables(value: Any, memo: Any = None) -> Any:
        # moto's whole-table snapshot becomes the live table itself: its "rollback" is then a no-op, and ours
        # puts the touched items back.
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        snapshots = _touched(self, transact_items)
        setattr(models, "copy", SimpleNamespace(deepcopy=deepcopy_except_tables))  # noqa: B010 - moto's module
        try:
            original(self, transact_items)
        except BaseException:
            _restore(snapshots)
            raise
        finally:
            setattr(models, "copy", copy)  # noqa: B010

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
