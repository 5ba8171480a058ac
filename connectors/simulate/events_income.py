"""Life events of income: jobs lost, found, cut; income over or under the line."""

from __future__ import annotations

import datetime as dt

from connectors.simulate.income import pick_employer
from connectors.simulate.life_events import Injector, register
from connectors.simulate.model import Household, Label, Person, Stream

LAYOFF_REASONS = ("企业裁员", "劳动合同到期", "企业关闭", "个人辞职")


@register("job_loss")
def job_loss(inj: Injector, h: Household, m: int) -> bool:
    """The main local earner's employment ends; wages stop; some draw unemployment benefit."""
    found = [(p, s) for p, s in inj.earners(h, m, local_only=True) if inj.in_season(s, m, 2)]
    if not found or inj.share(h, found[0][0], m) < 0.4:
        return False
    person, stream = found[0]
    employer = stream.employer
    assert employer is not None
    day = inj.day(m)
    label = inj.label("job_loss", h, person, day, wage_before=stream.amount, employer=employer.code)
    stream.end = m + 1 if day.day >= 10 else m  # the month's wage is paid after the 10th
    stream.protected.update(range(m - 2, m + 3))
    benefit = 0
    if inj.rng.random() < 0.6 and m + 1 < inj.calendar.months:
        benefit = round(inj.rng.uniform(*inj.params.income.unemployment_benefit))
        months = inj.rng.randint(6, 12)
        person.streams.append(Stream("unemployment", benefit, m + 1, m + 1 + months))
    label.details["unemployment_benefit"] = benefit
    label.details.update(inj.after(h, m + 1, day))
    reason = inj.rng.choice(LAYOFF_REASONS)
    inj.book.employment(person, employer, day, False, label, reason)
    return True


@register("income_drop")
def income_drop(inj: Injector, h: Household, m: int) -> bool:
    """The main earner's wage falls 30-70% for good, with no employment-ended record."""
    found = [(p, s) for p, s in inj.earners(h, m) if inj.in_season(s, m, 2)]
    if not found:
        return False
    person, stream = found[0]
    share = inj.share(h, person, m)
    low = max(0.3, 0.32 / share) if share else 1.0  # the household loses 30% or more
    if low > 0.7:
        return False
    return _cut_wage(inj, h, m, person, stream, inj.rng.uniform(low, 0.7), "income_drop")


@register("fell_under_line")
def fell_under_line(inj: Injector, h: Household, m: int) -> bool:
    """A low-income household's main wage is cut so per-capita income falls under the line."""
    if h.scheme != "low_income":
        return False
    found = [(p, s) for p, s in inj.earners(h, m) if inj.in_season(s, m, 2)]
    if not found or inj.share(h, found[0][0], m) < 0.5:
        return False
    person, stream = found[0]
    size = len(h.present(inj.calendar.month(m)))
    target = inj.rng.uniform(0.4, 0.9) * h.line * size
    cut = (inj.regular(h, m) - target) / stream.amount
    if not 0.1 <= cut <= 0.9:
        return False
    return _cut_wage(inj, h, m, person, stream, cut, "fell_under_line")


def _cut_wage(
    inj: Injector, h: Household, m: int, person: Person, stream: Stream, cut: float, event: str
) -> bool:
    day = inj.calendar.month(m)
    before = inj.regular(h, m)
    label = inj.label(event, h, person, day, wage_before=stream.amount)
    stream.changes.append((m, round(stream.amount * (1 - cut))))
    stream.protected.update(range(m - 2, m + 3))
    stream.evidence[m] = (label, 0)
    assert stream.employer is not None
    label.details.update(
        wage_after=round(stream.amount * (1 - cut)),
        cut=round(cut, 3),
        household_drop=round((before - inj.regular(h, m)) / before, 3),
        employer_region=stream.employer.office,
        **inj.after(h, m, day),
    )
    return True


