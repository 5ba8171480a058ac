"""Read department files line by line, never letting one bad line stop a file.

Each reader yields ``(line_number, row)`` where ``row`` is a mapping of column
to raw value, or a :class:`LineProblem` saying why that line could not be read
(wrong encoding, truncated, malformed, oversized). Line numbers are 1-based as
an editor shows them; a problem with the whole file has line 0.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from connectors.mapping import Layout

_BOM = b"\xef\xbb\xbf"
# Kept instead of a line whose masked columns (names) cannot be located; the
# line itself stays in the department's file, at the position the reject gives.
_WITHHELD = "<line withheld: its masked columns cannot be located>"


Row = dict[str, Any]


@dataclass(frozen=True)
class LineProblem:
    code: str
    message: str
    text: str  # the line as far as it could be decoded (masked before it is kept)
    # The whole fields a cut-off line still has (not the masked columns): read for
    # what the row still says (connectors/convert.py), never kept.
    partial: Row | None = None


_Scalar = str | int | float | bool | None


def _partial(row: Row, layout: Layout) -> Row | None:
    """The plain values of a cut-off row, less the masked columns and any oversized value."""
    kept = {
        name: value
        for name, value in row.items()
        if name not in layout.mask_columns
        and isinstance(value, _Scalar)
        and not (isinstance(value, str) and len(value) > layout.max_field_chars)
    }
    return kept or None


def _lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(data.split(b"\n"), start=1):
        yield number, line.rstrip(b"\r")


def _decode(line: bytes, encoding: str) -> str | LineProblem:
    try:
        return line.decode(encoding)
    except UnicodeDecodeError as exc:
        return LineProblem(
            "encoding",
            f"line is not valid {encoding} (byte 0x{line[exc.start]:02x} at position {exc.start})",
            line.decode(encoding, errors="replace"),
        )


def _oversized(line: bytes, layout: Layout) -> LineProblem | None:
    if len(line) > layout.max_line_bytes:
        return LineProblem(
            "oversized_line",
            f"line has {len(line)} bytes, more than the limit of {layout.max_line_bytes}",
            line.decode(layout.encoding, errors="replace"),
        )
    return None


def read_rows(path: Path, layout: Layout) -> Iterator[tuple[int, Row | LineProblem]]:
    """The rows of a department file in the layout's format."""
    data = path.read_bytes()
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if not data.strip():
        yield 0, LineProblem("empty_file", "file is empty: no header and no records", "")
        return
    reader = _read_csv if layout.format == "csv" else _read_jsonl
    yield from reader(data, layout)


def _mask_csv(text: str, header: list[str] | None, layout: Layout) -> str:
    """A CSV line with the layout's masked columns (names and the like) blanked."""
    if not layout.mask_columns:
        return text
    if not header:
        return _WITHHELD
    try:
        values = next(csv.reader([text], delimiter=layout.delimiter))
    except (csv.Error, StopIteration):
        return _WITHHELD
    masked = [
        "***" if i < len(header) and header[i] in layout.mask_columns else v
        for i, v in enumerate(values)
    ]
    return layout.delimiter.join(masked)


def _mask_json(text: str, layout: Layout) -> str:
    for column in layout.mask_columns:
        key = re.escape(column.rsplit(".", 1)[-1])
        text = re.sub(rf'("{key}"\s*:\s*)"(?:[^"\\]|\\.)*"?', r'\1"***"', text)
    return text


def _read_csv(data: bytes, layout: Layout) -> Iterator[tuple[int, Row | LineProblem]]:
    header: list[str] | None = None
    for number, problem_or_row in _csv_rows(data, layout):
        if isinstance(problem_or_row, list):
            header = problem_or_row
            continue
        if isinstance(problem_or_row, LineProblem):
            problem_or_row = LineProblem(
                problem_or_row.code,
                problem_or_row.message,
                _mask_csv(problem_or_row.text, header, layout),
                problem_or_row.partial,
            )
        yield number, problem_or_row


def _csv_rows(data: bytes, layout: Layout) -> Iterator[tuple[int, Row | LineProblem | list[str]]]:
    """Rows of a CSV file; the first item for the header line is the header list."""
    header: list[str] | None = None
    for number, line in _lines(data):
        if not line.strip():
            continue
        parsed = _csv_values(line, layout)
        if header is None:
            problem = parsed if isinstance(parsed, LineProblem) else _header_problem(parsed[0])
            if problem is not None:
                # Nothing after a broken header can be read safely; keep every line.
                yield (
                    number,
                    LineProblem("bad_header", f"header line: {problem.message}", problem.text),
                )
                yield from _rest_unreadable(data, number, layout, problem.message)
                return
            header = [name.strip() for name in parsed[0]]  # type: ignore[index]
            yield number, header
            continue
        if isinstance(parsed, LineProblem):
            yield number, parsed
            continue
        values, text = parsed
        if len(values) != len(header):
            code = "truncated" if len(values) < len(header) else "extra_columns"
            message = f"line has {len(values)} columns, the header {len(header)}"
            # A cut-off line's first columns are still its own; extra ones may be shifted.
            first = _partial(dict(zip(header, values, strict=False)), layout)
            yield number, LineProblem(code, message, text, first if code == "truncated" else None)
            continue
        limit = layout.max_field_chars
        if len(text) > limit:  # (no value is longer than its line)
            long = next((h for h, v in zip(header, values, strict=True) if len(v) > limit), None)
            if long is not None:
                message = f"column '{long}' is longer than {limit} characters"
                yield number, LineProblem("oversized_field", message, text)
                continue
        yield number, dict(zip(header, values, strict=True))
    if header is None:
        yield 0, LineProblem("empty_file", "file has no readable header line", "")


