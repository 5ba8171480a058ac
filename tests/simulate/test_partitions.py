"""The worker's partitions decide what one engine decides, and sharing keys is safe."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby

import pytest

from detectors.catalog import load_engine_config
from engine.alert import Alert
from engine.events import Event
from engine.partitioned import Partitioned
from engine.routing import Router
from engine.store import MemoryStore, StoreConflict, WriteGroup, pending_key
from tests.engine.factory import REGION, enrol, person, wage

from .conftest import REPO_ROOT, Ingested

CONFIG = load_engine_config(REPO_ROOT / "config")


def deliveries(world: Ingested) -> list[list[Event]]:
    """The world's records in arrival batches, as a replay delivers them."""
    return [list(batch) for _, batch in groupby(world.events, key=lambda e: e.received_at)]


def standing(alerts: Sequence[Alert]) -> dict[str, tuple[str, str]]:
    latest = {a.alert_id: a for a in alerts}
    return {i: (a.status, a.detector) for i, a in latest.items()}


def households(store: MemoryStore, models: bool = True) -> dict[str, bytes]:
    """Household, person and model state (scope bookkeeping left out).

    A county model restored from its checkpoint scores and learns exactly as
    the one that never left memory, but River's objects pickle to other bytes
    once they went through a pickle (shared references differ), so a
    restarted run's model checkpoints are compared through what they decide:
    the households' alerts.
    """
    prefixes = ("hh:", "ps:", "md:") if models else ("hh:", "ps:")
    return {k: v for k, v in store.values.items() if k.startswith(prefixes)}


@pytest.fixture(scope="module")
def one_engine(world: Ingested) -> tuple[MemoryStore, list[Alert]]:
    store = MemoryStore()
    engine = CONFIG.engine(store)
    alerts = [a for batch in deliveries(world) for a in engine.process(batch).alerts]
    return store, alerts


@pytest.mark.parametrize("partitions", [1, 2, 3])
def test_partitions_decide_what_one_engine_decides(
    world: Ingested, one_engine: tuple[MemoryStore, list[Alert]], partitions: int
) -> None:
    store = MemoryStore()
    router = Router(CONFIG.settings, partitions)
    runner = Partitioned(
        router, store, lambda scope, owns: CONFIG.engine(store, scope=scope, owns=owns)
    )
    alerts = [a for batch in deliveries(world) for a in runner.process(batch).alerts]
    reference_store, reference_alerts = one_engine
    assert len(reference_alerts) > 20
    assert standing(alerts) == standing(reference_alerts)
    assert households(store) == households(reference_store)
    # Every region is decided by exactly one partition's engine.
    owners = [
        [r.code for r in CONFIG.settings.regions if router.owns(p)(r.code)]
        for p in range(partitions)
    ]
    assert sorted(code for codes in owners for code in codes) == sorted(
        r.code for r in CONFIG.settings.regions
    )


class Rival(MemoryStore):
    """A store where another worker's batch lands just before our first write."""

    def __init__(self) -> None:
        super().__init__()
        self.rival: Callable[[], object] | None = None

    def write(self, groups: Sequence[WriteGroup]) -> None:
        rival, self.rival = self.rival, None
        if rival is not None:
            rival()
        super().write(groups)


def test_a_record_held_while_another_partition_enrols_its_person_is_not_stranded() -> None:
    """Partition 0 holds a wage of an unknown person; partition 1 enrols that person
    between partition 0's read and its write. The hold loses the race, the batch
    runs again, and the wage reaches the household through its owner."""
    store = Rival()
    router = Router(CONFIG.settings, 2)
    p0, p1 = (CONFIG.engine(store, scope=f"p{p}", owns=router.owns(p)) for p in (0, 1))
    other = CONFIG.settings.regions[1].code
    assert router.partition_of(other) == 1 and router.partition_of(REGION) == 0
    worker = person(5, other)
    store.rival = lambda: p1.process([enrol("H9", [(worker, "head")], region=other)])
    result = p0.process([wage(worker, "2025-02", 2500.0)])

    assert result.counts["store_conflicts"] == 1
    assert result.counts["held"] == 1  # the first run held it; its write lost
    assert store.values.get(pending_key(worker)) is None  # nothing stranded
    assert [f.household for f in result.forward] == ["H9"]  # the second run forwards it
    applied = p1.process([f.event for f in result.forward])
    assert applied.counts["applied:new"] == 1


def test_a_conditional_write_is_refused_when_the_key_changed() -> None:
    store = MemoryStore()
    store.write([WriteGroup({"ps:{x}": b"rival"})])
    with pytest.raises(StoreConflict) as raised:
        store.write(
            [
                WriteGroup({"ps:{x}": b"mine"}, expect={"ps:{x}": None}),
                WriteGroup({"hh:{y}": b"other"}),
            ]
        )
    assert raised.value.tags == ["x"]
    assert store.values == {"ps:{x}": b"rival", "hh:{y}": b"other"}


class Dying(MemoryStore):
    """Dies half way through the first write that decides a month for many households."""

    atomic = False  # like a Redis Cluster, whose slots are written one by one

    def __init__(self, keep: float) -> None:
        super().__init__()
        self.keep, self.died = keep, False

    def write(self, groups: Sequence[WriteGroup]) -> None:
        households = sum(1 for g in groups if any(k.startswith("hh:") for k in g.values))
        decides = any(k.startswith("rg:") for g in groups for k in g.values)
        if not self.died and decides and households > 50:
            self.died = True
            super().write(groups[: int(len(groups) * self.keep)])
            raise KeyboardInterrupt("killed half way through a write")
        super().write(groups)


@pytest.mark.parametrize("keep", [0.01, 0.5, 0.99])
def test_a_step_killed_half_way_through_its_writes_is_finished_by_the_next_engine(
    world: Ingested, keep: float
) -> None:
    batches = deliveries(world)
    store = Dying(keep)
    engine = CONFIG.engine(store, scope="p0")
    done = 0
    with pytest.raises(KeyboardInterrupt):
        for done, batch in enumerate(batches):  # noqa: B007
            engine.process(batch, settle=False)
    assert store.died and done < len(batches) - 1
    again = CONFIG.engine(store, scope="p0")  # a new process, from the last saved position
    for batch in batches[done:]:
        again.process(batch, settle=False)
    clean = MemoryStore()
    reference = CONFIG.engine(clean, scope="p0")
    for batch in batches:
        reference.process(batch, settle=False)
    assert households(store, models=False) == households(clean, models=False)
