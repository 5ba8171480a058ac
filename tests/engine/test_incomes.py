"""A month decision's incomes and people, computed once, equal those computed month by month."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.household import household_income, incomes_fixed, per_capita
from engine.state import STATE_VERSION, HouseholdState, MemberState
from engine.timeline import first_day

BASE = 300  # 2025-01
days = st.integers(first_day(BASE - 3), first_day(BASE + 30))
amounts = st.lists(st.integers(0, 9000), max_size=28)


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
