"""Department mappings: how one department's raw layout becomes events.

One TOML file per department in ``config/connectors/`` declares its layouts
(which files, CSV or JSON lines, encoding), how a row's kind is chosen, and
for every event field the raw column, its type, unit, date format and code
table. Adding a department or renaming a column is an edit there, not here.
Mappings are validated once, at load time, against the event structs: a
mapping that cannot produce a field its kind requires fails to load.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from engine.config import ConfigError, load_toml
from engine.events import EVENT_TYPES, Channel, Department

FieldType = Literal[
    "id_number",
    "string",
    "code",
    "amount",
    "integer",
    "number",
    "date",
    "datetime",
    "month",
    "region",
    "bool",
    "members",
]
Unit = Literal["yuan", "fen", "wan_yuan"]

# Fields every event has that the mapping must not set: the connector derives them.
DERIVED_FIELDS = frozenset(
    {"v", "kind", "event_id", "department", "channel", "received_at", "natural_key",
     "fingerprint", "source"}
)  # fmt: skip


class FieldSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where one event field comes from and how it is converted."""

    column: str
    type: FieldType = "string"
    required: bool = True
    formats: list[str] = []  # strptime formats for date, datetime, month
    unit: Unit = "yuan"  # for amount
    min: float | None = None  # inclusive bounds for amount, integer, number
    max: float | None = None
    codes: dict[str, Any] = {}  # code -> normalised value (code, bool)
    max_length: Annotated[int, msgspec.Meta(ge=1)] = 200  # for string
    items: dict[str, FieldSpec] = {}  # for members: fields of each member


class KindSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Per-kind part of a layout: its natural key, extra fields and constants."""

    key: Annotated[list[str], msgspec.Meta(min_length=1)]
    fields: dict[str, FieldSpec] = {}
    constants: dict[str, Any] = {}


class KindFrom(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A column whose code says which kind a row is."""

    column: str
    codes: dict[str, str]


