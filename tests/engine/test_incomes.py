"""A month decision's incomes and people, computed once, equal those computed month by month."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.household import household_income, incomes_fixed, per_capita
from engine.state import BENEFIT, PENSION, STATE_VERSION, WAGE, HouseholdState, MemberState
from engine.timeline import first_day

BASE = 300  # 2025-01
days = st.integers(first_day(BASE - 3), first_day(BASE + 30))
amounts = st.lists(st.integers(0, 9000), max_size=28)
unread_rows = st.tuples(st.integers(BASE, BASE + 31), st.sampled_from([0, WAGE, PENSION, BENEFIT]))


@st.composite
def members(draw: st.DrawFn, position: int) -> MemberState:
    joined = draw(days)
    return MemberState(
        person=f"P{position}",
        position=position,
        relation="head",
        joined=joined,
        left=draw(st.none() | st.integers(joined + 1, joined + 900)),
        died=draw(st.none() | st.integers(joined, joined + 900)),
        wages=draw(amounts),
        transfers=draw(amounts),
        # Months of rows that could not be read (some beyond the amounts recorded).
        unread=sorted(set(draw(st.lists(unread_rows, max_size=4)))),
    )


@given(st.integers(0, 5).flatmap(lambda n: st.tuples(*(members(i) for i in range(n)))))
def test_incomes_fixed_for_a_decision_equal_month_by_month(people: tuple[MemberState, ...]) -> None:
    state = HouseholdState(
        v=STATE_VERSION, household="H", region="130126", scheme="dibao",
        enrolled=first_day(BASE), members=list(people), base_month=BASE,
    )  # fmt: skip
    months = range(BASE - 14, BASE + 32)
    each = [(household_income(state, m), per_capita(state, m)) for m in months]
    with incomes_fixed(state):
        fixed = [(household_income(state, m), per_capita(state, m)) for m in months]
        assert fixed == [(household_income(state, m), per_capita(state, m)) for m in months]
    assert fixed == each
    assert household_income(state, BASE) == each[14][0]  # the scope ended: computed again


def test_a_month_whose_row_could_not_be_read_counts_the_month_before() -> None:
    head = MemberState(
        person="P1", position=1, relation="head", joined=first_day(BASE),
        wages=[4000, 0, 4000], transfers=[900, 900, 900, 900],
        unread=[(BASE + 1, WAGE), (BASE + 3, WAGE), (BASE + 4, 0)],
    )  # fmt: skip
    state = HouseholdState(
        v=STATE_VERSION, household="H", region="130126", scheme="dibao",
        enrolled=first_day(BASE), members=[head], base_month=BASE,
    )  # fmt: skip
    months = range(BASE, BASE + 6)
    # Months +1 and +3 count the wages of the month before; +4, a row of either kind,
    # the wages of +2 and the pension of +3; +5, whose rows were all read, nothing.
    expected = [4900, 4900, 4900, 4900, 4900, 0]
    assert [household_income(state, m) for m in months] == expected
    with incomes_fixed(state):
        assert [household_income(state, m) for m in months] == expected


def test_an_unreadable_month_after_one_without_rows_counts_the_last_paid_month() -> None:
    # Wages of +1 never came (lost, or not yet); the row of +2 came and could not
    # be read: +2 counts the wages of +0, and +1 stays empty.
    head = MemberState(
        person="P1", position=1, relation="head", joined=first_day(BASE),
        wages=[4000, 0, 0], unread=[(BASE + 2, WAGE)],
    )  # fmt: skip
    state = HouseholdState(
        v=STATE_VERSION, household="H", region="130126", scheme="dibao",
        enrolled=first_day(BASE), members=[head], base_month=BASE,
    )  # fmt: skip
    assert [household_income(state, m) for m in range(BASE, BASE + 3)] == [4000, 0, 4000]
