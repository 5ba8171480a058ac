"""What a worker knows of the household topic from its own sends and decisions."""

from __future__ import annotations

from connectors.arrival_order import ArrivalOrder
from connectors.household_topic import HouseholdTopic
from engine.events import Event
from tests.engine.factory import person, wage

DEPT = ("dept.human_resources", 0)


def alone_with_ends(ends: dict[int, int]) -> HouseholdTopic:
    topic = HouseholdTopic()
    topic.assigned(alone=True)
    topic.decided(ends)  # (resumed where the saved positions say)
    topic.broker_ends(ends)
    return topic


def test_without_the_brokers_ends_redis_and_the_broker_answer() -> None:
    topic = HouseholdTopic()
    topic.assigned(alone=True)
    assert topic.decided_locally() is None
    topic.broker_ends({0: 5, 1: 0})
    assert topic.decided_locally() is False  # what others wrote before counts as crossing
    topic.decided({0: 5, 1: 0})
    assert topic.decided_locally() is True
    shared = HouseholdTopic()
    shared.assigned(alone=False)
    shared.broker_ends({0: 5})
    assert shared.decided_locally() is None and not shared.ends_known


def test_alone_only_what_may_reach_another_partition_holds_the_clock() -> None:
    topic = alone_with_ends({0: 10, 1: 20})
    topic.sent(0, 10, (), "2025-03-01T09:00:00+08:00")  # decided where it goes
    topic.sent(1, 20, ("p1",), "2025-03-01T09:00:00+08:00")  # a roster record
    assert topic.decided_locally() is True
    assert topic.undecided() == 2 and topic.behind([0, 1]) and not topic.behind([])
    topic.sent(1, 21, None, "2025-03-01T09:00:00+08:00")  # may be forwarded
    assert topic.decided_locally() is False
    topic.decided({1: 21})
    assert topic.decided_locally() is False  # offset 21 is not decided yet
    topic.decided({1: 22})
    assert topic.decided_locally() is True
    assert topic.undecided() == 1  # partition 0's message


def test_a_later_record_of_a_person_named_by_an_undecided_one_waits() -> None:
    topic = alone_with_ends({0: 0})
    first, later = "2025-03-01T09:00:00+08:00", "2025-03-02T09:00:00+08:00"
    named, other = person(1), person(2)
    topic.sent(0, 0, (named,), first)
    order: ArrivalOrder[Event] = ArrivalOrder()
    order.start(DEPT, 0)
    order.hold(DEPT, 0, later, wage(other, "2025-02", 100.0))
    assert topic.first_to_wait(order, later) is None  # nobody it names
    order.hold(DEPT, 1, later, wage(named, "2025-02", 100.0))
    assert topic.first_to_wait(order, later) == later
    topic.decided({0: 1})
    assert topic.first_to_wait(order, later) is None and topic.naming == {}


def test_with_other_workers_nothing_is_judged_locally() -> None:
    topic = alone_with_ends({0: 0})
    topic.sent(0, 0, (person(1),), "2025-03-01T09:00:00+08:00")
    topic.assigned(alone=False)
    assert topic.decided_locally() is None
    order: ArrivalOrder[Event] = ArrivalOrder()
    order.start(DEPT, 0)
    order.hold(DEPT, 0, "2025-03-02T09:00:00+08:00", wage(person(1), "2025-02", 1.0))
    assert topic.first_to_wait(order, "2025-03-02T09:00:00+08:00") is None
    topic.revoked([0])
    assert topic.decided_to == {} and not topic.alone
