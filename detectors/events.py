"""Rules a single record can trip: a death, a certificate, a move, an asset, a conflict.

Each fires when the record that reveals the life event is applied (not at month
close), so caseworkers hear within minutes of its arrival.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from detectors.base import Detector, Evidence, Finding, View, register
from engine import events as ev
from engine.household import Change, amount_at, event_month, household_income, income_share
from engine.identity import RegionRelation, region_relation
from engine.state import BENEFIT, DEPOSIT, MEDICAL, PENSION, WAGE, MemberState
from engine.timeline import day_index, day_timestamp, first_day, month_name, month_of_day

Share = Annotated[float, msgspec.Meta(gt=0, le=1)]
Months = Annotated[int, msgspec.Meta(ge=1, le=12)]
Yuan = Annotated[float, msgspec.Meta(ge=0)]


def _member(view: View, change: Change) -> MemberState | None:
    return view.state.member_at(change.position)


def recent_months(month: int, months: int) -> list[int]:
    """The ``months`` months before ``month``."""
    return list(range(month - months, month))


def _kind(event: ev.Event) -> str:
    return str(event.__struct_config__.tag)


@register("earner_death", direction="help")
class EarnerDeath(Detector):
    """A member who brought in a large share of the household's income died.

    Judged whenever the records of a member who has died change: the death
    may arrive before the wages that show what the member earned.
    """

    def __init__(self, min_share: Share = 0.4, months: Months = 6) -> None:
        self.min_share = min_share
        self.months = months

    def on_record(self, view: View, event: ev.Event, change: Change) -> list[Finding]:
        member = _member(view, change)
        if not change.changed or member is None or member.died is None:
            return []
        month = month_of_day(member.died)
        if change.month is not None and change.month >= month:
            return []  # records after the death do not change what the member earned before
        share = income_share(view.state, member, recent_months(month, self.months))
        if share < self.min_share:
            return []
        died = day_timestamp(member.died)
        return [
            Finding(
                self.name,
                f"death:{member.position}",
                month,
                member.position,
                rule=f"a member with at least {self.min_share:.0%} of household income died",
                values={"income_share": round(share, 3), "died": died[:10]},
                baseline={"months": self.months},
                records=(Evidence(event),),
                event_time=died,
            )
        ]


@register("sole_member_died", direction="review")
class SoleMemberDied(Detector):
    """Every member of the household has died: payments must stop."""

    def on_record(self, view: View, event: ev.Event, change: Change) -> list[Finding]:
        if not isinstance(event, ev.Death) or not change.changed:
            return []
        day = day_index(event.event_time)
        active = [m for m in view.state.members if m.active(day)]
        if not active or any(m.died is None for m in active):
            return []
        return [
            Finding(
                self.name,
                "all_died",
                event_month(event),
                change.position,
                rule="the only member, or every member, of the household died",
                values={"members": len(active), "last_death": event.event_time[:10]},
                records=(Evidence(event),),
                event_time=event.event_time,
            )
        ]


@register("disability_onset", direction="help")
class DisabilityOnset(Detector):
    """A member newly certified at a severe level."""

    def __init__(self, max_level: Annotated[int, msgspec.Meta(ge=1, le=4)] = 2) -> None:
        self.max_level = max_level

    def on_record(self, view: View, event: ev.Event, change: Change) -> list[Finding]:
        if not isinstance(event, ev.DisabilityCertified) or not change.changed:
            return []
        before = int(change.previous.get("level", 0) or 0)  # type: ignore[call-overload]
        if event.level > self.max_level or (before and before <= self.max_level):
            return []
        return [
            Finding(
                self.name,
                f"level:{change.position}:{event.level}",
                event_month(event),
                change.position,
                rule=f"a member newly certified with a level 1 to {self.max_level} disability",
                values={
                    "level": int(event.level),
                    "category": event.category,
                    "previous_level": before,
                },
                records=(Evidence(event),),
                event_time=event.event_time,
            )
        ]


@register("moved_away", direction="review")
class MovedAway(Detector):
    """A member's registration moved out of the county."""

    def on_record(self, view: View, event: ev.Event, change: Change) -> list[Finding]:
        if not isinstance(event, ev.MovedOut) or not change.changed:
            return []
        relation = region_relation(view.state.region, event.to_region)
        if relation is RegionRelation.SAME_COUNTY:
            return []
        return [
            Finding(
                self.name,
                f"moved:{change.position}:{event.event_time[:10]}",
                event_month(event),
                change.position,
                rule="a member's registration moved out of the county",
                values={
                    "to_region": event.to_region,
                    "from_region": event.from_region,
                    "relation": relation.value,
                },
                records=(Evidence(event),),
                event_time=event.event_time,
            )
        ]


