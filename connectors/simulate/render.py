"""The inverse of a department mapping: a record in event terms becomes a raw row.

:class:`LayoutRenderer` reads the same ``config/connectors/*.toml`` layout the
connector reads and runs it backwards: event field -> column, normalised
value -> code (inverting the code table), yuan -> fen or wan yuan, dates into
the department's format, the roster's members into nested objects, the
record's kind into the ``kind_from`` code. A renamed column in a mapping is
therefore followed by the simulator without a code change.

>>> from pathlib import Path
>>> from connectors.mapping import Catalog
>>> catalog = Catalog.load(Path(__file__).parents[2] / "config" / "connectors")
>>> _, layout = catalog.layout_for("jdc_202603.csv")
>>> renderer = LayoutRenderer(layout, {"clpp": "vehicle_brand"})
>>> renderer.header()
'qhdm,syrzjhm,hphm,ccdjrq,gcjg,clpp'
>>> raw = renderer.render("asset.vehicle", {"person": "130126198001011234",
...     "vehicle_id": "冀A12345", "event_time": dt.date(2026, 3, 9), "value": 125000,
...     "region": "130126"}, {"vehicle_brand": "大众牌"})
>>> renderer.line(raw)
'130126,130126198001011234,冀A12345,20260309,12.5,大众牌'
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from connectors.mapping import FieldSpec, Layout

_UNIT = {"yuan": Decimal(1), "fen": Decimal("0.01"), "wan_yuan": Decimal(10000)}
_SPECIAL = frozenset('"\r\n')


class Coded(NamedTuple):
    """A normalised value with the raw code to write for it (when a table has several)."""

    value: Any
    code: str


class Member(NamedTuple):
    """One nested member of a roster record: its fields and its unmapped extras."""

    values: dict[str, Any]
    extras: dict[str, str]


class RenderError(ValueError):
    """The simulator produced a record its target layout cannot carry (a bug)."""


@functools.lru_cache(maxsize=8192)
def _format_time(value: Any, fmt: str) -> str:
    """A date, a datetime or a "YYYY-MM" month in a department's format (cached: months repeat)."""
    if isinstance(value, dt.datetime):
        return value.strftime(fmt)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).strftime(fmt)
    if isinstance(value, str) and len(value) == 7 and value[4] == "-":
        return dt.datetime(int(value[:4]), int(value[5:]), 1).strftime(fmt)
    raise RenderError(f"not a date: {value!r}")


def _amount(value: float, unit: str) -> Decimal:
    scaled = Decimal(str(round(float(value), 2))) / _UNIT[unit]
    return scaled.normalize() if unit == "wan_yuan" else scaled


def _json_number(number: Decimal) -> int | float:
    return int(number) if number == number.to_integral_value() else float(number)


