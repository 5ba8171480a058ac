"""One small simulated world (200 households, 24 months), read back through the connectors.

Generating and ingesting it takes about two seconds, so the tests share it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.files import Reject, ingest_file
from connectors.mapping import Catalog
from connectors.simulate import SimulatorSettings, WorldSummary, load_simulator_settings, simulate
from engine.events import Event, RecordUnreadable, RosterEnrolled
from engine.identity import Pseudonymiser

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "config" / "simulator.toml"
HOUSEHOLDS, MONTHS, SEED = 200, 24, 7
PSEUDONYMISER = Pseudonymiser("sim", b"simulation-test-key-0123")


@dataclass
class Ingested:
    """A world's files read by the real connector, in arrival order."""

    out: Path
    summary: WorldSummary
    events: list[Event] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    unreadable: list[RecordUnreadable] = field(default_factory=list)  # what rejects still say
    lines: int = 0  # data lines in the files (headers and blank lines excluded)
    labels: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    def kind(self, event: Event) -> str:
        return str(event.__struct_config__.tag)

    def of_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if self.kind(e) in kinds]

    def members(self) -> dict[str, dict[int, str]]:
        """household -> place -> person pseudonym, from the roster as delivered."""
        found: dict[str, dict[int, str]] = defaultdict(dict)
        for event in self.events:
            if isinstance(event, RosterEnrolled):
                for member in event.members:
                    found[event.household][int(member.position)] = member.person
        added = sorted(self.of_kind("roster.member_added"), key=lambda e: e.event_time)
        for event in added:
            places = found[event.household]  # type: ignore[attr-defined]
            if event.person not in places.values():  # type: ignore[attr-defined]
                places[len(places) + 1] = event.person  # type: ignore[attr-defined]
        return found

    def by_person(self) -> dict[str, list[Event]]:
        found: dict[str, list[Event]] = defaultdict(list)
        for event in self.events:
            person = getattr(event, "person", None)
            if person is not None:
                found[person].append(event)
        return found


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def ingest(out: Path, catalog: Catalog, summary: WorldSummary) -> Ingested:
    result = Ingested(out, summary)
    for entry in read_jsonl(out / "arrivals.jsonl"):
        path = out / entry["file"]
        received = dt.datetime.fromisoformat(entry["received_at"])
        data = path.read_bytes().splitlines()
        header = 1 if path.suffix == ".csv" else 0
        result.lines += sum(1 for line in data[header:] if line.strip())
        for item in ingest_file(path, catalog, PSEUDONYMISER, received_at=received):
            if isinstance(item, Reject):
                result.rejects.append(item)
            elif isinstance(item, RecordUnreadable):
                result.unreadable.append(item)
            else:
                result.events.append(item)
    result.labels = read_jsonl(out / "labels.jsonl")
    result.sources = read_jsonl(out / "income_sources.jsonl")
    return result


@pytest.fixture(scope="session")
def settings() -> SimulatorSettings:
    return load_simulator_settings(CONFIG)


@pytest.fixture(scope="session")
def world(settings: SimulatorSettings, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    out = tmp_path_factory.mktemp("world")
    summary = simulate(settings, HOUSEHOLDS, MONTHS, SEED, out)
    return ingest(out, settings.catalog, summary)
