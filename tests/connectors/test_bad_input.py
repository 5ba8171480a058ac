"""Bad input is data: each bad line becomes one reject, and nothing around it is lost.

A rejected row of monthly income whose own person and month can be read is
also told to the engine (a ``record.unreadable`` event right after its
reject): it is not income that stopped. Nothing is guessed for it: not a
check digit, not the month of the file.

Every case writes a good row, the bad line, a blank line and another good row,
then checks the reject's reason code, its reason (naming the column or the
problem), its line number, and that both good rows still become the same
events they become on their own. Rejects must never carry a raw ID number or
a masked column (names): valid ID numbers appear as their pseudonym, invalid
ID-shaped tokens as their first six digits and ``#``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.files import Reject
from connectors.mapping import Catalog
from engine.events import Event, RecordUnreadable

from .conftest import (
    BOM,
    ID_A,
    ID_B,
    ID_C,
    ID_D,
    MAPPINGS_DIR,
    MASKED,
    RAW_IDS,
    REPO_ROOT,
    as_builtins,
    assert_no_raw_ids,
    csv_bytes,
    events_of,
    ingest,
    jsonl_bytes,
    make_id,
    masked_token,
    non_blank_lines,
    position_of,
    psn,
    record_of,
    rejects_of,
    to_json,
    wrong_check,
)

NAMES = ("张三", "李四", "王五")

# --- layouts the cases use ----------------------------------------------------------------

CONTRIB = "si_contrib_202603.csv"
CONTRIB_COLUMNS = ["AAC002", "AAC003", "AAE003", "AAE180", "AAB001", "AAB301"]


def contrib(month: int = 3, **changes: Any) -> dict[str, Any]:
    row = {
        "AAC002": ID_A,
        "AAC003": "张三",
        "AAE003": f"2026{month:02d}",
        "AAE180": "4500.00",
        "AAB001": "EMP-1",
        "AAB301": "130126",
    }
    return {**row, **changes}


CONTRIB_GOOD = (contrib(1), contrib(2, AAC002=ID_B, AAC003="李四"))

CDPF = "cdpf_20260305.jsonl"


def cert(**changes: Any) -> dict[str, Any]:
    row = {
        "idCard": ID_B,
        "name": "李四",
        "action": "CERT",
        "category": "4",
        "level": "二级",
        "certDate": "2026-03-05",
        "areaCode": "130126",
    }
    return {**row, **changes}


CDPF_GOOD = (
    cert(idCard=ID_A, name="张三"),
    {"idCard": ID_B, "name": "李四", "action": "CANCEL", "certDate": "2026-03-20",
     "areaCode": "130126"},
)  # fmt: skip

HUKOU = "hukou_20260305.csv"
HUKOU_COLUMNS = ["sfzh", "xm", "bdlx", "bdrq", "qhdm", "qcqhdm", "qrqhdm", "fqsfzh", "tjyf", "jls"]


def death(**changes: Any) -> dict[str, Any]:
    row = {"sfzh": ID_D, "xm": "王五", "bdlx": "02", "bdrq": "20260302", "qhdm": "440305"}
    return {**row, **changes}


HUKOU_GOOD = (death(), death(sfzh=ID_A, xm="张三", bdrq="20260303"))

SETL = "setl_20260305.csv"
SETL_COLUMNS = [
    "setl_id", "certno", "psn_name", "setl_time", "medfee_sumamt", "fund_pay_sumamt",
    "psn_cash_pay", "med_type", "bigill_flag", "insuplc_admdvs",
]  # fmt: skip


def settlement(number: int = 1, **changes: Any) -> dict[str, Any]:
    row = {
        "setl_id": f"S{number:04d}",
        "certno": ID_A,
        "psn_name": "张三",
        "setl_time": "2026-03-05 14:22:10",
        "medfee_sumamt": "100.00",
        "fund_pay_sumamt": "60.00",
        "psn_cash_pay": "40.00",
        "med_type": "11",
        "bigill_flag": "0",
        "insuplc_admdvs": "130126",
    }
    return {**row, **changes}


SETL_GOOD = (settlement(1), settlement(2, certno=ID_B, psn_name="李四"))

BDC = "bdc_202603.csv"
BDC_COLUMNS = ["qlrzjh", "qlrmc", "bdcdyh", "djrq", "jzmj", "qhdm"]


def registration(**changes: Any) -> dict[str, Any]:
    row = {"qlrzjh": ID_A, "qlrmc": "张三", "bdcdyh": "P-1", "djrq": "2026-03-05", "jzmj": "80",
           "qhdm": "130126"}  # fmt: skip
    return {**row, **changes}


BDC_GOOD = (registration(), registration(qlrzjh=ID_B, qlrmc="李四", bdcdyh="P-2"))

XCH = "xch_20260305.jsonl"


def exchange_wage(**changes: Any) -> dict[str, Any]:
    row = {"sjlx": "WAGE", "zjhm": ID_D, "xm": "王五", "ssqh": "440305", "ny": "202602",
           "je": "5200.00", "dw": "EMP-9"}  # fmt: skip
    return {**row, **changes}


XCH_GOOD = (exchange_wage(), exchange_wage(zjhm=ID_A, xm="张三"))

BENEFIT = "si_benefit_202603.csv"
BENEFIT_COLUMNS = ["AAC002", "AAC003", "AAE140", "AAE003", "AAE019", "AAB301"]


def benefit(**changes: Any) -> dict[str, Any]:
    row = {"AAC002": ID_D, "AAC003": "王五", "AAE140": "110", "AAE003": "202603",
           "AAE019": "2850.30", "AAB301": "440305"}  # fmt: skip
    return {**row, **changes}


BENEFIT_GOOD = (benefit(), benefit(AAC002=ID_B, AAC003="李四", AAE140="210"))

COLUMNS = {
    CONTRIB: CONTRIB_COLUMNS,
    HUKOU: HUKOU_COLUMNS,
    SETL: SETL_COLUMNS,
    BDC: BDC_COLUMNS,
    BENEFIT: BENEFIT_COLUMNS,
}
GOOD = {
    CONTRIB: CONTRIB_GOOD,
    CDPF: CDPF_GOOD,
    HUKOU: HUKOU_GOOD,
    SETL: SETL_GOOD,
    BDC: BDC_GOOD,
    XCH: XCH_GOOD,
    BENEFIT: BENEFIT_GOOD,
}


def line_of(file_name: str, row: dict[str, Any] | str | bytes) -> bytes:
    """One line (without its end) of a file of this layout."""
    if isinstance(row, bytes):
        return row
    if isinstance(row, str):
        return row.encode()
    if file_name.endswith(".jsonl"):
        return orjson.dumps(row)
    columns = COLUMNS[file_name]
    return csv_bytes(columns, [row]).split(b"\n", 1)[1].rstrip(b"\n")


def file_with(file_name: str, bad: dict[str, Any] | str | bytes) -> tuple[bytes, int]:
    """Good row, bad line, blank line, good row; and the bad line's number."""
    first, second = GOOD[file_name]
    lines = [line_of(file_name, first), line_of(file_name, bad), b"", line_of(file_name, second)]
    if file_name in COLUMNS:
        lines.insert(0, ",".join(COLUMNS[file_name]).encode())
    return b"\n".join(lines) + b"\n", 3 if file_name in COLUMNS else 2


