"""A ledger sorted by its entries' own order is sorted by (month, source, position, key),
as encode_state needs, however records, repeats and corrections arrived."""

from __future__ import annotations

import operator

from hypothesis import given
from hypothesis import strategies as st

from engine.household import apply_amount, forget_closed
from engine.state import (
    DEPOSIT,
    MEDICAL,
    STATE_VERSION,
    WAGE,
    HouseholdState,
    MemberState,
    decode_state,
    encode_state,
)

LEDGER_ORDER = operator.attrgetter("month", "source", "position", "key")

records = st.lists(
    st.tuples(
        st.sampled_from([WAGE, MEDICAL, DEPOSIT]),
        st.integers(1, 2),  # member position (a wage's; the household's for the others)
        st.integers(10, 16),  # month
        st.integers(0, 6),  # key: few, so records repeat and correct each other
        st.integers(0, 2),  # fingerprint
        st.integers(0, 900),  # amount
    ),
    max_size=60,
)


def household() -> HouseholdState:
    return HouseholdState(
        v=STATE_VERSION,
        household="H1",
        region="130126",
        scheme="dibao",
        enrolled=0,
        members=[MemberState("psn:k1:a", 1, "head", 0), MemberState("psn:k1:b", 2, "spouse", 0)],
        base_month=10,
    )


@given(records, records)
def test_the_ledger_never_ties_and_sorts_as_by_its_key(first: list, second: list) -> None:
    state = household()
    for batch in (first, second):  # two steps: the second starts from the decoded blob
        for source, position, month, key, fingerprint, amount in batch:
            apply_amount(
                state,
                source=source,
                position=position if source == WAGE else 0,
                month=month,
                key=key,
                fingerprint=fingerprint,
                amount=amount,
                window=12,
                open_from=10,
            )
        arrived = list(state.ledger)
        by_key = sorted(arrived, key=LEDGER_ORDER)
        assert len({LEDGER_ORDER(e) for e in arrived}) == len(arrived)  # no ties
        forget_closed(state, 11)
        state = decode_state(encode_state(state))
        assert state.ledger == [e for e in by_key if e.month >= 11]
