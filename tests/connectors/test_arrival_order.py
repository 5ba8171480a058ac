"""Department records released in arrival order, whatever order partitions are read in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.arrival_order import ArrivalOrder, file_rank, held_back_by

A, B, C = ("dept.a", 0), ("dept.b", 0), ("dept.b", 1)


def day(n: int) -> str:
    return f"2026-01-{n:02d}T21:00:00+08:00"


def test_nothing_goes_while_a_partition_with_records_to_read_has_handed_over_none() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    order.start(B, 0)
    order.hold(A, 0, day(1), "a1")
    assert order.release({A: 1, B: 5}) == []
    assert order.watermark({A: 1, B: 5}) is None
    order.hold(B, 0, day(2), "b2")
    # B's next records arrived on day 2 or later: day 1 may go, and day 2 once B
    # can bring no more of it
    assert order.release({A: 1, B: 5}) == ["a1"]
    order.hold(B, 1, day(4), "b4")
    order.hold(A, 1, day(3), "a3")
    assert order.release({A: 3, B: 5}) == ["b2"]  # A may still bring a day-3 record
    assert order.resume_points() == {A: 1, B: 1}  # a3 and b4 are held: read again after a restart


def test_the_caller_can_hold_back_an_arrival_time_and_everything_after_it() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    for offset, (n, item) in enumerate([(1, "a1"), (2, "a2"), (2, "a2b"), (3, "a3")]):
        order.hold(A, offset, day(n), item)
    assert sorted(order.waiting(day(2))) == [(day(1), "a1"), (day(2), "a2"), (day(2), "a2b")]
    assert order.release({A: 4}, before=day(2)) == ["a1"]
    assert order.release({A: 4}, day(2), before=day(3)) == ["a2", "a2b"]
    assert order.resume_points() == {A: 3}  # a3 waits, and is read again after a restart
    assert order.release({A: 4}) == ["a3"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 9), st.sampled_from([A, B, C])), max_size=40),
       st.integers(0, 10))  # fmt: skip
def test_waiting_finds_every_record_held_by_then_and_no_other(
    records: list[tuple[int, tuple[str, int]]], until: int
) -> None:
    order: ArrivalOrder[int] = ArrivalOrder()
    for offset, (n, tp) in enumerate(records):
        order.hold(tp, offset, day(n), offset)
    order.release({A: 0, B: 0, C: 0}, day(3))  # (a heap with holes at its top)
    left = [(day(n), o) for o, (n, _) in enumerate(records) if n > 3]
    assert sorted(order.waiting(day(until))) == sorted(x for x in left if x[0] <= day(until))


def test_a_partition_read_to_its_end_holds_nothing_back() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    order.start(B, 7)  # nothing left to read there
    order.hold(A, 3, day(9), "a9")
    assert order.release({A: 4, B: 7}) == ["a9"]
    assert order.resume_points() == {A: 4, B: 7}
    assert len(order) == 0


def test_an_unknown_end_counts_as_records_still_to_read() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    order.start(B, 0)
    order.hold(A, 0, day(1), "a1")
    assert order.release({A: 1, B: None}) == []
    assert order.release({A: 1, B: 0}) == ["a1"]


def test_later_arrivals_wait_for_the_slowest_partition_and_an_arrival_time_goes_whole() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    ends = {A: 3, B: 2, C: 1}
    for offset, d in enumerate((1, 5, 9)):
        order.hold(A, offset, day(d), f"a{d}")
    order.hold(C, 0, day(5), "c5")
    order.hold(B, 0, day(5), "b5")
    # B still has a record to read: it could be another of day 5
    assert order.ready(ends)  # (day 1 may go)
    assert order.release(ends) == ["a1"]
    assert order.held() == {A: 2, B: 1, C: 1}
    assert not order.ready(ends)
    order.hold(B, 1, day(9), "b9")
    assert order.ready(ends)
    assert order.release(ends) == ["a5", "b5", "c5", "a9", "b9"]  # (ties by partition)
    assert order.resume_points() == {A: 3, B: 2, C: 1}


def test_one_arrival_times_records_go_by_file_and_line_whatever_partition_holds_them() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    ends = {A: 3, B: 2}
    # one delivery: an end-of-batch file and two data files, their lines spread by key
    order.hold(A, 0, day(5), "eob:1", (*file_rank("eob_wages_202605.csv"), 1))
    order.hold(A, 1, day(5), "wages:2", (*file_rank("wages_202605.csv"), 2))
    order.hold(B, 0, day(5), "wages:1", (*file_rank("wages_202605.csv"), 1))
    order.hold(B, 1, day(5), "claims:7", (*file_rank("claims_202605.csv"), 7))
    order.hold(A, 2, day(6), "wages:1 of day 6", (*file_rank("wages_202606.csv"), 1))
    assert order.release(ends) == ["claims:7", "wages:1", "wages:2", "eob:1", "wages:1 of day 6"]


def test_a_partition_still_inside_the_earliest_arrival_time_is_never_far_ahead() -> None:
    """A delivery bigger than the limit on one partition: stopping that partition
    would stop everything, since its arrival time goes only once it is read whole."""
    order: ArrivalOrder[str] = ArrivalOrder()
    ends = {A: 100, B: 100}
    for offset in range(5):  # the first 5 lines of a day-2 delivery on each partition
        order.hold(A, offset, day(2), f"a{offset}")
        order.hold(B, offset, day(2), f"b{offset}")
    assert order.release(ends) == []  # both may bring more of day 2
    assert order.far_ahead(3) == set()  # read on, or day 2 never goes
    for offset in range(5, 8):  # A reads past day 2 into day 3; B is still inside day 2
        order.hold(A, offset, day(3), f"a{offset}")
    assert order.far_ahead(3) == {A}
    assert order.far_ahead(9) == set()  # (fewer held than the limit)
    order.hold(B, 5, day(4), "b5")  # B passes day 2 too: it goes
    assert order.release(ends) == [
        f"{p}{i}" for p in "ab" for i in range(5)
    ]  # (no rank: by partition)
    assert order.far_ahead(3) == set()  # A is now inside the earliest arrival time held, day 3


def test_rejects_pass_without_holding_the_clock() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    order.start(B, 0)
    order.passed(B, 0)  # a reject: read, but no say on the clock
    order.hold(A, 0, day(3), "a3")
    assert order.release({A: 1, B: 2}) == []  # B has one record still to read
    assert order.resume_points() == {A: 0, B: 1}
    order.passed(B, 1)
    assert order.release({A: 1, B: 2}) == ["a3"]


def test_a_partition_given_away_forgets_what_it_held() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    order.hold(A, 0, day(2), "a2")
    order.hold(B, 4, day(3), "b3")
    order.forget(B)
    assert order.resume_points() == {A: 0}
    assert order.release({A: 1}) == ["a2"]


# A backlog: each partition's records in arrival order, read in chunks in any order.
partitions = st.lists(st.lists(st.integers(1, 28), max_size=12).map(sorted), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(partitions, st.data())
def test_any_reading_order_of_a_backlog_releases_in_arrival_order(
    days: list[list[int]], data: st.DataObject
) -> None:
    tps = [("dept", p) for p in range(len(days))]
    ends: dict[tuple[str, int], int | None] = {tp: len(d) for tp, d in zip(tps, days, strict=True)}
    order: ArrivalOrder[tuple[str, int, int]] = ArrivalOrder()
    for tp in tps:
        order.start(tp, 0)
    read = dict.fromkeys(tps, 0)
    released: list[tuple[str, int, int]] = []
    while any(read[tp] < len(d) for tp, d in zip(tps, days, strict=True)):
        tp = data.draw(st.sampled_from([t for t in tps if read[t] < len(days[t[1]])]))
        chunk = data.draw(st.integers(1, len(days[tp[1]]) - read[tp]))
        for offset in range(read[tp], read[tp] + chunk):
            arrival = day(days[tp[1]][offset])
            order.hold(tp, offset, arrival, (arrival, tp[1], offset))
        read[tp] += chunk
        released += order.release(ends)
        # A restart resumes every partition at its first record not released yet.
        gone = {(p, o) for _, p, o in released}
        points = order.resume_points()
        for t in tps:
            waiting = [o for o in range(read[t]) if (t[1], o) not in gone]
            assert points[t] == min(waiting, default=read[t])
    released += order.release(ends)
    expected = sorted((day(d), p, o) for p, ds in enumerate(days) for o, d in enumerate(ds))
    assert [r[0] for r in released] == [e[0] for e in expected]
    assert sorted(released) == expected
    assert len(order) == 0


def test_nothing_after_the_callers_limit_goes() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    for offset, d in enumerate((1, 1, 2, 3)):
        order.hold(A, offset, day(d), f"a{offset}")
    assert order.next_arrival() == day(1)
    assert order.release({A: 4}, until=day(1)) == ["a0", "a1"]
    assert order.next_arrival() == day(2)
    assert order.release({A: 4}, until=day(2)) == ["a2"]
    assert order.release({A: 4}) == ["a3"]
    assert order.next_arrival() is None


def test_a_reader_resuming_knows_what_a_previous_one_read_already() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    order.start(A, 3, read_before=6)  # resumes at a held record; 3 to 5 were read
    assert [order.read_again(A, o) for o in (3, 5, 6)] == [True, True, False]
    order.start(B, 4)
    assert not order.read_again(B, 4)


def test_a_partitions_floor_is_its_first_record_held_or_else_the_latest_it_read() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    order.start(C, 0)
    order.hold(A, 0, day(1), "a1")
    order.hold(A, 1, day(3), "a3")
    order.hold(B, 0, day(2), "b2")
    assert order.floors() == {A: day(1), B: day(2)}  # C has handed over nothing: no floor
    assert order.release({A: 2, B: 1, C: 0}) == ["a1", "b2", "a3"]
    # nothing held: what A and B read next arrived no earlier than what they read last
    assert order.floors() == {A: day(3), B: day(2)}
    order.hold(B, 1, day(5), "b5")
    assert order.release({A: 3, B: 3, C: 0}) == []  # A may still bring a day-3 record
    assert order.floors() == {A: day(3), B: day(5)}


def test_another_readers_partition_holds_the_clock_back_while_it_may_bring_an_earlier_record() -> (
    None
):
    floors = {A: day(2), B: day(4)}
    positions = {A: 5, B: 9}
    # A may still bring a day-2 record: day 3 waits, day 2 itself may go beside it
    assert held_back_by(day(3), floors, positions, {A: 6, B: 10}) == [A]
    assert held_back_by(day(2), floors, positions, {A: 6, B: 10}) == []
    # A's reader has sent on everything up to A's end: nothing left there to wait for
    assert held_back_by(day(3), floors, positions, {A: 5, B: 10}) == []
    assert held_back_by(day(5), floors, positions, {A: 5, B: 10}) == [B]
    # a partition with records no reader has saved a floor for holds everything back
    assert held_back_by(day(1), floors, positions, {A: 5, B: 9, C: 1}) == [C]
    assert held_back_by(day(1), floors, positions, {A: 5, B: 9, C: 0}) == []
