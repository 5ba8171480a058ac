"""The store contract on the in-process store."""

from __future__ import annotations

import pytest

from engine.store import MemoryStore, Workspace, WriteGroup

from .store_contract import StoreContract


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


class TestMemoryStore(StoreContract):
    pass


def test_the_last_index_operation_of_a_step_counts() -> None:
    """A household taken off an index and put back in the same step stays on it
    (a late record re-marks a month just decided again), and the reverse."""
    store = MemoryStore()
    store.write([WriteGroup({}, index_add=[("redo:{p0}", "H1")])])
    ws = Workspace(store)
    ws.index_remove("redo:{p0}", "H1")
    ws.index_add("redo:{p0}", "H1")
    ws.index_add("redo:{p0}", "H2")
    ws.index_remove("redo:{p0}", "H2")
    ws.commit()
    assert store.index_members("redo:{p0}") == ["H1"]
