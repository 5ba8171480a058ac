"""Which partition of the household topic a record goes to, and under which key.

A county is the unit a worker owns: month decisions, the monthly alert cap
and the population models are per county, so every household of one county
is decided by the engine of one partition. Regions are spread over the
partitions in the order ``lifeline.toml`` lists them (region *i* on
partition *i mod N*), so adding a county at the end moves no other county.

Messages are keyed by household. A person record is resolved through the
person's roster facts; a record whose person is not (yet) in a household is
keyed ``person:<pseudonym>`` and sent to the partition of its own region,
where the engine holds it until an enrolment releases it. Where a record's
region is not its household's (a wage paid in another county), the engine
that receives it forwards it (:class:`engine.engine.Forward`).
End-of-batch records concern every household of a region, and a province's
cover many counties: they go to every partition.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import events as ev
from engine.config import Settings
from engine.directory import PersonIndex
from engine.timeline import day_index

PERSON_KEY_PREFIX = "person:"  # the key of a record whose person is in no household (yet)


@dataclass(frozen=True)
class Tick:
    """The stream's clock reached ``received_at``: sent to every partition.

    A partition's engine decides what is due when its clock moves on; a
    county whose own records are quiet still sees time pass through these,
    so every partition decides as one engine over the whole stream would.
    """

    received_at: str


@dataclass(frozen=True)
class Route:
    key: str
    partitions: tuple[int, ...]


class Router:
    def __init__(self, settings: Settings, partitions: int) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, not {partitions}")
        self.partitions = partitions
        self.horizon = settings.engine.pending_horizon_days
        self.home = {r.code: i % partitions for i, r in enumerate(settings.regions)}
        self.clock = ""  # the latest arrival time routed

    def tick(self, event: ev.Event) -> Tick | None:
        """A tick for every partition when ``event`` moves the clock on."""
        if event.received_at <= self.clock:
            return None
        self.clock = event.received_at
        return Tick(event.received_at)

    def partition_of(self, region: str) -> int:
        """The partition owning a monitored region (others: a stable spread)."""
        if region in self.home:
            return self.home[region]
        return sum(region.encode()) % self.partitions

    def owns(self, partition: int) -> Owns:
        return Owns(self, partition)

    def route(self, event: ev.Event, index: PersonIndex | None = None) -> Route:
        """Where an event goes; ``index`` is its person's roster facts, if any."""
        if isinstance(event, ev.BatchEnd):
            key = f"batch:{event.department}:{event.region}:{event.month}"
            return Route(key, tuple(range(self.partitions)))
        home = (self.partition_of(event.region),)
        household = getattr(event, "household", None)
        if household:
            return Route(str(household), home)
        person = str(getattr(event, "person", ""))
        found = index.resolve(day_index(event.event_time), self.horizon) if index else None
        return Route(found or f"{PERSON_KEY_PREFIX}{person}", home)


@dataclass(frozen=True)
class Owns:
    """The regions one partition's engine decides (a picklable predicate)."""

    router: Router
    partition: int

    def __call__(self, region: str) -> bool:
        return self.router.partition_of(region) == self.partition


def named(event: ev.Event | Tick) -> tuple[str, ...]:
    """The persons a record names: its person, an enrolment's members."""
    person = getattr(event, "person", None)
    members = tuple(m.person for m in event.members) if isinstance(event, ev.RosterEnrolled) else ()
    return (person, *members) if person else members


def persons(events: list[ev.Event]) -> list[str]:
    """The persons whose roster facts routing needs (records that name a person)."""
    return sorted({p for e in events if (p := getattr(e, "person", None))})
