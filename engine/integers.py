"""Bounded integers that accept what JSON Schema calls an integer.

JSON Schema counts ``2.0`` as the integer 2; msgspec's ``int`` refuses it.
Contract fields that are integers use these types instead, so the typed
parser and the published schema agree. Decoding needs :func:`dec_hook`,
encoding :func:`enc_hook`, schema generation :func:`schema_hook`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


class BoundedInt(int):
    """An int with inclusive bounds (``None``: unbounded) and a description."""

    low: ClassVar[int | None] = None
    high: ClassVar[int | None] = None
    description: ClassVar[str] = ""


class Version(BoundedInt):
    low, high, description = 1, 1, "contract version"


class Position(BoundedInt):
    low, high, description = 1, 30, "place in the household, 1 for the first member"


class DisabilityLevel(BoundedInt):
    low, high, description = 1, 4, "1 most severe, 4 least"


class RecordCount(BoundedInt):
    low, high, description = 0, 10**9, "records in the batch"


class Revision(BoundedInt):
    low, description = 1, "1 for an alert's first version, then one more per change"


def dec_hook(kind: type, value: Any) -> Any:
    if not (isinstance(kind, type) and issubclass(kind, BoundedInt)):
        raise NotImplementedError(f"no decoder for {kind!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError("Expected `int`")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise TypeError("Expected `int`")
    number = int(value)
    if kind.low is not None and number < kind.low:
        raise ValueError(f"Expected `int` >= {kind.low}")
    if kind.high is not None and number > kind.high:
        raise ValueError(f"Expected `int` <= {kind.high}")
    return kind(number)


def enc_hook(value: Any) -> Any:
    if isinstance(value, BoundedInt):
        return int(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def schema_hook(kind: type) -> dict[str, Any]:
    if not (isinstance(kind, type) and issubclass(kind, BoundedInt)):
        raise NotImplementedError(f"no schema for {kind!r}")
    schema: dict[str, Any] = {"type": "integer", "description": kind.description}
    if kind.low is not None:
        schema["minimum"] = kind.low
    if kind.high is not None:
        schema["maximum"] = kind.high
    return schema
