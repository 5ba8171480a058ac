"""The worker's pipeline without Kafka: ticks on the household topic, outboxes."""

from __future__ import annotations

import msgspec
import pytest

from connectors.department_topics import DepartmentTopics
from connectors.files import Reject
from connectors.mapping import Catalog
from connectors.pipeline import TICK_KEY, Message, Outgoing, Pipeline, Tally, Topics
from detectors.catalog import load_engine_config
from engine.identity import Pseudonymiser
from engine.routing import Tick
from engine.store import MemoryStore
from tests.engine.factory import REGION, ROOT, enrol, event, person, wage


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


def test_a_failed_step_leaves_its_alerts_to_the_next_step_and_a_new_owner_sends_them_too(
    pipeline: Pipeline,
) -> None:
    head, spouse = person(1), person(2)
    records = [enrol("H1", [(head, "head"), (spouse, "spouse")])]
    records += [wage(head, f"2025-0{m}", 3200.0) for m in range(1, 7)]
    records.append(event("registration.death", "2025-07-03", person=head))
    partition = pipeline.router.partition_of(REGION)

    def alerts(out: list[Outgoing]) -> list[bytes]:
        return [o.value for o in out if o.topic == "t.alerts"]

    raised, households = pipeline.decide(partition, records, Tally())
    assert alerts(raised) and households == ["H1"]
    # The step stopped before its outbox was emptied (Redis gone, say): the
    # engine will not raise these alerts again, so the next step sends them.
    pipeline.forget(partition)
    again, households = pipeline.decide(partition, [], Tally())
    assert alerts(again) == alerts(raised) and households == ["H1"]
    # So does a worker that takes the partition over.
    successor = Pipeline("app", pipeline.config, pipeline.departments, pipeline.store, 4,
                         topics=Topics("t."))  # fmt: skip
    assert alerts(successor.decide(partition, [], Tally())[0]) == alerts(raised)
    # Once the outbox is emptied, nothing is left to send.
    pipeline.published({partition: households}, {})
    pipeline.forget(partition)
    assert alerts(pipeline.decide(partition, [], Tally())[0]) == []


def test_a_department_message_fetched_twice_is_taken_once(pipeline: Pipeline) -> None:
    """A partition fetched again from the worker's position (after a quiet spell, or a
    batch taken across a rebalance) hands over records already read: they are skipped,
    so a reject is not a dead letter twice and an event is not held twice."""
    topic = "t.dept.human_resources"
    first = [Message(topic, 1, offset, None, b"not a line message") for offset in (4, 5)]
    tally = Tally()
    assert len(pipeline.take(first, tally)) == 2
    again = [Message(topic, 1, offset, None, b"not a line message") for offset in (4, 5, 6)]
    dead = pipeline.take(again, tally)
    assert [msgspec.json.decode(d.value, type=Reject).position for d in dead] == [6]
    assert sum(tally.records_in.values()) == 3
    assert pipeline.order.next_read[(topic, 1)] == 7
