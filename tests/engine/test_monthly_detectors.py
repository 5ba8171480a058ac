"""Month rules on two-year histories: seasons are not news, real drops are."""

from __future__ import annotations

import dataclasses

from engine.alerting import AlertMaker
from engine.engine import Engine
from engine.events import Event
from engine.store import MemoryStore

from .factory import batch_end, config, engine, enrol, event, person, unreadable, wage

HEAD, SPOUSE = person(21), person(22)


def months(first: str, count: int) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def next_month(month: str) -> str:
    return months(month, 2)[1]


def history(wages: dict[str, float], spouse: dict[str, float] | None = None) -> list[list[Event]]:
    """Monthly deliveries: the month's wages, then the end-of-batch 10 days into the next month."""
    deliveries: list[list[Event]] = [
        [enrol("H1", [(HEAD, "head"), (SPOUSE, "spouse")], when="2023-01-03")]
    ]
    for month in months("2023-01", 30):
        batch = []
        if wages.get(month, 0) > 0:
            batch.append(wage(HEAD, month, wages[month], received=f"{next_month(month)}-05"))
        if spouse and spouse.get(month, 0) > 0:
            batch.append(
                wage(
                    SPOUSE, month, spouse[month], received=f"{next_month(month)}-05", employer="E2"
                )
            )
        batch.append(batch_end(month, f"{next_month(month)}-10"))
        deliveries.append(batch)
    return deliveries


def run(deliveries: list[list[Event]], eng: Engine | None = None) -> list[tuple[str, str, str]]:
    eng = eng or engine()
    alerts = []
    for batch in deliveries:
        alerts += eng.process(batch).alerts
    latest = {a.alert_id: a for a in alerts}
    return sorted((a.detector, a.story.month, a.status) for a in latest.values())


def seasonal(month: str) -> float:
    """A construction worker: nothing from December to February, every year."""
    return 0.0 if month[5:7] in ("12", "01", "02") else 1200.0


SPOUSE_WAGES = {m: 200.0 for m in months("2023-01", 30)}


def test_a_seasonal_winter_raises_nothing_once_a_winter_is_known() -> None:
    wages = {m: seasonal(m) for m in months("2023-01", 30)}
    alerts = run(history(wages, spouse=SPOUSE_WAGES))
    # The first winter has no earlier year to compare with (the engine uses the recent
    # level then; a replay would backfill it); from the second winter on, the season is known.
    assert [a for a in alerts if a[1] >= "2024-03"] == []


def test_a_four_month_off_season_beside_a_steady_income_raises_nothing() -> None:
    # No wages from November to February; the spouse's steady 400 a month goes on.
    off = ("11", "12", "01", "02")
    wages = {m: (0.0 if m[5:7] in off else 1000.0) for m in months("2023-01", 30)}
    alerts = run(history(wages, spouse={m: 400.0 for m in months("2023-01", 30)}))
    assert [a for a in alerts if a[1] >= "2024-03"] == []


def test_a_four_month_off_season_in_the_first_judged_winter_raises_nothing() -> None:
    # The household's records begin in September 2023: its first winter off
    # (November to February, the spouse's 400 going on) is last year's season
    # for the second, measured against the autumn before it (September and
    # October 2023, two of the three months), not against the winter months
    # around last November alone.
    off = ("11", "12", "01", "02")
    wages = {m: (0.0 if m[5:7] in off else 1000.0) for m in months("2023-09", 22)}
    alerts = run(history(wages, spouse={m: 400.0 for m in months("2023-09", 22)}))
    assert [a for a in alerts if a[0] == "income_drop"] == []


def test_a_job_lost_in_july_is_a_job_loss_and_an_income_drop() -> None:
    wages = {m: (0.0 if m >= "2024-07" else seasonal(m)) for m in months("2023-01", 30)}
    alerts = run(history(wages, spouse=SPOUSE_WAGES))
    found = {(d, month) for d, month, status in alerts if status == "raised"}
    assert ("job_loss", "2024-08") in found
    assert ("income_drop", "2024-08") in found
    assert not [a for a in alerts if "2024-03" <= a[1] < "2024-08"]


