"""Department files in, events and rejects out.

:func:`ingest_file` is the one way a file becomes events: find the layout,
read each line, convert each row; whatever fails becomes a :class:`Reject`
with its reason, place and masked content. Nothing is dropped silently. A
rejected row of monthly income whose own person and month can be read is
followed by a ``record.unreadable`` event, so the engine does not take it for
income that stopped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec

from connectors.convert import RowConverter, RowRejected
from connectors.mapping import Catalog, Layout, MappingError
from connectors.readers import LineProblem, read_rows
from engine.events import Event
from engine.identity import Pseudonymiser

MAX_KEPT_TEXT = 2000  # characters of an unreadable line kept in its reject


class Reject(msgspec.Struct, kw_only=True, frozen=True):
    """A record that did not become an event, kept with why and where."""

    v: Literal[1] = 1
    reason_code: str
    reason: str
    source: str  # the file (or, from the daemon, topic and partition)
    position: int  # line number in the file (0: the whole file), or the offset
    department: str | None = None
    layout: str | None = None
    column: str | None = None
    content: dict[str, Any] | str | None = None  # ID numbers pseudonymised, names masked
    received_at: dt.datetime


def masked_row(row: dict[str, Any], layout: Layout, pseudonymiser: Pseudonymiser) -> dict[str, Any]:
    """A raw row made safe to keep: masked columns blanked, ID numbers pseudonymised."""

    def clean(value: Any, name: str) -> Any:
        if name in layout.mask_columns:
            return "***"
        if isinstance(value, str):
            return pseudonymiser.mask_id_tokens(value)
        if isinstance(value, dict):
            return {k: clean(v, f"{name}.{k}" if name else k) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v, name) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and len(str(value)) >= 17:
            return pseudonymiser.mask_id_tokens(str(value))
        return value

    return {key: clean(value, key) for key, value in row.items()}


class LineNormaliser:
    """One line of a department's layout to its items: the one place it happens.

    Used for files (:func:`ingest_file`) and for the lines that arrive on the
    departments' Kafka topics alike.
    """

    def __init__(self, department: str, layout: Layout, pseudonymiser: Pseudonymiser) -> None:
        self.department = department
        self.layout = layout
        self.pseudonymiser = pseudonymiser
        self.converter = RowConverter(department, layout, pseudonymiser)

    def __call__(
        self,
        row: dict[str, Any] | LineProblem,
        *,
        source: str,
        position: int,
        received_at: dt.datetime,
        where: str,
    ) -> list[Event | Reject]:
        """The line's event; or its reject, then what the rejected row still says.

        That is a ``record.unreadable`` event, for a row of monthly income whose
        own person and month can be read (:meth:`RowConverter.unreadable`).
        ``source``/``position`` place a reject; ``where`` is the events' source text.
        """
        item = self._rejected(row, source, position, received_at, where)
        if not isinstance(item, Reject):
            return [item]
        readable = row.partial if isinstance(row, LineProblem) else row
        if readable is None:
            return [item]
        unreadable = self.converter.unreadable(readable, item.reason_code, received_at, where)
        return [item] if unreadable is None else [item, unreadable]

    def _rejected(
        self,
        row: dict[str, Any] | LineProblem,
        source: str,
        position: int,
        received_at: dt.datetime,
        where: str,
    ) -> Event | Reject:
        """The line's event, or its reject."""
        if isinstance(row, LineProblem):
            # Mask first, then shorten: a cut could split an ID number and hide
            # it from the masker.
            text = self.pseudonymiser.mask_id_tokens(row.text)[:MAX_KEPT_TEXT] if row.text else None
            return self._reject(source, position, received_at, row.code, row.message, None, text)
        try:
            return self.converter.convert(row, received_at, where)
        except RowRejected as exc:
            content = masked_row(row, self.layout, self.pseudonymiser)
            return self._reject(
                source, position, received_at, exc.code, str(exc), exc.column, content
            )

    def _reject(
        self,
        source: str,
        position: int,
        received_at: dt.datetime,
        code: str,
        reason: str,
        column: str | None,
        content: Any,
    ) -> Reject:
        return Reject(
            reason_code=code,
            reason=reason,
            source=source,
            position=position,
            department=self.department,
            layout=self.layout.name,
            column=column,
            content=content,
            received_at=received_at,
        )


def ingest_file(
    path: Path,
    catalog: Catalog,
    pseudonymiser: Pseudonymiser,
    *,
    received_at: dt.datetime,
    department: str | None = None,
) -> Iterator[Event | Reject]:
    """Every event and every reject of one department file, in file order.

    What a rejected row of income still says follows its reject (:class:`LineNormaliser`).
    """
    source = str(path)
    try:
        dept, layout = catalog.layout_for(path.name, department)
    except MappingError as exc:
        yield Reject(
            reason_code="no_layout",
            reason=str(exc),
            source=source,
            position=0,
            department=department,
            received_at=received_at,
        )
        return
    normalise = LineNormaliser(dept, layout, pseudonymiser)
    for line, row in read_rows(path, layout):
        yield from normalise(
            row, source=source, position=line, received_at=received_at, where=f"{source}:{line}"
        )
