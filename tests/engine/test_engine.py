"""The engine step on small, hand-made histories (in-process store)."""

from __future__ import annotations

import copy
import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.alerting import AlertMaker
from engine.engine import Engine
from engine.events import Event
from engine.state import decode_state
from engine.store import MemoryStore, household_key

from .factory import batch_end, config, engine, enrol, event, person, unreadable, wage

HEAD, SPOUSE, CHILD = person(1), person(2), person(3)
MONTHS = ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]


def family() -> list[Event]:
    return [enrol("H1", [(HEAD, "head"), (SPOUSE, "spouse"), (CHILD, "child")])] + [
        wage(HEAD, m, 3200.0) for m in MONTHS
    ]


def death(who: str, when: str = "2025-07-03") -> Event:
    return event("registration.death", when, person=who)


def test_an_earners_death_is_one_alert_naming_the_member() -> None:
    eng = engine()
    eng.process(family())
    alerts = eng.process([death(HEAD)]).alerts
    earner = [a for a in alerts if a.detector == "earner_death"]
    assert len(earner) == 1
    alert = earner[0]
    assert alert.direction == "help" and alert.status == "raised" and alert.revision == 1
    assert alert.member is not None and alert.member.position == 1 and alert.member.person == HEAD
    assert alert.evidence.values["income_share"] == 1.0
    assert alert.evidence.records[0].kind == "registration.death"
    assert alert.story.month == "2025-07"
    assert "第1位成员（户主）" in alert.reason
    assert alert.config_version == config().version
    assert eng.process([death(HEAD)]).alerts == []  # the same record again: nothing


def test_a_non_earners_death_is_not_an_earner_death() -> None:
    eng = engine()
    eng.process(family())
    assert [a.detector for a in eng.process([death(CHILD)]).alerts] == []


def test_the_last_members_death_is_urgent_review() -> None:
    eng = engine()
    eng.process([enrol("H2", [(HEAD, "head")])])
    alerts = eng.process([death(HEAD)]).alerts
    sole = [a for a in alerts if a.detector == "sole_member_died"]
    assert len(sole) == 1 and sole[0].severity == "urgent" and sole[0].direction == "review"


def test_replaying_everything_again_changes_nothing() -> None:
    store = MemoryStore()
    eng = engine(store)
    history = [*family(), death(HEAD), batch_end("2025-06", "2025-07-10")]
    first = eng.process(history)
    snapshot = copy.deepcopy(store.values)
    again = eng.process(history)
    assert first.alerts and again.alerts == []
    assert store.values == snapshot


def test_records_before_enrolment_become_history() -> None:
    eng = engine()
    early = [wage(HEAD, "2024-11", 3000.0, received="2024-12-20")]
    assert eng.process(early).counts["held"] == 1
    result = eng.process([enrol("H1", [(HEAD, "head")], when="2025-01-05")])
    assert result.counts["released"] == 1
    blob = eng.store.get_many([household_key("H1")])[0]
    assert blob is not None
    state = decode_state(blob)
    assert 3000 in state.members[0].wages


def test_roster_dates_not_arrival_order_decide_membership() -> None:
    eng = engine()
    removed = event(
        "roster.member_removed", "2025-03-01", "2025-03-02", household="H1", person=CHILD
    )
    eng.process([removed])  # arrives before the enrolment it ends
    eng.process([enrol("H1", [(HEAD, "head"), (CHILD, "child")], when="2025-01-05")])
    eng.process([enrol("H9", [(CHILD, "head")], when="2025-04-01")])
    # The child's April wage belongs to the household they joined in April.
    eng.process([wage(CHILD, "2025-04", 2500.0)])
    h1, h9 = (
        decode_state(b) for b in eng.store.get_many([household_key("H1"), household_key("H9")])
    )  # type: ignore[arg-type]
    assert 2500 not in h1.member(CHILD).wages  # type: ignore[union-attr]
    assert 2500 in h9.member(CHILD).wages  # type: ignore[union-attr]


def test_wages_after_a_death_are_a_conflict_though_the_roster_removed_the_member() -> None:
    eng = engine()
    eng.process(family())
    eng.process([death(HEAD, "2025-07-03")])
    removed = event("roster.member_removed", "2025-07-16", household="H1", person=HEAD)
    eng.process([removed])
    alerts = eng.process([wage(HEAD, "2025-08", 3200.0, received="2025-09-12")]).alerts
    conflicts = [a for a in alerts if a.detector == "conflicting_records"]
    assert [a.evidence.values["first_month_after"] for a in conflicts] == ["2025-08"]
    assert conflicts[0].member is not None and conflicts[0].member.position == 1


