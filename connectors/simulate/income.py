"""Who earns what: wages by employer, pensions, unemployment benefit, seasonal work.

Levels are set against the household's local line, as eligibility is:
dibao households have recorded per-capita income under the line, low-income
households a little above it, tekun members live on a residents' pension.
"""

from __future__ import annotations

import math
import random

from connectors.simulate.model import Calendar, Employer, Household, Person, Stream
from connectors.simulate.settings import SimulatorParams

WORDS = ("鑫源", "华北", "顺捷", "宏达", "永盛", "恒通", "金泰", "瑞丰", "兴旺", "广厦", "晨光",
          "裕丰", "联创", "中冀", "泰和", "东方")  # fmt: skip
TRADES = ("建筑劳务", "造纸", "纺织", "物流", "餐饮管理", "商贸", "机械配件", "食品", "物业服务",
           "石材", "农业开发", "家政服务", "汽车维修", "电子")  # fmt: skip


def employer_pools(rng: random.Random, params: SimulatorParams) -> dict[str, list[Employer]]:
    """Employers by the region of their insuring office (or sending platform)."""
    pools: dict[str, list[Employer]] = {}

    def pool(region: str, count: int, exchange: bool) -> None:
        if region in pools:
            return
        short = params.place_names[region]
        pools[region] = [
            Employer(
                code=f"{region}{seq:05d}",
                name=f"{short}{rng.choice(WORDS)}{rng.choice(TRADES)}有限公司",
                office=region,
                exchange=exchange,
            )
            for seq in range(1, count + 1)
        ]

    for county in sorted(params.population.region_weights):
        places = params.places[county]
        pool(county, params.income.employers_per_county, exchange=False)
        pool(places.city_office, params.income.employers_per_place, exchange=False)
    for county in sorted(params.population.region_weights):
        places = params.places[county]
        for region in places.same_city + places.cross_city + places.cross_province:
            pool(region, params.income.employers_per_place, exchange=True)
    return pools


def pick_employer(
    rng: random.Random,
    params: SimulatorParams,
    pools: dict[str, list[Employer]],
    county: str,
    cross_region: bool | None = None,
) -> Employer:
    """A county, city-level or (cross_region) other region's employer."""
    income = params.income
    places = params.places[county]
    draw = rng.random()
    if cross_region is None:
        cross_region = draw < income.cross_region_share
        draw = rng.random()
    if cross_region:
        split = income.cross_region_split
        names = [n for n in ("same_city", "cross_city", "cross_province") if split.get(n, 0) > 0]
        relation = rng.choices(names, weights=[split[n] for n in names])[0]
        region = rng.choice(getattr(places, relation))
        return rng.choice(pools[region])
    if draw < income.city_office_share:
        return rng.choice(pools[places.city_office])
    return rng.choice(pools[county])


def _uniform(rng: random.Random, pair: tuple[float, float]) -> float:
    return rng.uniform(pair[0], pair[1])


