"""An engine keeps the states it saved decoded: exactly what decoding their blobs gives."""

from __future__ import annotations

import msgspec

from engine.engine import Engine
from engine.state import (
    STATE_VERSION,
    HouseholdState,
    MemberState,
    SavedStates,
    decode_state,
    encode_state,
)
from engine.store import MemoryStore

from .test_models import engine_with, world


def household(cooldown: dict[str, int]) -> HouseholdState:
    return HouseholdState(
        v=STATE_VERSION,
        household="H1",
        region="130126",
        scheme="dibao",
        enrolled=10,
        members=[
            MemberState("psn:k1:b", 2, "spouse", 10, jobs={"e2": 12, "e1": 11}),
            MemberState("psn:k1:a", 1, "head", 10),
        ],
        base_month=0,
        cooldown=cooldown,
        models={"z": [1.0], "a": [2.0, 3.0]},
    )


def test_an_encoded_state_is_the_state_its_blob_decodes_to() -> None:
    """Lists sorted and dicts in key order in place, as the blob has them (types too:
    the JSON form shows dict order, ints against floats)."""
    state = household({"spending_spike": 40, "earner_death": 30})
    blob = encode_state(state)
    assert msgspec.json.encode(state) == msgspec.json.encode(decode_state(blob))
    assert list(state.cooldown) == ["earner_death", "spending_spike"]
    assert [m.position for m in state.members] == [1, 2]


def test_a_state_is_handed_out_once_and_only_for_its_own_blob() -> None:
    saved = SavedStates(limit=2)
    state = household({})
    blob = encode_state(state)
    saved.keep("H1", blob, state)
    assert saved.take("H1", bytes(blob)) is state  # an equal blob (from Redis: a new object)
    assert saved.take("H1", blob) is not state  # taken already: decoded
    saved.keep("H1", blob, state)
    changed = household({"earner_death": 1})
    assert saved.take("H1", encode_state(changed)) == changed  # another writer's: decoded
    for name in ("H1", "H2", "H3"):
        saved.keep(name, blob, state)
    assert saved.take("H1", blob) is not state  # the least recently saved went first
    assert saved.take("H3", blob) is state


def run(keep: int) -> tuple[list[bytes], dict[str, bytes]]:
    store = MemoryStore()
    engine: Engine = engine_with(store)
    engine.saved = SavedStates(keep)
    alerts = [msgspec.json.encode(a) for batch in world() for a in engine.process(batch).alerts]
    return alerts, store.values


def test_an_engine_decides_the_same_with_and_without_saved_states() -> None:
    assert run(keep=0) == run(keep=10_000)
