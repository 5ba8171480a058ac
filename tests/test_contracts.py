"""The published schemas and the typed parser accept and reject the same documents."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.alert import AlertError, parse_alert
from engine.events import EVENT_TYPES, EventError, decode_event, parse_event
from engine.schemas import CONTRACTS_DIR, load_schema, published_schemas, render

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
EVENT_EXAMPLES = [
    orjson.loads(line) for line in (EXAMPLES / "events.jsonl").read_bytes().splitlines()
]
ALERT_EXAMPLE = orjson.loads((EXAMPLES / "alert.json").read_bytes())

event_validator = jsonschema.Draft202012Validator(
    load_schema("event.v1.schema.json"),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
)
alert_validator = jsonschema.Draft202012Validator(
    load_schema("alert.v1.schema.json"),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
)


def parser_accepts_event(document: Any) -> bool:
    try:
        parse_event(document)
    except EventError:
        return False
    return True


def parser_accepts_alert(document: Any) -> bool:
    try:
        parse_alert(document)
    except AlertError:
        return False
    return True


def test_committed_schemas_are_generated_from_the_structs() -> None:
    for name, schema in published_schemas().items():
        assert (CONTRACTS_DIR / name).read_bytes() == render(schema), (
            f"{name} is stale: run 'lifeline contracts --write'"
        )


def test_schemas_are_valid_draft_2020_12() -> None:
    for name in published_schemas():
        jsonschema.Draft202012Validator.check_schema(load_schema(name))


def test_every_kind_has_one_documented_example() -> None:
    assert sorted(e["kind"] for e in EVENT_EXAMPLES) == sorted(EVENT_TYPES)


@pytest.mark.parametrize("example", EVENT_EXAMPLES, ids=lambda e: e["kind"])
def test_event_examples_pass_parser_and_schema(example: dict[str, Any]) -> None:
    event_validator.validate(example)
    event = parse_event(example)
    assert event.__struct_config__.tag == example["kind"]
    assert decode_event(orjson.dumps(example)) == event


def test_alert_example_passes_parser_and_schema() -> None:
    alert_validator.validate(ALERT_EXAMPLE)
    assert parse_alert(ALERT_EXAMPLE).detector == ALERT_EXAMPLE["detector"]


# Values that probe types, formats, patterns and bounds.
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**13), max_value=10**13),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e13, max_value=1e13),
    st.sampled_from(
        [
            "",
            " ",
            "2026-03",
            "2026-13",
            "2026-3",
            "202603",
            "2026-03\n",
            "2026-03-01T00:00:00+08:00",
            "2026-03-01T00:00:00Z",
            "2026-03-01T00:00:00",
            "2026-02-30T00:00:00+08:00",
            "2026-03-01 00:00:00+08:00",
            "2026-03-01t00:00:00z",
            "130126",
            "990126",
            "13012",
            "1301260",
            "psn:k1:" + "a" * 24,
            "psn:k1:" + "1" * 24,
            "psn:K1:" + "a" * 24,
            "ev:" + "0" * 32,
            "ev:" + "0" * 31,
            "0123456789abcdef",
            "dibao",
            "inpatient",
            "head",
            "help",
            "raised",
            "x" * 201,
            "x" * 401,
        ]
    ),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], nested: tuple[str, ...]) -> dict[str, Any]:
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = document
        path = draw(st.sampled_from([(), *[(n,) for n in nested if n in document]]))
        for step in path:
            target = target[step]
            if isinstance(target, list):
                if not target:
                    break
                target = target[0]
        if not isinstance(target, dict):
            continue
        action = draw(st.sampled_from(["set", "delete", "add"]))
        keys = sorted(target)
        if action == "set" and keys:
            target[draw(st.sampled_from(keys))] = draw(ODD_VALUES)
        elif action == "delete" and keys:
            del target[draw(st.sampled_from(keys))]
        else:
            target[draw(st.sampled_from(["extra", "kind", "v"]))] = draw(
                st.one_of(ODD_VALUES, st.sampled_from(sorted(EVENT_TYPES)))
            )
    return document


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_event_parser_and_schema_agree(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(EVENT_EXAMPLES))
    document = data.draw(mutated(base, ("members",)))
    assert parser_accepts_event(document) == event_validator.is_valid(document), document


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_alert_parser_and_schema_agree(data: st.DataObject) -> None:
    document = data.draw(mutated(ALERT_EXAMPLE, ("member", "evidence", "story")))
    assert parser_accepts_alert(document) == alert_validator.is_valid(document), document


def test_mutations_do_reject_things() -> None:
    """Guard against a parity test that passes because nothing is ever rejected."""
    death = next(e for e in EVENT_EXAMPLES if e["kind"] == "registration.death")
    for broken in (
        {**death, "region": "990126"},
        {**death, "person": "11010519491231002X"},
        {**death, "event_time": "2026-03-02T00:00:00"},
        {**death, "surprise": 1},
        {k: v for k, v in death.items() if k != "received_at"},
        {**death, "kind": "registration.birth", "parent": 3},
    ):
        assert not parser_accepts_event(broken)
        assert not event_validator.is_valid(broken)


EDGE_VALUES = [
    None, True, 0, -1, 1.0, 1.5, 2, 4, 5, 10**12, 10**12 + 1, 1e12, -0.01,
    "", "2026-03", "2026-13", "2026-03\n", "2026-03-01T00:00:00+08:00", "2026-03-01T00:00:00Z",
    "2026-03-01T00:00:00", "2026-02-30T00:00:00+08:00", "2026-03-01 00:00:00+08:00",
    "2026-03-01t00:00:00z", "2026-03-01T00:00:00.123456+08:00", "2026-03-01T24:00:00+08:00",
    "2026-03-01T23:59:60+08:00", "130126", "990126",
    "psn:k1:" + "a" * 24, "psn:k1:" + "a" * 24 + "\n",
]  # fmt: skip
EDGE_FIELDS = [
    ("medical.settlement", "event_time"),
    ("medical.settlement", "received_at"),
    ("medical.settlement", "out_of_pocket"),
    ("medical.settlement", "major_illness"),
    ("medical.settlement", "person"),
    ("disability.certified", "level"),
    ("batch.end", "record_count"),
    ("batch.end", "month"),
    ("asset.property", "area_m2"),
    ("roster.enrolled", "region"),
    ("roster.enrolled", "v"),
]


@pytest.mark.parametrize(("kind", "field"), EDGE_FIELDS)
def test_parser_and_schema_agree_on_edge_values(kind: str, field: str) -> None:
    base = next(e for e in EVENT_EXAMPLES if e["kind"] == kind)
    disagreements = [
        value
        for value in EDGE_VALUES
        if parser_accepts_event({**base, field: value})
        != event_validator.is_valid({**base, field: value})
    ]
    assert disagreements == []