class LayoutRenderer:
    """Renders records of one layout into raw rows and lines."""

    def __init__(self, layout: Layout, extra_columns: Mapping[str, str]) -> None:
        self.layout = layout
        self.is_csv = layout.format == "csv"
        self.extra_columns = dict(extra_columns)
        self.fields = {kind: layout.fields_for(kind) for kind in layout.kinds}
        self.kind_codes: dict[str, str] = {}
        if layout.kind_from is not None:
            for code, kind in layout.kind_from.codes.items():
                self.kind_codes.setdefault(kind, code)
        self._inverse: dict[str, dict[Any, str]] = {}
        self.members_columns = {
            spec.column
            for specs in self.fields.values()
            for spec in specs.values()
            if spec.type == "members"
        }
        # The record's own region first, then the record type: a cut-off line
        # still says where it came from (end-of-batch counts are by region).
        order: list[str] = []
        if "region" in layout.fields:
            order.append(layout.fields["region"].column)
        if layout.kind_from is not None:
            order.append(layout.kind_from.column)
        for specs in self.fields.values():
            order.extend(spec.column for spec in specs.values())
        order.extend(c for c in extra_columns if c.split(".", 1)[0] not in self.members_columns)
        self.columns = list(dict.fromkeys(order))

    def header(self) -> str:
        return self.csv_line(self.columns)

    # --- one record --------------------------------------------------------

    def render(
        self,
        kind: str,
        values: Mapping[str, Any],
        extras: Mapping[str, str],
        kind_code: str | None = None,
    ) -> dict[str, Any]:
        """The raw row (column -> raw value) of one record."""
        raw: dict[str, Any] = {}
        if self.layout.kind_from is not None:
            code = kind_code or self.kind_codes.get(kind)
            if code is None or self.layout.kind_from.codes.get(code) != kind:
                raise RenderError(f"layout '{self.layout.name}': no kind code {code} for {kind}")
            raw[self.layout.kind_from.column] = code
        for name, spec in self.fields[kind].items():
            value = values.get(name)
            if value is None:
                if spec.required and spec.column not in raw:
                    raise RenderError(f"layout '{self.layout.name}', {kind}: no value for {name}")
                continue
            rendered = self._value(value, spec)
            if raw.get(spec.column, rendered) != rendered:
                raise RenderError(f"{kind}: fields sharing column {spec.column} disagree")
            raw[spec.column] = rendered
        for column, source in self.extra_columns.items():
            if column.split(".", 1)[0] not in self.members_columns and source in extras:
                raw[column] = extras[source]
        return raw

    def _value(self, value: Any, spec: FieldSpec) -> Any:
        kind = spec.type
        if kind in ("id_number", "string", "region"):
            return str(value)
        if kind == "code":
            return self._code(value, spec)
        if kind in ("amount", "number"):
            unit = spec.unit if kind == "amount" else "yuan"
            number = _amount(value, unit)
            if not self.is_csv:
                return _json_number(number)
            if unit == "fen":
                return str(int(number))
            return f"{number:f}" if unit == "wan_yuan" else f"{number:.2f}"
        if kind == "integer":
            return int(value) if not self.is_csv else str(int(value))
        if kind in ("date", "datetime", "month"):
            return _format_time(value, spec.formats[0])
        if kind == "bool":
            if spec.codes:
                return self._code(bool(value), spec)
            return bool(value) if not self.is_csv else ("1" if value else "0")
        if kind == "members":
            if self.is_csv:
                raise RenderError("a CSV layout cannot carry nested members")
            return [self._member(m, spec) for m in value]
        raise RenderError(f"no renderer for field type {kind}")

    def _code(self, value: Any, spec: FieldSpec) -> str:
        if isinstance(value, Coded):
            if spec.codes.get(value.code) != value.value:
                raise RenderError(f"code {value.code} of {spec.column} does not mean {value.value}")
            return value.code
        inverse = self._inverse.get(spec.column)
        if inverse is None:
            inverse = {}
            for code, meaning in spec.codes.items():
                inverse.setdefault(meaning, code)
            self._inverse[spec.column] = inverse
        if value not in inverse:
            raise RenderError(f"column {spec.column} has no code for {value!r}")
        return inverse[value]

    def _member(self, member: Member, spec: FieldSpec) -> dict[str, Any]:
        item: dict[str, Any] = {}
        for name, sub in spec.items.items():
            if name in member.values:
                _nest(item, sub.column, self._value(member.values[name], sub))
        prefix = spec.column + "."
        for column, source in self.extra_columns.items():
            if column.startswith(prefix) and source in member.extras:
                _nest(item, column[len(prefix) :], member.extras[source])
        return item

    # --- lines -------------------------------------------------------------

    def line(self, raw: Mapping[str, Any]) -> str:
        """One line of the file (no line end)."""
        if self.is_csv:
            return self.csv_line([str(raw.get(c, "")) for c in self.columns])
        document: dict[str, Any] = {}
        for column in self.columns:
            if column in raw:
                _nest(document, column, raw[column])
        for column, value in raw.items():
            if column not in self.columns:
                _nest(document, column, value)
        return orjson.dumps(document).decode()

    def csv_fields(self, raw: Mapping[str, Any]) -> list[str]:
        return [str(raw.get(c, "")) for c in self.columns]

    def csv_line(self, values: list[str]) -> str:
        delimiter = self.layout.delimiter
        line = delimiter.join(values)
        if line.count(delimiter) == len(values) - 1 and not _SPECIAL.intersection(line):
            return line
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.layout.delimiter, lineterminator="").writerow(values)
        return buffer.getvalue()


def _nest(document: dict[str, Any], column: str, value: Any) -> None:
    """Set a dotted column inside nested JSON objects."""
    *parents, last = column.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    document[last] = value
