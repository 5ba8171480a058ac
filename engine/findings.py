"""What detectors report: findings that explain themselves, and what they may read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine import events as ev
from engine.config import RegionSettings
from engine.state import HouseholdState

Value = float | int | str | bool | None


@dataclass(frozen=True)
class Evidence:
    """A record an alert rests on, with the values that mattered."""

    event: ev.Event
    values: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """What a detector found, and why: the raw material of an alert."""

    detector: str
    trigger: str  # unique within household and detector: what this finding is about
    month: int  # the month of the story it belongs to
    position: int  # the member concerned (0: the household as a whole)
    rule: str  # the rule or model, in words
    values: Mapping[str, Value]
    baseline: Mapping[str, Value] | None = None
    records: tuple[Evidence, ...] = ()
    features: Mapping[str, float] | None = None
    direction: str | None = None  # overrides the detector's own (model alerts)
    event_time: str | None = None  # when it happened; defaults to the month's first day


@dataclass(frozen=True)
class View:
    """What a detector may read: the household, its region's settings, the decided months."""

    state: HouseholdState
    region: RegionSettings | None
    decided: int  # the last month decided for the household's region (-1: none yet)
    complete: bool = True  # the month being decided has every batch: absence means something
    final_month: int = -1  # the latest month no record can change any more (models learn up to it)
