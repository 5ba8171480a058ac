"""Turn one raw row into one typed event, or say exactly why not.

For a row of monthly income that is rejected, :meth:`RowConverter.unreadable`
says what it still can: whose month it was (a ``record.unreadable`` event).

The only place where raw ID numbers are read: :class:`RowConverter` validates
them and keeps only the pseudonym. Rejection reasons name the column and the
problem, never the raw value of an ID number or an amount.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, get_args

import msgspec

from connectors.mapping import FieldSpec, Layout
from engine.events import (
    CST,
    EVENT_TYPES,
    Event,
    IncomeKind,
    RecordUnreadable,
    event_id_for,
    fingerprint_of,
    timestamp,
)
from engine.identity import IdError, Pseudonymiser, is_valid_region, validate_id_number
from engine.integers import dec_hook

_UNIT_SCALE = {"yuan": Decimal(1), "fen": Decimal("0.01"), "wan_yuan": Decimal(10000)}
_DEFAULT_AMOUNT_MAX = 1e9
_TRUE = frozenset({"1", "true", "t", "y", "yes", "是"})
_FALSE = frozenset({"0", "false", "f", "n", "no", "否"})
_MISSING = object()
_MAX_DIGITS = 15  # no amount or count in any department's data has more integer digits
_INCOME_KINDS = frozenset(get_args(IncomeKind))
_NUMBER_TYPES = (str, int, float)  # a tuple: `str | int | float` would be made on every call
_QUOTABLE = re.compile(r"^[^0-9]*(?:[0-9]{1,6}[^0-9]+)*[0-9]{0,6}$")


class RowRejected(Exception):
    """A row cannot become an event. ``code`` is a stable reason code."""

    def __init__(self, code: str, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.column = column


def lookup(row: Mapping[str, Any], column: str) -> Any:
    """A row's value by column name; dotted names reach into JSON objects."""
    if column in row:
        return row[column]
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _quote(value: str) -> str:
    """A raw value fit for a reason: short codes only, never a long run of digits.

    A code column can hold an ID number when a department swaps columns; the
    reason is shown to operators, so it must not repeat such a value.
    """
    if len(value) <= 12 and _QUOTABLE.match(value):
        return f"'{value}'"
    return f"of {len(value)} characters (not shown)"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any, column: str, what: str) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise RowRejected(
        "bad_type", f"{what} in column '{column}' must be text, got {_type(value)}", column
    )


