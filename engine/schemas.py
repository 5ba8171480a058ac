"""The published JSON Schemas, generated from the typed structs.

The structs in :mod:`engine.events` and :mod:`engine.alert` are the single
source; ``lifeline contracts --write`` regenerates the files under
``engine/contracts/`` and a test fails when the committed files are stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import orjson

from engine.alert import Alert
from engine.events import SCHEMA_VERSION, AnyEvent
from engine.integers import schema_hook

CONTRACTS_DIR = Path(__file__).parent / "contracts"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _schema(kind: Any, name: str, title: str, description: str) -> dict[str, Any]:
    body = msgspec.json.schema(kind, schema_hook=schema_hook)
    return {
        "$schema": DIALECT,
        "$id": f"https://lifeline.example/contracts/{name}.v{SCHEMA_VERSION}.schema.json",
        "title": title,
        "description": description,
        **body,
    }


def published_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema document, for every published contract."""
    return {
        f"event.v{SCHEMA_VERSION}.schema.json": _schema(
            AnyEvent,
            "event",
            "Lifeline normalised event",
            "One department record after validation and pseudonymisation; "
            "`kind` selects the record type. See docs/contracts.md.",
        ),
        f"alert.v{SCHEMA_VERSION}.schema.json": _schema(
            Alert,
            "alert",
            "Lifeline alert",
            "What a caseworker receives: one revision of one alert. See docs/contracts.md.",
        ),
    }


def render(schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n"


def write_schemas(directory: Path = CONTRACTS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in published_schemas().items():
        path = directory / name
        path.write_bytes(render(schema))
        written.append(path)
    return written


def load_schema(name: str) -> dict[str, Any]:
    return orjson.loads((CONTRACTS_DIR / name).read_bytes())  # type: ignore[no-any-return]
