"""lifeline alerts tail without a broker: folding, filters, rendering, bad messages.

The alerts are real contract alerts: the published example, changed field by
field and validated by the alert parser. The broker side is in
tests/integration/test_alerts_tail.py.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from connectors.alerts_tail import (
    STATUS_NOTES,
    Feed,
    Seen,
    TailError,
    decode_alert,
    default_group,
    describe_tail,
    region_code,
    render,
    topic_for,
)
from engine.alert import Alert, parse_alert
from engine.events import encode

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = orjson.loads((ROOT / "docs" / "examples" / "alert.json").read_bytes())


def alert(n: int = 1, **changes: Any) -> Alert:
    """The example alert with `changes`; `n` picks the alert id."""
    return parse_alert({**EXAMPLE, "alert_id": f"al:{n:032x}", **changes})


def message(a: Alert) -> bytes:
    return encode(a)


def test_seen_remembers_pairs_and_forgets_the_oldest_beyond_its_limit() -> None:
    seen = Seen(limit=2)
    assert seen.add("al:a", 1) and seen.add("al:a", 2)
    assert not seen.add("al:a", 1)  # a copy; and now the most recent
    assert seen.add("al:b", 1)  # evicts ("al:a", 2), the least recently seen
    assert len(seen) == 2 and ("al:a", 2) not in seen and ("al:a", 1) in seen
    assert seen.add("al:a", 2)  # forgotten, so shown again
    with pytest.raises(ValueError):
        Seen(limit=0)


def test_copies_of_a_revision_fold_and_new_revisions_show() -> None:
    feed = Feed()
    first = alert(1)
    update = alert(1, revision=2, status="updated")
    shown = [
        feed.take(value, "alerts.130126", 0, offset).alert
        for offset, value in enumerate(
            [message(first), message(first), message(update), message(first), message(update)]
        )
    ]
    assert shown == [first, None, update, None, None]
    assert feed.counts == {"shown": 2, "duplicate": 3}
    # A copy re-encoded differently (other key order, processed later) is the same revision.
    copy = orjson.dumps(
        {**orjson.loads(message(first)), "processed_at": "2026-04-03T10:00:00+08:00"}
    )
    assert feed.take(copy, "alerts.130126", 0, 9).skipped == "duplicate"


def test_the_direction_filter_keeps_only_the_directions_asked_for() -> None:
    feed = Feed(directions=("review", "data"))
    help_ = alert(1, direction="help")
    review = alert(2, direction="review", detector="asset_acquired")
    data = alert(3, direction="data", detector="conflicting_records")
    verdicts = [
        feed.take(message(a), "alerts", 1, i) for i, a in enumerate([help_, review, data, help_])
    ]
    assert [v.alert for v in verdicts] == [None, review, data, None]
    assert [v.skipped for v in verdicts] == ["direction", None, None, "duplicate"]
    assert all(v.warning is None for v in verdicts)


def test_the_region_filter_drops_other_counties() -> None:
    feed = Feed(region="130126")
    other = alert(1, region="130424", household="HB130424-0007")
    assert feed.take(message(other), "alerts", 0, 0).skipped == "region"
    assert feed.take(message(alert(2)), "alerts", 0, 1).alert == alert(2)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b"not json at all", "JSON is malformed"),
        (b'{"v": 1, "alert_id": "al:00"', "`$.alert_id`"),
        (b'{"v": 1, "revision": ', "truncated"),
        (b"\xff\xfe\x00garbage", "JSON is malformed"),
        (b'{"kind": "income.wage", "v": 1}', "unknown field `kind`"),  # an event
        (b"{}", "missing required field"),
        (None, "empty message"),
        (b"[]", "Expected `object`"),
    ],
)
def test_a_message_that_is_not_an_alert_is_a_warning_naming_where_it_is(
    value: bytes | None, problem: str
) -> None:
    feed = Feed()
    verdict = feed.take(value, "alerts.130126", 3, 1234)
    assert verdict.alert is None and verdict.warning is not None
    assert verdict.warning.startswith("alerts.130126 partition 3 offset 1234: not a valid alert")
    assert problem in verdict.warning and "\n" not in verdict.warning
    assert feed.counts == {"invalid": 1}
    # The tail goes on: the next good message is shown.
    assert feed.take(message(alert()), "alerts.130126", 3, 1235).alert == alert()


def test_a_nearly_valid_alert_is_refused_and_its_content_not_echoed() -> None:
    document = {**EXAMPLE, "household": "110105194912310021 张三", "severity": "extreme"}
    verdict = Feed().take(orjson.dumps(document), "alerts", 0, 7)
    assert verdict.warning is not None and "$.household" in verdict.warning
    assert "110105194912310021" not in verdict.warning and "张三" not in verdict.warning
    unknown = orjson.dumps({**EXAMPLE, "extra": 1})
    assert "extra" in (Feed().take(unknown, "alerts", 0, 8).warning or "")


@pytest.mark.parametrize("status", ["raised", "updated", "withdrawn", "capped"])
def test_every_status_renders_what_happened_to_whom_why_and_the_evidence(status: str) -> None:
    a = alert(5, status=status, revision=1 if status == "raised" else 2)
    text = describe_tail(a)
    lines = text.splitlines()
    head = lines[0]
    assert "HELP" in head and "earner_death" in head and "HB130126-0001" in head
    assert "member 1 (head)" in head and "2026-03" in head and f"{status} r{a.revision}" in head
    assert lines[1].strip() == a.reason
    if STATUS_NOTES[status]:
        assert lines[2].strip() == STATUS_NOTES[status]
    assert f"evidence: {a.evidence.rule}" in text
    assert "compared: income_share, member_income; against baseline: household_income_3m" in text
    assert "record 2026-03-02 registration.death (public_security, region 130126)" in text
    assert "record 2026-03-01 income.wage (human_resources, region 130126)" in text
    assert f"{a.alert_id} r{a.revision}, story {a.story.id}, region 130126" in text
    # The values compared are amounts: named, never shown (the reason's own 74% stays).
    for amount in ("3500", "4730", "0.74"):
        assert amount not in text
    # No raw ID numbers, and the member only by place and relation.
    assert a.member is not None and a.member.person not in text


def test_a_withdrawal_renders_without_member_values_or_records() -> None:
    withdrawn = alert(
        6,
        status="withdrawn",
        revision=3,
        member=None,
        reason="此前关于2026-03的提醒已撤回：后来到达的记录不再支持它。",
        evidence={"rule": "withdrawn on re-decision of the month", "values": {"month": "2026-03"}},
    )
    lines = describe_tail(withdrawn).splitlines()
    assert "household, 2026-03, high, withdrawn r3" in lines[0]
    assert lines[2].strip() == STATUS_NOTES["withdrawn"]
    assert lines[3].strip() == "evidence: withdrawn on re-decision of the month"
    assert lines[4].strip() == "compared: month"
    assert not any("record " in line for line in lines)


def test_a_model_alert_names_its_features_strongest_first() -> None:
    model = alert(
        7,
        detector="unusual_trajectory",
        direction="review",
        member=None,
        reason="The household's month is unusual (model score 0.91); mainly: medical_spend.",
        language="en",
        evidence={
            "rule": "Half-Space Trees score among the top 1.0% of the region's households",
            "values": {"score": 0.91, "lead_feature": "medical_spend"},
            "baseline": {"medical_spend": 120.0, "income_change": 0.0},
            "features": {"income_change": -0.12, "medical_spend": 0.55, "members": 0.05},
        },
    )
    text = describe_tail(model)
    assert "REVIEW" in text and "unusual_trajectory" in text
    assert "model features, strongest first: medical_spend, income_change, members" in text
    assert "score 0.91" in text  # the reason's own words are kept
    assert "120" not in text and "0.55" not in text


def test_json_output_is_the_contract_json_on_one_line() -> None:
    a = alert(8, status="capped", revision=4, direction="data")
    line = render(a, as_json=True)
    assert "\n" not in line
    assert decode_alert(line.encode()) == a
    assert orjson.loads(line) == msgspec.to_builtins(parse_alert(orjson.loads(line)), enc_hook=int)


def test_regions_name_their_topic_and_default_group() -> None:
    assert region_code("130126") == "130126"
    for bad in ("99", "1301260", "abc123", "990000"):
        with pytest.raises(TailError, match="--region"):
            region_code(bad)
    assert (topic_for("130424"), default_group("130424")) == (
        "alerts.130424",
        "lifeline-tail-130424",
    )
    assert (topic_for(None), default_group(None)) == ("alerts", "lifeline-tail-all")


def test_every_monitored_region_has_its_alert_topic() -> None:
    settings = tomllib.loads((ROOT / "config" / "lifeline.toml").read_text())
    topics = tomllib.loads((ROOT / "config" / "kafka-topics.toml").read_text())["topic"]
    partitions = {t["name"]: t["partitions"] for t in topics}
    regions = [r["code"] for r in settings["regions"]]
    assert regions
    for code in regions:
        assert partitions.get(topic_for(code)) == partitions["alerts"], code