def test_one_missing_month_is_not_a_drop() -> None:
    wages = {m: 4000.0 for m in months("2023-01", 30)}
    wages["2024-05"] = 0.0
    alerts = run(history(wages))
    assert [a for a in alerts if a[0] in ("income_drop", "job_loss")] == []


def test_two_members_each_missing_one_month_are_not_a_drop() -> None:
    # Head and spouse each earn 2,000. May's row of the head and June's of the
    # spouse never come (lost rows, or rows whose month could not be read):
    # household income is half its level two months running, but no one's income
    # fell; each member misses one month between paid ones, noise, not a drop.
    wages = {m: 2000.0 for m in months("2023-01", 30) if m != "2024-05"}
    spouse = {m: 2000.0 for m in months("2023-01", 30) if m != "2024-06"}
    alerts = run(history(wages, spouse=spouse))
    assert [a for a in alerts if a[0] == "income_drop"] == []
    # The same months with the head's income gone in both: one member's fall, a drop.
    wages = {m: v for m, v in wages.items() if m != "2024-06"}
    found = {(d, m) for d, m, s in run(history(wages, spouse=spouse)) if s == "raised"}
    assert ("income_drop", "2024-06") in found


def test_last_years_month_within_ordinary_variation_is_not_a_season() -> None:
    # 4,000 a month; last July and August came 12.5% lower (3,500), no season
    # (a season is a month with much less: nothing from December to February).
    # This July the wages fall to 2,500 for good: 37.5% below the household's
    # level, alerted, not measured against last summer's 3,500.
    wages = {m: 4000.0 for m in months("2023-01", 30)}
    wages.update({"2023-07": 3500.0, "2023-08": 3500.0})
    wages.update({m: 2500.0 for m in months("2024-07", 12)})
    found = {(d, m) for d, m, s in run(history(wages)) if s == "raised"}
    assert ("income_drop", "2024-08") in found


def test_a_seasonal_earner_who_died_in_the_off_season_is_an_income_drop() -> None:
    # A construction worker (nothing from December to February, every year) dies
    # on 10 December 2024; the spouse's 200 goes on. Last winter's gap does not
    # explain this one: his wages do not come back in March.
    wages = {m: seasonal(m) for m in months("2023-01", 30) if m < "2024-12"}
    deliveries = history(wages, spouse=SPOUSE_WAGES)
    death = [event("registration.death", "2024-12-10", "2024-12-11", person=HEAD)]
    deliveries = [*deliveries[:24], death, *deliveries[24:]]
    found = {(d, m) for d, m, s in run(deliveries) if s == "raised"}
    assert ("income_drop", "2025-01") in found


def test_a_late_wage_withdraws_the_drop_it_caused() -> None:
    wages = {m: 4000.0 for m in months("2023-01", 30)}
    deliveries = history({m: v for m, v in wages.items() if m not in ("2024-05", "2024-06")})
    # May and June wages arrive after their batches closed, in August.
    deliveries.append([wage(HEAD, "2024-05", 4000.0, received="2024-08-20"),
                       wage(HEAD, "2024-06", 4000.0, received="2024-08-20")])  # fmt: skip
    eng = engine()
    seen = []
    for batch in deliveries[:19]:  # up to July's end-of-batch, in early August
        seen += eng.process(batch).alerts
    drops = [a for a in seen if a.detector == "income_drop"]
    assert [(a.story.month, a.status) for a in drops] == [("2024-06", "raised")]
    after = eng.process(deliveries[-1]).alerts
    assert [(a.alert_id, a.status, a.revision) for a in after if a.detector == "income_drop"] == [
        (drops[0].alert_id, "withdrawn", 2)
    ]