@register("asset_acquired", direction="review")
class AssetAcquired(Detector):
    """Property, a costly vehicle or a company registered to a member; savings over the limit."""

    def __init__(self, vehicle_limit: Yuan = 100000, deposit_limit: Yuan = 100000) -> None:
        self.vehicle_limit = vehicle_limit
        self.deposit_limit = deposit_limit

    def on_record(self, view: View, event: ev.Event, change: Change) -> list[Finding]:
        if not change.changed:
            return []
        month = event_month(event)
        values: dict[str, float | str | int | bool | None]
        if isinstance(event, ev.PropertyRegistered):
            asset, values = "property", {"property_id": event.property_id, "area_m2": event.area_m2}
        elif isinstance(event, ev.VehicleRegistered) and event.value > self.vehicle_limit:
            asset, values = "vehicle", {"value": event.value, "limit": self.vehicle_limit}
        elif isinstance(event, ev.CompanyRegistered):
            asset, values = "company", {"capital": event.capital}
        elif isinstance(event, ev.DepositBalance):
            total = _deposits(view, month)
            if total <= self.deposit_limit or _deposits(view, month - 1) > self.deposit_limit:
                return []  # under the limit, or already over it last month (alerted then)
            asset, values = "deposit", {"household_deposits": total, "limit": self.deposit_limit}
            return [self._finding(f"deposit:{month}", month, 0, asset, values, event)]
        else:
            return []
        return [
            self._finding(f"{asset}:{event.event_id}", month, change.position, asset, values, event)
        ]

    def _finding(
        self,
        trigger: str,
        month: int,
        position: int,
        asset: str,
        values: dict[str, float | str | int | bool | None],
        event: ev.Event,
    ) -> Finding:
        return Finding(
            self.name,
            trigger,
            month,
            position,
            rule=f"{asset} registered to a member of an assisted household",
            values={"asset": asset, **values},
            records=(Evidence(event),),
            event_time=event.event_time,
        )


_AFTER_DEATH = {WAGE: "wages", PENSION: "pension", MEDICAL: "medical claims"}


@register("conflicting_records", direction="data")
class ConflictingRecords(Detector):
    """Records that contradict each other: payments after a death, work while unemployed."""

    def on_record(self, view: View, event: ev.Event, change: Change) -> list[Finding]:
        if not change.changed or change.position == 0:
            return []
        member = view.state.member_at(change.position)
        if member is None:
            return []
        findings = []
        if member.died is not None:
            death_month = month_of_day(member.died)
            late = [
                e
                for e in view.state.ledger
                if e.position == member.position
                and e.source in _AFTER_DEATH
                and (e.month > death_month)
            ]
            for source in sorted({e.source for e in late}):
                months = sorted({e.month for e in late if e.source == source})
                findings.append(
                    Finding(
                        self.name,
                        f"after_death:{member.position}:{source}",
                        months[0],
                        member.position,
                        rule=f"{_AFTER_DEATH[source]} dated after the member's recorded death",
                        values={
                            "rule_text": "after_death",
                            "died": month_name(death_month),
                            "records_after": len(months),
                            "first_month_after": month_name(months[0]),
                            "source": _AFTER_DEATH[source],
                        },
                        records=(Evidence(event),),
                        event_time=day_timestamp(first_day(months[0])),
                    )
                )
        wage_months = {
            e.month for e in view.state.ledger if e.position == member.position and e.source == WAGE
        }
        benefit_months = {
            e.month
            for e in view.state.ledger
            if e.position == member.position and e.source == BENEFIT
        }
        for month in sorted(wage_months & benefit_months):
            findings.append(
                Finding(
                    self.name,
                    f"work_and_benefit:{member.position}:{month}",
                    month,
                    member.position,
                    rule="wages paid in a month the member also drew unemployment benefit",
                    values={"rule_text": "work_and_benefit", "month": month_name(month)},
                    records=(Evidence(event),),
                    event_time=day_timestamp(first_day(month)),
                )
            )
        return findings


@register("spending_spike", direction="help")
class SpendingSpike(Detector):
    """Medical spending the family cannot carry: one large inpatient bill.

    The monthly part (spending against income and against the household's own
    baseline) is evaluated when a month is decided.
    """

    def __init__(
        self,
        min_out_of_pocket: Yuan = 10000,
        share_of_income: Annotated[float, msgspec.Meta(gt=0, le=10)] = 0.5,
        min_month_amount: Yuan = 2000,
    ) -> None:
        self.min_out_of_pocket = min_out_of_pocket
        self.share_of_income = share_of_income
        self.min_month_amount = min_month_amount

    def on_month(self, view: View, month: int) -> list[Finding]:
        state = view.state
        spent = amount_at(state.medical, state, month)
        if spent < self.min_month_amount:
            return []
        income = sum(household_income(state, m) for m in range(month - 2, month + 1)) / 3
        if spent < self.share_of_income * income:
            return []
        return [
            Finding(
                self.name,
                f"month:{month_name(month)}",
                month,
                0,
                rule=(
                    f"out-of-pocket medical spending of a month at least "
                    f"{self.share_of_income:.0%} of household monthly income"
                ),
                values={
                    "basis": "one_month",
                    "out_of_pocket": spent,
                    "monthly_income": round(income),
                    "share": round(spent / income, 2) if income else None,
                },
            )
        ]

    def on_record(self, view: View, event: ev.Event, change: Change) -> list[Finding]:
        if not (
            isinstance(event, ev.MedicalSettlement) and change.changed and event.care == "inpatient"
        ):
            return []
        if event.out_of_pocket < self.min_out_of_pocket:
            return []
        return [
            Finding(
                self.name,
                f"stay:{event.settlement_id}",
                event_month(event),
                change.position,
                rule=(
                    f"one inpatient settlement with at least {self.min_out_of_pocket:,.0f} "
                    "yuan out of pocket"
                ),
                values={
                    "basis": "one_stay",
                    "out_of_pocket": event.out_of_pocket,
                    "total_cost": event.total_cost,
                    "major_illness": event.major_illness,
                },
                records=(Evidence(event),),
                event_time=event.event_time,
            )
        ]


def _deposits(view: View, month: int) -> int:
    """The household's deposit balances reported for a month (0 if none are on record)."""
    return sum(e.amount for e in view.state.ledger if e.source == DEPOSIT and e.month == month)
