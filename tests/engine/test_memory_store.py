"""The store contract on the in-process store."""

from __future__ import annotations

import pytest

from engine.store import MemoryStore

from .store_contract import StoreContract


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


class TestMemoryStore(StoreContract):
    pass
