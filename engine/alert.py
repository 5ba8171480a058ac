"""The alert a caseworker receives (contract ``lifeline.alert``, version 1).

An alert says what happened to which household and member (by pseudonym and
place in the household, never a raw ID number), in which direction it points
(``help``, ``review`` or ``data``), why, and on what evidence. Alerts are
revised, not duplicated: the id is stable for a household, detector and
trigger, and each change carries a new ``revision`` with its ``status``. The
``story`` groups the alerts of one household and month.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

import msgspec

from engine.events import (
    SCHEMA_VERSION,
    HouseholdId,
    Month,
    Pseudonym,
    RegionCode,
    Relation,
    Timestamp,
    instant,
)
from engine.integers import Position, Revision, Version, dec_hook

Direction = Literal["help", "review", "data"]
Severity = Literal["low", "medium", "high", "urgent"]
Status = Literal["raised", "updated", "withdrawn", "capped"]
Number = Annotated[float, msgspec.Meta(description="a value the detector compared")]


class AlertMember(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The member concerned, by pseudonym and place in the household."""

    person: Pseudonym
    position: Position
    relation: Relation


class EvidenceRecord(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One record the alert rests on."""

    event_id: Annotated[str, msgspec.Meta(pattern=r"^ev:[0-9a-f]{32}$")]
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    event_time: Timestamp
    department: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    region: RegionCode
    values: dict[str, Number | str | bool | None] = {}

    def __post_init__(self) -> None:
        instant(self.event_time)


class Evidence(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What fired, on what values, against what baseline."""

    rule: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    values: dict[str, Number | str | bool | None]
    baseline: dict[str, Number | str | bool | None] | None = None
    records: list[EvidenceRecord] = []
    features: dict[str, Number] | None = None  # model attributions, for model alerts


class Story(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Groups the alerts of one household and month into one story."""

    id: Annotated[str, msgspec.Meta(pattern=r"^st:[0-9a-f]{24}$")]
    month: Month


class Alert(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    v: Version = SCHEMA_VERSION  # type: ignore[assignment]  # a plain int encodes as-is
    alert_id: Annotated[str, msgspec.Meta(pattern=r"^al:[0-9a-f]{32}$")]
    revision: Revision
    status: Status
    household: HouseholdId
    member: AlertMember | None = None
    region: RegionCode
    direction: Direction
    detector: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    severity: Severity
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    language: Literal["zh", "en"] = "zh"
    evidence: Evidence
    event_time: Timestamp
    processed_at: Timestamp
    config_version: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    story: Story

    def __post_init__(self) -> None:
        instant(self.event_time)
        instant(self.processed_at)


class AlertError(ValueError):
    """A document is not a valid alert; the message names the field."""


def parse_alert(document: dict[str, Any]) -> Alert:
    try:
        return msgspec.convert(document, Alert, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        raise AlertError(str(exc)) from None


def alert_id_for(household: str, detector: str, trigger: str) -> str:
    """Same household, detector and trigger, same id (so re-runs revise, not repeat)."""
    digest = hashlib.blake2b(
        f"{household}\x1f{detector}\x1f{trigger}".encode(), digest_size=16
    ).hexdigest()
    return f"al:{digest}"


def story_id_for(household: str, month: str) -> str:
    digest = hashlib.blake2b(f"{household}\x1f{month}".encode(), digest_size=12).hexdigest()
    return f"st:{digest}"