def _type(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _decimal(value: Any, column: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
        raise RowRejected(
            "bad_type", f"column '{column}' must be a number, got {_type(value)}", column
        )
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise RowRejected("bad_number", f"column '{column}' is not a number", column) from None
    if not number.is_finite():
        raise RowRejected("bad_number", f"column '{column}' is not a finite number", column)
    if number and number.adjusted() > _MAX_DIGITS:
        # Before any arithmetic: 1e1000000 would overflow, or build a huge int.
        raise RowRejected("out_of_range", f"column '{column}' is far out of range", column)
    return number


def _bounded(number: float, spec: FieldSpec, column: str, default_max: float | None) -> float:
    low = 0.0 if spec.min is None and spec.type == "amount" else spec.min
    high = spec.max if spec.max is not None else default_max
    if low is not None and number < low:
        problem = "is negative" if low == 0 else f"is below the minimum {low:g}"
        raise RowRejected("out_of_range", f"column '{column}' {problem}", column)
    if high is not None and number > high:
        raise RowRejected(
            "out_of_range", f"column '{column}' is above the maximum {high:g}", column
        )
    return number


# Fixed-width digits for the directives every department uses; strptime (about
# 15 microseconds a call) stays the reference for any other format.
_DIRECTIVES = {
    "%Y": "(?P<year>[1-9][0-9]{3})",
    "%m": "(?P<month>[0-9]{2})",
    "%d": "(?P<day>[0-9]{2})",
    "%H": "(?P<hour>[0-9]{2})",
    "%M": "(?P<minute>[0-9]{2})",
    "%S": "(?P<second>[0-9]{2})",
}


@functools.lru_cache(maxsize=64)
def _fixed_width(fmt: str) -> re.Pattern[str] | None:
    """A pattern equal to ``strptime(fmt)`` plus the round trip, or None."""
    parts = re.split(r"(%.)", fmt)
    if any(p.startswith("%") and p not in _DIRECTIVES for p in parts) or "%Y" not in parts:
        return None
    if len(set(p for p in parts if p.startswith("%"))) != sum(p.startswith("%") for p in parts):
        return None  # a directive twice
    return re.compile("".join(_DIRECTIVES.get(p, re.escape(p)) for p in parts))


def _strptime(text: str, fmt: str) -> dt.datetime:
    pattern = _fixed_width(fmt)
    if pattern is None:
        return dt.datetime.strptime(text, fmt)
    return _fixed_local(text, fmt).replace(tzinfo=None)


# Department files repeat the same few thousand dates and months: each is parsed
# once (a datetime is immutable, so every row can share it). A value that does
# not parse raises every time (lru_cache keeps no exceptions).
@functools.lru_cache(maxsize=8192)
def _fixed_local(text: str, fmt: str) -> dt.datetime:
    """``text`` in a format :func:`_fixed_width` has a pattern for, in local time (CST)."""
    pattern = _fixed_width(fmt)
    assert pattern is not None
    match = pattern.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not in format {fmt!r}")
    fields = {k: int(v) for k, v in match.groupdict().items()}
    return dt.datetime(
        fields["year"],
        fields.get("month", 1),
        fields.get("day", 1),
        fields.get("hour", 0),
        fields.get("minute", 0),
        fields.get("second", 0),
        tzinfo=CST,
    )  # raises ValueError for a day or an hour that does not exist


# The contract form of the same few arrival times and dates, asked for on every row.
_timestamp = functools.lru_cache(maxsize=8192)(timestamp)


def _parse_time(value: Any, spec: FieldSpec, column: str) -> dt.datetime:
    text = _text(value, column, "a date")
    try:
        return _time_in_formats(text, tuple(spec.formats))
    except ValueError:
        raise _bad_date(spec, column) from None


def _parse_month(value: Any, spec: FieldSpec, column: str) -> str:
    """The ``YYYY-MM`` of a month field's value."""
    text = _text(value, column, "a date")
    try:
        return _month_in_formats(text, tuple(spec.formats))
    except ValueError:
        raise _bad_date(spec, column) from None


def _bad_date(spec: FieldSpec, column: str) -> RowRejected:
    return RowRejected(
        "bad_date",
        f"column '{column}' is not a valid {spec.type} in format {' or '.join(spec.formats)}",
        column,
    )


# Each department file repeats the same few hundred months and few thousand
# dates: each text is read once per field's formats (a datetime is immutable, so
# every row can share it). A text that does not parse raises every time and is
# never kept (lru_cache keeps no exceptions): it may be anything, even an ID number.
@functools.lru_cache(maxsize=8192)
def _time_in_formats(text: str, formats: tuple[str, ...]) -> dt.datetime:
    """``text`` read by the first of ``formats`` that reads it exactly, in local time if naive."""
    for fmt in formats:
        if _fixed_width(fmt) is not None:
            try:
                return _fixed_local(text, fmt)
            except ValueError:
                continue
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        # strptime accepts unpadded numbers ("2026-3-5" for %Y-%m-%d); a
        # department's format is exact, so insist the value round-trips.
        if parsed.strftime(fmt) != text and parsed.replace(tzinfo=None).strftime(fmt) != text:
            continue
        return parsed.replace(tzinfo=CST) if parsed.tzinfo is None else parsed
    raise ValueError("no format reads the value")


@functools.lru_cache(maxsize=8192)
def _month_in_formats(text: str, formats: tuple[str, ...]) -> str:
    """The ``YYYY-MM`` of :func:`_time_in_formats` (formatting it costs more than the cache)."""
    parsed = _time_in_formats(text, formats)
    return f"{parsed.year:04d}-{parsed.month:02d}"


class RowConverter:
    """Converts the rows of one layout into events of its kinds."""

    def __init__(self, department: str, layout: Layout, pseudonymiser: Pseudonymiser) -> None:
        self.department = department
        self.layout = layout
        self.pseudonymiser = pseudonymiser
        self._fields = {kind: layout.fields_for(kind) for kind in layout.kinds}
        self._converters: dict[str, Callable[[Any, FieldSpec, str], Any]] = {
            "id_number": self._id_number,
            "string": self._string,
            "code": self._code,
            "amount": self._amount,
            "integer": self._integer,
            "number": self._number,
            "date": _parse_time,
            "datetime": _parse_time,
            "month": _parse_month,
            "region": self._region,
            "bool": self._bool,
            "members": self._members,
        }

    # --- the row -----------------------------------------------------------

    def kind_of(self, row: Mapping[str, Any]) -> str:
        chooser = self.layout.kind_from
        if chooser is None:
            return next(iter(self.layout.kinds))
        raw = lookup(row, chooser.column)
        if raw is _MISSING:
            raise RowRejected(
                "missing_column", f"column '{chooser.column}' is missing", chooser.column
            )
        code = _text(raw, chooser.column, "the record type")
        if code not in chooser.codes:
            known = ", ".join(sorted(chooser.codes))
            raise RowRejected(
                "unknown_code",
                f"unknown record type {_quote(code)} in column '{chooser.column}' (known: {known})",
                chooser.column,
            )
        return chooser.codes[code]

    def convert(self, row: Mapping[str, Any], received_at: dt.datetime, source: str) -> Event:
        kind = self.kind_of(row)
        spec = self.layout.kinds[kind]
        content: dict[str, Any] = {"kind": kind, "department": self.department}
        for name, field in self._fields[kind].items():
            value = self._field(row, field)
            if value is not None:
                content[name] = value
        for name, value in spec.constants.items():
            content[name] = value
        event_time = content.get("event_time")
        if isinstance(event_time, str):  # a month: the event is about that month
            event_time = _fixed_local(event_time, "%Y-%m")
        if isinstance(event_time, dt.datetime):
            content["event_time"] = _timestamp(event_time)
        natural_key = "|".join([_key_part(content.get(name)) for name in spec.key])
        try:
            return self._event(content, natural_key, received_at, source)
        except msgspec.ValidationError as exc:
            raise RowRejected(
                "invalid_event", f"record does not make a valid {kind}: {exc}"
            ) from None

    def unreadable(
        self, row: Mapping[str, Any], reason: str, received_at: dt.datetime, source: str
    ) -> RecordUnreadable | None:
        """What a rejected row of monthly income still says: whose month it was.

        None unless the row's own ID number is valid and its own month readable
        (nothing is guessed: not a check digit, not the month of its file), and
        unless it is a row of income. The region is the row's own, or else the
        person's region of registration (it only routes the record).
        """
        try:
            kinds = [self.kind_of(row)]
            record_kind: str | None = kinds[0]
        except RowRejected:  # its record type is unreadable: what a row like it may be
            kinds = [
                kind
                for kind, fields in self._fields.items()
                if "person" in fields
                and "month" in fields
                and lookup(row, fields["month"].column) is not _MISSING
            ]
            record_kind = kinds[0] if len(kinds) == 1 else None
        if not kinds or any(kind not in _INCOME_KINDS for kind in kinds):
            return None
        fields = self._fields[kinds[0]]
        try:
            person = self._field(row, fields["person"])
            month = self._field(row, fields["month"])
        except RowRejected:
            return None
        if person is None or month is None:
            return None
        try:
            region = self._field(row, fields["region"]) if "region" in fields else None
        except RowRejected:
            region = None
        content: dict[str, Any] = {
            "kind": "record.unreadable",
            "department": self.department,
            "event_time": _timestamp(_fixed_local(month, "%Y-%m")),
            "region": region or str(lookup(row, fields["person"].column)).strip()[:6],
            "person": person,
            "month": month,
            "reason": reason,
        }
        if record_kind is not None:
            content["record_kind"] = record_kind
        natural_key = f"{person}|{month}|{record_kind or ''}"
        try:
            event = self._event(content, natural_key, received_at, source)
        except msgspec.ValidationError:  # (a reason code that is not one)
            return None
        assert isinstance(event, RecordUnreadable)
        return event

    def _event(
        self, content: dict[str, Any], natural_key: str, received_at: dt.datetime, source: str
    ) -> Event:
        """The typed event of a record's content: its id, fingerprint and delivery."""
        kind = content["kind"]
        document = {
            **content,
            "channel": self.layout.channel,
            "received_at": _timestamp(received_at),
            "natural_key": natural_key,
            "event_id": event_id_for(self.department, kind, natural_key),
            "fingerprint": fingerprint_of(content),
            "source": source,
        }
        return msgspec.convert(document, EVENT_TYPES[kind], dec_hook=dec_hook)  # type: ignore[no-any-return]

    def _field(self, row: Mapping[str, Any], field: FieldSpec) -> Any:
        raw = lookup(row, field.column)
        if raw is _MISSING:
            if field.required:
                raise RowRejected(
                    "missing_column", f"column '{field.column}' is missing", field.column
                )
            return None
        if _blank(raw):
            if field.required:
                raise RowRejected(
                    "missing_value", f"column '{field.column}' is empty", field.column
                )
            return None
        return self._converters[field.type](raw, field, field.column)

    # --- one converter per field type ----------------------------------------

    def _id_number(self, value: Any, spec: FieldSpec, column: str) -> str:
        if not isinstance(value, str):  # a JSON number has lost any leading zero or X
            raise RowRejected(
                "bad_type",
                f"the ID number in column '{column}' must be text, got {_type(value)}",
                column,
            )
        text = value.strip()
        try:
            return self.pseudonymiser.pseudonym(validate_id_number(text))
        except IdError as exc:
            raise RowRejected(exc.code, f"column '{column}': {exc}", column) from None

    def _string(self, value: Any, spec: FieldSpec, column: str) -> str:
        text = _text(value, column, "the value")
        if len(text) > spec.max_length:
            raise RowRejected(
                "oversized_field",
                f"column '{column}' is longer than {spec.max_length} characters",
                column,
            )
        return text

    def _code(self, value: Any, spec: FieldSpec, column: str) -> Any:
        code = _text(value, column, "the code")
        if code not in spec.codes:
            known = ", ".join(sorted(spec.codes))
            raise RowRejected(
                "unknown_code",
                f"unknown code {_quote(code)} in column '{column}' (known: {known})",
                column,
            )
        return spec.codes[code]

    def _amount(self, value: Any, spec: FieldSpec, column: str) -> float:
        scaled = _decimal(value, column) * _UNIT_SCALE[spec.unit]
        return _bounded(round(float(scaled), 2), spec, column, _DEFAULT_AMOUNT_MAX)

    def _integer(self, value: Any, spec: FieldSpec, column: str) -> int:
        number = _decimal(value, column)
        if number != number.to_integral_value():
            raise RowRejected("bad_number", f"column '{column}' must be a whole number", column)
        return int(_bounded(int(number), spec, column, None))

    def _number(self, value: Any, spec: FieldSpec, column: str) -> float:
        number = float(_decimal(value, column))
        if not math.isfinite(number):
            raise RowRejected("bad_number", f"column '{column}' is not a finite number", column)
        return _bounded(number, spec, column, None)

    def _region(self, value: Any, spec: FieldSpec, column: str) -> str:
        code = _text(value, column, "the region code")
        if not is_valid_region(code):
            raise RowRejected(
                "bad_region", f"column '{column}' is not a 6-digit region code", column
            )
        return code

    def _bool(self, value: Any, spec: FieldSpec, column: str) -> bool:
        if isinstance(value, bool):
            return value
        text = _text(value, column, "the flag")
        if spec.codes:
            if text not in spec.codes:
                raise RowRejected(
                    "unknown_code", f"unknown flag {_quote(text)} in column '{column}'", column
                )
            return bool(spec.codes[text])
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise RowRejected("bad_type", f"column '{column}' is not a yes/no flag", column)

    def _members(self, value: Any, spec: FieldSpec, column: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise RowRejected("bad_type", f"column '{column}' must be a list of members", column)
        members = []
        for index, item in enumerate(value, start=1):
            if not isinstance(item, Mapping):
                raise RowRejected(
                    "bad_type", f"member {index} in column '{column}' is not an object", column
                )
            member: dict[str, Any] = {"position": index}
            for name, field in spec.items.items():
                converted = self._field(item, field)
                if converted is not None:
                    member[name] = converted
            members.append(member)
        return members


def _key_part(value: Any) -> str:
    return "" if value is None else str(value)
