"""Malformed rows: rendered rows broken the ways departments break them.

Each malformation breaks exactly one thing, so the connector's reject reason
is known in advance: a wrong check digit, an impossible date, a letter in a
number, a code outside the table, a line cut off. The world summary counts
them by that reason, and a test holds the connector to it.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from connectors.simulate.render import LayoutRenderer
from engine.identity import check_character

_UNKNOWN_CODES = ("98", "X9", "00", "ZZ", "7")


def reason_code(malformation: str, renderer: LayoutRenderer) -> str:
    """The reject reason the connector gives for a malformation in this layout."""
    if malformation == "truncated" and not renderer.is_csv:
        return "bad_json"  # a cut JSON line is not valid JSON
    return malformation


def applicable(renderer: LayoutRenderer, kind: str, allowed: list[str]) -> list[str]:
    """The malformations a record of ``kind`` in this layout can carry."""
    types = {spec.type for spec in renderer.fields[kind].values()}
    found = ["truncated"]
    if "id_number" in types:
        found.append("id_check_digit")
    if types & {"date", "datetime", "month"}:
        found.append("bad_date")
    if types & {"amount", "integer", "number"}:
        found.append("bad_number")
    if "code" in types or renderer.layout.kind_from is not None:
        found.append("unknown_code")
    return [m for m in allowed if m in found]


def _columns(
    renderer: LayoutRenderer, kind: str, raw: dict[str, Any], types: set[str]
) -> list[str]:
    return [
        spec.column
        for spec in renderer.fields[kind].values()
        if spec.type in types and spec.column in raw
    ]


def _impossible_date(fmt: str, raw_value: str) -> str:
    """The same date written with a day (30 February) or month (13) that does not exist."""
    parsed = dt.datetime.strptime(raw_value, fmt)
    literals = {"%m": "02", "%d": "30"} if "%d" in fmt else {"%m": "13"}
    for directive, literal in literals.items():
        fmt = fmt.replace(directive, literal)
    return parsed.strftime(fmt)


def corrupt(
    malformation: str, renderer: LayoutRenderer, kind: str, raw: dict[str, Any], rng: random.Random
) -> str:
    """The line of a broken row."""
    raw = dict(raw)
    specs = renderer.fields[kind]
    if malformation == "id_check_digit":
        column = _columns(renderer, kind, raw, {"id_number"})[0]
        number = str(raw[column])
        good = check_character(number[:17])
        raw[column] = number[:17] + next(c for c in "0123456789X" if c != good)
    elif malformation == "bad_date":
        column = rng.choice(_columns(renderer, kind, raw, {"date", "datetime", "month"}))
        fmt = next(s.formats[0] for s in specs.values() if s.column == column)
        raw[column] = _impossible_date(fmt, str(raw[column]))
    elif malformation == "bad_number":
        column = rng.choice(_columns(renderer, kind, raw, {"amount", "integer", "number"}))
        text = str(raw[column])
        digit = next(i for i, c in enumerate(text) if c.isdigit())
        raw[column] = text[:digit] + "O" + text[digit + 1 :]  # letter O typed for a digit
    elif malformation == "unknown_code":
        codes = [s for s in specs.values() if s.type == "code" and s.column in raw]
        if codes:
            spec = rng.choice(codes)
            column, table = spec.column, spec.codes
        else:
            assert renderer.layout.kind_from is not None
            column, table = renderer.layout.kind_from.column, renderer.layout.kind_from.codes
        raw[column] = next(c for c in _UNKNOWN_CODES if c not in table)
    elif malformation == "truncated":
        return _truncated(renderer, raw, rng)
    return renderer.line(raw)


def _truncated(renderer: LayoutRenderer, raw: dict[str, Any], rng: random.Random) -> str:
    """A line cut off by an interrupted export: fewer columns, or unfinished JSON."""
    if renderer.is_csv:
        fields = renderer.csv_fields(raw)
        keep = rng.randint(2, len(fields) - 1)
        return renderer.csv_line(fields[:keep])  # the line as written, missing its last columns
    line = renderer.line(raw)
    first = renderer.columns[0]
    region_end = line.find('"', line.find(f'"{first}"') + len(first) + 4) + 1
    return line[: rng.randint(max(region_end, 2), len(line) - 2)]
