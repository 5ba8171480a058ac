"""Life events of people: deaths, births, moves, illness, disability."""

from __future__ import annotations

import datetime as dt

from connectors.simulate.life_events import Injector, register
from connectors.simulate.model import Household, Label, Person
from connectors.simulate.people import newborn

CATEGORIES = ("physical", "intellectual", "mental", "visual", "hearing", "multiple", "speech")
CATEGORY_WEIGHTS = (35, 15, 15, 10, 10, 10, 5)


def _clock(inj: Injector, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(inj.rng.randint(8, 17), inj.rng.randint(0, 59)))


@register("illness")
def illness(inj: Injector, h: Household, m: int) -> bool:
    """Large medical spending: an inpatient stay with a large bill, or many outpatient claims."""
    day = inj.day(m)
    people = [p for p in h.present(day) if p.age(day) >= 1 and p.joined is None]
    if not people:
        return False
    person = inj.rng.choice(people)
    region = person.region
    working = [s.employer for s in person.wage_streams() if s.active(m) and s.employer]
    if working and working[0].exchange and inj.rng.random() < 0.7:
        region = working[0].office  # treated where they work
    income = inj.before(h, m)
    label = inj.label("illness", h, person, day, treated_in=region)
    if inj.rng.random() < 0.7:
        out_of_pocket = round(inj.rng.uniform(10000, 40000), 2)
        total = round(out_of_pocket * inj.rng.uniform(2.2, 4.0), 2)
        major = inj.rng.random() < 0.5
        fund = total - out_of_pocket
        inj.book.settlement(person, _clock(inj, day), region, total, fund, "21", major, label)
        label.details.update(
            care="inpatient", total_cost=total, out_of_pocket=out_of_pocket, major_illness=major
        )
        follow_ups = range(m + 1, min(m + 1 + inj.rng.randint(2, 5), inj.calendar.months))
        _claims(inj, person, follow_ups, region, (1, 2), (300, 1500))
        spent = out_of_pocket
    else:
        months = range(m, min(m + inj.rng.randint(3, 5), inj.calendar.months))
        floor = max(2000.0, 0.5 * income)
        spent = _claims(inj, person, months, region, (6, 10), (400, 2000), floor, label)
        label.details.update(care="outpatient", out_of_pocket=spent, months=len(months))
    label.details["out_of_pocket_share_of_income"] = round(spent / income, 2) if income else None
    return True


def _claims(
    inj: Injector,
    person: Person,
    months: range,
    region: str,
    count: tuple[int, int],
    cost: tuple[float, float],
    floor: float = 0.0,
    label: Label | None = None,
) -> float:
    """Chronic-disease outpatient claims (code 14); returns the first month's out of pocket."""
    first = 0.0
    for m in months:
        spent = 0.0
        claims = inj.rng.randint(*count)
        for n in range(claims * 3):
            if n >= claims and spent >= floor:
                break
            total = round(inj.rng.uniform(*cost), 2)
            fund = round(total * inj.rng.uniform(0.5, 0.7), 2)
            evidence = label if (m == months[0] and n == 0) else None
            when = _clock(inj, inj.day(m))
            inj.book.settlement(person, when, region, total, fund, "14", False, evidence)
            spent += round(total - fund, 2)
        if m == months[0]:
            first = round(spent, 2)
    return first


@register("disability_onset")
def disability_onset(inj: Injector, h: Household, m: int) -> bool:
    """A member without a wage is newly certified disabled at level 1 or 2."""
    day = inj.day(m)
    people = [p for p in h.present(day) if p.age(day) >= 3 and not p.wage_streams()]
    if not people:
        return False
    person = inj.rng.choice(people)
    category = inj.rng.choices(CATEGORIES, weights=CATEGORY_WEIGHTS)[0]
    level = inj.rng.choice((1, 2))
    label = inj.label("disability_onset", h, person, day, level=level, category=category)
    inj.book.certified(person, day, category, level, h.region, label)
    return True


def _death(inj: Injector, h: Household, person: Person, day: dt.date, event: str) -> Label:
    label = inj.label(event, h, person, day)
    alone = len(h.present(day)) == 1
    inj.die(h, person, day, label, remove=not alone)
    label.details.update(inj.after(h, inj.calendar.index(day) + 1, day + dt.timedelta(days=1)))
    if alone:
        exit_day = day + dt.timedelta(days=inj.rng.randint(14, 45))
        h.exited, h.exit_reason = (
            exit_day,
            "特困供养对象死亡，终止供养" if h.scheme == "tekun" else "死亡",
        )
        inj.book.exited(h, exit_day, h.exit_reason)
        label.details["roster_exit"] = exit_day.isoformat()
    return label


def _death_event(inj: Injector, h: Household, person: Person, index: int) -> str:
    return "earner_death" if inj.share(h, person, index) >= 0.4 else "member_death_other"


