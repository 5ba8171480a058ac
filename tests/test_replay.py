"""lifeline replay: deterministic, the same alerts from raw files and from their events."""

from __future__ import annotations

import orjson

from connectors.evaluate import Label, acceptable, expected, latest_alerts, score
from connectors.files import Reject, ingest_file
from connectors.mapping import Catalog
from connectors.replay import plan_deliveries
from engine.alert import parse_alert
from engine.events import encode
from engine.identity import Pseudonymiser

from .test_cli import KEY, ROOT, SAMPLES, run


def alerts_of(path) -> list[dict]:  # type: ignore[no-untyped-def]
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_replay_is_deterministic_and_events_replay_alike(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first, second = tmp_path / "a", tmp_path / "b"
    assert run(["replay", str(SAMPLES), "--out", str(first)], KEY).returncode == 0
    assert run(["replay", str(SAMPLES), "--out", str(second)], KEY).returncode == 0
    assert (first / "alerts.jsonl").read_bytes() == (second / "alerts.jsonl").read_bytes()
    summary = orjson.loads((first / "summary.json").read_bytes())
    assert summary["alerts"] > 10 and summary["households"] == 40

    # The same records as normalised events, stamped with the same arrival times,
    # replayed in one batch: the alerts left standing are the same.
    events = tmp_path / "events.jsonl"
    catalog = Catalog.load(ROOT / "config" / "connectors")
    pseudonymiser = Pseudonymiser(
        KEY["LIFELINE_PSEUDONYM_KEY_ID"], KEY["LIFELINE_PSEUDONYM_KEY"].encode()
    )
    with events.open("wb") as out:
        for delivery in plan_deliveries(SAMPLES):
            for item in ingest_file(
                delivery.path, catalog, pseudonymiser, received_at=delivery.received_at
            ):
                if not isinstance(item, Reject):
                    out.write(encode(item) + b"\n")
    third = tmp_path / "c"
    result = run(["replay", "--events", str(events), "--out", str(third), "--batch-size", "100000"])
    assert result.returncode == 0, result.stderr

    def standing(path):  # type: ignore[no-untyped-def]
        return {
            (a.household, a.detector, a.story.month)
            for a in latest_alerts(parse_alert(x) for x in alerts_of(path / "alerts.jsonl"))
            if a.status != "capped"
        }

    assert standing(third) == standing(first)


def label(event: str, **details: object) -> Label:
    return Label("L1", "H1", event, "2025-03-10", "2025-03", 1, details)


def test_expectations_follow_the_life_event_and_its_details() -> None:
    assert "job_loss" in expected(
        label(
            "job_loss", member_share=0.6, household_income_before=3000, household_income_after=1200
        )
    )
    assert "job_loss" not in expected(label("job_loss", member_share=0.2))
    assert expected(label("vehicle_cheap")) == set()
    assert "asset_acquired" in expected(label("vehicle"))
    assert expected(label("moved_cross_province")) == {"moved_away"}
    assert "unusual_trajectory" in acceptable(label("birth"))


def test_scores_count_right_alerts_and_found_labels() -> None:
    base = orjson.loads((SAMPLES.parent.parent / "docs" / "examples" / "alert.json").read_bytes())

    def alert(detector: str, household: str, month: str, status: str = "raised", n: int = 0):  # type: ignore[no-untyped-def]
        doc = {**base, "detector": detector, "household": household, "status": status,
               "alert_id": f"al:{n:032x}", "story": {**base["story"], "month": month}}  # fmt: skip
        return parse_alert(doc)

    labels = [Label("L1", "H1", "earner_death", "2025-03-02", "2025-03", 1, {"member_share": 0.7}),
              Label("L2", "H2", "earner_death", "2025-03-02", "2025-03", 1, {"member_share": 0.7})]  # fmt: skip
    alerts = [alert("earner_death", "H1", "2025-03", n=1), alert("earner_death", "H3", "2025-03", n=2),
              alert("earner_death", "H2", "2025-07", n=3), alert("earner_death", "H2", "2025-03", "withdrawn", 4)]  # fmt: skip
    assert len(latest_alerts(alerts)) == 3
    result = score(alerts, labels)["earner_death"]
    assert (result.alerts, result.right, result.labels, result.found) == (3, 1, 2, 1)
    assert result.precision == round(1 / 3, 4) and result.recall == 0.5
