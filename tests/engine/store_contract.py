"""The state store contract: every backend passes the same tests.

Subclassed by tests/engine/test_memory_store.py (in-process) and by
tests/integration/test_redis_store.py (the real Redis server).
"""

from __future__ import annotations

import copy

import pytest

from engine.store import Store, StoreConflict, WriteGroup, household_key, region_index

from .factory import batch_end, engine, enrol, event, person, wage


class StoreContract:
    def test_missing_keys_read_as_none_in_order(self, store: Store) -> None:
        store.write([WriteGroup({"hh:{A}": b"a"}), WriteGroup({"hh:{C}": b"c"})])
        assert store.get_many(["hh:{C}", "hh:{B}", "hh:{A}"]) == [b"c", None, b"a"]
        assert store.get_many([]) == []

    def test_overwrite_and_delete(self, store: Store) -> None:
        store.write([WriteGroup({"hh:{A}": b"1", "hh:{A}:o": b"x"})])
        store.write([WriteGroup({"hh:{A}": b"2", "hh:{A}:o": None})])
        assert store.get_many(["hh:{A}", "hh:{A}:o"]) == [b"2", None]

    def test_binary_values_survive(self, store: Store) -> None:
        blob = bytes(range(256)) * 3
        store.write([WriteGroup({"hh:{Z}": blob})])
        assert store.get_many(["hh:{Z}"]) == [blob]

    def test_indexes_are_sorted_sets(self, store: Store) -> None:
        index = region_index("130126")
        store.write([WriteGroup({}, [(index, "H2"), (index, "H1"), (index, "H2")])])
        store.write([WriteGroup({}, [(index, "H3")], [(index, "H2")])])
        assert store.index_members(index) == ["H1", "H3"]
        assert store.index_members(region_index("999999")) == []

    def test_a_conditional_group_is_written_only_if_its_keys_are_unchanged(
        self, store: Store
    ) -> None:
        store.write([WriteGroup({"ps:{P}": b"facts"})])
        store.write(
            [
                WriteGroup(
                    {"pd:{P}": b"held"},
                    [("pending:{p0}", "P")],
                    expect={"ps:{P}": b"facts", "pd:{P}": None},
                )
            ]
        )
        assert store.get_many(["pd:{P}"]) == [b"held"]
        assert store.index_members("pending:{p0}") == ["P"]
        with pytest.raises(StoreConflict) as raised:
            store.write(
                [
                    WriteGroup({"pd:{P}": None}, expect={"ps:{P}": None, "pd:{P}": b"held"}),
                    WriteGroup({"pd:{Q}": b"q"}, expect={"ps:{Q}": None}),
                    WriteGroup({"hh:{H}": b"h"}),
                ]
            )
        assert raised.value.tags == ["P"]
        # The refused group left everything as it was; the others were written.
        assert store.get_many(["ps:{P}", "pd:{P}", "pd:{Q}", "hh:{H}"]) == [
            b"facts", b"held", b"q", b"h",
        ]  # fmt: skip

    def test_the_engine_gives_the_same_state_on_this_store(self, store: Store) -> None:
        head, spouse = person(1), person(2)
        history = [enrol("H1", [(head, "head"), (spouse, "spouse")])]
        history += [wage(head, m, 3000.0) for m in ("2025-01", "2025-02", "2025-03")]
        history += [
            batch_end("2025-01", "2025-02-10"),
            event("registration.death", "2025-04-02", person=head),
        ]
        on_store = engine(store).process(copy.deepcopy(history))
        from engine.store import MemoryStore

        reference_store = MemoryStore()
        reference = engine(reference_store).process(history)
        assert [a.alert_id for a in on_store.alerts] == [a.alert_id for a in reference.alerts]
        keys = sorted(reference_store.values)
        assert store.get_many(keys) == [reference_store.values[k] for k in keys]
        assert household_key("H1") in keys
        assert store.index_members(region_index("130126")) == ["H1"]