def reference_events(file_name: str, directory: Path, catalog: Catalog) -> list[dict[str, Any]]:
    """What the two good rows become in a file of their own."""
    first, second = GOOD[file_name]
    if file_name in COLUMNS:
        data = csv_bytes(COLUMNS[file_name], [first, second])
    else:
        data = jsonl_bytes([first, second])
    items = ingest(directory / file_name, data, catalog)
    assert rejects_of(items) == []
    return [record_of(event) for event in events_of(items)]


def assert_private(
    items: list[Event | Reject],
    extra_ids: tuple[str, ...] = (),
    mask_columns: Sequence[str] = (),
) -> None:
    """No raw ID number anywhere; no name in any reject; masked columns as ***."""
    assert_no_raw_ids(items, RAW_IDS + extra_ids)
    for reject in rejects_of(items):
        encoded = to_json(reject).decode()
        for name in NAMES:
            assert name not in encoded, f"a masked name leaked into the {reject.reason_code} reject"
        if isinstance(reject.content, dict):
            for column in mask_columns:
                assert reject.content.get(column, MASKED) == MASKED


# What a rejected row still says: (ID number, month, record kind or None when unreadable).
Says = tuple[str, str, str | None]


def unreadable_of(items: Sequence[Event | Reject]) -> list[RecordUnreadable]:
    return [item for item in items if isinstance(item, RecordUnreadable)]


def assert_only_line_rejected(
    items: list[Event | Reject],
    data: bytes,
    bad_line: int,
    reference: list[dict[str, Any]],
    header: bool,
    says: Says | None = None,
) -> Reject:
    """Exactly one item per non-blank data line; only ``bad_line`` rejected; and,
    right after the reject, the ``record.unreadable`` event of what it ``says``, if anything.
    """
    unreadable = unreadable_of(items)
    expected = [] if says is None else [(psn(says[0]), says[1], says[2])]
    assert [(u.person, u.month, u.record_kind) for u in unreadable] == expected
    for event in unreadable:
        before = items[items.index(event) - 1]
        assert isinstance(before, Reject) and before.position == bad_line == position_of(event)
        assert event.reason == before.reason_code
    items = [item for item in items if not isinstance(item, RecordUnreadable)]
    data_lines = non_blank_lines(data)[1:] if header else non_blank_lines(data)
    assert [position_of(item) for item in items] == data_lines
    rejects = rejects_of(items)
    assert [r.position for r in rejects] == [bad_line]
    assert [record_of(event) for event in events_of(items)] == reference
    return rejects[0]


@dataclasses.dataclass(frozen=True)
class Bad:
    id: str
    file_name: str
    bad: dict[str, Any] | str | bytes
    code: str | tuple[str, ...]  # several: any of them is right
    fragments: tuple[str, ...]
    column: str | None = None
    says: Says | None = None  # the record.unreadable event the line must also give


ID_BAD_BIRTH = make_id("130126", "19800230", "123")
ID_BAD_REGION = make_id("990126", "19800101", "123")
ID_BAD_CHECK = wrong_check(ID_A)
INVALID_IDS = (ID_BAD_BIRTH, ID_BAD_REGION, ID_BAD_CHECK)
GB_NAME = "张三".encode("gb18030")
GB_NAME_LI = "李四".encode("gb18030")

