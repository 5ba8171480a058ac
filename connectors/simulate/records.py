"""Department records in event terms: one builder per kind of record.

A :class:`Row` is what a department would deliver, still in normalised terms
(event field -> value, raw ID numbers and names); the delivery module puts
it in a file and the renderer writes it in the department's layout. Which
layout carries a kind is looked up in the mappings, never assumed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from connectors.simulate.model import Account, Calendar, Employer, Household, Label, Person
from connectors.simulate.render import Coded, Member
from connectors.simulate.settings import SimulatorSettings

HOSPITAL_KINDS = ("人民医院", "中医院", "妇幼保健院")
TOWNS = ("城关", "南关", "北街", "东旺", "西营", "青同", "塔上", "三圣院", "慈峪", "柳林")
BANKS = ("中国农业银行", "中国邮政储蓄银行", "农村信用合作联社", "中国建设银行")
BRANDS = ("五菱牌", "大众牌", "长安牌", "吉利牌", "比亚迪牌", "长城牌", "丰田牌", "奥迪牌")


@dataclass(slots=True)
class Row:
    """One record a department delivers."""

    layout: str  # "department/layout"
    kind: str
    values: dict[str, Any]
    extras: dict[str, str]
    day: dt.date  # the record's date; for monthly records the first of its month
    order: tuple[Any, ...]  # where it sorts in its file
    kind_code: str | None = None
    label: Label | None = None  # the life event this record reveals, if any
    group: int = 0  # which of the label's evidence groups
    malformed: str = ""  # set by the delivery noise: how the raw row is broken
    substitute: dict[str, Any] = field(default_factory=dict)  # values sent instead (corrections)


class RecordBook:
    """Builds rows for every kind the world produces; knows which layout carries each."""

    def __init__(self, settings: SimulatorSettings, calendar: Calendar) -> None:
        self.settings = settings
        self.calendar = calendar
        self.names = settings.params.place_names
        self.rows: list[Row] = []
        self._settlements = 0
        self._assets = 0
        self._layouts: dict[tuple[str, str], str] = {}

    def layout(self, department: str, kind: str) -> str:
        """The ``department/layout`` that carries ``kind``, as the mappings say."""
        key = (department, kind)
        if key not in self._layouts:
            self._layouts[key] = self.settings.layout_for_kind(department, kind)
        return self._layouts[key]

    def add(self, row: Row, label: Label | None = None, group: int = 0) -> Row:
        row.label, row.group = label, group
        self.rows.append(row)
        return row

    # --- civil affairs ---------------------------------------------------------

    def enrolled(self, h: Household, declared: float, benefit: float) -> Row:
        members = [
            Member(
                {"person": p.id_number, "relation": Coded(p.relation, p.relation_code)},
                {"name": p.name},
            )
            for p in h.members
            if p.joined is None
        ]
        values = {
            "household": h.case,
            "region": h.region,
            "event_time": h.enrolled,
            "scheme": h.scheme,
            "residence": h.residence,
            "monthly_benefit": benefit,
            "declared_income": declared,
            "members": members,
        }
        return self.add(
            Row(
                self.layout("civil_affairs", "roster.enrolled"),
                "roster.enrolled",
                values,
                {},
                h.enrolled,
                (h.case,),
            )
        )

    def member_added(self, h: Household, p: Person, day: dt.date, label: Label | None) -> Row:
        values = {
            "household": h.case,
            "region": h.region,
            "event_time": day,
            "person": p.id_number,
            "relation": Coded(p.relation, p.relation_code),
        }
        row = Row(
            self.layout("civil_affairs", "roster.member_added"),
            "roster.member_added",
            values,
            {"name": p.name},
            day,
            (h.case,),
        )
        return self.add(row, label)

    def member_removed(self, h: Household, p: Person, day: dt.date, reason: str) -> Row:
        values = {"household": h.case, "region": h.region, "event_time": day}
        values.update(person=p.id_number, reason=reason)
        row = Row(
            self.layout("civil_affairs", "roster.member_removed"),
            "roster.member_removed",
            values,
            {"name": p.name},
            day,
            (h.case,),
        )
        return self.add(row)

    def exited(self, h: Household, day: dt.date, reason: str, label: Label | None = None) -> Row:
        values = {"household": h.case, "region": h.region, "event_time": day, "reason": reason}
        return self.add(
            Row(
                self.layout("civil_affairs", "roster.exited"),
                "roster.exited",
                values,
                {},
                day,
                (h.case,),
            ),
            label,
        )

    # --- public security and exchange: registration ------------------------------

    def death(self, p: Person, day: dt.date, region: str, label: Label | None) -> Row:
        values = {"person": p.id_number, "event_time": day, "region": region}
        if region[:2] != p.region[:2]:  # died in another province: the exchange reports it
            row = Row(
                self.layout("exchange", "registration.death"),
                "registration.death",
                values,
                {"name": p.name},
                day,
                (day,),
            )
        else:
            row = Row(
                self.layout("public_security", "registration.death"),
                "registration.death",
                values,
                {"name": p.name},
                day,
                (day,),
            )
        return self.add(row, label)

    def birth(self, baby: Person, parent: Person, region: str, label: Label) -> Row:
        values = {"person": baby.id_number, "event_time": baby.birth, "region": region}
        values["parent"] = parent.id_number
        day = baby.birth
        row = Row(
            self.layout("public_security", "registration.birth"),
            "registration.birth",
            values,
            {"name": baby.name},
            day,
            (day,),
        )
        return self.add(row, label)

    def moved_out(self, p: Person, day: dt.date, home: str, to: str, label: Label) -> Row:
        values = {"person": p.id_number, "event_time": day, "region": home}
        values.update(from_region=home, to_region=to)
        row = Row(
            self.layout("public_security", "registration.moved_out"),
            "registration.moved_out",
            values,
            {"name": p.name},
            day,
            (day,),
        )
        return self.add(row, label)

    # --- human resources -----------------------------------------------------------

    def income(
        self, p: Person, kind: str, index: int, amount: float, employer: Employer | None, code: str
    ) -> Row:
        month = self.calendar.month(index)
        values: dict[str, Any] = {
            "person": p.id_number,
            "month": month.strftime("%Y-%m"),
            "event_time": month,
            "amount": amount,
        }
        extras = {"name": p.name}
        if kind == "income.wage":
            assert employer is not None
            values["region"] = employer.office
            values["employer"] = employer.name if employer.exchange else employer.code
            extras["employer_name"] = employer.name
            layout = self.layout("exchange" if employer.exchange else "human_resources", kind)
            order: tuple[Any, ...] = (employer.office, employer.code, p.id_number)
            return self.add(Row(layout, kind, values, extras, month, order))
        values["region"] = p.region
        row = Row(
            self.layout("human_resources", kind),
            kind,
            values,
            extras,
            month,
            (p.id_number,),
            kind_code=code,
        )
        return self.add(row)

    def employment(
        self,
        p: Person,
        employer: Employer,
        day: dt.date,
        started: bool,
        label: Label | None,
        reason: str = "",
    ) -> Row:
        kind = "employment.started" if started else "employment.ended"
        values = {"person": p.id_number, "employer": employer.code, "event_time": day}
        values["region"] = employer.office
        if reason:
            values["reason"] = reason
        extras = {"name": p.name, "employer_name": employer.name}
        return self.add(
            Row(self.layout("human_resources", kind), kind, values, extras, day, (day,)), label
        )

    # --- medical insurance -----------------------------------------------------------

    def hospital(self, region: str, seed: int, large: bool) -> str:
        name = self.names[region]
        if large:
            return name + HOSPITAL_KINDS[seed % len(HOSPITAL_KINDS)]
        return f"{name}{TOWNS[seed % len(TOWNS)]}卫生院"

    def settlement(
        self,
        p: Person,
        when: dt.datetime,
        region: str,
        total: float,
        fund: float,
        care_code: str,
        major: bool = False,
        label: Label | None = None,
    ) -> Row:
        self._settlements += 1
        exchange = region != p.region  # treated elsewhere: the exchange reports it
        care = "inpatient" if care_code in ("21", "22") else "outpatient"
        values: dict[str, Any] = {
            "person": p.id_number,
            "region": region,
            "total_cost": round(total, 2),
            "fund_paid": round(fund, 2),
            "out_of_pocket": round(round(total, 2) - round(fund, 2), 2),
        }
        extras = {
            "name": p.name,
            "hospital": self.hospital(region, self._settlements, care == "inpatient"),
        }
        if exchange:
            values.update(
                settlement_id=f"X{region}{when:%Y%m%d}{self._settlements:08d}",
                event_time=when.date(),
                care=care,
            )
            row = Row(
                self.layout("exchange", "medical.settlement"),
                "medical.settlement",
                values,
                extras,
                when.date(),
                (when,),
            )
        else:
            values.update(
                settlement_id=f"{region}{when:%Y%m%d}{self._settlements:08d}",
                event_time=when,
                care=Coded(care, care_code),
                major_illness=major,
            )
            row = Row(
                self.layout("medical_insurance", "medical.settlement"),
                "medical.settlement",
                values,
                extras,
                when.date(),
                (when,),
            )
        return self.add(row, label)

    # --- disabled persons' federation ----------------------------------------------------

    def certified(
        self, p: Person, day: dt.date, category: str, level: int, region: str, label: Label | None
    ) -> Row:
        values = {"person": p.id_number, "event_time": day, "region": region}
        values.update(category=category, level=level)
        codes = {"visual": 1, "hearing": 2, "speech": 3, "physical": 4, "intellectual": 5,
                 "mental": 6, "multiple": 7}  # fmt: skip
        extras = {"name": p.name, "certificate_number": f"{p.id_number}{codes[category]}{level}"}
        row = Row(
            self.layout("disabled_federation", "disability.certified"),
            "disability.certified",
            values,
            extras,
            day,
            (day,),
        )
        return self.add(row, label)

    # --- housing, vehicles, companies, banks ----------------------------------------------

    def _asset_serial(self) -> int:
        self._assets += 1
        return self._assets

    def property(self, p: Person, day: dt.date, region: str, area: float, label: Label) -> Row:
        serial = self._asset_serial()
        unit = f"{region}{serial % 1000:03d}{serial % 997:03d}GB{serial:05d}F{serial % 10000:08d}"
        values = {"person": p.id_number, "property_id": unit, "event_time": day, "region": region}
        values["area_m2"] = area
        address = f"{self.names[region]}{TOWNS[serial % len(TOWNS)]}小区{serial % 30 + 1}号楼"
        extras = {"name": p.name, "address": address}
        return self.add(
            Row(
                self.layout("housing", "asset.property"),
                "asset.property",
                values,
                extras,
                day,
                (day,),
            ),
            label,
        )

    def vehicle(
        self, p: Person, day: dt.date, region: str, value: float, plate: str, label: Label
    ) -> Row:
        values = {"person": p.id_number, "vehicle_id": plate, "event_time": day, "region": region}
        values["value"] = value
        extras = {"name": p.name, "vehicle_brand": BRANDS[self._asset_serial() % len(BRANDS)]}
        return self.add(
            Row(
                self.layout("vehicles", "asset.vehicle"),
                "asset.vehicle",
                values,
                extras,
                day,
                (day,),
            ),
            label,
        )

    def company(
        self,
        p: Person,
        day: dt.date,
        region: str,
        capital: float,
        code: str,
        name: str,
        label: Label,
    ) -> Row:
        values = {"person": p.id_number, "company_id": code, "event_time": day, "region": region}
        values["capital"] = capital
        extras = {"name": p.name, "company_name": name}
        return self.add(
            Row(
                self.layout("market_regulation", "asset.company"),
                "asset.company",
                values,
                extras,
                day,
                (day,),
            ),
            label,
        )

    def deposit(self, p: Person, account: Account, index: int, balance: float, region: str) -> Row:
        month = self.calendar.month(index)
        values = {
            "person": p.id_number,
            "bank": account.bank,
            "month": month.strftime("%Y-%m"),
            "event_time": month,
            "balance": round(balance, 2),
            "region": region,
        }
        row = Row(
            self.layout("banks", "asset.deposit"),
            "asset.deposit",
            values,
            {"name": p.name},
            month,
            (p.id_number,),
        )
        return self.add(row)


def bank_name(names: dict[str, str], region: str, seed: int) -> str:
    return f"{BANKS[seed % len(BANKS)]}{names[region]}支行"