def assign_income(
    rng: random.Random,
    params: SimulatorParams,
    pools: dict[str, list[Employer]],
    household: Household,
    calendar: Calendar,
    start: int = 0,
) -> None:
    """Give a household's members their streams from month ``start`` on."""
    income = params.income
    reference = calendar.month(start)
    members = household.members
    size = len(members)
    line = household.line
    ages = {p.position: p.age(reference) for p in members}
    for p in members:
        p.student = (
            p.relation == "child"
            and 18 <= ages[p.position] <= 22
            and (rng.random() < income.student_share)
        )
    elderly = [p for p in members if ages[p.position] >= 60]
    adults = [p for p in members if 18 <= ages[p.position] < 60 and not p.student]
    employee_share = income.employee_pension_share[household.residence]
    for p in elderly:
        if household.scheme != "tekun" and rng.random() < employee_share:
            amount, code = _uniform(rng, income.employee_pension), "110"
        else:
            amount, code = _uniform(rng, income.residents_pension), "170"
        p.streams.append(Stream("pension", round(amount), start, pension_code=code))
    if household.scheme == "tekun":
        household.care = round(_uniform(rng, income.tekun_care))
        return
    pensions = [s for p in elderly for s in p.streams]
    ceiling = 0.85 * line * size  # dibao: recorded income stays clearly under the line
    if household.scheme == "dibao":
        target = _uniform(rng, income.dibao_per_capita) * line * size
        for stream in sorted(pensions, key=lambda s: -s.amount):
            if sum(s.amount for s in pensions) <= ceiling:
                break
            stream.amount, stream.pension_code = (
                round(_uniform(rng, income.residents_pension)),
                "170",
            )
    else:
        target = _uniform(rng, income.low_income_per_capita) * line * size
    remaining = target - sum(s.amount for s in pensions)
    earners: list[tuple[Person, float]] = []
    if adults and remaining >= income.min_wage:
        first = rng.uniform(0.55, 0.75)
        two = (
            len(adults) >= 2
            and remaining * (1 - first) >= income.min_wage
            and rng.random() < income.two_earner_share
        )
        chosen = sorted(rng.sample(adults, 2 if two else 1), key=lambda p: p.position)
        shares = [first, 1 - first] if two else [1.0]
        earners = list(zip(chosen, shares, strict=True))
    elif household.scheme == "low_income" and remaining > 0 and elderly:
        # No one of working age: the elderly draw employees' pensions that keep
        # the household where a low-income household is, just above the line.
        total = sum(s.amount for s in pensions) + remaining
        for stream in pensions:
            stream.amount, stream.pension_code = round(total / len(pensions)), "110"
    for person, share in earners:
        amount = min(max(remaining * share, income.min_wage), income.max_wage)
        employer = pick_employer(rng, params, pools, household.region)
        person.streams.append(Stream("wage", round(amount), start, employer=employer))
    recorded = sum(s.amount for p in members for s in p.streams)
    for person in adults:
        if person.streams or rng.random() >= income.unemployment_share:
            continue
        amount = round(_uniform(rng, income.unemployment_benefit))
        if household.scheme == "dibao" and recorded + amount > ceiling:
            continue
        person.streams.append(Stream("unemployment", amount, start))
        recorded += amount


def nominal_income(
    household: Household, index: int, calendar: Calendar, winter: frozenset[int]
) -> float:
    """Household income of month ``index`` as the streams say (before noise)."""
    month = calendar.month(index).month
    return sum(s.nominal(index, winter, month) for p in household.members for s in p.streams)


def assign_seasonal(
    rng: random.Random, params: SimulatorParams, households: list[Household]
) -> tuple[int, int]:
    """Make a share of all workers seasonal; returns (workers, seasonal workers).

    In a low-income household a worker becomes seasonal (or may lose a single
    month to noise) only if the household stays above the line without that
    wage: otherwise every winter would be an unlabelled fall under the line.
    """
    workers: list[tuple[Household, Stream]] = []
    for h in households:
        total = sum(s.amount for p in h.members for s in p.streams)
        for p in h.members:
            for s in p.wage_streams():
                workers.append((h, s))
                if h.scheme == "low_income":
                    s.can_miss = (total - s.amount) / len(h.members) >= 1.05 * h.line
    eligible = [(h, s) for h, s in workers if h.scheme != "low_income" or s.can_miss]
    target = math.ceil(params.noise.seasonal_share * len(workers))
    for _, stream in rng.sample(eligible, min(target, len(eligible))):
        stream.seasonal = True
    return len(workers), min(target, len(eligible))


def enrolment_amounts(
    rng: random.Random, params: SimulatorParams, household: Household
) -> tuple[float, float]:
    """(declared monthly income, monthly benefit) on the roster at enrolment."""
    worked = (12 - len(set(params.noise.seasonal_months))) / 12
    wages = sum(
        s.amount * (worked if s.seasonal else 1.0)
        for p in household.members
        for s in p.streams
        if s.kind == "wage"
    )
    others = sum(s.amount for p in household.members for s in p.streams if s.kind != "wage")
    size = len(household.members)
    if household.scheme == "dibao":
        household.other_income = round(_uniform(rng, params.income.other_income))
        declared = min(0.8 * wages + others + household.other_income, 0.95 * household.line * size)
        return round(declared), max(round(household.line * size - declared), 30)
    if household.scheme == "tekun":
        return round(others), round(household.line * 1.3 + household.care)
    household.other_income = round(_uniform(rng, params.income.other_income))
    return round(0.8 * wages + others + household.other_income), 0.0
