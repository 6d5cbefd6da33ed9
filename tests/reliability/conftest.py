"""Fixtures of the reliability suite (its profiles and seeds live in tests.reliability.profiles)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.transactions import item_level_rollback


@pytest.fixture(autouse=True)
def _fast_transactions() -> Iterator[None]:
    """moto's TransactWriteItems without its whole-table copy (see tests.reliability.transactions)."""
    with item_level_rollback():
        yield
