"""Detectors, their policies and the reason templates, from config.

``config/detectors.toml`` says which detectors run and how (parameters,
severity, cooldown); ``config/templates.toml`` gives the reason texts. Both are
validated once, here; the loaded whole gets a version (a content hash of every
file that shapes alerts) that every alert carries.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

import detectors.events
import detectors.models
import detectors.monthly  # noqa: F401  (registers the month rules)
from detectors.base import REGISTRY, Detector, build
from engine.alerting import AlertMaker, DetectorPolicy, Templates
from engine.config import ConfigError, Settings, load_settings, load_toml
from engine.engine import Engine
from engine.store import Store

Severity = Literal["low", "medium", "high", "urgent"]
VERSION_FILES = ("lifeline.toml", "detectors.toml", "templates.toml")


class DetectorSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    enabled: bool = True
    severity: Severity = "medium"
    cooldown_days: Annotated[int, msgspec.Meta(ge=0, le=3660)] = 0
    params: dict[str, Any] = {}


class DetectorsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    detectors: list[DetectorSpec]


class TemplatesFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    templates: dict[str, dict[Literal["zh", "en"], str]]
    terms: dict[Literal["zh", "en"], dict[str, str]] = {}


@dataclass(frozen=True)
class EngineConfig:
    settings: Settings
    detectors: tuple[Detector, ...]
    policies: dict[str, DetectorPolicy]
    templates: Templates
    version: str

    def engine(
        self,
        store: Store,
        backfill_until: str | None = None,
        *,
        scope: str = "engine",
        owns: Callable[[str], bool] | None = None,
        outbox: bool = False,
    ) -> Engine:
        """An engine with these settings, detectors and alert rules over ``store``."""
        return Engine(
            self.settings,
            self.detectors,
            self.alert_maker(),
            store,
            backfill_until=backfill_until,
            scope=scope,
            owns=owns,
            outbox=outbox,
        )

    def alert_maker(self) -> AlertMaker:
        return AlertMaker(
            self.policies,
            self.templates,
            self.settings.alerts.language,
            self.version,
            self.settings.alerts.cap_per_region_month,
        )


def config_version(config_dir: Path, label: str) -> str:
    """``<label>+<8 hex digits>``: the label from lifeline.toml and a hash of the files."""
    digest = hashlib.sha256()
    for name in VERSION_FILES:
        digest.update(name.encode() + b"\0" + (config_dir / name).read_bytes() + b"\0")
    return f"{label}+{digest.hexdigest()[:8]}"


def load_detectors(path: Path) -> tuple[tuple[Detector, ...], dict[str, DetectorPolicy]]:
    specs = load_toml(path, DetectorsFile, what="detector config").detectors
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{path}: detector(s) listed twice: {', '.join(repeated)}")
    built, policies = [], {}
    for spec in specs:
        detector = build(spec.name, spec.params, path)  # checks even disabled ones
        if not spec.enabled:
            continue
        built.append(detector)
        policies[spec.name] = DetectorPolicy(
            direction=REGISTRY[spec.name].direction,
            severity=spec.severity,
            cooldown_days=spec.cooldown_days,
            withdrawal_frees_cooldown=REGISTRY[spec.name].withdrawal_frees_cooldown,
        )
    return tuple(built), policies


def load_templates(path: Path) -> Templates:
    loaded = load_toml(path, TemplatesFile, what="templates")
    texts = loaded.templates
    for detector, languages in texts.items():
        if detector not in REGISTRY and detector != "withdrawn":
            raise ConfigError(
                f"{path}: templates for unknown detector '{detector}' "
                f"(valid: {', '.join(sorted(REGISTRY))}, withdrawn)"
            )
        for language, text in languages.items():
            try:
                list(string.Formatter().parse(text))
            except ValueError as exc:
                raise ConfigError(f"{path}: template {detector}.{language}: {exc}") from None
    return Templates(
        {
            detector: {str(k): v for k, v in languages.items()}
            for detector, languages in texts.items()
        },
        {language: dict(words) for language, words in loaded.terms.items()},
    )


def load_engine_config(config_dir: Path) -> EngineConfig:
    settings = load_settings(config_dir / "lifeline.toml")
    detectors, policies = load_detectors(config_dir / "detectors.toml")
    templates = load_templates(config_dir / "templates.toml")
    return EngineConfig(
        settings,
        detectors,
        policies,
        templates,
        config_version(config_dir, settings.config_version),
    )