class Layout(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    files: Annotated[list[str], msgspec.Meta(min_length=1)]  # file-name globs
    format: Literal["csv", "jsonl"]
    kinds: dict[str, KindSpec]
    channel: Channel = "batch"
    encoding: str = "utf-8"
    delimiter: Annotated[str, msgspec.Meta(min_length=1, max_length=1)] = ","
    kind_from: KindFrom | None = None  # absent: the layout has exactly one kind
    fields: dict[str, FieldSpec] = {}  # shared by every kind of the layout
    mask_columns: list[str] = []  # names and the like: kept out of rejects
    max_field_chars: Annotated[int, msgspec.Meta(ge=1)] = 4096
    max_line_bytes: Annotated[int, msgspec.Meta(ge=64)] = 1 << 20

    def matches(self, file_name: str) -> bool:
        return any(fnmatch.fnmatchcase(file_name, pattern) for pattern in self.files)

    def fields_for(self, kind: str) -> dict[str, FieldSpec]:
        """The field specs that apply to ``kind``: shared ones it has, then its own."""
        wanted = set(EVENT_TYPES[kind].__struct_fields__)
        merged = {name: spec for name, spec in self.fields.items() if name in wanted}
        merged.update(self.kinds[kind].fields)
        return merged


class DepartmentMapping(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    department: Department
    layouts: Annotated[list[Layout], msgspec.Meta(min_length=1)]
    description: str = ""
    version: str = "1"


class MappingError(ConfigError):
    """A mapping file is wrong; the message names the file and the place."""


def _check_layout(path: Path, layout: Layout) -> None:
    where = f"{path}: layout '{layout.name}'"
    for kind in layout.kinds:
        if kind not in EVENT_TYPES:
            raise MappingError(
                f"{where}: unknown kind '{kind}' (valid kinds: {', '.join(sorted(EVENT_TYPES))})"
            )
    known = {name for kind in layout.kinds for name in EVENT_TYPES[kind].__struct_fields__}
    for name in sorted(set(layout.fields) - known):
        raise MappingError(f"{where}: no kind of this layout has a field '{name}'")
    if layout.kind_from is None and len(layout.kinds) != 1:
        raise MappingError(f"{where}: several kinds need a kind_from column to choose between them")
    if layout.kind_from is not None:
        for code, kind in layout.kind_from.codes.items():
            if kind not in layout.kinds:
                raise MappingError(
                    f"{where}: kind_from code '{code}' names kind '{kind}', "
                    f'which has no [kinds."{kind}"] table'
                )
    for kind, spec in layout.kinds.items():
        struct = EVENT_TYPES[kind]
        fields = layout.fields_for(kind)
        provided = set(fields) | set(spec.constants)
        for name in provided & DERIVED_FIELDS:
            raise MappingError(f"{where}, kind '{kind}': field '{name}' is derived, do not map it")
        for name in sorted(set(spec.fields) | set(spec.constants)):
            if name not in struct.__struct_fields__:
                raise MappingError(f"{where}, kind '{kind}': the event has no field '{name}'")
        defaults = _fields_with_defaults(struct)
        for name in struct.__struct_fields__:
            if name not in DERIVED_FIELDS and name not in provided and name not in defaults:
                raise MappingError(
                    f"{where}, kind '{kind}': no mapping for required field '{name}'"
                )
        for name in spec.key:
            if name not in provided:
                raise MappingError(f"{where}, kind '{kind}': key field '{name}' is not mapped")
        for name, field in fields.items():
            if field.type in ("date", "datetime", "month") and not field.formats:
                raise MappingError(f"{where}, field '{name}': type {field.type} needs formats")
            if field.type == "code" and not field.codes:
                raise MappingError(f"{where}, field '{name}': type code needs a codes table")
            if field.type == "members" and not field.items:
                raise MappingError(f"{where}, field '{name}': type members needs items")


def _fields_with_defaults(struct: type[msgspec.Struct]) -> set[str]:
    return {
        f.name
        for f in msgspec.structs.fields(struct)
        if f.default is not msgspec.NODEFAULT or f.default_factory is not msgspec.NODEFAULT
    }


def load_mapping(path: Path) -> DepartmentMapping:
    mapping = load_toml(path, DepartmentMapping, MappingError, what="mapping")
    for layout in mapping.layouts:
        _check_layout(path, layout)
    return mapping


class Catalog:
    """Every department mapping, and which layout reads which file."""

    def __init__(self, mappings: Mapping[str, DepartmentMapping]) -> None:
        self.mappings = dict(mappings)

    @classmethod
    def load(cls, directory: Path) -> Catalog:
        files = sorted(directory.glob("*.toml"))
        if not files:
            raise MappingError(f"{directory}: no department mappings (*.toml) found")
        mappings: dict[str, DepartmentMapping] = {}
        for path in files:
            mapping = load_mapping(path)
            if mapping.department in mappings:
                raise MappingError(f"{path}: department '{mapping.department}' is mapped twice")
            mappings[mapping.department] = mapping
        return cls(mappings)

    def layout_for(self, file_name: str, department: str | None = None) -> tuple[str, Layout]:
        """The (department, layout) whose file globs match ``file_name``."""
        candidates = [
            (dept, layout)
            for dept, mapping in self.mappings.items()
            if department in (None, dept)
            for layout in mapping.layouts
            if layout.matches(file_name)
        ]
        if len(candidates) == 1:
            return candidates[0]
        scope = f"department '{department}'" if department else "any department"
        if not candidates:
            known = "; ".join(
                f"{dept}/{layout.name}: {', '.join(layout.files)}"
                for dept, mapping in sorted(self.mappings.items())
                for layout in mapping.layouts
            )
            raise MappingError(f"no layout of {scope} matches file '{file_name}' (known: {known})")
        names = ", ".join(f"{dept}/{layout.name}" for dept, layout in candidates)
        raise MappingError(f"file '{file_name}' matches several layouts: {names}")
