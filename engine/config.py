"""Engine settings: typed, frozen, validated once at the entry point.

The core receives :class:`Settings`, never raw dicts or the environment.
Errors name the file and the place: ``config/lifeline.toml: Expected `int`,
got `str` - at `$.regions[0].urban_line```.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import msgspec

from engine.events import RegionCode
from engine.identity import RegionRelation, region_relation

T = TypeVar("T")
Yuan = Annotated[float, msgspec.Meta(gt=0, le=100000)]


class RegionSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A monitored county and its local lines (yuan per person per month)."""

    code: RegionCode
    name: str
    city: str
    urban_line: Yuan
    rural_line: Yuan


Days = Annotated[int, msgspec.Meta(ge=0, le=3660)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]


class EngineSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Time rules: when months close, how late records may correct them."""

    grace_days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 45
    closing_departments: tuple[str, ...] = ("human_resources",)
    min_batch_share: Share = 0.5
    correction_months: Annotated[int, msgspec.Meta(ge=1, le=12)] = 4
    source_skew_months: Annotated[int, msgspec.Meta(ge=0, le=6)] = 1
    window_months: Annotated[int, msgspec.Meta(ge=16, le=36)] = 18
    pending_horizon_days: Days = 92
    retention_days: Days = 365


class AlertSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    language: Literal["zh", "en"] = "zh"
    cap_per_region_month: Annotated[int, msgspec.Meta(ge=1)] = 1000


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    config_version: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    regions: Annotated[list[RegionSettings], msgspec.Meta(min_length=1)]
    engine: EngineSettings = EngineSettings()
    alerts: AlertSettings = AlertSettings()

    def region(self, code: str) -> RegionSettings | None:
        return next((r for r in self.regions if r.code == code), None)

    def relation_to_monitored(self, code: str) -> RegionRelation:
        """How close a record's region is to the nearest monitored county."""
        return min(
            (region_relation(r.code, code) for r in self.regions),
            key=list(RegionRelation).index,
        )


class ConfigError(ValueError):
    """A config file is wrong; the message names the file and the place."""


_PATH = re.compile(r" - at `\$(.*)`$")
_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]")


def explain(exc: msgspec.ValidationError, raw: object) -> str:
    """msgspec's message, with the offending value when the path leads to one.

    >>> class Line(msgspec.Struct):
    ...     urban_line: Annotated[float, msgspec.Meta(gt=0)]
    >>> try:
    ...     msgspec.convert({"urban_line": -5}, Line)
    ... except msgspec.ValidationError as exc:
    ...     print(explain(exc, {"urban_line": -5}))
    Expected `float` > 0.0 - at `$.urban_line` (value: -5)
    """
    message = str(exc)
    match = _PATH.search(message)
    if match is None:
        return message
    value: object = raw
    for key, index in _STEP.findall(match.group(1)):
        try:
            value = value[int(index)] if index else value[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError, ValueError):
            return message
    if isinstance(value, dict | list):
        return message
    return f"{message} (value: {value!r})"


def load_toml(
    path: Path, kind: type[T], error: type[ConfigError] = ConfigError, what: str = "config"
) -> T:
    """Read a TOML file into a typed, frozen struct; errors name the file and the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise error(f"{path}: {explain(exc, raw)}") from None


def load_settings(path: Path) -> Settings:
    settings = load_toml(path, Settings)
    codes = [r.code for r in settings.regions]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise ConfigError(f"{path}: region(s) {', '.join(duplicates)} listed twice")
    return settings
