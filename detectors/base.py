"""The detector protocol, the registry, and building detectors from config.

A detector looks at one household: when a record changes it
(:meth:`Detector.on_record`) and when a month is decided
(:meth:`Detector.on_month`). It answers with :class:`Finding` objects that
explain themselves; the engine turns findings into alerts (ids, stories,
cooldowns, caps, revisions). The constructor is the config: each parameter
has its own name, type and range, checked when the config loads.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import msgspec

from engine import events as ev
from engine.config import ConfigError, explain
from engine.findings import Evidence, Finding, View
from engine.household import Change

__all__ = ["REGISTRY", "Detector", "Evidence", "Finding", "View", "build", "register"]


class Detector:
    name: ClassVar[str] = ""
    direction: ClassVar[str] = "help"
    # A withdrawn alert frees the detector's cooldown for the household: the
    # records took the finding back, so a real one later must not be kept quiet.
    withdrawal_frees_cooldown: ClassVar[bool] = True

    def on_record(self, view: View, event: ev.Event, change: Change) -> list[Finding]:
        return []

    def on_month(self, view: View, month: int) -> list[Finding]:
        return []

    def _get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _parameters(type(self))}

    def clone(self) -> Detector:
        return type(self)(**self._get_params())

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({params})"


def _parameters(cls: type[Detector]) -> dict[str, inspect.Parameter]:
    """The constructor's named parameters (none for a detector without one)."""
    if cls.__init__ is object.__init__:
        return {}
    return {
        name: p
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


REGISTRY: dict[str, type[Detector]] = {}
D = TypeVar("D", bound=type[Detector])


def register(name: str, direction: str) -> Callable[[D], D]:
    """Class decorator: make a detector available to config under ``name``."""

    def decorate(cls: D) -> D:
        if name in REGISTRY:
            raise ValueError(f"detector '{name}' is registered twice")
        cls.name, cls.direction = name, direction
        REGISTRY[name] = cls
        return cls

    return decorate


def params_type(cls: type[Detector]) -> type[msgspec.Struct]:
    """A strict struct of the constructor's parameters, their types, ranges and defaults."""
    hints = typing.get_type_hints(cls.__init__, include_extras=True)
    fields: list[tuple[str, Any, Any]] = []
    for name, parameter in _parameters(cls).items():
        default = (
            parameter.default
            if parameter.default is not inspect.Parameter.empty
            else msgspec.NODEFAULT
        )
        fields.append((name, hints[name], default))
    return msgspec.defstruct(
        f"{cls.__name__}Params", fields, forbid_unknown_fields=True, frozen=True
    )


def build(name: str, params: Mapping[str, Any], source: Path | str) -> Detector:
    """A detector from config; errors name the file, the detector and the choices."""
    if name not in REGISTRY:
        raise ConfigError(
            f"{source}: unknown detector '{name}' (valid: {', '.join(sorted(REGISTRY))})"
        )
    cls = REGISTRY[name]
    try:
        checked = msgspec.convert(dict(params), params_type(cls))
    except msgspec.ValidationError as exc:
        valid = ", ".join(_parameters(cls)) or "none"
        raise ConfigError(
            f"{source}: detector '{name}': {explain(exc, dict(params))} (parameters: {valid})"
        ) from None
    return cls(**msgspec.structs.asdict(checked))