def _job_seekers(inj: Injector, h: Household, m: int, unemployed: bool) -> list[Person]:
    day = inj.calendar.month(m)
    found = []
    for p in h.present(day):
        if not 18 <= p.age(day) <= 55 or p.student:
            continue
        working = any(s.active(m) for s in p.wage_streams())
        benefit = any(s.kind == "unemployment" and s.active(m) for s in p.streams)
        if not working and benefit == unemployed:
            found.append(p)
    return found


def _start_job(
    inj: Injector, h: Household, m: int, person: Person, wage: float, day: dt.date
) -> tuple[Stream, int]:
    """A new job from ``day`` (in month ``m``); returns the stream and its first paid month."""
    employer = pick_employer(inj.rng, inj.params, inj.pools, h.region)
    first = m if day.day <= 15 else m + 1
    stream = Stream("wage", round(wage), first, employer=employer, can_miss=False)
    person.streams.append(stream)
    return stream, first


def _job_evidence(
    inj: Injector, person: Person, stream: Stream, first: int, day: dt.date, label: Label
) -> None:
    """A local job is revealed by its employment-started record, one elsewhere by its wages."""
    employer = stream.employer
    assert employer is not None
    label.details.update(
        new_wage=stream.amount,
        employer_region=employer.office,
        first_wage_month=inj.calendar.label(first),
    )
    if employer.exchange:
        stream.evidence[first] = (label, 0)
    else:
        inj.book.employment(person, employer, day, True, label)


@register("income_above_line")
def income_above_line(inj: Injector, h: Household, m: int) -> bool:
    """A dibao member finds a well-paid job: per-capita income above the line for good."""
    if h.scheme != "dibao":
        return False
    seekers = _job_seekers(inj, h, m, unemployed=False)
    if not seekers or m + 1 >= inj.calendar.months:
        return False
    person = inj.rng.choice(seekers)
    size = len(h.present(inj.calendar.month(m)))
    needed = 1.3 * h.line * size - inj.regular(h, m)
    wage = max(needed, inj.rng.uniform(3000, 6000))
    if wage > inj.params.income.max_wage:
        return False
    day = inj.day(m)
    label = inj.label("income_above_line", h, person, day)
    stream, first = _start_job(inj, h, m, person, wage, day)
    _job_evidence(inj, person, stream, first, day, label)
    label.details.update(inj.after(h, first, day))
    if inj.rng.random() < 0.4:
        exit_month = first + inj.rng.randint(4, 7)
        if exit_month < inj.calendar.months:
            when = inj.day(exit_month)
            h.exited, h.exit_reason = when, "家庭人均收入超过低保标准"
            inj.book.exited(h, when, h.exit_reason)
            label.details["roster_exit"] = when.isoformat()
    return True


@register("employment_while_unemployed")
def employment_while_unemployed(inj: Injector, h: Household, m: int) -> bool:
    """A member drawing unemployment benefit starts work; the benefit goes on a while."""
    seekers = _job_seekers(inj, h, m, unemployed=True)
    if not seekers or m + 2 >= inj.calendar.months:
        return False
    person = inj.rng.choice(seekers)
    benefit = next(s for s in person.streams if s.kind == "unemployment" and s.active(m))
    day = inj.day(m)
    first = m if day.day <= 15 else m + 1
    if benefit.end is not None and benefit.end <= first + 1:
        return False
    label = inj.label("employment_while_unemployed", h, person, day)
    stream, first = _start_job(inj, h, m, person, inj.rng.uniform(1800, 3000), day)
    benefit.end = min(first + inj.rng.randint(1, 3), benefit.end or inj.calendar.months)
    benefit.can_miss = False
    label.groups = 2  # revealed by the new job and by the benefit paid for the same month
    benefit.evidence[first] = (label, 1)
    _job_evidence(inj, person, stream, first, day, label)
    label.details.update(
        benefit=benefit.amount,
        overlap_months=benefit.end - first,
        **inj.after(h, benefit.end, day),
    )
    return True