def test_a_late_wage_for_the_first_month_of_a_gap_withdraws_what_the_second_raised() -> None:
    wages = {m: 4000.0 for m in months("2023-01", 30) if m not in ("2024-05", "2024-06")}
    deliveries = history(wages)
    eng = engine()
    seen = [a for batch in deliveries[:19] for a in eng.process(batch).alerts]
    assert {(a.detector, a.story.month) for a in seen} >= {
        ("income_drop", "2024-06"),
        ("job_loss", "2024-06"),
    }
    # May's wage comes late; June's never does (its row could not be read).
    after = eng.process([wage(HEAD, "2024-05", 4000.0, received="2024-07-20")]).alerts
    assert sorted((a.detector, a.story.month, a.status) for a in after) == [
        ("income_drop", "2024-06", "withdrawn"),
        ("job_loss", "2024-06", "withdrawn"),
    ]


def test_a_withdrawn_drop_does_not_hold_back_the_real_one_by_its_cooldown() -> None:
    wages = {m: (4000.0 if m < "2024-07" else 1500.0) for m in months("2023-01", 30)}
    deliveries = history({m: v for m, v in wages.items() if m not in ("2024-05", "2024-06")})
    late = [wage(HEAD, "2024-05", 4000.0, received="2024-07-20"),
            wage(HEAD, "2024-06", 4000.0, received="2024-07-20")]  # fmt: skip
    alerts = run([*deliveries[:19], late, *deliveries[19:]])
    drops = [(month, status) for d, month, status in alerts if d == "income_drop"]
    # The gap of May and June was withdrawn when their wages came; the fall from
    # July on, within 90 days of it, is alerted all the same.
    assert drops == [("2024-06", "withdrawn"), ("2024-08", "raised")]
    # A detector whose alerts come and go with its models (unusual_trajectory)
    # keeps the cooldown of a withdrawn alert.
    cfg = config()
    policies = {
        name: dataclasses.replace(p, withdrawal_frees_cooldown=False)
        for name, p in cfg.policies.items()
    }
    maker = AlertMaker(
        policies, cfg.templates, "en", cfg.version, cfg.settings.alerts.cap_per_region_month
    )
    held = run(
        [*deliveries[:19], late, *deliveries[19:]],
        Engine(cfg.settings, cfg.detectors, maker, MemoryStore()),
    )
    assert [(month, status) for d, month, status in held if d == "income_drop"] == [
        ("2024-06", "withdrawn")
    ]


def test_two_months_of_unreadable_wage_rows_are_not_wages_that_stopped() -> None:
    wages = {m: 4000.0 for m in months("2023-01", 30) if m not in ("2024-05", "2024-06")}
    gap = run(history(wages))
    assert {("income_drop", "2024-06", "raised"), ("job_loss", "2024-06", "raised")} <= set(gap)
    # The same months, but their rows came and could not be read: nothing is absent.
    deliveries = history(wages)
    deliveries[17].append(unreadable(HEAD, "2024-05", "2024-06-05"))
    deliveries[18].append(unreadable(HEAD, "2024-06", "2024-07-05"))
    alerts = run(deliveries)
    assert [a for a in alerts if a[0] in ("income_drop", "job_loss", "unusual_trajectory")] == []


def test_a_month_without_rows_then_an_unreadable_one_is_not_wages_that_stopped() -> None:
    # May's wage row never came; June's came and could not be read (seen in the
    # mixed world: a lost month beside a malformed row raised job_loss).
    wages = {m: 4000.0 for m in months("2023-01", 30) if m not in ("2024-05", "2024-06")}
    deliveries = history(wages)
    deliveries[18].append(unreadable(HEAD, "2024-06", "2024-07-05"))
    alerts = run(deliveries)
    assert [a for a in alerts if a[0] == "job_loss"] == []


