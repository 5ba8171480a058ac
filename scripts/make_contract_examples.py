"""Write docs/examples/: one valid example of every event kind and of an alert.

Deterministic (fixed key, fixed times), so the files only change when the
contracts do. Tests check every example against both the typed parser and
the published JSON Schema.

    .venv/bin/python scripts/make_contract_examples.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec

from engine.alert import Alert, alert_id_for, story_id_for
from engine.events import CST, EVENT_TYPES, event_id_for, fingerprint_of, timestamp
from engine.identity import Pseudonymiser, check_character
from engine.integers import dec_hook, enc_hook

OUT = Path(__file__).resolve().parents[1] / "docs" / "examples"
KEY = Pseudonymiser("k1", b"documentation-example-key")
RECEIVED = dt.datetime(2026, 4, 3, 9, 30, tzinfo=CST)


def person(first17: str) -> str:
    return KEY.pseudonym(first17 + check_character(first17))


HEAD = person("13012619780312201")
SPOUSE = person("13012619800726202")
CHILD = person("13012620120105203")
MIGRANT = person("41010219900505431")

# kind -> (department, channel, event time, region, natural key fields, content)
EXAMPLES: dict[str, tuple[str, str, dt.datetime, str, list[str], dict[str, Any]]] = {
    "roster.enrolled": (
        "civil_affairs",
        "interface",
        dt.datetime(2025, 11, 20, tzinfo=CST),
        "130126",
        ["household", "event_time"],
        {
            "household": "HB130126-0001",
            "scheme": "dibao",
            "monthly_benefit": 1520.0,
            "declared_income": 1200.0,
            "members": [
                {"person": HEAD, "relation": "head", "position": 1},
                {"person": SPOUSE, "relation": "spouse", "position": 2},
                {"person": CHILD, "relation": "child", "position": 3},
            ],
        },
    ),
    "roster.member_added": (
        "civil_affairs",
        "interface",
        dt.datetime(2026, 2, 1, tzinfo=CST),
        "130126",
        ["household", "person", "event_time"],
        {"household": "HB130126-0001", "person": MIGRANT, "relation": "other"},
    ),
    "roster.member_removed": (
        "civil_affairs",
        "interface",
        dt.datetime(2026, 3, 1, tzinfo=CST),
        "130126",
        ["household", "person", "event_time"],
        {"household": "HB130126-0001", "person": MIGRANT, "reason": "moved away"},
    ),
    "roster.exited": (
        "civil_affairs",
        "interface",
        dt.datetime(2026, 4, 1, tzinfo=CST),
        "130126",
        ["household", "event_time"],
        {"household": "HB130126-0002", "reason": "income above the line"},
    ),
    "registration.birth": (
        "public_security",
        "batch",
        dt.datetime(2026, 3, 14, tzinfo=CST),
        "130126",
        ["person"],
        {"person": person("13012620260314201"), "parent": SPOUSE},
    ),
    "registration.death": (
        "public_security",
        "batch",
        dt.datetime(2026, 3, 2, tzinfo=CST),
        "130126",
        ["person"],
        {"person": HEAD},
    ),
    "registration.moved_in": (
        "public_security",
        "batch",
        dt.datetime(2026, 2, 9, tzinfo=CST),
        "130126",
        ["person", "event_time"],
        {"person": MIGRANT, "from_region": "410102", "to_region": "130126"},
    ),
    "registration.moved_out": (
        "public_security",
        "batch",
        dt.datetime(2026, 3, 9, tzinfo=CST),
        "130126",
        ["person", "event_time"],
        {"person": CHILD, "from_region": "130126", "to_region": "130424"},
    ),
    "income.wage": (
        "human_resources",
        "batch",
        dt.datetime(2026, 3, 1, tzinfo=CST),
        "130126",
        ["person", "month", "employer"],
        {
            "person": HEAD,
            "month": "2026-03",
            "amount": 3500.0,
            "employer": "E130126007",
            "basis": "contribution_base",
        },
    ),
    "income.pension": (
        "human_resources",
        "batch",
        dt.datetime(2026, 3, 1, tzinfo=CST),
        "130126",
        ["person", "month"],
        {"person": SPOUSE, "month": "2026-03", "amount": 1860.5},
    ),
    "income.unemployment_benefit": (
        "human_resources",
        "batch",
        dt.datetime(2026, 3, 1, tzinfo=CST),
        "130126",
        ["person", "month"],
        {"person": SPOUSE, "month": "2026-03", "amount": 1420.0},
    ),
    "employment.started": (
        "human_resources",
        "interface",
        dt.datetime(2026, 1, 5, tzinfo=CST),
        "130126",
        ["person", "employer", "event_time"],
        {"person": HEAD, "employer": "E130126007"},
    ),
    "employment.ended": (
        "human_resources",
        "interface",
        dt.datetime(2026, 2, 27, tzinfo=CST),
        "130126",
        ["person", "employer", "event_time"],
        {"person": HEAD, "employer": "E130126007", "reason": "contract ended"},
    ),
    "medical.settlement": (
        "medical_insurance",
        "batch",
        dt.datetime(2026, 3, 18, 10, 22, 3, tzinfo=CST),
        "130126",
        ["settlement_id"],
        {
            "person": SPOUSE,
            "settlement_id": "S1301262603180042",
            "total_cost": 48200.0,
            "fund_paid": 33100.0,
            "out_of_pocket": 15100.0,
            "care": "inpatient",
            "major_illness": True,
        },
    ),
    "disability.certified": (
        "disabled_federation",
        "interface",
        dt.datetime(2026, 3, 20, tzinfo=CST),
        "130126",
        ["person", "event_time"],
        {"person": CHILD, "category": "intellectual", "level": 2},
    ),
    "disability.cancelled": (
        "disabled_federation",
        "interface",
        dt.datetime(2026, 4, 1, tzinfo=CST),
        "130126",
        ["person", "event_time"],
        {"person": CHILD},
    ),
    "asset.property": (
        "housing",
        "batch",
        dt.datetime(2026, 3, 25, tzinfo=CST),
        "130105",
        ["person", "property_id"],
        {"person": HEAD, "property_id": "130105008001GB00012F00010023", "area_m2": 89.5},
    ),
    "asset.vehicle": (
        "vehicles",
        "batch",
        dt.datetime(2026, 3, 12, tzinfo=CST),
        "130126",
        ["person", "vehicle_id"],
        {"person": HEAD, "vehicle_id": "冀A·D12345", "value": 125000.0},
    ),
    "asset.company": (
        "market_regulation",
        "batch",
        dt.datetime(2026, 2, 16, tzinfo=CST),
        "130126",
        ["person", "company_id"],
        {"person": HEAD, "company_id": "91130126MA0D1234X5", "capital": 500000.0},
    ),
    "asset.deposit": (
        "banks",
        "batch",
        dt.datetime(2026, 3, 1, tzinfo=CST),
        "130126",
        ["person", "bank", "month"],
        {"person": SPOUSE, "month": "2026-03", "balance": 86000.25, "bank": "灵寿农商银行"},
    ),
    "record.unreadable": (
        "human_resources",
        "batch",
        dt.datetime(2026, 3, 1, tzinfo=CST),
        "130126",
        ["person", "month", "record_kind"],
        {
            "person": SPOUSE,
            "month": "2026-03",
            "record_kind": "income.wage",
            "reason": "bad_number",
        },
    ),
    "batch.end": (
        "human_resources",
        "batch",
        dt.datetime(2026, 4, 2, 18, 0, tzinfo=CST),
        "130126",
        ["region", "month"],
        {"month": "2026-03", "record_count": 18204},
    ),
}


def example_event(kind: str) -> dict[str, Any]:
    department, channel, event_time, region, key, content = EXAMPLES[kind]
    body = {
        "kind": kind,
        "department": department,
        "event_time": timestamp(event_time),
        "region": region,
        **content,
    }
    natural_key = "|".join(str(body[name]) for name in key)
    document = {
        **body,
        "channel": channel,
        "received_at": timestamp(RECEIVED),
        "natural_key": natural_key,
        "event_id": event_id_for(department, kind, natural_key),
        "fingerprint": fingerprint_of(body),
        "source": f"example/{kind}",
    }
    event = msgspec.convert(document, EVENT_TYPES[kind], dec_hook=dec_hook)
    return msgspec.to_builtins(event, enc_hook=enc_hook)  # type: ignore[no-any-return]


def example_alert() -> dict[str, Any]:
    death = example_event("registration.death")
    wage = example_event("income.wage")
    alert = Alert(
        alert_id=alert_id_for("HB130126-0001", "earner_death", death["event_id"]),
        revision=1,
        status="raised",
        household="HB130126-0001",
        member={"person": HEAD, "position": 1, "relation": "head"},  # type: ignore[arg-type]
        region="130126",
        direction="help",
        detector="earner_death",
        severity="high",
        reason="户主（第1位成员）于2026-03-02死亡，其收入占家庭收入的74%，家庭可能陷入困难，建议主动回访。",
        language="zh",
        evidence={  # type: ignore[arg-type]
            "rule": "a member with at least 40% of household income died",
            "values": {"income_share": 0.74, "member_income": 3500.0},
            "baseline": {"household_income_3m": 4730.0},
            "records": [
                {
                    key: death[key]
                    for key in ("event_id", "kind", "event_time", "department", "region")
                }
                | {"values": {}},
                {
                    key: wage[key]
                    for key in ("event_id", "kind", "event_time", "department", "region")
                }
                | {"values": {"month": "2026-03", "amount": 3500.0}},
            ],
        },
        event_time=timestamp(dt.datetime(2026, 3, 2, tzinfo=CST)),
        processed_at=timestamp(dt.datetime(2026, 4, 3, 9, 30, 2, tzinfo=CST)),
        config_version="2026-11-29.1",
        story={"id": story_id_for("HB130126-0001", "2026-03"), "month": "2026-03"},  # type: ignore[arg-type]
    )
    checked = msgspec.convert(
        msgspec.to_builtins(alert, enc_hook=enc_hook), Alert, dec_hook=dec_hook
    )
    return msgspec.to_builtins(checked, enc_hook=enc_hook)  # type: ignore[no-any-return]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    encoder = msgspec.json.Encoder(enc_hook=enc_hook)
    lines = [encoder.encode(example_event(kind)) for kind in EVENT_TYPES]
    (OUT / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (OUT / "alert.json").write_bytes(
        msgspec.json.format(encoder.encode(example_alert()), indent=2) + b"\n"
    )
    print(f"wrote {len(lines)} event examples and one alert to {OUT}")


if __name__ == "__main__":
    main()