ROW_PROBLEMS = [
    # ID numbers
    Bad("check-digit", CONTRIB, contrib(AAC002=ID_BAD_CHECK), "id_check_digit",
        ("'AAC002'", "check digit"), "AAC002"),
    Bad("birth-date", CONTRIB, contrib(AAC002=ID_BAD_BIRTH), "id_birth_date",
        ("'AAC002'", "birth date"), "AAC002"),
    Bad("province", CONTRIB, contrib(AAC002=ID_BAD_REGION), "id_region",
        ("'AAC002'", "province"), "AAC002"),
    Bad("id-too-short", CONTRIB, contrib(AAC002=ID_A[:17]), "id_length",
        ("'AAC002'", "18 characters"), "AAC002"),
    Bad("id-too-long", CONTRIB, contrib(AAC002=ID_A + "1"), "id_length",
        ("'AAC002'", "18 characters"), "AAC002"),
    Bad("id-letters", CONTRIB, contrib(AAC002=ID_A[:14] + "ABCD"), "id_format",
        ("'AAC002'", "17 digits"), "AAC002"),
    Bad("id-empty", CONTRIB, contrib(AAC002=""), "missing_value",
        ("column 'AAC002' is empty",), "AAC002"),
    Bad("cdpf-id-letters", CDPF, cert(idCard="X" * 18), "id_format", ("'idCard'",), "idCard"),
    # values
    Bad("amount-empty", CONTRIB, contrib(AAE180="  "), "missing_value",
        ("column 'AAE180' is empty",), "AAE180",
        says=(ID_A, "2026-03", "income.wage")),
    Bad("amount-not-a-number", CONTRIB, contrib(AAE180="4500元"), "bad_number",
        ("column 'AAE180'", "not a number"), "AAE180",
        says=(ID_A, "2026-03", "income.wage")),
    Bad("amount-nan", CONTRIB, contrib(AAE180="NaN"), "bad_number",
        ("column 'AAE180'", "finite"), "AAE180",
        says=(ID_A, "2026-03", "income.wage")),
    Bad("amount-negative", CONTRIB, contrib(AAE180="-0.01"), "out_of_range",
        ("column 'AAE180' is negative",), "AAE180",
        says=(ID_A, "2026-03", "income.wage")),
    Bad("amount-absurd", CONTRIB, contrib(AAE180="200000.01"), "out_of_range",
        ("column 'AAE180'", "above the maximum 200000"), "AAE180",
        says=(ID_A, "2026-03", "income.wage")),
    Bad("amount-far-beyond-decimal-range", CONTRIB, contrib(AAE180="1e1000000"),
        ("out_of_range", "bad_number"),
        ("column 'AAE180'",), "AAE180",
        says=(ID_A, "2026-03", "income.wage")),
    Bad("month-impossible", CONTRIB, contrib(AAE003="202613"), "bad_date",
        ("column 'AAE003'", "%Y%m"), "AAE003"),
    Bad("region-unknown-province", CONTRIB, contrib(AAB301="990101"), "bad_region",
        ("column 'AAB301'",), "AAB301",
        says=(ID_A, "2026-03", "income.wage")),
    Bad("employer-too-long", CONTRIB, contrib(AAB001="E" * 41), "oversized_field",
        ("column 'AAB001'", "40 characters"), "AAB001",
        says=(ID_A, "2026-03", "income.wage")),
    Bad("date-impossible", HUKOU, death(bdrq="20260230"), "bad_date",
        ("column 'bdrq'", "%Y%m%d"), "bdrq"),
    Bad("date-unpadded", BDC, registration(djrq="2026-3-5"), "bad_date",
        ("column 'djrq'", "%Y-%m-%d"), "djrq"),
    Bad("datetime-wrong-format", SETL, settlement(setl_time="2026-03-05T14:22:10"), "bad_date",
        ("column 'setl_time'", "%Y-%m-%d %H:%M:%S"), "setl_time"),
    Bad("cdpf-date-impossible", CDPF, cert(certDate="2026-02-30"), "bad_date",
        ("column 'certDate'",), "certDate"),
    Bad("area-out-of-range", BDC, registration(jzmj="0.5"), "out_of_range",
        ("column 'jzmj'", "minimum 1"), "jzmj"),
    # codes
    Bad("unknown-code", SETL, settlement(med_type="31"), "unknown_code",
        ("'31'", "column 'med_type'", "known: 11, 14, 21, 22"), "med_type"),
    Bad("unknown-flag", SETL, settlement(bigill_flag="2"), "unknown_code",
        ("column 'bigill_flag'",), "bigill_flag"),
    Bad("unknown-level", CDPF, cert(level="五级"), "unknown_code",
        ("column 'level'", "known:", "一级", "二级", "三级", "四级"), "level"),
    Bad("unknown-record-type", HUKOU, death(bdlx="05"), "unknown_code",
        ("record type '05'", "column 'bdlx'", "known: 01, 02, 03, 04, 99"), "bdlx"),
    Bad("unknown-benefit-type", BENEFIT, benefit(AAE140="999"), "unknown_code",
        ("record type '999'", "column 'AAE140'", "known: 110, 120, ", "210"), "AAE140",
        says=(ID_D, "2026-03", None)),
    Bad("unknown-action", CDPF, cert(action="SUSPEND"), "unknown_code",
        ("record type 'SUSPEND'", "column 'action'", "CANCEL, CERT"), "action"),
    # JSON types and shapes
    Bad("id-as-list", CDPF, cert(idCard=[ID_B]), "bad_type", ("column 'idCard'", "a list"),
        "idCard"),
    Bad("id-as-json-number", CDPF, cert(idCard=int(ID_C)), "bad_type", ("column 'idCard'",),
        "idCard"),
    Bad("amount-as-list", XCH, exchange_wage(je=[5200]), "bad_type", ("column 'je'", "a list"),
        "je",
        says=(ID_D, "2026-02", "income.wage")),
    Bad("amount-as-boolean", XCH, exchange_wage(je=True), "bad_type",
        ("column 'je'", "a boolean"), "je",
        says=(ID_D, "2026-02", "income.wage")),
    Bad("amount-as-object", XCH, exchange_wage(je={"value": 1}), "bad_type",
        ("column 'je'", "an object"), "je",
        says=(ID_D, "2026-02", "income.wage")),
    Bad("json-key-missing", CDPF, {k: v for k, v in cert().items() if k != "areaCode"},
        "missing_column", ("column 'areaCode' is missing",), "areaCode"),
    Bad("json-null", CDPF, cert(areaCode=None), "missing_value",
        ("column 'areaCode' is empty",), "areaCode"),
    Bad("kind-column-missing", CDPF, {k: v for k, v in cert().items() if k != "action"},
        "missing_column", ("column 'action' is missing",), "action"),
]  # fmt: skip