def test_a_correction_replaces_and_a_repeat_is_ignored() -> None:
    eng = engine()
    eng.process(family())
    corrected = wage(HEAD, "2025-06", 2800.0)
    result = eng.process([corrected, corrected])
    assert result.counts["applied:correction"] == 1 and result.counts["applied:repeat"] == 1
    state = decode_state(eng.store.get_many([household_key("H1")])[0])  # type: ignore[arg-type]
    assert state.members[0].wages[-1] == 2800


def test_an_unreadable_row_marks_its_month_once() -> None:
    store = MemoryStore()
    eng = engine(store)
    eng.process(family())
    row = unreadable(SPOUSE, "2025-06", "2025-06-28")
    assert eng.process([row]).counts["applied:new"] == 1
    snapshot = copy.deepcopy(store.values)
    assert eng.process([row]).counts["applied:repeat"] == 1
    assert store.values == snapshot
    state = decode_state(store.values[household_key("H1")])
    spouse = state.member(SPOUSE)
    assert spouse is not None and spouse.unread == [(state.base_month + 17, 1)]  # June, wages
    # Too old to change anything, as a wage of that month would be.
    old = eng.process([unreadable(SPOUSE, "2025-01", "2025-09-28")])
    assert old.counts["applied:too_late"] == 1


def test_months_are_decided_by_end_of_batch_or_grace() -> None:
    eng = engine()
    start = eng.process([enrol("H1", [(HEAD, "head")]), wage(HEAD, "2025-01", 3000.0)])
    assert start.counts["months_decided"] == 0  # January is still arriving
    decided = eng.process([batch_end("2025-01", "2025-02-12")]).counts["months_decided"]
    assert decided == 1
    # No end-of-batch for February: decided once arrivals pass its end by the grace
    # period (45 days), and then incomplete, which operators are told.
    early = eng.process([event("registration.death", "2025-04-10", "2025-04-11", person=CHILD)])
    assert early.counts["months_decided"] == 0
    result = eng.process([event("registration.death", "2025-04-19", "2025-04-20", person=SPOUSE)])
    assert result.counts["months_decided"] == 1
    assert [(o.month, o.departments) for o in result.operator] == [("2025-02", ["human_resources"])]


def test_cooldown_and_cap() -> None:
    cfg = config()
    policies = {k: dataclasses.replace(v, cooldown_days=90) for k, v in cfg.policies.items()}
    maker = AlertMaker(policies, cfg.templates, "en", cfg.version, cap_per_region_month=1)
    eng = Engine(cfg.settings, cfg.detectors, maker, MemoryStore())
    members = [(person(n), "head") for n in range(10, 13)]
    eng.process([enrol(f"H{n}", [m]) for n, m in enumerate(members)])
    moves = [
        event(
            "registration.moved_out",
            "2025-05-02",
            person=p,
            from_region="130126",
            to_region="410102",
        )
        for p, _ in members
    ]
    alerts = eng.process(moves).alerts
    assert [a.status for a in alerts] == ["raised", "capped", "capped"]
    assert maker.counts["capped"] == 2
    # Within the cooldown, a new move of the same household raises nothing new.
    back = event("registration.moved_in", "2025-06-01", person=members[0][0], from_region="410102",
                 to_region="130126")  # fmt: skip
    again = event("registration.moved_out", "2025-06-20", person=members[0][0], from_region="130126",
                  to_region="370102")  # fmt: skip
    assert eng.process([back, again]).alerts == []
    assert maker.counts["cooldown"] == 1


def test_backfill_builds_state_without_alerting_history() -> None:
    eng = engine(backfill_until="2025-07-31T23:59:59+08:00")
    eng.process(
        [enrol("H1", [(HEAD, "head"), (SPOUSE, "spouse")])]
        + [wage(HEAD, m, 3200.0) for m in MONTHS]
    )
    assert eng.process([death(HEAD)]).alerts == []
    later = event("registration.death", "2025-08-05", person=SPOUSE)
    assert [a.detector for a in eng.process([later]).alerts] == ["sole_member_died"]
    state = decode_state(eng.store.get_many([household_key("H1")])[0])  # type: ignore[arg-type]
    assert any(r.detector == "earner_death" for r in state.alerts)  # recorded, not sent


# Departments deliver within a month of each other (source_skew_months): the
# property holds for every interleaving of such deliveries.
SOURCES = {
    "hr": [wage(HEAD, m, 3200.0 + 10 * i) for i, m in enumerate(["2025-05", "2025-06", "2025-07"])]
    + [unreadable(SPOUSE, "2025-07", "2025-07-28"), wage(HEAD, "2025-08", 50.0)],
    "police": [
        death(HEAD, "2025-07-20"),
        event("registration.moved_out", "2025-07-25", person=CHILD, from_region="130126", to_region="130424"),
    ],
    "hospital": [
        event("medical.settlement", "2025-07-10", person=SPOUSE, settlement_id="S1", total_cost=30000.0,
              fund_paid=15000.0, out_of_pocket=15000.0, care="inpatient"),
        event("medical.settlement", "2025-08-10", person=SPOUSE, settlement_id="S2", total_cost=300.0,
              fund_paid=150.0, out_of_pocket=150.0, care="outpatient"),
    ],
}  # fmt: skip