def test_an_unreadable_row_of_either_kind_counts_for_wages_too() -> None:
    # A row whose record type could not be read either (record_kind None).
    wages = {m: 4000.0 for m in months("2023-01", 30) if m not in ("2024-05", "2024-06")}
    deliveries = history(wages)
    deliveries[17].append(unreadable(HEAD, "2024-05", "2024-06-05", record_kind=None))
    deliveries[18].append(unreadable(HEAD, "2024-06", "2024-07-05", record_kind=None))
    assert [a for a in run(deliveries) if a[0] in ("income_drop", "job_loss")] == []


def test_an_unreadable_pension_row_does_not_hide_wages_that_stopped() -> None:
    wages = {m: 4000.0 for m in months("2023-01", 30) if m < "2024-05"}
    deliveries = history(wages)
    deliveries[17].append(unreadable(HEAD, "2024-05", "2024-06-05", "income.pension"))
    deliveries[18].append(unreadable(HEAD, "2024-06", "2024-07-05", "income.pension"))
    found = {(d, m) for d, m, status in run(deliveries) if status == "raised"}
    assert ("job_loss", "2024-06") in found


def test_an_unreadable_row_arriving_late_withdraws_what_its_absence_raised() -> None:
    wages = {m: 4000.0 for m in months("2023-01", 30) if m not in ("2024-05", "2024-06")}
    deliveries = history(wages)
    # The rows of May and June come late, after June was decided (and alerted on),
    # and cannot be read.
    deliveries[19].append(unreadable(HEAD, "2024-05", "2024-08-05"))
    deliveries[19].append(unreadable(HEAD, "2024-06", "2024-08-05"))
    alerts = run(deliveries)
    assert sorted((d, m, s) for d, m, s in alerts if d in ("income_drop", "job_loss")) == [
        ("income_drop", "2024-06", "withdrawn"),
        ("job_loss", "2024-06", "withdrawn"),
    ]


def test_income_above_the_line_for_three_months_is_one_review() -> None:
    wages = {m: (900.0 if m < "2024-04" else 5200.0) for m in months("2023-01", 30)}
    alerts = run(history(wages))
    above = [a for a in alerts if a[0] == "income_above_line"]
    assert above == [("income_above_line", "2024-06", "raised")]


def test_an_unreadable_month_does_not_break_a_run_above_the_line() -> None:
    wages = {m: (900.0 if m < "2024-04" else 5200.0) for m in months("2023-01", 30)}
    del wages["2024-05"]
    deliveries = history(wages)
    deliveries[17].append(unreadable(HEAD, "2024-05", "2024-06-05"))
    above = [a for a in run(deliveries) if a[0] == "income_above_line"]
    assert above == [("income_above_line", "2024-06", "raised")]


def test_a_month_without_a_wage_row_does_not_break_a_run_above_the_line() -> None:
    # May's row never came (lost, or rejected with an unreadable ID number): the
    # wages of April and June say the job went on, so the run from April holds.
    wages = {m: (900.0 if m < "2024-04" else 5200.0) for m in months("2023-01", 30)}
    del wages["2024-05"]
    above = [a for a in run(history(wages)) if a[0] == "income_above_line"]
    assert above == [("income_above_line", "2024-06", "raised")]


def test_an_unreadable_first_wage_row_starts_the_run_above_the_line() -> None:
    # A new job's first row (April) could not be read and nothing was paid
    # before it: May's wages say what April's row held.
    wages = {m: 5200.0 for m in months("2024-05", 14)}
    deliveries = history(wages)
    deliveries[16].append(unreadable(HEAD, "2024-04", "2024-05-05"))
    above = [a for a in run(deliveries) if a[0] == "income_above_line"]
    assert above == [("income_above_line", "2024-06", "raised")]