LINE_PROBLEMS = [
    Bad("truncated", CONTRIB, f"{ID_A},张三,202603,4500.00,EMP-1", "truncated",
        ("5", "6", "columns"),
        says=(ID_A, "2026-03", "income.wage")),
    Bad("extra-columns", CONTRIB, f"{ID_A},张三,202603,4500.00,EMP-1,130126,x", "extra_columns",
        ("7 columns", "header 6")),
    Bad("unbalanced-quote", CONTRIB, f'{ID_A},"张三,202603,4500.00,EMP-1,130126', "bad_csv",
        ("not valid CSV",)),
    Bad("gb18030-in-utf8", CONTRIB, ID_A.encode() + b"," + GB_NAME + b",202603,1,EMP-1,130126",
        "encoding", ("not valid utf-8",)),
    Bad("oversized-field", CONTRIB, contrib(AAC003="张三" * 2049), "oversized_field",
        ("column 'AAC003'", "4096 characters")),
    Bad("oversized-line", CONTRIB, contrib(AAC003="张三" + "x" * (1 << 20)), "oversized_line",
        ("more than the limit of 1048576",)),
    Bad("json-truncated", CDPF, orjson.dumps(cert())[:-25], "bad_json", ("not valid JSON",)),
    Bad("json-malformed", CDPF, "{idCard: 1, action: CERT}", "bad_json", ("not valid JSON",)),
    Bad("json-trailing-garbage", CDPF, orjson.dumps(cert()) + b" x", "bad_json",
        ("not valid JSON",)),
    Bad("json-list", CDPF, orjson.dumps([cert()]), "bad_json", ("not an object",)),
    Bad("json-string", CDPF, '"CERT"', "bad_json", ("not an object",)),
    Bad("json-number", CDPF, "42", "bad_json", ("not an object",)),
    Bad("json-null-line", CDPF, "null", "bad_json", ("not an object",)),
    Bad("json-gb18030", CDPF, orjson.dumps(cert()).replace("李四".encode(), GB_NAME_LI),
        "encoding", ("not valid utf-8",)),
    Bad("json-oversized-field", CDPF, cert(name="李四" * 2049), "oversized_field",
        ("field 'name'", "4096 characters")),
]  # fmt: skip


@pytest.mark.parametrize("case", ROW_PROBLEMS + LINE_PROBLEMS, ids=lambda case: case.id)
def test_bad_line_is_rejected_and_nothing_else_is_lost(
    case: Bad, tmp_path: Path, catalog: Catalog
) -> None:
    data, bad_line = file_with(case.file_name, case.bad)
    items = ingest(tmp_path / case.file_name, data, catalog)
    reference = reference_events(case.file_name, tmp_path / "reference", catalog)

    reject = assert_only_line_rejected(
        items, data, bad_line, reference, header=case.file_name in COLUMNS, says=case.says
    )
    # A row that was read is kept as a (masked) mapping, a line that was not as text.
    assert isinstance(reject.content, dict) == (case in ROW_PROBLEMS)
    assert reject.reason_code in ((case.code,) if isinstance(case.code, str) else case.code)
    for fragment in case.fragments:
        assert fragment in reject.reason
    assert reject.column == case.column
    department, layout = catalog.layout_for(case.file_name)
    assert (reject.department, reject.layout) == (department, layout.name)
    assert reject.source == str(tmp_path / case.file_name)
    assert_private(items, INVALID_IDS, layout.mask_columns)


# --- a header without a column the mapping needs -------------------------------------------


def test_column_missing_from_the_header_rejects_every_row(tmp_path: Path, catalog: Catalog) -> None:
    columns = [c for c in CONTRIB_COLUMNS if c != "AAB301"]
    data = csv_bytes(columns, [contrib(1), contrib(2), contrib(3)])
    items = ingest(tmp_path / CONTRIB, data, catalog)
    assert [(r.position, r.reason_code, r.column) for r in rejects_of(items)] == [
        (line, "missing_column", "AAB301") for line in (2, 3, 4)
    ]
    assert all("column 'AAB301' is missing" in r.reason for r in rejects_of(items))
    for reject in rejects_of(items):
        assert isinstance(reject.content, dict)
        assert reject.content["AAC002"] == psn(ID_A)
        assert reject.content["AAC003"] == MASKED
    assert_private(items)


