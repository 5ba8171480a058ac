"""The River models: per-household baselines, the region's Half-Space Trees, attribution."""

from __future__ import annotations

import random

from detectors.base import build
from detectors.models import FEATURES, HouseholdBaseline
from engine.engine import Engine
from engine.events import Event
from engine.store import MemoryStore

from .factory import batch_end, config, enrol, person, wage
from .test_monthly_detectors import months, next_month

HOUSEHOLDS = 40
MONTHS = months("2023-01", 24)
ODD = "H07"
ODD_MONTH = "2024-10"


def world() -> list[list[Event]]:
    rng = random.Random(7)
    heads = {f"H{n:02d}": person(100 + n) for n in range(HOUSEHOLDS)}
    levels = {h: rng.uniform(900, 1400) for h in heads}
    deliveries: list[list[Event]] = [
        [enrol(h, [(p, "head")], when="2023-01-02") for h, p in heads.items()]
    ]
    for month in MONTHS:
        batch: list[Event] = []
        for h, p in heads.items():
            amount = levels[h] * rng.uniform(0.9, 1.1)
            if h == ODD and month >= ODD_MONTH:
                amount = levels[h] * 3.5  # a windfall: review, not help
            batch.append(wage(p, month, round(amount), received=f"{next_month(month)}-05"))
        batch.append(batch_end(month, f"{next_month(month)}-10"))
        deliveries.append(batch)
    return deliveries


def engine_with(store: MemoryStore) -> Engine:
    cfg = config()
    model = build(
        "unusual_trajectory", {"warmup": 200, "quantile": 0.97, "window_size": 100}, "test"
    )
    detectors = [d for d in cfg.detectors if d.name != "unusual_trajectory"] + [model]
    return Engine(cfg.settings, detectors, cfg.alert_maker(), store)


def test_the_odd_household_is_flagged_with_its_reasons() -> None:
    eng = engine_with(MemoryStore())
    alerts = [
        a
        for batch in world()
        for a in eng.process(batch).alerts
        if a.detector == "unusual_trajectory"
    ]
    odd = [a for a in alerts if a.household == ODD and a.story.month == ODD_MONTH]
    assert len(odd) == 1
    alert = odd[0]
    assert alert.direction == "review"  # income far above its own level
    assert alert.evidence.features is not None
    assert set(alert.evidence.features) <= set(FEATURES)
    lead = alert.evidence.values["lead_feature"]
    assert lead in ("income_vs_recent", "income_z", "income_vs_last_year", "per_capita_vs_line")
    assert abs(sum(alert.evidence.features.values()) - 1) < 0.2 or len(
        alert.evidence.features
    ) < len(FEATURES)
    # The threshold keeps the flagged share small.
    decided = HOUSEHOLDS * (len(MONTHS) - 5)
    assert len(alerts) <= 0.1 * decided


def test_a_restart_from_the_store_continues_exactly() -> None:
    deliveries = world()
    continuous = engine_with(MemoryStore())
    expected = [a.alert_id for batch in deliveries for a in continuous.process(batch).alerts]
    store = MemoryStore()
    first = engine_with(store)
    got = [a.alert_id for batch in deliveries[:15] for a in first.process(batch).alerts]
    second = engine_with(store)  # a new process: models and clock come back from the store
    got += [a.alert_id for batch in deliveries[15:] for a in second.process(batch).alerts]
    assert got == expected


def test_household_baseline_survives_its_numbers() -> None:
    baseline = HouseholdBaseline(0.3, None)
    for value in (1000, 1100, 900, 1050, 400, 380):
        baseline.learn(value)
    again = HouseholdBaseline(0.3, baseline.numbers())
    assert again.numbers() == baseline.numbers()
    assert abs(again.z(700) - baseline.z(700)) < 1e-6
    for target in (baseline, again):
        target.learn(390)
    assert again.numbers() == baseline.numbers()