def test_a_household_back_above_the_line_after_a_short_dip_is_not_reviewed_again() -> None:
    # Above the line from January 2024 (reviewed in March); two months under it in
    # January and February 2025, then above again: no new review once the
    # 365-day cooldown has run out, the household never left the line behind.
    wages = {m: (900.0 if m < "2024-01" else 5200.0) for m in months("2023-01", 30)}
    dip = dict(wages, **{"2025-01": 900.0, "2025-02": 900.0})
    above = [(m, s) for d, m, s in run(history(dip)) if d == "income_above_line"]
    assert above == [("2024-03", "raised")]
    # Under it for four months running, it crosses the line anew: a new review.
    fall = dict(dip, **{"2024-11": 900.0, "2024-12": 900.0})
    above = [(m, s) for d, m, s in run(history(fall)) if d == "income_above_line"]
    assert above == [("2024-03", "raised"), ("2025-05", "raised")]


def test_a_winter_under_the_line_seen_the_winter_before_is_not_a_new_crossing() -> None:
    # Above the line from March to November, under it from December to February,
    # every year: the second winter has no year before it to tell, so the spring
    # after it is a new review; the third winter is the second's again.
    wages = {m: (0.0 if m[5:7] in ("12", "01", "02") else 5200.0) for m in months("2023-01", 30)}
    above = [(m, s) for d, m, s in run(history(wages)) if d == "income_above_line"]
    assert above == [("2023-05", "raised"), ("2024-05", "raised")]


def test_a_low_income_household_falling_under_the_line() -> None:
    eng = engine()
    deliveries = history({m: (2600.0 if m < "2024-03" else 900.0) for m in months("2023-01", 30)})
    deliveries[0] = [
        enrol("H1", [(HEAD, "head"), (SPOUSE, "spouse")], when="2023-01-03", scheme="low_income")
    ]
    alerts = []
    for batch in deliveries:
        alerts += eng.process(batch).alerts
    under = [(a.story.month, a.status) for a in alerts if a.detector == "fell_under_line"]
    assert under == [("2024-04", "raised")]


def test_absence_is_not_judged_on_a_month_with_a_missing_batch() -> None:
    wages = {m: (4000.0 if m < "2024-06" else 0.0) for m in months("2023-01", 30)}
    deliveries = history(wages)
    # June's and July's end-of-batch never come: those months close by grace, incomplete.
    deliveries = [
        [
            e
            for e in batch
            if not (
                e.__struct_config__.tag == "batch.end"
                and getattr(e, "month", "") in ("2024-06", "2024-07")
            )
        ]
        for batch in deliveries
    ]
    eng = engine()
    results = [eng.process(batch) for batch in deliveries]
    alerts = [a for r in results for a in r.alerts]
    assert not [
        a
        for a in alerts
        if a.detector in ("job_loss", "income_drop") and a.story.month <= "2024-07"
    ]
    assert {o.month for r in results for o in r.operator} >= {"2024-06", "2024-07"}


def test_a_death_is_not_also_a_conflict() -> None:
    eng = engine()
    eng.process([enrol("H1", [(HEAD, "head"), (SPOUSE, "spouse")], when="2023-01-03")])
    eng.process([wage(HEAD, m, 3000.0) for m in months("2023-01", 6)])
    alerts = eng.process([event("registration.death", "2023-06-20", person=HEAD)]).alerts
    assert "conflicting_records" not in {a.detector for a in alerts}


def test_a_region_calendar_stays_bounded_as_months_go_by() -> None:
    from engine.calendar import decode_calendar
    from engine.store import MemoryStore, region_key
    from engine.timeline import month_index

    store = MemoryStore()
    eng = engine(store)
    for batch in history({m: 4000.0 for m in months("2023-01", 30)}):
        eng.process(batch)
    book = decode_calendar(store.values[region_key("130126")])
    assert book.decided == month_index("2025-06")  # the last month of the history
    assert sorted({b.month for b in book.batches}) == list(
        range(book.decided - 5, book.decided + 1)
    )
    assert all(m >= book.decided - 5 for m in book.alerts)
