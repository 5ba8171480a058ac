"""The worker's partitions, in one process: for replays and tests.

:class:`Partitioned` routes each batch as the worker's router does
(:mod:`engine.routing`), gives every partition's engine its share, and sends
forwarded records on to their owners until none is left. A replay through it
decides exactly what the same records decide through the worker's partitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from engine import events as ev
from engine.directory import decode_index
from engine.engine import Engine, StepResult
from engine.routing import Owns, Router, persons
from engine.store import Store, person_key

MakeEngine = Callable[[str, Owns], Engine]  # (scope, owns) -> engine


def scope_of(partition: int) -> str:
    return f"p{partition}"


class Partitioned:
    def __init__(self, router: Router, store: Store, make: MakeEngine) -> None:
        self.router = router
        self.store = store
        self.engines = [make(scope_of(p), router.owns(p)) for p in range(router.partitions)]

    def route(self, batch: Sequence[ev.Event]) -> list[list[ev.Event]]:
        """Each partition's share of the batch, in batch order."""
        names = persons(list(batch))
        blobs = self.store.get_many([person_key(p) for p in names])
        indexes = {n: decode_index(b) for n, b in zip(names, blobs, strict=True) if b}
        shares: list[list[ev.Event]] = [[] for _ in self.engines]
        for event in batch:
            route = self.router.route(event, indexes.get(getattr(event, "person", "")))
            for partition in route.partitions:
                shares[partition].append(event)
        return shares

    def process(self, batch: Sequence[ev.Event]) -> StepResult:
        combined = StepResult()
        shares = self.route(batch)
        rounds = 0
        while any(shares):
            rounds += 1
            if rounds > len(self.engines) + 1:  # a forward goes straight to its owner
                raise RuntimeError("records still forwarded after every partition had them")
            forwarded: list[list[ev.Event]] = [[] for _ in self.engines]
            for partition, share in enumerate(shares):
                if share:
                    result = self.engines[partition].process(share)
                    for forward in result.forward:
                        forwarded[self.router.partition_of(forward.region)].append(forward.event)
                    result.forward = []
                    combined.merge(result)
            shares = forwarded
        return combined