# --- whole files ---------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", [CONTRIB, CDPF])
@pytest.mark.parametrize(
    "data", [b"", b"\n", b"\r\n\r\n", b" \t\n", BOM, BOM + b"\r\n", b"\x0c\n", b"\x0b"]
)
def test_file_without_anything_is_one_empty_file_reject(
    file_name: str, data: bytes, tmp_path: Path, catalog: Catalog
) -> None:
    items = ingest(tmp_path / file_name, data, catalog)
    assert [(type(i).__name__, position_of(i)) for i in items] == [("Reject", 0)]
    (reject,) = rejects_of(items)
    assert reject.reason_code == "empty_file"
    assert "empty" in reject.reason or "no readable header" in reject.reason


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b""])
def test_header_only_file_is_zero_events_and_zero_rejects(
    newline: bytes, tmp_path: Path, catalog: Catalog
) -> None:
    # A department with nothing to report this period sends its header alone:
    # that is a complete, valid file, not bad input.
    data = ",".join(CONTRIB_COLUMNS).encode() + newline
    assert ingest(tmp_path / CONTRIB, data, catalog) == []


def test_a_file_of_stray_bytes_is_an_encoding_problem_not_an_empty_file(
    tmp_path: Path, catalog: Catalog
) -> None:
    (reject,) = rejects_of(ingest(tmp_path / CDPF, b"\xbb\n", catalog))
    assert (reject.reason_code, reject.position) == ("encoding", 1)


@pytest.mark.parametrize(
    ("file_name", "department"),
    [("report_202603.csv", None), ("ck_202603.csv", "housing"), ("si_contrib_202603.txt", None)],
)
def test_file_no_layout_matches_is_one_reject_for_the_file(
    file_name: str, department: str | None, tmp_path: Path, catalog: Catalog
) -> None:
    data = csv_bytes(CONTRIB_COLUMNS, [contrib(1), contrib(2)])
    items = ingest(tmp_path / file_name, data, catalog, department=department)
    assert len(items) == 1
    (reject,) = rejects_of(items)
    assert (reject.reason_code, reject.position) == ("no_layout", 0)
    assert f"'{file_name}'" in reject.reason
    assert reject.source == str(tmp_path / file_name)
    assert reject.department == department
    assert reject.content is None


# --- line ends, byte order marks, blank lines ------------------------------------------------