def final_state(order: list[str]) -> tuple[dict[str, bytes], set[tuple[str, str, str]]]:
    store = MemoryStore()
    eng = engine(store)
    eng.process([enrol("H1", [(HEAD, "head"), (SPOUSE, "spouse"), (CHILD, "child")])])
    positions = dict.fromkeys(SOURCES, 0)
    alerts = []
    for source in order:
        alerts += eng.process([SOURCES[source][positions[source]]]).alerts
        positions[source] += 1
    latest = {a.alert_id: a for a in alerts}
    return store.values, {(a.alert_id, a.status, a.detector) for a in latest.values()}


@settings(max_examples=40, deadline=None)
@given(st.permutations([s for s, events in SOURCES.items() for _ in events]))
def test_any_interleaving_of_sources_gives_the_same_state_and_alerts(order: list[str]) -> None:
    reference = final_state([s for s, events in SOURCES.items() for _ in events])
    assert final_state(order) == reference


def test_held_records_expire_and_are_counted() -> None:
    eng = engine()
    stranger = person(77)
    assert eng.process([wage(stranger, "2025-01", 2000.0)]).counts["held"] == 1
    eng.process([enrol("H1", [(HEAD, "head")]), wage(HEAD, "2025-01", 3000.0)])
    # Months go by; nobody enrols the stranger.
    result = eng.process(
        [wage(HEAD, "2025-07", 3000.0, received="2025-08-25"), batch_end("2025-07", "2025-08-26")]
    )
    assert result.counts["expired"] == 1
    assert eng.store.index_members("pending:{engine}") == []  # type: ignore[attr-defined]


def test_an_exited_household_is_erased_after_retention() -> None:
    store = MemoryStore()
    eng = engine(store)
    eng.process(
        [
            enrol("H1", [(HEAD, "head")]),
            enrol("H2", [(SPOUSE, "head")]),
            wage(SPOUSE, "2024-01", 1000.0),
        ]
    )
    eng.process([event("roster.exited", "2024-02-10", household="H1")])
    assert household_key("H1") in store.values
    later = [wage(SPOUSE, f"2025-{m:02d}", 1000.0) for m in (1, 2, 3)] + [
        batch_end("2025-02", "2025-03-10")
    ]
    result = eng.process(later)
    assert result.counts["erased"] == 1
    assert household_key("H1") not in store.values and household_key("H2") in store.values
    assert store.index_members("rg:{130126}:households") == ["H2"]


HISTORY = [
    enrol("H1", [(HEAD, "head"), (SPOUSE, "spouse"), (CHILD, "child")]),
    *[wage(HEAD, m, 3200.0 + 10 * i) for i, m in enumerate(MONTHS)],
    unreadable(SPOUSE, "2025-05", "2025-05-28", "income.pension"),
    batch_end("2025-05", "2025-06-10"),
    event("medical.settlement", "2025-06-12", person=SPOUSE, settlement_id="S9", total_cost=30000.0,
          fund_paid=15000.0, out_of_pocket=15000.0, care="inpatient"),
    wage(HEAD, "2025-06", 3100.0),  # a correction of June
    death(HEAD, "2025-07-03"),
    batch_end("2025-06", "2025-07-10"),
]  # fmt: skip


def run_all(batches: list[list[Event]]) -> tuple[dict[str, bytes], list[tuple[str, str, int]]]:
    store = MemoryStore()
    eng = engine(store)
    alerts = [a for batch in batches for a in eng.process(batch).alerts]
    latest = {a.alert_id: (a.alert_id, a.status, a.revision) for a in alerts}
    return store.values, sorted(latest.values())


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=len(HISTORY)), st.integers(min_value=1, max_value=4))
def test_replaying_any_prefix_again_changes_nothing(prefix: int, size: int) -> None:
    once = run_all([HISTORY[i : i + size] for i in range(0, len(HISTORY), size)])
    head = [HISTORY[i : i + size] for i in range(0, prefix, size)]
    again = run_all(
        [
            *head,
            HISTORY[:prefix],
            *[HISTORY[i : i + size] for i in range(prefix, len(HISTORY), size)],
        ]
    )
    assert again[0] == once[0]
    assert [(a, s) for a, s, _ in again[1]] == [(a, s) for a, s, _ in once[1]]
