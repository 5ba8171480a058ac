"""Each record rule fires on its case, stays quiet on its near miss."""

from __future__ import annotations

import pytest

from engine.events import Event

from .factory import engine, enrol, event, person, wage

HEAD, SPOUSE = person(61), person(62)


def family() -> list[Event]:
    return [enrol("H1", [(HEAD, "head"), (SPOUSE, "spouse")], when="2024-01-03")] + [
        wage(HEAD, f"2024-{m:02d}", 3000.0) for m in range(1, 7)
    ]


CASES = {
    "disability_onset": (
        event("disability.certified", "2024-07-02", person=SPOUSE, category="physical", level=2),
        event("disability.certified", "2024-07-02", person=SPOUSE, category="physical", level=3),
    ),
    "asset_acquired": (
        event("asset.vehicle", "2024-07-02", department="vehicles", person=HEAD, vehicle_id="冀A1", value=180000.0),
        event("asset.vehicle", "2024-07-02", department="vehicles", person=HEAD, vehicle_id="冀A1", value=60000.0),
    ),
    "moved_away": (
        event("registration.moved_out", "2024-07-02", person=SPOUSE, from_region="130126", to_region="130424"),
        event("registration.moved_out", "2024-07-02", person=SPOUSE, from_region="130126", to_region="130126"),
    ),
    "spending_spike": (
        event("medical.settlement", "2024-07-02", person=SPOUSE, settlement_id="S1", total_cost=40000.0,
              fund_paid=25000.0, out_of_pocket=15000.0, care="inpatient"),
        event("medical.settlement", "2024-07-02", person=SPOUSE, settlement_id="S1", total_cost=4000.0,
              fund_paid=2500.0, out_of_pocket=1500.0, care="inpatient"),
    ),
    "conflicting_records": (
        wage(SPOUSE, "2024-06", 1000.0, employer="E9"),  # after a benefit for the same month
        wage(SPOUSE, "2024-07", 1000.0, employer="E9"),  # a month without benefit
    ),
    "job_loss": (
        event("employment.ended", "2024-07-02", person=HEAD, employer="E1"),
        event("employment.ended", "2024-07-02", person=SPOUSE, employer="E1"),  # earns nothing
    ),
}  # fmt: skip


@pytest.mark.parametrize("detector", sorted(CASES))
def test_fires_on_its_case_and_not_on_the_near_miss(detector: str) -> None:
    case, near_miss = CASES[detector]
    setup = [
        event(
            "income.unemployment_benefit",
            "2024-06-01",
            person=SPOUSE,
            month="2024-06",
            amount=900.0,
        )
    ]
    hit = engine()
    hit.process(family() + setup)
    fired = [a for a in hit.process([case]).alerts if a.detector == detector]
    assert len(fired) == 1, [a.detector for a in hit.process([case]).alerts]
    assert fired[0].evidence.values and fired[0].reason
    miss = engine()
    miss.process(family() + setup)
    assert [a for a in miss.process([near_miss]).alerts if a.detector == detector] == []


def test_deposits_alert_once_when_they_cross_the_limit() -> None:
    eng = engine()
    eng.process(family())

    def balance(month: str, amount: float) -> Event:
        return event("asset.deposit", f"{month}-01", department="banks", person=HEAD, month=month,
                     balance=amount, bank="B")  # fmt: skip

    assert eng.process([balance("2024-05", 50000.0)]).alerts == []
    crossed = eng.process([balance("2024-06", 120000.0)]).alerts
    assert [a.detector for a in crossed] == ["asset_acquired"]
    assert eng.process([balance("2024-07", 130000.0)]).alerts == []  # still over: no new alert
