"""The worker's pipeline without Kafka: ticks on the household topic, outboxes."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from connectors.department_topics import DepartmentTopics
from connectors.files import Reject
from connectors.mapping import Catalog
from connectors.pipeline import TICK_KEY, Message, Outgoing, Pipeline, Tally, Topics
from detectors.catalog import load_engine_config
from engine.identity import Pseudonymiser, check_character
from engine.routing import Tick
from engine.store import MemoryStore
from tests.engine.factory import REGION, ROOT, batch_end, enrol, event, person, wage


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


def test_a_rejected_wage_row_is_a_dead_letter_and_an_event_keyed_as_the_wage(
    pipeline: Pipeline,
) -> None:
    first17 = "13012619800101123"
    id_number = first17 + check_character(first17)
    who = pipeline.departments.pseudonymiser.pseudonym(id_number)
    pipeline.route([enrol("H7", [(who, "head")])])  # (the router's clock)
    pipeline.engine(pipeline.router.partition_of(REGION)).process([enrol("H7", [(who, "head")])])

    def line(offset: int, amount: str) -> Message:
        row = {"AAC002": id_number, "AAC003": "张三", "AAE003": "202603", "AAE180": amount,
               "AAB001": "EMP-1", "AAB301": REGION}  # fmt: skip
        value = orjson.dumps({"v": 1, "file": "si_contrib_202603.csv", "line": offset + 2,
                              "layout": "contributions", "row": row,
                              "received_at": "2026-04-03T09:30:00+08:00"})  # fmt: skip
        return Message("dept.human_resources", 0, offset, b"k", value)

    tally = Tally()
    dead = pipeline.take([line(0, "4500.00"), line(1, "45OO.00")], tally)
    assert [(o.topic, o.key) for o in dead] == [("t.rejects", b"dept.human_resources/0@1")]
    assert tally.rejects == {"bad_number": 1} and tally.records_in == {"human_resources": 2}
    events, _ = pipeline.release({("dept.human_resources", 0): 2}, None)
    assert [type(e).__name__ for e in events] == ["Wage", "RecordUnreadable"]
    assert pipeline.order.resume_points() == {("dept.human_resources", 0): 2}
    # Pseudonymised and routed like the wage it would have been: to the household.
    out = [o for o in pipeline.route(events) if o.key != TICK_KEY]
    assert [(o.key, o.partition) for o in out] == [(b"H7", out[0].partition)] * 2
    assert b"130126198001011" not in out[1].value
    # Read again (a restart before the position was saved): no second dead letter.
    again = Pipeline("app", pipeline.config, pipeline.departments, pipeline.store, 4,
                     topics=Topics("t."))  # fmt: skip
    again.order.start(("dept.human_resources", 0), 0, read_before=2)
    assert again.take([line(0, "4500.00"), line(1, "45OO.00")], Tally()) == []
    assert [type(e).__name__ for e in again.release({("dept.human_resources", 0): 2}, None)[0]] == [
        "Wage", "RecordUnreadable"]  # fmt: skip


def reach(pipeline: Pipeline, out: list[Outgoing]) -> list[tuple[str, tuple[str, ...] | None]]:
    """(kind, reach) of each routed record (ticks left out)."""
    return [(orjson.loads(o.value)["kind"], o.reach) for o in out if o.key != TICK_KEY]


def test_a_record_reaches_beyond_its_partition_only_where_its_decision_can(
    pipeline: Pipeline,
) -> None:
    head, stranger, newcomer = person(1), person(2), person(3)
    pipeline.decide(pipeline.router.partition_of(REGION), [enrol("H1", [(head, "head")])], Tally())
    assert pipeline.homes == {"H1": REGION}  # learned from the decision
    elsewhere = "130424"  # another county, on another partition
    assert pipeline.router.partition_of(elsewhere) != pipeline.router.partition_of(REGION)
    records = [
        enrol("H2", [(newcomer, "head")]),  # writes the roster facts its member's records need
        wage(head, "2025-03", 3000.0),  # H1's own county: decided where it goes
        event("income.wage", "2025-03-01", "2025-03-28", region=elsewhere, person=head,
              month="2025-03", amount=900.0, employer="E2"),  # forwarded to H1's county
        wage(stranger, "2025-03", 2000.0),  # no household: held until an enrolment of theirs
        event("roster.exited", "2025-03-20", household="H1", reason="moved"),  # members unnamed
        batch_end("2025-03", "2025-04-10"),  # every partition keeps its own calendars
    ]  # fmt: skip
    assert reach(pipeline, pipeline.route(records)) == [
        ("roster.enrolled", (newcomer,)),
        ("income.wage", ()),
        ("income.wage", None),
        ("income.wage", (stranger,)),
        ("roster.exited", None),
        *[("batch.end", ())] * 4,
    ]


def test_a_pipeline_learns_the_households_counties_from_the_store(pipeline: Pipeline) -> None:
    pipeline.decide(
        pipeline.router.partition_of(REGION), [enrol("H1", [(person(1), "head")])], Tally()
    )
    fresh = Pipeline(
        "app", load_engine_config(ROOT / "config"), pipeline.departments, pipeline.store, 4
    )
    record = wage(person(1), "2025-03", 3000.0)
    assert reach(fresh, fresh.route([record])) == [("income.wage", None)]  # not known yet
    fresh.learn_homes()
    assert fresh.homes == {"H1": REGION}
    assert reach(fresh, fresh.route([record])) == [("income.wage", ())]


def test_one_arrival_times_lines_go_on_in_file_and_line_order_whatever_partition_has_them(
    pipeline: Pipeline,
) -> None:
    """The replay applies a delivery's files by name, each line after line; the worker
    reads them as the ingester keyed them to partitions, and lets them go in that order."""
    first17 = "13012619800101123"
    id_number = first17 + check_character(first17)

    def line(partition: int, offset: int, file: str, number: int, amount: str) -> Message:
        row = {"AAC002": id_number, "AAC003": "张三", "AAE003": "202603", "AAE180": amount,
               "AAB001": "EMP-1", "AAB301": REGION}  # fmt: skip
        value = orjson.dumps({"v": 1, "file": file, "line": number, "layout": "contributions",
                              "row": row, "received_at": "2026-04-03T09:30:00+08:00"})  # fmt: skip
        return Message("dept.human_resources", partition, offset, b"k", value)

    messages = [
        line(0, 0, "si_contrib_202603b.csv", 2, "4700.00"),
        line(0, 1, "si_contrib_202603.csv", 3, "4600.00"),
        line(1, 0, "si_contrib_202603.csv", 2, "4500.00"),
    ]
    pipeline.take(messages, Tally())
    ends = {("dept.human_resources", 0): 2, ("dept.human_resources", 1): 1}
    events, _ = pipeline.release(ends, None)
    assert [getattr(e, "amount", None) for e in events] == [4500.0, 4600.0, 4700.0]
