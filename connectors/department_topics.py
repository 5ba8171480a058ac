"""Lines from the departments' Kafka topics to events or rejects.

What `lifeline ingest` (connectors/kafka_ingest.py) puts on ``dept.<department>``
comes back here: the same :class:`~connectors.files.LineNormaliser` as the file
path validates and pseudonymises it, into the same items (a rejected row of
income is followed by what it still says). A reject names its topic,
partition and offset, so a dead-letter topic can say where each came from.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson

from connectors.arrival_order import Rank, file_rank
from connectors.files import LineNormaliser, Reject
from connectors.kafka_ingest import TOPIC_PREFIX
from connectors.mapping import Catalog
from connectors.readers import LineProblem
from engine.events import CST, Event
from engine.identity import Pseudonymiser

# What a message may name, as it is: a reason code, a layout (anything else is not
# shown); short names, never with a run of digits that could be part of an ID number.
_CODE = re.compile(r"^(?!.*[0-9]{7})[a-z][a-z0-9_]{0,39}$")
_NAME = re.compile(r"^(?!.*[0-9]{7})[A-Za-z][A-Za-z0-9_.-]{0,39}$")
# A run of digits that may hold an ID number (as engine.identity finds them).
_ID_LIKE = re.compile(r"(?<![0-9])[0-9]{14,}[0-9Xx](?![0-9])")
MAX_REASON = 300


def withheld(text: str) -> str:
    """A reason made from text a message carried: no ID-shaped run, none of its digits.

    Reasons are shown to operators; content is kept pseudonymised apart from them.

    >>> withheld("cannot read 110105194912310021, line 3")
    'cannot read (a number, not shown), line 3'
    """
    return _ID_LIKE.sub("(a number, not shown)", text)[:MAX_REASON]


def _name(value: str) -> str:
    """A layout name fit for a reason (never a long run of digits)."""
    return f"'{value}'" if _NAME.match(value) else f"of {len(value)} characters (not shown)"


class DepartmentTopics:
    """Decodes department-topic messages, one normaliser per department and layout."""

    def __init__(
        self, catalog: Catalog, pseudonymiser: Pseudonymiser, prefix: str = TOPIC_PREFIX
    ) -> None:
        self.catalog = catalog
        self.pseudonymiser = pseudonymiser
        self.prefix = prefix
        self._normalisers: dict[tuple[str, str], LineNormaliser] = {}

    def _normaliser(self, department: str, layout_name: str) -> LineNormaliser | None:
        key = (department, layout_name)
        if key not in self._normalisers:
            mapping = self.catalog.mappings.get(department)
            layout = (
                next((lo for lo in mapping.layouts if lo.name == layout_name), None)
                if mapping
                else None
            )
            if layout is None:
                return None
            self._normalisers[key] = LineNormaliser(department, layout, self.pseudonymiser)
        return self._normalisers[key]

    def decode(
        self, topic: str, partition: int, offset: int, value: bytes | None
    ) -> list[Event | Reject]:
        """The items of one message, as :class:`LineNormaliser` makes them: an event, a
        reject, or a reject and what its row still says. Never raises for what a message holds.
        """
        return self.decode_ranked(topic, partition, offset, value)[0]

    def decode_ranked(
        self, topic: str, partition: int, offset: int, value: bytes | None
    ) -> tuple[list[Event | Reject], Rank | None]:
        """:meth:`decode`, and the message's place among the records of its arrival
        time (its file's rank and its line: :func:`connectors.arrival_order.file_rank`);
        None for a message that says no file and line."""
        source = f"{topic}/{partition}"
        department = topic.removeprefix(self.prefix)
        try:
            if value is None:
                raise TypeError("a message without a value (a tombstone)")
            message: dict[str, Any] = orjson.loads(value)
            received_at = dt.datetime.fromisoformat(message["received_at"])
            if received_at.tzinfo is None:
                raise ValueError("an arrival time without a time zone")
            layout_name = str(message["layout"])
            problem = message.get("problem")
            if problem is not None and not isinstance(problem, dict):
                raise TypeError("a problem that is not an object")
            # The event's source text: a file name could hold anything, an ID number too.
            where = self.pseudonymiser.mask_id_tokens(
                f"{source}@{offset} ({message['file']}:{message['line']})"
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            bad = Reject(
                reason_code="bad_message",
                reason=f"not a department line message ({type(exc).__name__})",
                source=source,
                position=offset,
                department=department,
                content=self.pseudonymiser.mask_id_tokens(
                    (value or b"")[:2000].decode("utf-8", "replace")
                ),
                received_at=dt.datetime.now(CST).replace(microsecond=0),
            )
            return [bad], None
        rank = _rank(message)
        normalise = self._normaliser(department, layout_name)
        if normalise is None:
            no_layout = Reject(
                reason_code="no_layout",
                reason=f"department '{department}' has no layout {_name(layout_name)}",
                source=source,
                position=offset,
                department=department,
                received_at=received_at,
            )
            return [no_layout], rank
        row: dict[str, Any] | LineProblem
        if problem is not None:
            # What the ingester could not read: its code and message become the reason,
            # so they must be a code and a message, not a person.
            code, text = str(problem.get("code")), str(message.get("text", ""))
            partial = message.get("partial")
            partial = partial if isinstance(partial, dict) else None
            if _CODE.match(code):
                row = LineProblem(code, withheld(str(problem.get("message"))), text, partial)
            else:
                row = LineProblem("bad_message", "the message's problem has no valid code", text)
        else:
            given = message.get("row")
            row = (
                given
                if isinstance(given, dict)
                else LineProblem("bad_message", "the message carries no row", "")
            )
        items = normalise(row, source=source, position=offset, received_at=received_at, where=where)
        return items, rank


def _rank(message: dict[str, Any]) -> Rank | None:
    file, line = message.get("file"), message.get("line")
    if not isinstance(file, str) or not isinstance(line, int):
        return None
    return (*file_rank(file), line)
