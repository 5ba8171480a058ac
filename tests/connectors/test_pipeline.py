"""The worker's pipeline without Kafka: ticks on the household topic."""

from __future__ import annotations

import msgspec
import pytest

from connectors.department_topics import DepartmentTopics
from connectors.files import Reject
from connectors.mapping import Catalog
from connectors.pipeline import TICK_KEY, Message, Pipeline, Tally, Topics
from detectors.catalog import load_engine_config
from engine.identity import Pseudonymiser
from engine.routing import Tick
from engine.store import MemoryStore
from tests.engine.factory import ROOT, wage


@pytest.fixture
def pipeline() -> Pipeline:
    departments = DepartmentTopics(
        Catalog.load(ROOT / "config" / "connectors"),
        Pseudonymiser("t1", b"pipeline-key-0123456789"),
    )
    config = load_engine_config(ROOT / "config")
    return Pipeline("app", config, departments, MemoryStore(), 4, topics=Topics("t."))


def on_events_topic(key: bytes, value: bytes, offset: int = 7) -> Message:
    return Message("t.events.by_household", 2, offset, key, value)


def test_the_router_sends_a_tick_to_every_partition_when_the_clock_moves_on(
    pipeline: Pipeline,
) -> None:
    record = wage("psn:t1:aaaaaaaaaaaaaaaaaaaaaaaa", "2025-03", 3000.0)
    first = pipeline.router.tick(record)
    assert first == Tick(record.received_at)
    assert pipeline.router.tick(record) is None  # same arrival time: no second tick
    events, dead = pipeline.decode(
        [on_events_topic(TICK_KEY, msgspec.json.encode({"tick": record.received_at}))], Tally()
    )
    assert events == [Tick(record.received_at)] and dead == []


@pytest.mark.parametrize(
    "value",
    [b"", b"not json", b'{"tick": 9999}', b'{"tick": "tomorrow"}', b'{"tick": "2025-03-01"}',
     b'{"tick": "2025-03-01T00:00:00+08:00", "extra": 1}'],
)  # fmt: skip
def test_a_tick_that_is_not_a_timestamp_is_a_dead_letter(pipeline: Pipeline, value: bytes) -> None:
    tally = Tally()
    events, dead = pipeline.decode([on_events_topic(TICK_KEY, value)], tally)
    assert events == [] and len(dead) == 1
    reject = msgspec.json.decode(dead[0].value, type=Reject)
    assert dead[0].topic == "t.rejects"
    assert reject.reason_code == "bad_event" and reject.position == 7
    assert tally.rejects["bad_event"] == 1
