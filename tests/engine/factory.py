"""Contract events for engine tests, made the way connectors make them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec

from detectors.catalog import EngineConfig, load_engine_config
from engine.engine import Engine
from engine.events import CST, EVENT_TYPES, Event, event_id_for, fingerprint_of, timestamp
from engine.identity import Pseudonymiser, check_character
from engine.integers import dec_hook
from engine.store import MemoryStore, Store

ROOT = Path(__file__).resolve().parents[2]
KEY = Pseudonymiser("t1", b"engine-test-key-0123456789")
REGION = "130126"
DEPARTMENTS = {
    "roster": "civil_affairs",
    "registration": "public_security",
    "income": "human_resources",
    "employment": "human_resources",
    "medical": "medical_insurance",
    "disability": "disabled_federation",
    "asset": "housing",
    "batch": "human_resources",
    "record": "human_resources",
}
KEYS = {
    "roster.enrolled": ["household", "event_time"],
    "roster.member_added": ["household", "person", "event_time"],
    "roster.member_removed": ["household", "person", "event_time"],
    "roster.exited": ["household", "event_time"],
    "income.wage": ["person", "month", "employer"],
    "income.pension": ["person", "month"],
    "income.unemployment_benefit": ["person", "month"],
    "medical.settlement": ["settlement_id"],
    "record.unreadable": ["person", "month", "record_kind"],
    "batch.end": ["region", "month"],
}


def person(n: int, region: str = REGION) -> str:
    first17 = f"{region}1980{(n % 12) + 1:02d}{(n % 28) + 1:02d}{n % 1000:03d}"
    return KEY.pseudonym(first17 + check_character(first17))


def day(text: str, hour: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(hour=hour, tzinfo=CST)


def event(
    kind: str,
    when: str,
    received: str | None = None,
    *,
    region: str = REGION,
    department: str | None = None,
    **fields: Any,
) -> Event:
    """An event of ``kind`` at local date ``when`` (YYYY-MM-DD), arriving at ``received``."""
    department = department or DEPARTMENTS[kind.split(".")[0]]
    body: dict[str, Any] = {
        "kind": kind,
        "department": department,
        "event_time": timestamp(day(when)),
        "region": region,
        **fields,
    }
    key = "|".join(str(body.get(k, "")) for k in KEYS.get(kind, ["person", "event_time"]))
    document = {
        **body,
        "channel": "batch",
        "received_at": timestamp(day(received or when, 9)),
        "natural_key": key,
        "event_id": event_id_for(department, kind, key),
        "fingerprint": fingerprint_of(body),
    }
    result: Event = msgspec.convert(document, EVENT_TYPES[kind], dec_hook=dec_hook)
    return result


def enrol(
    household: str, members: list[tuple[str, str]], when: str = "2025-01-05", **extra: Any
) -> Event:
    return event(
        "roster.enrolled",
        when,
        household=household,
        scheme=extra.pop("scheme", "dibao"),
        monthly_benefit=extra.pop("monthly_benefit", 900.0),
        declared_income=extra.pop("declared_income", 1200.0),
        members=[
            {"person": p, "relation": r, "position": i} for i, (p, r) in enumerate(members, 1)
        ],
        **extra,
    )


def wage(
    who: str, month: str, amount: float, received: str | None = None, employer: str = "E1"
) -> Event:
    return event("income.wage", f"{month}-01", received or f"{month}-28", person=who, month=month,
                 amount=amount, employer=employer)  # fmt: skip


def unreadable(
    who: str, month: str, received: str, record_kind: str | None = "income.wage"
) -> Event:
    """What a rejected row of income still says: whose month it was (record.unreadable)."""
    kind = {"record_kind": record_kind} if record_kind else {}
    return event("record.unreadable", f"{month}-01", received, person=who, month=month,
                 reason="bad_number", **kind)  # fmt: skip


def batch_end(month: str, received: str, count: int = 100, region: str = REGION) -> Event:
    return event("batch.end", received, received, region=region, month=month, record_count=count)


def config() -> EngineConfig:
    return load_engine_config(ROOT / "config")


def engine(store: Store | None = None, backfill_until: str | None = None) -> Engine:
    cfg = config()
    return cfg.engine(store or MemoryStore(), backfill_until)  # fmt: skip