@pytest.mark.parametrize("bom", [b"", BOM], ids=["no-bom", "bom"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_bom_and_crlf_are_read_like_plain_lines(
    bom: bytes, newline: str, tmp_path: Path, catalog: Catalog
) -> None:
    plain = ingest(tmp_path / "plain" / CONTRIB, csv_bytes(CONTRIB_COLUMNS, CONTRIB_GOOD), catalog)
    data = bom + csv_bytes(CONTRIB_COLUMNS, CONTRIB_GOOD, newline=newline)
    items = ingest(tmp_path / CONTRIB, data, catalog)
    assert rejects_of(items) == []
    assert [record_of(e) for e in items] == [record_of(e) for e in plain]
    # The region is the last column: a stray "\r" would have made it invalid.
    assert [e.region for e in events_of(items)] == ["130126", "130126"]

    plain_json = ingest(tmp_path / "plain" / CDPF, jsonl_bytes(CDPF_GOOD), catalog)
    json_items = ingest(tmp_path / CDPF, bom + jsonl_bytes(CDPF_GOOD, newline=newline), catalog)
    assert [record_of(e) for e in json_items] == [record_of(e) for e in plain_json]


def test_line_numbers_count_blank_lines_like_an_editor(tmp_path: Path, catalog: Catalog) -> None:
    lines = [
        ",".join(CONTRIB_COLUMNS),
        "",
        line_of(CONTRIB, contrib(1)).decode(),
        "   ",
        "",
        line_of(CONTRIB, contrib(2, AAE180="bad")).decode(),
        line_of(CONTRIB, contrib(3)).decode(),
    ]
    items = ingest(tmp_path / CONTRIB, "\r\n".join(lines).encode(), catalog)
    assert [position_of(i) for i in items] == [3, 6, 6, 7]  # the reject, what it still says
    assert [type(i).__name__ for i in items] == ["Wage", "Reject", "RecordUnreadable", "Wage"]


# --- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [("张" * 4096, None), ("张" * 4097, "oversized_field")],
    ids=["at-limit", "over-limit"],
)
def test_field_limit_counts_characters(
    name: str, code: str | None, tmp_path: Path, catalog: Catalog
) -> None:
    data = csv_bytes(CONTRIB_COLUMNS, [contrib(AAC003=name)])
    (item,) = ingest(tmp_path / CONTRIB, data, catalog)
    assert (item.reason_code if isinstance(item, Reject) else None) == code


def _contributions_with_line_limit(directory: Path, limit: int) -> Catalog:
    text = (MAPPINGS_DIR / "human_resources.toml").read_text(encoding="utf-8")
    anchor = 'files = ["si_contrib_*.csv"]\n'
    assert anchor in text
    directory.mkdir()
    (directory / "human_resources.toml").write_text(
        text.replace(anchor, anchor + f"max_line_bytes = {limit}\n"), encoding="utf-8"
    )
    return Catalog.load(directory)


@pytest.mark.parametrize(("extra", "code"), [(0, None), (1, "oversized_line")])
def test_line_limit_is_exact_and_configurable(extra: int, code: str | None, tmp_path: Path) -> None:
    limit = 120
    catalog = _contributions_with_line_limit(tmp_path / "config", limit)
    row = contrib(AAC003="")
    padding = limit + extra - len(line_of(CONTRIB, row))
    row["AAC003"] = "x" * padding
    assert len(line_of(CONTRIB, row)) == limit + extra
    data = ",".join(CONTRIB_COLUMNS).encode() + b"\r\n" + line_of(CONTRIB, row) + b"\r\n"
    items = ingest(tmp_path / CONTRIB, data, catalog)
    assert [position_of(i) for i in items] == [2]
    assert (items[0].reason_code if isinstance(items[0], Reject) else None) == code
    if code:
        assert f"limit of {limit}" in items[0].reason


def test_layout_encoding_is_honoured(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    text = (MAPPINGS_DIR / "banks.toml").read_text(encoding="utf-8")
    text = text.replace('format = "csv"\n', 'format = "csv"\nencoding = "gb18030"\n')
    (config / "banks.toml").write_text(text, encoding="utf-8")
    columns = ["zjhm", "khxm", "yhmc", "tjyf", "ye", "qhdm"]
    row = {"zjhm": ID_A, "khxm": "张三", "yhmc": "农业银行", "tjyf": "2026-03", "ye": "100",
           "qhdm": "130126"}  # fmt: skip
    data = csv_bytes(columns, [row], encoding="gb18030")
    (event,) = ingest(tmp_path / "ck_202603.csv", data, Catalog.load(config))
    assert isinstance(event, Event)
    assert record_of(event)["bank"] == "农业银行"


# --- what a reject may show ------------------------------------------------------------------


def test_reject_shows_valid_ids_as_pseudonyms_and_names_masked(
    tmp_path: Path, catalog: Catalog
) -> None:
    row = contrib(AAE180="lots", AAB001=f"see {ID_B} too")
    items = ingest(tmp_path / CONTRIB, csv_bytes(CONTRIB_COLUMNS, [row]), catalog)
    (reject,) = rejects_of(items)
    assert reject.content == {
        **row,
        "AAC002": psn(ID_A),
        "AAC003": MASKED,
        "AAB001": f"see {psn(ID_B)} too",
    }
    assert_private(items)


@pytest.mark.parametrize("invalid", INVALID_IDS, ids=["birth-date", "province", "check-digit"])
def test_reject_shows_invalid_id_as_region_and_hashes(
    invalid: str, tmp_path: Path, catalog: Catalog
) -> None:
    data = csv_bytes(CONTRIB_COLUMNS, [contrib(AAC002=invalid, AAB001=f"ref {invalid}")])
    (reject,) = rejects_of(ingest(tmp_path / CONTRIB, data, catalog))
    assert isinstance(reject.content, dict)
    assert reject.content["AAC002"] == invalid[:6] + "############"
    assert reject.content["AAB001"] == f"ref {invalid[:6]}############"
    assert invalid not in to_json(reject).decode()


def test_lowercase_x_check_character_is_the_same_person(tmp_path: Path, catalog: Catalog) -> None:
    x_id = next(
        make_id("110105", "19491231", f"{n:03d}")
        for n in range(1000)
        if make_id("110105", "19491231", f"{n:03d}").endswith("X")
    )
    rows = [contrib(1, AAC002=x_id), contrib(2, AAC002=x_id.lower())]
    events = events_of(ingest(tmp_path / CONTRIB, csv_bytes(CONTRIB_COLUMNS, rows), catalog))
    assert [e.person for e in events] == [psn(x_id), psn(x_id)]


@pytest.mark.parametrize(
    ("bad", "ids_in_text", "tokens_in_text"),
    [
        (f"{ID_A},张三,202603,4500.00,EMP-1", [ID_A], []),
        (f"{ID_BAD_CHECK},张三,202603,4500.00,EMP-1", [], [ID_BAD_CHECK]),
        (f"{ID_A},张三,202603,4500.00,EMP-1,130126,{ID_B}", [ID_A, ID_B], []),
        (ID_A.encode() + b"," + GB_NAME + b",202603,1,EMP-1,130126", [ID_A], []),
    ],
    ids=["truncated", "truncated-invalid-id", "extra-columns", "encoding"],
)
def test_unreadable_line_is_kept_masked(
    bad: str | bytes,
    ids_in_text: list[str],
    tokens_in_text: list[str],
    tmp_path: Path,
    catalog: Catalog,
) -> None:
    data, bad_line = file_with(CONTRIB, bad)
    items = ingest(tmp_path / CONTRIB, data, catalog)
    (reject,) = rejects_of(items)
    assert reject.position == bad_line
    assert isinstance(reject.content, str)
    fields = reject.content.split(",")
    assert fields[1] == MASKED  # the name column, by its place in the header
    for raw in ids_in_text:
        assert psn(raw) in fields
    for raw in tokens_in_text:
        assert masked_token(raw) in fields
    assert_private(items, INVALID_IDS)


def test_unparseable_json_line_is_kept_masked(tmp_path: Path, catalog: Catalog) -> None:
    bad = orjson.dumps({"remark": f"spouse {ID_D}", **cert(idCard=ID_BAD_CHECK)})[:-3]
    data, bad_line = file_with(CDPF, bad)
    items = ingest(tmp_path / CDPF, data, catalog)
    (reject,) = rejects_of(items)
    assert (reject.position, reject.reason_code) == (bad_line, "bad_json")
    assert isinstance(reject.content, str)
    assert '"name":"***"' in reject.content.replace(" ", "")
    assert masked_token(ID_BAD_CHECK) in reject.content
    assert psn(ID_D) in reject.content
    assert_private(items, INVALID_IDS)


def _json_cut_inside_the_id() -> bytes:
    return f'{{"idCard": "{ID_A[:17]}'.encode()


def _oversized_json_cut_inside_the_id() -> bytes:
    # Rejects keep the first 200 characters of an oversized line; place the
    # ID number so that the cut falls after its 17th digit.
    head = '{"pad": "'
    tail = '", "idCard": "'
    pad = "z" * (200 - 17 - len(head) - len(tail))
    line = f'{head}{pad}{tail}{ID_A}", "remark": "{"y" * 5000}"}}'
    assert line[:200].endswith(ID_A[:17])
    return line.encode()


@pytest.mark.parametrize(
    "bad",
    [_json_cut_inside_the_id(), _oversized_json_cut_inside_the_id()],
    ids=["truncated-line", "oversized-line-cut-at-200"],
)
def test_line_cut_inside_an_id_number_does_not_keep_17_digits(
    bad: bytes, tmp_path: Path, catalog: Catalog
) -> None:
    # 17 digits give away the whole number: the 18th is their check character.
    data, bad_line = file_with(CDPF, bad)
    items = ingest(tmp_path / CDPF, data, catalog)
    (reject,) = rejects_of(items)
    assert reject.position == bad_line
    assert ID_A[:17] not in to_json(reject).decode()


def test_roster_members_in_a_reject_are_masked(tmp_path: Path, catalog: Catalog) -> None:
    enrol = {
        "ywlx": "ENROL", "jzbh": "H1", "xzqh": "130126", "rq": "2026-03-05", "bzlx": "01",
        "ffje": 760, "sbsr": 0,
        "cy": [
            {"sfzh": ID_A, "xm": "张三", "yhzgx": "02"},
            {"sfzh": ID_BAD_CHECK, "xm": "李四", "yhzgx": "10"},
        ],
    }  # fmt: skip
    add = {"ywlx": "ADD", "jzbh": "H1", "xzqh": "130126", "rq": "2026-03-06", "sfzh": ID_D,
           "xm": "王五", "yhzgx": "77"}  # fmt: skip
    items = ingest(tmp_path / "roster_1.jsonl", jsonl_bytes([enrol, add]), catalog)
    first, second = rejects_of(items)
    assert (first.reason_code, first.column) == ("id_check_digit", "sfzh")
    assert isinstance(first.content, dict)
    assert first.content["cy"] == [
        {"sfzh": psn(ID_A), "xm": MASKED, "yhzgx": "02"},
        {"sfzh": masked_token(ID_BAD_CHECK), "xm": MASKED, "yhzgx": "10"},
    ]
    assert (second.reason_code, second.column) == ("unknown_code", "yhzgx")
    assert isinstance(second.content, dict)
    assert (second.content["sfzh"], second.content["xm"]) == (psn(ID_D), MASKED)
    assert_private(items, INVALID_IDS)


def test_id_as_json_number_in_a_reject_is_pseudonymised(tmp_path: Path, catalog: Catalog) -> None:
    assert ID_A.isdigit()
    row = cert(idCard=ID_C, level="五级", spouse=int(ID_A))
    items = ingest(tmp_path / CDPF, jsonl_bytes([row]), catalog)
    (reject,) = rejects_of(items)
    assert isinstance(reject.content, dict)
    assert reject.content["spouse"] == psn(ID_A)
    assert_private(items)


# An ID number that lands in another column (columns swapped by the exporter)
# must not be echoed by the reason that says the value is unknown there.
@pytest.mark.parametrize(
    ("file_name", "row"),
    [
        (HUKOU, death(sfzh="02", bdlx=ID_A)),
        (SETL, settlement(med_type=ID_A)),
        (SETL, settlement(bigill_flag=ID_A)),
        (CDPF, cert(level=ID_A)),
    ],
    ids=["record-type", "code", "flag", "json-code"],
)
def test_reason_never_echoes_an_id_number_found_in_a_code_column(
    file_name: str, row: dict[str, Any], tmp_path: Path, catalog: Catalog
) -> None:
    if file_name.endswith(".jsonl"):
        data = jsonl_bytes([row])
    else:
        data = csv_bytes(COLUMNS[file_name], [row])
    items = ingest(tmp_path / file_name, data, catalog)
    (reject,) = rejects_of(items)
    assert reject.reason_code == "unknown_code"
    assert ID_A not in reject.reason
    assert_private(items)


def test_disability_certificate_number_does_not_leak_the_id_number(
    tmp_path: Path, catalog: Catalog
) -> None:
    # A disability certificate number is the holder's ID number followed by
    # the category and level digits (see config/connectors/disabled_federation.toml).
    row = cert(idCard=ID_B, certNo=f"{ID_B}42", level="五级")
    items = ingest(tmp_path / CDPF, jsonl_bytes([row]), catalog)
    (reject,) = rejects_of(items)
    assert reject.reason_code == "unknown_code"
    assert_private(items)


@pytest.mark.parametrize(
    "header",
    [b"\xff\xfe" + ",".join(CONTRIB_COLUMNS).encode("utf-16-le"), b'"AAC002,AAC003'],
    ids=["utf16-header", "unbalanced-quote-header"],
)
def test_unreadable_header_loses_no_record_and_shows_no_name(
    header: bytes, tmp_path: Path, catalog: Catalog
) -> None:
    rows = [contrib(1), contrib(2, AAC002=ID_B, AAC003="李四"), contrib(3)]
    data = header + b"\n" + csv_bytes(CONTRIB_COLUMNS, rows).split(b"\n", 1)[1]
    items = ingest(tmp_path / CONTRIB, data, catalog)
    # Whatever becomes of the header line, each record line is accounted for.
    positions = [position_of(item) for item in items if position_of(item) > 1]
    assert positions == [2, 3, 4]
    assert events_of(items) == []
    assert_private(items)


# --- huge numbers ---------------------------------------------------------------------------


def test_huge_record_count_is_rejected_promptly(tmp_path: Path) -> None:
    # int(Decimal("1e999999999")) would build a billion-digit integer; run the
    # ingestion in a child process so a regression fails this test instead of
    # hanging the suite.
    path = tmp_path / "eob_si_202603.csv"
    rows = [
        "AAB301,AAE003,WCSJ,JLS",
        "130126,202603,2026-04-01 08:00:00,1e999999999",
        "130105,202603,2026-04-01 08:00:00,12",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import datetime as dt
        from pathlib import Path
        from connectors.files import Reject, ingest_file
        from connectors.mapping import Catalog
        from engine.identity import Pseudonymiser
        catalog = Catalog.load(Path({str(MAPPINGS_DIR)!r}))
        items = ingest_file(Path({str(path)!r}), catalog, Pseudonymiser("t1", b"0123456789abcdef"),
                            received_at=dt.datetime(2026, 4, 2, tzinfo=dt.timezone.utc))
        for item in items:
            print(item.reason_code if isinstance(item, Reject) else "event")
        """
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a record count of 1e999999999 kept the reader busy for more than 10 s")
    assert done.returncode == 0, done.stderr
    codes = done.stdout.split()
    assert len(codes) == 2 and codes[1] == "event"
    assert codes[0] in {"out_of_range", "bad_number"}


def test_reject_for_every_line_has_delivery_details(tmp_path: Path, catalog: Catalog) -> None:
    data, bad_line = file_with(CONTRIB, contrib(AAE180="x"))
    items = ingest(tmp_path / CONTRIB, data, catalog)
    (reject,) = rejects_of(items)
    document = as_builtins(reject)
    assert document["v"] == 1
    assert document["received_at"] in ("2026-04-02T09:30:00+08:00", "2026-04-02T01:30:00Z")
    assert document["position"] == bad_line


# --- what a rejected row of income still says -----------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "bad", "reason", "says", "region"),
    [
        (CONTRIB, contrib(AAE180="45OO.00"), "bad_number", (ID_A, "2026-03", "income.wage"),
         "130126"),
        # Cut off before its region: the event goes by the person's region of registration.
        (CONTRIB, f"{ID_C},张三,202603,4500.00", "truncated", (ID_C, "2026-03", "income.wage"),
         "410102"),
        (XCH, orjson.dumps(exchange_wage())[:-20], "bad_json", (ID_D, "2026-02", "income.wage"),
         "440305"),
        (BENEFIT, benefit(AAE140="999"), "unknown_code", (ID_D, "2026-03", None), "440305"),
    ],
    ids=["amount", "truncated", "cut-off-json", "kind"],
)  # fmt: skip
def test_a_rejected_income_row_says_whose_month_it_was(
    file_name: str,
    bad: dict[str, Any] | bytes | str,
    reason: str,
    says: Says,
    region: str,
    tmp_path: Path,
    catalog: Catalog,
) -> None:
    data, bad_line = file_with(file_name, bad)
    items = ingest(tmp_path / file_name, data, catalog)
    [reject] = rejects_of(items)
    [event] = unreadable_of(items)
    assert items.index(event) == items.index(reject) + 1
    assert (event.person, event.month, event.record_kind) == (psn(says[0]), says[1], says[2])
    assert (event.reason, event.region, event.event_time) == (
        reason, region, f"{says[1]}-01T00:00:00+08:00")  # fmt: skip
    department, _ = catalog.layout_for(file_name)
    assert event.department == department
    assert event.source == f"{tmp_path / file_name}:{bad_line}"
    assert_private(items, INVALID_IDS)
    # Read again, the same event: the engine applies it once.
    again = unreadable_of(ingest(tmp_path / "again" / file_name, data, catalog))
    assert [(e.event_id, e.fingerprint) for e in again] == [(event.event_id, event.fingerprint)]


@pytest.mark.parametrize(
    ("file_name", "bad"),
    [
        (CONTRIB, contrib(AAC002=wrong_check(ID_A), AAE180="45OO.00")),  # no guess at the digit
        (CONTRIB, contrib(AAC002=ID_BAD_REGION)),
        (CONTRIB, contrib(AAC002="")),
        (CONTRIB, contrib(AAE003="202613")),  # no guess at the month (the file's is 2026-03)
        (CONTRIB, f"{ID_A},张三"),  # cut off before its month
        (XCH, exchange_wage(ny="2026-02")),
        (CDPF, cert(level="五级")),  # not a row of income
    ],
    ids=["check-digit", "province", "no-id", "month", "cut-early", "exchange-month", "not-income"],
)
def test_a_rejected_row_that_cannot_say_whose_month_is_only_a_reject(
    file_name: str, bad: dict[str, Any] | str, tmp_path: Path, catalog: Catalog
) -> None:
    data, bad_line = file_with(file_name, bad)
    items = ingest(tmp_path / file_name, data, catalog)
    assert unreadable_of(items) == []
    assert [r.position for r in rejects_of(items)] == [bad_line]
