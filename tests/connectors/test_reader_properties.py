"""Properties of reading department files, for any bytes and any valid rows.

(a) Whatever bytes a file holds, ingestion never raises and accounts for every
non-blank line after the header with exactly one event or reject, in order.
(b, c) Random valid rows of a CSV and a JSON-lines layout come out as events
that match them exactly.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import operator
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.files import Reject
from connectors.mapping import Catalog
from connectors.readers import _plain_csv
from engine.events import CST, Event, RecordUnreadable
from engine.identity import PROVINCE_CODES

from .conftest import (
    BOM,
    ID_A,
    ID_B,
    assert_no_raw_ids,
    events_of,
    ingest,
    make_id,
    non_blank_lines,
    position_of,
    psn,
    record_of,
    rejects_of,
)

# Derandomised and without a database, so the suite gives the same verdict on
# every run; the examples still cover far more shapes than hand-written cases.
PROPERTY_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- strategies ---------------------------------------------------------------------------

provinces = st.sampled_from(sorted(PROVINCE_CODES))
regions = st.builds(operator.add, provinces, st.text("0123456789", min_size=4, max_size=4))
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31))
id_numbers = st.builds(
    lambda region, birth, seq: make_id(region, birth.strftime("%Y%m%d"), f"{seq:03d}"),
    regions,
    birth_dates,
    st.integers(0, 999),
)
names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=8
)
months = st.builds(dt.date, st.integers(1990, 2099), st.integers(1, 12), st.just(1))
employers = st.text("ABCDEFGHJKLMNPQRTUWXY0123456789-", min_size=1, max_size=40)


# --- (a) any bytes -----------------------------------------------------------------------------

HEADERS = {
    "si_contrib_p.csv": b"AAC002,AAC003,AAE003,AAE180,AAB001,AAB301",
    "hukou_p.csv": b"sfzh,xm,bdlx,bdrq,qhdm,qcqhdm,qrqhdm,fqsfzh,tjyf,jls",
}
GOOD_LINES = {
    "si_contrib_p.csv": f"{ID_A},张三,202603,4500.00,EMP-1,130126".encode(),
    "hukou_p.csv": f"{ID_B},李四,02,20260302,130126,,,,,".encode(),
    "cdpf_p.jsonl": orjson.dumps(
        {
            "idCard": ID_A,
            "name": "张三",
            "action": "CERT",
            "category": "1",
            "level": "一级",
            "certDate": "2026-03-05",
            "areaCode": "130126",
        }
    ),
    "roster_p.jsonl": orjson.dumps(
        {
            "ywlx": "ADD",
            "jzbh": "H1",
            "xzqh": "130126",
            "rq": "2026-03-05",
            "sfzh": ID_B,
            "xm": "李四",
            "yhzgx": "10",
        }
    ),
}
JUNK_ALPHABET = ',"{}[]:0123456789X \t\r\x0b\x0c\x00\\abc张\ufeff\u2028'


@st.composite
def department_files(draw: st.DrawFn, file_name: str) -> bytes:
    """Bytes that are sometimes a plausible file of the layout and often not."""
    good = GOOD_LINES[file_name]
    line = st.one_of(
        st.just(good),
        st.just(b""),
        st.binary(max_size=40),
        st.text(JUNK_ALPHABET, max_size=40).map(lambda t: t.encode()),
        st.tuples(st.just(good), st.integers(0, len(good))).map(lambda gc: gc[0][: gc[1]]),
        st.tuples(st.just(good), st.binary(min_size=1, max_size=3), st.integers(0, len(good))).map(
            lambda gbi: gbi[0][: gbi[2]] + gbi[1] + gbi[0][gbi[2] :]
        ),
    )
    lines = draw(st.lists(line, max_size=8))
    header = HEADERS.get(file_name)
    if header is not None and draw(st.booleans()):
        lines.insert(0, header)
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = newline.join(lines) + draw(st.sampled_from([b"", newline]))
    return (BOM if draw(st.booleans()) else b"") + data


@pytest.mark.parametrize("file_name", sorted(GOOD_LINES))
def test_any_bytes_give_one_item_per_line_and_never_raise(
    file_name: str, tmp_path_factory: pytest.TempPathFactory, catalog: Catalog
) -> None:
    directory = tmp_path_factory.mktemp("any-bytes")

    @PROPERTY_SETTINGS
    @given(data=department_files(file_name))
    def check(data: bytes) -> None:
        items = ingest(directory / file_name, data, catalog)
        # What a rejected row of income still says comes right after its reject, from its line.
        for i, item in enumerate(items):
            if isinstance(item, RecordUnreadable):
                before = items[i - 1]
                assert isinstance(before, Reject) and before.position == position_of(item)
        items = [item for item in items if not isinstance(item, RecordUnreadable)]

        lines = non_blank_lines(data)
        expected = lines[1:] if file_name.endswith(".csv") else lines
        per_line = [item for item in items if position_of(item) > 0]
        whole_file = [item for item in items if position_of(item) == 0]
        positions = [position_of(item) for item in per_line]
        assert positions == sorted(set(positions)), "positions must strictly increase"
        if file_name.endswith(".csv") and lines:
            # The header line itself may or may not produce a reject of its own.
            positions = [p for p in positions if p != lines[0]]
        assert positions == expected
        if not lines:
            assert [getattr(r, "reason_code", None) for r in whole_file] == ["empty_file"]
        assert len(whole_file) <= 1

    check()


csv_values = st.text(alphabet='ab 7张,;|\t"\r\x00\u2028', max_size=5)


@PROPERTY_SETTINGS
@given(
    values=st.lists(st.one_of(csv_values, csv_values.map(lambda v: f'"{v}"')), max_size=6),
    delimiter=st.sampled_from([",", ";", "|", "\t", " ", '"']),
)
def test_a_plain_line_splits_as_the_csv_module_reads_it(values: list[str], delimiter: str) -> None:
    text = delimiter.join(values)
    if _plain_csv(text):
        assert text.split(delimiter) == next(csv.reader([text], delimiter=delimiter, strict=True))


def test_a_value_over_the_csv_field_limit_goes_to_the_csv_module() -> None:
    limit = csv.field_size_limit()
    assert _plain_csv("a" * limit) and not _plain_csv("a" * (limit + 1))
    assert not _plain_csv("") and not _plain_csv('a,"b"') and not _plain_csv("a\rb")


# --- (b) human resources contributions, CSV ---------------------------------------------------

contribution_rows = st.fixed_dictionaries(
    {
        "AAC002": id_numbers,
        "AAC003": names,
        "AAE003": months.map(lambda m: m.strftime("%Y%m")),
        "AAE180": st.decimals(min_value=0, max_value=200000, places=2),
        "AAB001": employers,
        "AAB301": regions,
    }
)
CONTRIB_COLUMNS = ["AAC002", "AAC003", "AAE003", "AAE180", "AAB001", "AAB301"]


def contributions_csv(rows: list[dict[str, Any]], newline: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(CONTRIB_COLUMNS)
    for row in rows:
        writer.writerow([str(row[column]) for column in CONTRIB_COLUMNS])
    return buffer.getvalue().encode()


def test_contribution_rows_round_trip(
    tmp_path_factory: pytest.TempPathFactory, catalog: Catalog
) -> None:
    directory = tmp_path_factory.mktemp("contributions")

    @PROPERTY_SETTINGS
    @given(
        rows=st.lists(contribution_rows, min_size=1, max_size=6),
        newline=st.sampled_from(["\n", "\r\n"]),
    )
    def check(rows: list[dict[str, Any]], newline: str) -> None:
        data = contributions_csv(rows, newline)
        items = ingest(directory / "si_contrib_prop.csv", data, catalog)
        assert rejects_of(items) == []
        events = events_of(items)
        assert len(events) == len(rows)
        for line, (event, row) in enumerate(zip(events, rows, strict=True), start=2):
            month = f"{row['AAE003'][:4]}-{row['AAE003'][4:]}"
            person = psn(row["AAC002"])
            assert record_of(event) == {
                "kind": "income.wage",
                "department": "human_resources",
                "channel": "batch",
                "event_time": f"{month}-01T00:00:00+08:00",
                "region": row["AAB301"],
                "natural_key": f"{person}|{month}|{row['AAB001']}",
                "person": person,
                "month": month,
                "amount": float(row["AAE180"]),
                "employer": row["AAB001"],
                "basis": "contribution_base",
            }
            assert Decimal(repr(record_of(event)["amount"])) == row["AAE180"]
            assert event.source.endswith(f":{line}")
        assert_no_raw_ids(items, [row["AAC002"] for row in rows])

    check()


# --- (c) disability certificates, JSON lines ---------------------------------------------------

CATEGORIES = {"1": "visual", "2": "hearing", "3": "speech", "4": "physical", "5": "intellectual",
              "6": "mental", "7": "multiple"}  # fmt: skip
LEVELS = {"一级": 1, "二级": 2, "三级": 3, "四级": 4}
cert_dates = st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2099, 12, 31))

certificate_rows = st.one_of(
    st.fixed_dictionaries(
        {
            "idCard": id_numbers,
            "name": names,
            "action": st.just("CERT"),
            "category": st.sampled_from(sorted(CATEGORIES)),
            "level": st.sampled_from(sorted(LEVELS)),
            "certDate": cert_dates.map(dt.date.isoformat),
            "areaCode": regions,
        },
        optional={"certNo": st.text("0123456789", min_size=1, max_size=8)},
    ),
    st.fixed_dictionaries(
        {
            "idCard": id_numbers,
            "name": names,
            "action": st.just("CANCEL"),
            "certDate": cert_dates.map(dt.date.isoformat),
            "areaCode": regions,
        }
    ),
)


def expected_certificate(row: dict[str, Any]) -> dict[str, Any]:
    person = psn(row["idCard"])
    event_time = dt.datetime.fromisoformat(row["certDate"]).replace(tzinfo=CST).isoformat()
    expected = {
        "kind": "disability.certified" if row["action"] == "CERT" else "disability.cancelled",
        "department": "disabled_federation",
        "channel": "interface",
        "event_time": event_time,
        "region": row["areaCode"],
        "natural_key": f"{person}|{event_time}",
        "person": person,
    }
    if row["action"] == "CERT":
        expected["category"] = CATEGORIES[row["category"]]
        expected["level"] = LEVELS[row["level"]]
    return expected


def test_certificate_rows_round_trip(
    tmp_path_factory: pytest.TempPathFactory, catalog: Catalog
) -> None:
    directory = tmp_path_factory.mktemp("certificates")

    @PROPERTY_SETTINGS
    @given(rows=st.lists(certificate_rows, min_size=1, max_size=6), blank=st.booleans())
    def check(rows: list[dict[str, Any]], blank: bool) -> None:
        separator = b"\n\n" if blank else b"\n"
        data = separator.join(orjson.dumps(row) for row in rows) + b"\n"
        items = ingest(directory / "cdpf_prop.jsonl", data, catalog)
        assert rejects_of(items) == []
        assert [record_of(event) for event in events_of(items)] == [
            expected_certificate(row) for row in rows
        ]
        step = 2 if blank else 1
        assert [position_of(item) for item in items] == list(range(1, step * len(rows) + 1, step))
        assert all(isinstance(item, Event) for item in items)
        assert_no_raw_ids(items, [row["idCard"] for row in rows])

    check()


DAMAGE_CODES = {"cut": "bad_json", "bad_level": "unknown_code", "no_id": "missing_value"}


def test_rejects_and_events_partition_the_lines(
    tmp_path_factory: pytest.TempPathFactory, catalog: Catalog
) -> None:
    """Mixing valid rows with broken copies: every valid row still becomes its event."""
    directory = tmp_path_factory.mktemp("mixed")

    @PROPERTY_SETTINGS
    @given(
        rows=st.lists(
            st.tuples(certificate_rows, st.sampled_from(["ok", *DAMAGE_CODES])),
            min_size=1,
            max_size=8,
        )
    )
    def check(rows: list[tuple[dict[str, Any], str]]) -> None:
        lines = []
        for row, damage in rows:
            if damage == "cut":
                lines.append(orjson.dumps(row)[:-2])
            elif damage == "bad_level":
                bad_level = {"action": "CERT", "category": "1", "level": "五级"}
                lines.append(orjson.dumps({**row, **bad_level}))
            elif damage == "no_id":
                lines.append(orjson.dumps({**row, "idCard": ""}))
            else:
                lines.append(orjson.dumps(row))
        items = ingest(directory / "cdpf_mixed.jsonl", b"\n".join(lines), catalog)
        assert [position_of(item) for item in items] == list(range(1, len(rows) + 1))
        for item, (row, damage) in zip(items, rows, strict=True):
            if damage == "ok":
                assert isinstance(item, Event)
                assert record_of(item) == expected_certificate(row)
            else:
                assert isinstance(item, Reject)
                assert item.reason_code == DAMAGE_CODES[damage]
        assert_no_raw_ids(items, [row["idCard"] for row, _ in rows])

    check()
