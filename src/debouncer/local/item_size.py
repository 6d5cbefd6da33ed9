"""DynamoDB's 400 KB item limit as AWS applies it, installed by the local runtime while it runs.

moto 5.2.5 checks the limit each time it sets an attribute, but it counts the value being replaced as well as the new
one, against 405,000 bytes: an UpdateItem that rewrites a 200 KB list (list_append does) is refused at half the size
AWS allows, so locally a buffer failed long before the size flush that AWS would have reached. DynamoDB counts the
item as it is after the write, attribute names and values, up to 400 KB (409,600 bytes). Known gap: moto's ADD to a
set changes the set in place, unchecked (ours adds one message id at a time).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize

ITEM_LIMIT_BYTES = 400 * 1024


def _size(value: Any) -> int:
    return int(value.size()) if type(value) is DynamoType else bytesize(str(value))


def _set_within_limit(self: LimitedSizeDict, key: str, value: Any) -> None:
    others = sum(bytesize(name) + _size(current) for name, current in self.items() if name != key)
    if others + bytesize(key) + _size(value) > ITEM_LIMIT_BYTES:
        raise ItemSizeTooLarge
    dict.__setitem__(self, key, value)


@contextmanager
def dynamodb_item_limit() -> Iterator[None]:
    """While inside, moto refuses exactly the items DynamoDB refuses for their size."""
    original = LimitedSizeDict.__setitem__
    LimitedSizeDict.__setitem__ = _set_within_limit  # type: ignore[method-assign]
    try:
        yield
    finally:
        LimitedSizeDict.__setitem__ = original  # type: ignore[method-assign]
