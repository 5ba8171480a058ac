"""Life events of assets: a home, a car (dear or cheap), a company, savings over the limit."""

from __future__ import annotations

import random

from connectors.simulate.income import TRADES, WORDS
from connectors.simulate.life_events import Injector, register
from connectors.simulate.model import Household, Person

PLATE_PREFIX = {"1301": "冀A", "1302": "冀B", "1303": "冀C", "1304": "冀D", "1305": "冀E",
                "1306": "冀F", "1307": "冀G", "1308": "冀H", "1309": "冀J", "1310": "冀R",
                "1311": "冀T"}  # fmt: skip
_PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(rng: random.Random, region: str) -> str:
    """A unified social credit code (GB 32100): 17 characters and a check character."""
    body = "91" + region + "MA" + "".join(rng.choice(_USCC_CHARS) for _ in range(7))
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_CHARS[(31 - total % 31) % 31]


def _owner(inj: Injector, h: Household, m: int) -> Person | None:
    day = inj.calendar.month(m)
    adults = [p for p in h.present(day) if p.age(day) >= 20]
    return inj.rng.choice(adults) if adults else None


@register("property")
def property_registered(inj: Injector, h: Household, m: int) -> bool:
    """A member registers a home, in the county or in a district of its city."""
    person = _owner(inj, h, m)
    if person is None:
        return False
    day = inj.day(m)
    places = inj.params.places[h.region]
    region = h.region if inj.rng.random() < 0.7 else inj.rng.choice(places.same_city)
    area = round(inj.rng.uniform(45, 140), 2)
    label = inj.label("property", h, person, day, area_m2=area, registered_in=region)
    inj.book.property(person, day, region, area, label)
    return True


def _vehicle(inj: Injector, h: Household, m: int, dear: bool) -> bool:
    person = _owner(inj, h, m)
    if person is None:
        return False
    limit = inj.params.events.vehicle_value_limit
    if dear:
        value = round(inj.rng.uniform(limit * 1.05, limit * 3), -2)
    else:
        value = round(inj.rng.uniform(15000, limit * 0.8), -2)
    day = inj.day(m)
    event = "vehicle" if dear else "vehicle_cheap"
    label = inj.label(event, h, person, day, value=value, limit=limit)
    plate = PLATE_PREFIX.get(h.region[:4], "冀X") + "".join(
        inj.rng.choice(_PLATE_CHARS) for _ in range(5)
    )
    inj.book.vehicle(person, day, h.region, value, plate, label)
    return True


@register("vehicle")
def vehicle(inj: Injector, h: Household, m: int) -> bool:
    """A member registers a vehicle worth more than the limit."""
    return _vehicle(inj, h, m, dear=True)


@register("vehicle_cheap")
def vehicle_cheap(inj: Injector, h: Household, m: int) -> bool:
    """A member registers a used or small vehicle worth less than the limit (a control)."""
    return _vehicle(inj, h, m, dear=False)


@register("company")
def company(inj: Injector, h: Household, m: int) -> bool:
    """A member becomes the legal representative of a new company."""
    person = _owner(inj, h, m)
    if person is None:
        return False
    day = inj.day(m)
    capital = inj.rng.randint(10, 200) * 10000
    name = (
        f"{inj.params.place_names[h.region]}{inj.rng.choice(WORDS)}{inj.rng.choice(TRADES)}有限公司"
    )
    code = uscc(inj.rng, h.region)
    label = inj.label("company", h, person, day, capital=float(capital))
    inj.book.company(person, day, h.region, capital, code, name, label)
    return True


@register("deposit_over_limit")
def deposit_over_limit(inj: Injector, h: Household, m: int) -> bool:
    """An account holder's balance jumps over the limit (compensation, inheritance) and stays."""
    day = inj.calendar.month(m)
    holders = [p for p in h.present(day) if p.accounts]
    if not holders:
        return False
    person = inj.rng.choice(holders)
    account = person.accounts[0]
    limit = inj.params.events.deposit_limit
    balance = round(inj.rng.uniform(1.3, 3.0) * limit, 2)
    label = inj.label("deposit_over_limit", h, person, day, balance_after=balance, limit=limit)
    account.jumps.append((m, balance))
    account.evidence[m] = (label, 0)
    return True
