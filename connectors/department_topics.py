"""Lines from the departments' Kafka topics to events or rejects.

What `lifeline ingest` (connectors/kafka_ingest.py) puts on ``dept.<department>``
comes back here: the same :class:`~connectors.files.LineNormaliser` as the file
path validates and pseudonymises it. A reject names its topic, partition and
offset, so a dead-letter topic can say where each came from.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from connectors.files import LineNormaliser, Reject
from connectors.kafka_ingest import TOPIC_PREFIX
from connectors.mapping import Catalog
from connectors.readers import LineProblem
from engine.events import CST, Event
from engine.identity import Pseudonymiser


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

    def decode(self, topic: str, partition: int, offset: int, value: bytes) -> Event | Reject:
        source = f"{topic}/{partition}"
        department = topic.removeprefix(self.prefix)
        try:
            message: dict[str, Any] = orjson.loads(value)
            received_at = dt.datetime.fromisoformat(message["received_at"])
            layout_name = str(message["layout"])
            where = f"{source}@{offset} ({message['file']}:{message['line']})"
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return Reject(
                reason_code="bad_message",
                reason=f"not a department line message ({type(exc).__name__})",
                source=source,
                position=offset,
                department=department,
                content=self.pseudonymiser.mask_id_tokens(value[:2000].decode("utf-8", "replace")),
                received_at=dt.datetime.now(CST).replace(microsecond=0),
            )
        normalise = self._normaliser(department, layout_name)
        if normalise is None:
            return Reject(
                reason_code="no_layout",
                reason=f"department '{department}' has no layout '{layout_name}'",
                source=source,
                position=offset,
                department=department,
                received_at=received_at,
            )
        row: dict[str, Any] | LineProblem
        if "problem" in message:
            problem = message["problem"]
            row = LineProblem(
                str(problem.get("code")), str(problem.get("message")), str(message.get("text", ""))
            )
        else:
            row = (
                message.get("row")
                if isinstance(message.get("row"), dict)
                else LineProblem("bad_message", "the message carries no row", "")
            )
        return normalise(row, source=source, position=offset, received_at=received_at, where=where)