def _csv_values(line: bytes, layout: Layout) -> tuple[list[str], str] | LineProblem:
    """The values of one CSV line and its decoded text, or why it cannot be read."""
    problem = _oversized(line, layout)
    if problem:
        return problem
    text = _decode(line, layout.encoding)
    if isinstance(text, LineProblem):
        return text
    if _plain_csv(text):
        return text.split(layout.delimiter), text
    try:
        return next(csv.reader([text], delimiter=layout.delimiter, strict=True)), text
    except csv.Error as exc:
        return LineProblem("bad_csv", f"line is not valid CSV: {exc}", text)


def _plain_csv(text: str) -> bool:
    """Whether splitting at the delimiter reads ``text`` exactly as the csv module does.

    Almost every line of a department's file is plain: not empty (the csv
    module reads no value there), no quote or line break (which it reads
    specially) and no value over its field limit. A split costs a quarter of a
    csv reader; any other line goes to one.
    """
    return (
        text != ""
        and '"' not in text
        and "\r" not in text
        and "\n" not in text
        and len(text) <= csv.field_size_limit()
    )


def _header_problem(names: list[str]) -> LineProblem | None:
    stripped = [name.strip() for name in names]
    duplicates = sorted({n for n in stripped if stripped.count(n) > 1})
    if duplicates:
        return LineProblem(
            "bad_header", f"repeats column(s) {', '.join(duplicates)}", ",".join(names)
        )
    return None


def _rest_unreadable(
    data: bytes, after: int, layout: Layout, why: str
) -> Iterator[tuple[int, LineProblem]]:
    for number, line in _lines(data):
        if number > after and line.strip():
            text = line.decode(layout.encoding, errors="replace")
            yield number, LineProblem("bad_header", f"the header line is unusable ({why})", text)


def _read_jsonl(data: bytes, layout: Layout) -> Iterator[tuple[int, Row | LineProblem]]:
    for number, item in _jsonl_rows(data, layout):
        if isinstance(item, LineProblem):
            item = LineProblem(item.code, item.message, _mask_json(item.text, layout), item.partial)
        yield number, item


_LEADING_ATTEMPTS = 20  # commas tried from the end of a cut-off line (a bound on hostile input)


def _leading_fields(text: str, layout: Layout) -> Row | None:
    """The whole fields a cut-off JSON object still has, up to one of its last commas."""
    end = len(text)
    for _ in range(_LEADING_ATTEMPTS):
        end = text.rfind(",", 0, end)
        if end <= 0:
            break
        try:
            row = orjson.loads(text[:end] + "}")
        except orjson.JSONDecodeError:
            continue
        return _partial(row, layout) if isinstance(row, dict) else None
    return None


def _jsonl_rows(data: bytes, layout: Layout) -> Iterator[tuple[int, Row | LineProblem]]:
    for number, line in _lines(data):
        if not line.strip():
            continue
        problem = _oversized(line, layout)
        if problem:
            yield number, problem
            continue
        text = _decode(line, layout.encoding)
        if isinstance(text, LineProblem):
            yield number, text
            continue
        try:
            row = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield (
                number,
                LineProblem(
                    "bad_json",
                    f"line is not valid JSON (truncated or malformed): {exc}",
                    text,
                    _leading_fields(text, layout),
                ),
            )
            continue
        if not isinstance(row, dict):
            yield number, LineProblem("bad_json", "line is JSON but not an object", text)
            continue
        long = _long_field(row, layout.max_field_chars)
        if long is not None:
            yield (
                number,
                LineProblem(
                    "oversized_field",
                    f"field '{long}' is longer than {layout.max_field_chars} characters",
                    text,
                ),
            )
            continue
        yield number, row


def _long_field(value: Any, limit: int, name: str = "") -> str | None:
    if isinstance(value, str):
        return name if len(value) > limit else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = ((f"{name}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        path = key if isinstance(value, list) else (f"{name}.{key}" if name else str(key))
        found = _long_field(item, limit, path)
        if found is not None:
            return found
    return None