@register("sole_member_death")
def sole_member_death(inj: Injector, h: Household, m: int) -> bool:
    """The only member dies; or, in an old couple, the second after the first."""
    day = inj.day(m)
    present = h.present(day)
    first_death = m - inj.rng.randint(3, 8)
    if (
        len(present) == 2
        and all(p.age(day) >= 70 for p in present)
        and first_death >= inj.window.start
        and inj.rng.random() < 0.5
    ):
        first = inj.rng.choice(present)
        when = inj.day(first_death)
        _death(inj, h, first, when, _death_event(inj, h, first, first_death))
        present = h.present(day)
    if len(present) != 1:
        return False
    label = _death(inj, h, present[0], day, "sole_member_death")
    label.details["members_at_enrolment"] = len(h.members)
    return True


@register("earner_death")
def earner_death(inj: Injector, h: Household, m: int) -> bool:
    """A member with 40% or more of household income dies; their income stops."""
    day = inj.day(m)
    present = h.present(day)
    if len(present) < 2:
        return False
    person = max(present, key=lambda p: (inj.share(h, p, m), -p.position))
    if inj.share(h, person, m) < 0.4:
        return False
    _death(inj, h, person, day, "earner_death")
    return True


@register("member_death_other")
def member_death_other(inj: Injector, h: Household, m: int) -> bool:
    """A member with less than 40% of household income dies (often an elderly member)."""
    day = inj.day(m)
    present = h.present(day)
    people = [p for p in present if inj.share(h, p, m) < 0.4]
    if len(present) < 2 or not people:
        return False
    person = inj.rng.choices(people, weights=[1 + max(p.age(day) - 40, 0) for p in people])[0]
    _death(inj, h, person, day, "member_death_other")
    return True


@register("wages_after_death")
def wages_after_death(inj: Injector, h: Household, m: int) -> bool:
    """An earner dies and the employer goes on reporting wages for 1-3 months."""
    day = inj.day(m)
    if len(h.present(day)) < 2:
        return False
    months_after = inj.rng.randint(1, 3)
    found = [
        (p, s)
        for p, s in inj.earners(h, m)
        if m + months_after < inj.calendar.months and inj.in_season(s, m + 1, months_after)
    ]
    if not found:
        return False
    person, stream = found[0]
    label = inj.label("wages_after_death", h, person, day, months_after_death=months_after)
    label.groups = 2  # the death record and the first wage dated after it
    inj.die(h, person, day, label, remove=True, report_end=False)
    stream.end = m + 1 + months_after
    stream.can_miss = False
    stream.evidence[m + 1] = (label, 1)
    label.details["wage"] = stream.amount
    return True


@register("birth")
def birth(inj: Injector, h: Household, m: int) -> bool:
    """A baby is born to a member; the roster adds it some weeks later."""
    day = inj.day(m)
    mothers = [
        p
        for p in h.present(day)
        if p.sex == "F" and 20 <= p.age(day) <= 42 and p.relation in ("head", "spouse", "child")
    ]
    if not mothers:
        return False
    mother = inj.rng.choice(mothers)
    father = next(
        (p for p in h.present(day) if p.sex == "M" and p.relation in ("head", "spouse")), None
    )
    parent = father if father is not None and mother.relation != "child" else mother
    baby = newborn(inj.rng, inj.ids, h, parent, day)
    label = inj.label("birth", h, None, day, parent_position=parent.position, sex=baby.sex)
    h.members.append(baby)
    label.member = baby
    label.details.update(relation=baby.relation, members_after=len(h.present(day)))
    inj.book.birth(baby, parent, h.region, label)
    inj.book.member_added(h, baby, day + dt.timedelta(days=inj.rng.randint(14, 60)), None)
    return True


def _move(inj: Injector, h: Household, m: int, relation: str, event: str) -> bool:
    day = inj.day(m)
    present = h.present(day)
    movers = [
        p
        for p in present
        if p.relation != "head" and p.age(day) >= 16 and not any(s.active(m) for s in p.streams)
    ]
    if len(present) < 2 or not movers:
        return False
    person = inj.rng.choice(movers)
    places = inj.params.places[h.region]
    to = inj.rng.choice(getattr(places, relation))
    label = inj.label(event, h, person, day, to_region=to, from_region=h.region)
    label.details["region_relation"] = relation
    person.active_until = day
    inj.end_streams(person, m)
    inj.book.moved_out(person, day, h.region, to, label)
    if inj.rng.random() < 0.85:
        later = day + dt.timedelta(days=inj.rng.randint(14, 45))
        inj.book.member_removed(h, person, later, "户籍迁出")
    return True


@register("moved_same_city")
def moved_same_city(inj: Injector, h: Household, m: int) -> bool:
    """A member's registration moves to another county of the same city."""
    return _move(inj, h, m, "same_city", "moved_same_city")


@register("moved_cross_city")
def moved_cross_city(inj: Injector, h: Household, m: int) -> bool:
    """A member's registration moves to another city of the province."""
    return _move(inj, h, m, "cross_city", "moved_cross_city")


@register("moved_cross_province")
def moved_cross_province(inj: Injector, h: Household, m: int) -> bool:
    """A member's registration moves to another province."""
    return _move(inj, h, m, "cross_province", "moved_cross_province")
