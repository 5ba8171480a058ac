"""Labels name real households and members, and every life event left its records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from statistics import mean
from typing import Any

import pytest

from connectors.simulate.settings import LIFE_EVENTS
from engine.events import Event, local_month
from engine.identity import RegionRelation, region_relation
from tests.simulate.conftest import Ingested

INCOME = ("income.wage", "income.pension", "income.unemployment_benefit")
Check = Callable[[Ingested, dict[str, Any], list[Event]], None]
CHECKS: dict[str, Check] = {}


def check(*events: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        for event in events:
            CHECKS[event] = function
        return function

    return register


def kinds(records: list[Event], *names: str) -> list[Event]:
    return [e for e in records if e.__struct_config__.tag in names]


def latest_by_month(records: list[Event], kind: str) -> dict[str, float]:
    """Amount per month of one person's records of ``kind`` (corrections win, keys summed)."""
    latest: dict[str, Event] = {}
    for event in kinds(records, kind):
        latest[event.event_id] = event
    months: dict[str, float] = defaultdict(float)
    for event in latest.values():
        months[event.month] += event.amount  # type: ignore[attr-defined]
    return dict(months)


@check("earner_death", "member_death_other", "sole_member_death")
def _death(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    deaths = kinds(records, "registration.death")
    assert deaths and local_month(deaths[0].event_time) == label["month"]
    after = [e for e in kinds(records, *INCOME) if e.month > label["month"]]  # type: ignore[attr-defined]
    assert after == []
    if label["event"] == "sole_member_death":
        exits = [e for e in world.of_kind("roster.exited") if e.household == label["household"]]  # type: ignore[attr-defined]
        assert exits


@check("wages_after_death")
def _wages_after_death(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    assert kinds(records, "registration.death")
    after = [e for e in kinds(records, "income.wage") if e.month > label["month"]]  # type: ignore[attr-defined]
    assert after


@check("job_loss")
def _job_loss(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    ended = kinds(records, "employment.ended")
    assert [e for e in ended if e.event_time[:10] == label["date"]]
    assert [m for m in latest_by_month(records, "income.wage") if m > label["month"]] == []


@check("income_drop", "fell_under_line")
def _wage_cut(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    wages = latest_by_month(records, "income.wage")
    before = [a for m, a in wages.items() if m < label["month"]][-6:]
    after = [a for m, a in wages.items() if m >= label["month"]]
    assert before and after
    assert mean(after) < mean(before) * (1 - label["details"]["cut"] / 2)
    if label["event"] == "fell_under_line":
        assert label["details"]["per_capita_after"] < label["details"]["line"]
    assert not kinds(records, "employment.ended")


@check("illness")
def _illness(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    claims = [
        e
        for e in kinds(records, "medical.settlement")
        if local_month(e.event_time) == label["month"]
    ]
    paid = sum(e.out_of_pocket for e in {e.event_id: e for e in claims}.values())  # type: ignore[attr-defined]
    assert paid >= label["details"]["out_of_pocket"] - 0.01
    if label["details"]["care"] == "inpatient":
        assert max(e.out_of_pocket for e in claims) >= 10000  # type: ignore[attr-defined]


@check("disability_onset")
def _disability(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    certified = kinds(records, "disability.certified")
    assert [e for e in certified if e.level <= 2 and e.event_time[:10] == label["date"]]  # type: ignore[attr-defined]


@check("income_above_line", "employment_while_unemployed")
def _new_job(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    first = label["details"]["first_wage_month"]
    started = kinds(records, "employment.started")
    wages = latest_by_month(records, "income.wage")
    assert started or first in wages
    if label["event"] == "employment_while_unemployed":
        assert first in latest_by_month(records, "income.unemployment_benefit")
    else:
        assert label["details"]["per_capita_after"] > label["details"]["line"]


@check("birth")
def _birth(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    assert kinds(records, "registration.birth")
    assert kinds(records, "roster.member_added")


@check("moved_same_city", "moved_cross_city", "moved_cross_province")
def _moved(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    moved = kinds(records, "registration.moved_out")
    assert moved and moved[0].to_region == label["details"]["to_region"]  # type: ignore[attr-defined]
    relation = region_relation(label["details"]["region"], moved[0].to_region)  # type: ignore[attr-defined]
    assert relation == RegionRelation(label["event"].removeprefix("moved_"))


@check("property", "company")
def _asset(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    assert kinds(records, f"asset.{label['event']}")


@check("vehicle", "vehicle_cheap")
def _vehicle(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    (vehicle,) = {e.event_id: e for e in kinds(records, "asset.vehicle")}.values()
    value = vehicle.value  # type: ignore[attr-defined]
    assert (value > 100000) == (label["event"] == "vehicle")


@check("deposit_over_limit")
def _deposit(world: Ingested, label: dict[str, Any], records: list[Event]) -> None:
    balances = [e for e in kinds(records, "asset.deposit") if e.month == label["month"]]  # type: ignore[attr-defined]
    assert max(e.balance for e in balances) > label["details"]["limit"]  # type: ignore[attr-defined]


def test_every_life_event_has_a_check() -> None:
    assert set(CHECKS) == set(LIFE_EVENTS)


def test_labels_name_households_and_members_that_exist(world: Ingested) -> None:
    members = world.members()
    assert world.labels
    for label in world.labels:
        assert label["event"] in LIFE_EVENTS
        assert label["household"] in members
        assert label["member_position"] in members[label["household"]]
        assert label["date"][:7] == label["month"]
    counted = {e: n for e, n in world.summary.labels.items() if n}
    assert counted == dict(
        sorted({e: sum(1 for lb in world.labels if lb["event"] == e) for e in counted}.items())
    )


def test_every_label_left_its_records(world: Ingested) -> None:
    members = world.members()
    records = world.by_person()
    for label in world.labels:
        person = members[label["household"]][label["member_position"]]
        try:
            CHECKS[label["event"]](world, label, records[person])
        except AssertionError as exc:
            pytest.fail(f"{label['label_id']} {label['event']}: {exc!r}")


def test_every_label_says_which_arrival_reveals_it(world: Ingested) -> None:
    arrivals = {a for a in (world.out / "arrivals.jsonl").read_text().splitlines()}
    for label in world.labels:
        revealed = label["revealed_by"]
        assert revealed is not None, label["label_id"]
        line = f'{{"file":"{revealed["file"]}","received_at":"{revealed["received_at"]}"}}'
        assert line in arrivals
        assert revealed["received_at"][:10] >= label["date"]


def test_seasonal_workers_are_paid_nothing_in_winter(world: Ingested) -> None:
    members = world.members()
    records = world.by_person()
    wages = [s for s in world.sources if s["kind"] == "wage" and s["first_month"] == "2023-01"]
    seasonal = [s for s in wages if s["seasonal"]]
    assert len(seasonal) / len(wages) >= 0.2
    for source in seasonal:
        person = members[source["household"]][source["member_position"]]
        months = latest_by_month(records[person], "income.wage")
        assert months and not [m for m in months if m[5:] in ("12", "01", "02")]


def test_households_without_labels_stay_as_they_are(world: Ingested) -> None:
    labelled = {label["household"] for label in world.labels}
    exited = {e.household for e in world.of_kind("roster.exited")}  # type: ignore[attr-defined]
    changed = {e.household for e in world.of_kind("roster.member_added", "roster.member_removed")}  # type: ignore[attr-defined]
    members = world.members()
    records = world.by_person()
    stable = [h for h in members if h not in labelled and h not in exited]
    assert len(stable) > len(members) / 2
    assert not changed & set(stable)
    for household in stable:
        people = members[household].values()
        registration = [
            e
            for p in people
            for e in kinds(
                records[p], "registration.death", "registration.moved_out", "registration.birth"
            )
        ]
        assert registration == [], household
        income: dict[str, float] = defaultdict(float)
        for person in people:
            for kind in INCOME:
                for month, amount in latest_by_month(records[person], kind).items():
                    income[month] += amount
        working = [
            a for m, a in sorted(income.items()) if m[5:] not in ("12", "01", "02", "03", "11")
        ]
        if len(working) >= 12:
            assert 0.7 < mean(working[-6:]) / mean(working[:6]) < 1.4, household
