"""Every shipped department mapping turns its raw layout into exactly the right events.

One small raw file per layout (and per kind), in the department's own column
names, ingested with the shipped catalog; the normalised event is compared
field by field. Then: code tables, stable event ids, no raw ID numbers in the
output, choosing a layout by file name, and clear errors for broken mappings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from connectors.files import Reject
from connectors.mapping import Catalog, MappingError, load_mapping
from engine.events import (
    CST,
    Event,
    Pension,
    RecordUnreadable,
    UnemploymentBenefit,
    Wage,
    event_id_for,
)

from .conftest import (
    ID_A,
    ID_B,
    ID_C,
    ID_D,
    MAPPINGS_DIR,
    RAW_IDS,
    RECEIVED_AT,
    as_builtins,
    assert_no_raw_ids,
    csv_bytes,
    events_of,
    ingest,
    jsonl_bytes,
    psn,
    record_of,
    rejects_of,
    to_json,
)

NAMES = ("张三", "李四", "张小", "王五")


@dataclasses.dataclass(frozen=True)
class Case:
    """Raw rows of one layout and the events they must become, in order."""

    id: str
    file_name: str
    rows: list[dict[str, Any]]
    expected: list[dict[str, Any]]
    columns: list[str] | None = None  # CSV header; None: a JSON-lines file

    def data(self, rows: list[dict[str, Any]] | None = None) -> bytes:
        rows = self.rows if rows is None else rows
        if self.columns is None:
            return jsonl_bytes(rows)
        return csv_bytes(self.columns, rows)

    def resent_name(self) -> str:
        stem, _, ext = self.file_name.rpartition(".")
        return f"{stem}_resent.{ext}"


def day(text: str) -> str:
    """A local date as the contract writes the event time: midnight CST."""
    return f"{text}T00:00:00+08:00"


# --- civil affairs ------------------------------------------------------------------

HOUSEHOLD = "H130126-0001"
ROSTER_ENROL = {
    "ywlx": "ENROL",
    "jzbh": HOUSEHOLD,
    "xzqh": "130126",
    "rq": "2026-03-05",
    "bzlx": "01",
    "cxlb": "2",
    "ffje": 1520.5,
    "sbsr": "300",
    "cy": [
        {"sfzh": ID_A, "xm": "张三", "yhzgx": "02"},
        {"sfzh": ID_B, "xm": "李四", "yhzgx": "10"},
        {"sfzh": ID_C, "xm": "张小", "yhzgx": "20"},
    ],
}
ROSTER_BASE = {"jzbh": HOUSEHOLD, "xzqh": "130126"}
ROSTER_COMMON = {"department": "civil_affairs", "channel": "interface", "region": "130126"}

CIVIL_AFFAIRS = Case(
    id="civil_affairs/roster",
    file_name="roster_20260305.jsonl",
    rows=[
        ROSTER_ENROL,
        {
            **ROSTER_BASE,
            "ywlx": "ADD",
            "rq": "2026-03-10",
            "sfzh": ID_D,
            "xm": "王五",
            "yhzgx": "50",
        },
        {
            **ROSTER_BASE,
            "ywlx": "REMOVE",
            "rq": "2026-03-12",
            "sfzh": ID_D,
            "xm": "王五",
            "yy": "迁出本县",
        },
        {**ROSTER_BASE, "ywlx": "REMOVE", "rq": "2026-03-13", "sfzh": ID_C, "xm": "张小"},
        {**ROSTER_BASE, "ywlx": "EXIT", "rq": "2026-03-20", "yy": "收入超过标准"},
        {**ROSTER_BASE, "ywlx": "EXIT", "rq": "2026-03-21"},
        {
            "ywlx": "ENROL",
            "jzbh": "H130126-0002",
            "xzqh": "130126",
            "rq": "2026-03-25",
            "bzlx": "03",
            "ffje": "0",
            "sbsr": 612.75,
            "cy": [{"sfzh": ID_D, "xm": "王五", "yhzgx": "02"}],
        },
    ],
    expected=[
        {
            "kind": "roster.enrolled",
            **ROSTER_COMMON,
            "event_time": day("2026-03-05"),
            "natural_key": f"{HOUSEHOLD}|{day('2026-03-05')}",
            "household": HOUSEHOLD,
            "scheme": "dibao",
            "residence": "rural",
            "members": [
                {"person": psn(ID_A), "relation": "head", "position": 1},
                {"person": psn(ID_B), "relation": "spouse", "position": 2},
                {"person": psn(ID_C), "relation": "child", "position": 3},
            ],
            "monthly_benefit": 1520.5,
            "declared_income": 300.0,
        },
        {
            "kind": "roster.member_added",
            **ROSTER_COMMON,
            "event_time": day("2026-03-10"),
            "natural_key": f"{HOUSEHOLD}|{psn(ID_D)}|{day('2026-03-10')}",
            "person": psn(ID_D),
            "household": HOUSEHOLD,
            "relation": "parent",
        },
        {
            "kind": "roster.member_removed",
            **ROSTER_COMMON,
            "event_time": day("2026-03-12"),
            "natural_key": f"{HOUSEHOLD}|{psn(ID_D)}|{day('2026-03-12')}",
            "person": psn(ID_D),
            "household": HOUSEHOLD,
            "reason": "迁出本县",
        },
        {
            "kind": "roster.member_removed",
            **ROSTER_COMMON,
            "event_time": day("2026-03-13"),
            "natural_key": f"{HOUSEHOLD}|{psn(ID_C)}|{day('2026-03-13')}",
            "person": psn(ID_C),
            "household": HOUSEHOLD,
            "reason": None,
        },
        {
            "kind": "roster.exited",
            **ROSTER_COMMON,
            "event_time": day("2026-03-20"),
            "natural_key": f"{HOUSEHOLD}|{day('2026-03-20')}",
            "household": HOUSEHOLD,
            "reason": "收入超过标准",
        },
        {
            "kind": "roster.exited",
            **ROSTER_COMMON,
            "event_time": day("2026-03-21"),
            "natural_key": f"{HOUSEHOLD}|{day('2026-03-21')}",
            "household": HOUSEHOLD,
            "reason": None,
        },
        {
            "kind": "roster.enrolled",
            **ROSTER_COMMON,
            "event_time": day("2026-03-25"),
            "natural_key": f"H130126-0002|{day('2026-03-25')}",
            "household": "H130126-0002",
            "scheme": "low_income",
            "residence": None,
            "members": [{"person": psn(ID_D), "relation": "head", "position": 1}],
            "monthly_benefit": 0.0,
            "declared_income": 612.75,
        },
    ],
)

# --- public security ----------------------------------------------------------------

HUKOU_COLUMNS = ["sfzh", "xm", "bdlx", "bdrq", "qhdm", "qcqhdm", "qrqhdm", "fqsfzh", "tjyf", "jls"]
HUKOU_COMMON = {"department": "public_security", "channel": "batch"}

PUBLIC_SECURITY = Case(
    id="public_security/changes",
    file_name="hukou_20260305.csv",
    columns=HUKOU_COLUMNS,
    rows=[
        {
            "sfzh": ID_C,
            "xm": "张小",
            "bdlx": "01",
            "bdrq": "20260301",
            "qhdm": "410102",
            "fqsfzh": ID_A,
        },
        {"sfzh": ID_B, "xm": "李四", "bdlx": "01", "bdrq": "20260301", "qhdm": "130126"},
        {"sfzh": ID_D, "xm": "王五", "bdlx": "02", "bdrq": "20260302", "qhdm": "440305"},
        {
            "sfzh": ID_B,
            "xm": "李四",
            "bdlx": "03",
            "bdrq": "20260303",
            "qhdm": "130126",
            "qcqhdm": "410102",
            "qrqhdm": "130126",
        },
        {
            "sfzh": ID_A,
            "xm": "张三",
            "bdlx": "04",
            "bdrq": "20260304",
            "qhdm": "130126",
            "qcqhdm": "130126",
            "qrqhdm": "440305",
        },
        {"bdlx": "99", "bdrq": "20260401", "qhdm": "130126", "tjyf": "202603", "jls": "5"},
    ],
    expected=[
        {
            "kind": "registration.birth",
            **HUKOU_COMMON,
            "event_time": day("2026-03-01"),
            "region": "410102",
            "natural_key": psn(ID_C),
            "person": psn(ID_C),
            "parent": psn(ID_A),
        },
        {
            "kind": "registration.birth",
            **HUKOU_COMMON,
            "event_time": day("2026-03-01"),
            "region": "130126",
            "natural_key": psn(ID_B),
            "person": psn(ID_B),
            "parent": None,
        },
        {
            "kind": "registration.death",
            **HUKOU_COMMON,
            "event_time": day("2026-03-02"),
            "region": "440305",
            "natural_key": psn(ID_D),
            "person": psn(ID_D),
        },
        {
            "kind": "registration.moved_in",
            **HUKOU_COMMON,
            "event_time": day("2026-03-03"),
            "region": "130126",
            "natural_key": f"{psn(ID_B)}|{day('2026-03-03')}",
            "person": psn(ID_B),
            "from_region": "410102",
            "to_region": "130126",
        },
        {
            "kind": "registration.moved_out",
            **HUKOU_COMMON,
            "event_time": day("2026-03-04"),
            "region": "130126",
            "natural_key": f"{psn(ID_A)}|{day('2026-03-04')}",
            "person": psn(ID_A),
            "from_region": "130126",
            "to_region": "440305",
        },
        {
            "kind": "batch.end",
            **HUKOU_COMMON,
            "event_time": day("2026-04-01"),
            "region": "130126",
            "natural_key": "130126|2026-03",
            "month": "2026-03",
            "record_count": 5,
        },
    ],
)

# --- human resources and social security -----------------------------------------------

CONTRIB_COLUMNS = ["AAC002", "AAC003", "AAE003", "AAE180", "AAB001", "AAB301"]
HR_BATCH = {"department": "human_resources", "channel": "batch"}

HR_CONTRIBUTIONS = Case(
    id="human_resources/contributions",
    file_name="si_contrib_202603.csv",
    columns=CONTRIB_COLUMNS,
    rows=[
        {
            "AAC002": ID_A,
            "AAC003": "张三",
            "AAE003": "202603",
            "AAE180": "4500.00",
            "AAB001": "91130100MA0001",
            "AAB301": "130126",
        },
        {
            "AAC002": ID_B,
            "AAC003": "李四",
            "AAE003": "202512",
            "AAE180": "3210.55",
            "AAB001": "EMP-2",
            "AAB301": "130105",
        },
    ],
    expected=[
        {
            "kind": "income.wage",
            **HR_BATCH,
            "event_time": day("2026-03-01"),
            "region": "130126",
            "natural_key": f"{psn(ID_A)}|2026-03|91130100MA0001",
            "person": psn(ID_A),
            "month": "2026-03",
            "amount": 4500.0,
            "employer": "91130100MA0001",
            "basis": "contribution_base",
        },
        {
            "kind": "income.wage",
            **HR_BATCH,
            "event_time": day("2025-12-01"),
            "region": "130105",
            "natural_key": f"{psn(ID_B)}|2025-12|EMP-2",
            "person": psn(ID_B),
            "month": "2025-12",
            "amount": 3210.55,
            "employer": "EMP-2",
            "basis": "contribution_base",
        },
    ],
)

BENEFIT_COLUMNS = ["AAC002", "AAC003", "AAE140", "AAE003", "AAE019", "AAB301"]
HR_BENEFITS = Case(
    id="human_resources/benefits",
    file_name="si_benefit_202603.csv",
    columns=BENEFIT_COLUMNS,
    rows=[
        {
            "AAC002": ID_D,
            "AAC003": "王五",
            "AAE140": "110",
            "AAE003": "202603",
            "AAE019": "2850.30",
            "AAB301": "440305",
        },
        {
            "AAC002": ID_A,
            "AAC003": "张三",
            "AAE140": "120",
            "AAE003": "202603",
            "AAE019": "1200",
            "AAB301": "130126",
        },
        {
            "AAC002": ID_B,
            "AAC003": "李四",
            "AAE140": "210",
            "AAE003": "202602",
            "AAE019": "1800.5",
            "AAB301": "130126",
        },
    ],
    expected=[
        {
            "kind": "income.pension",
            **HR_BATCH,
            "event_time": day("2026-03-01"),
            "region": "440305",
            "natural_key": f"{psn(ID_D)}|2026-03",
            "person": psn(ID_D),
            "month": "2026-03",
            "amount": 2850.3,
        },
        {
            "kind": "income.pension",
            **HR_BATCH,
            "event_time": day("2026-03-01"),
            "region": "130126",
            "natural_key": f"{psn(ID_A)}|2026-03",
            "person": psn(ID_A),
            "month": "2026-03",
            "amount": 1200.0,
        },
        {
            "kind": "income.unemployment_benefit",
            **HR_BATCH,
            "event_time": day("2026-02-01"),
            "region": "130126",
            "natural_key": f"{psn(ID_B)}|2026-02",
            "person": psn(ID_B),
            "month": "2026-02",
            "amount": 1800.5,
        },
    ],
)

HR_INTERFACE = {"department": "human_resources", "channel": "interface", "region": "130126"}
HR_EMPLOYMENT = Case(
    id="human_resources/employment",
    file_name="employment_20260305.jsonl",
    rows=[
        {
            "aac002": ID_A,
            "aac003": "张三",
            "bglx": "1",
            "aab001": "EMP-01",
            "bgrq": "20260305",
            "aab301": "130126",
        },
        {
            "aac002": ID_B,
            "aac003": "李四",
            "bglx": "2",
            "aab001": "EMP-02",
            "bgrq": "20260306",
            "aab301": "130126",
            "tgyy": "合同到期",
        },
        {
            "aac002": ID_A,
            "aac003": "张三",
            "bglx": "2",
            "aab001": "EMP-01",
            "bgrq": "20260331",
            "aab301": "130126",
        },
    ],
    expected=[
        {
            "kind": "employment.started",
            **HR_INTERFACE,
            "event_time": day("2026-03-05"),
            "natural_key": f"{psn(ID_A)}|EMP-01|{day('2026-03-05')}",
            "person": psn(ID_A),
            "employer": "EMP-01",
        },
        {
            "kind": "employment.ended",
            **HR_INTERFACE,
            "event_time": day("2026-03-06"),
            "natural_key": f"{psn(ID_B)}|EMP-02|{day('2026-03-06')}",
            "person": psn(ID_B),
            "employer": "EMP-02",
            "reason": "合同到期",
        },
        {
            "kind": "employment.ended",
            **HR_INTERFACE,
            "event_time": day("2026-03-31"),
            "natural_key": f"{psn(ID_A)}|EMP-01|{day('2026-03-31')}",
            "person": psn(ID_A),
            "employer": "EMP-01",
            "reason": None,
        },
    ],
)

HR_END_OF_BATCH = Case(
    id="human_resources/end_of_batch",
    file_name="eob_si_202603.csv",
    columns=["AAB301", "AAE003", "WCSJ", "JLS"],
    rows=[{"AAB301": "130126", "AAE003": "202603", "WCSJ": "2026-04-01 08:30:05", "JLS": "1234"}],
    expected=[
        {
            "kind": "batch.end",
            **HR_BATCH,
            "event_time": "2026-04-01T08:30:05+08:00",
            "region": "130126",
            "natural_key": "130126|2026-03",
            "month": "2026-03",
            "record_count": 1234,
        }
    ],
)

# --- medical insurance -----------------------------------------------------------------

SETL_COLUMNS = [
    "setl_id",
    "certno",
    "psn_name",
    "setl_time",
    "medfee_sumamt",
    "fund_pay_sumamt",
    "psn_cash_pay",
    "med_type",
    "bigill_flag",
    "insuplc_admdvs",
]
MEDICAL = {"department": "medical_insurance", "channel": "batch", "region": "130126"}
SETTLEMENT_ROW = {
    "setl_id": "S0001",
    "certno": ID_A,
    "psn_name": "张三",
    "setl_time": "2026-03-05 14:22:10",
    "medfee_sumamt": "12345.67",
    "fund_pay_sumamt": "9876.54",
    "psn_cash_pay": "2469.13",
    "med_type": "21",
    "bigill_flag": "1",
    "insuplc_admdvs": "130126",
}

MEDICAL_SETTLEMENTS = Case(
    id="medical_insurance/settlements",
    file_name="setl_20260305.csv",
    columns=SETL_COLUMNS,
    rows=[
        SETTLEMENT_ROW,
        {
            "setl_id": "S0002",
            "certno": ID_B,
            "psn_name": "李四",
            "setl_time": "2026-03-05 09:00:00",
            "medfee_sumamt": "86.50",
            "fund_pay_sumamt": "50",
            "psn_cash_pay": "36.5",
            "med_type": "11",
            "bigill_flag": "",
            "insuplc_admdvs": "130126",
        },
    ],
    expected=[
        {
            "kind": "medical.settlement",
            **MEDICAL,
            "event_time": "2026-03-05T14:22:10+08:00",
            "natural_key": "S0001",
            "person": psn(ID_A),
            "settlement_id": "S0001",
            "total_cost": 12345.67,
            "fund_paid": 9876.54,
            "out_of_pocket": 2469.13,
            "care": "inpatient",
            "major_illness": True,
        },
        {
            "kind": "medical.settlement",
            **MEDICAL,
            "event_time": "2026-03-05T09:00:00+08:00",
            "natural_key": "S0002",
            "person": psn(ID_B),
            "settlement_id": "S0002",
            "total_cost": 86.5,
            "fund_paid": 50.0,
            "out_of_pocket": 36.5,
            "care": "outpatient",
            "major_illness": False,
        },
    ],
)

# The optional flag column may be left out of the export altogether.
MEDICAL_WITHOUT_FLAG = Case(
    id="medical_insurance/settlements-without-flag-column",
    file_name="setl_20260306.csv",
    columns=[c for c in SETL_COLUMNS if c != "bigill_flag"],
    rows=[{**SETTLEMENT_ROW, "med_type": "14"}],
    expected=[{**MEDICAL_SETTLEMENTS.expected[0], "care": "outpatient", "major_illness": False}],
)

MEDICAL_END_OF_BATCH = Case(
    id="medical_insurance/end_of_batch",
    file_name="eob_setl_20260305.csv",
    columns=["insuplc_admdvs", "stt_month", "fin_time", "setl_cnt"],
    rows=[
        {
            "insuplc_admdvs": "130126",
            "stt_month": "202603",
            "fin_time": "2026-04-01 00:05:00",
            "setl_cnt": "0",
        }
    ],
    expected=[
        {
            "kind": "batch.end",
            **MEDICAL,
            "event_time": "2026-04-01T00:05:00+08:00",
            "natural_key": "130126|2026-03",
            "month": "2026-03",
            "record_count": 0,
        }
    ],
)

# --- disabled persons' federation ---------------------------------------------------------

CDPF = {"department": "disabled_federation", "channel": "interface", "region": "130126"}
CERT_ROW = {
    "idCard": ID_B,
    "name": "李四",
    "action": "CERT",
    "category": "4",
    "level": "二级",
    "certDate": "2026-03-05",
    "areaCode": "130126",
}

DISABLED_FEDERATION = Case(
    id="disabled_federation/certificates",
    file_name="cdpf_20260305.jsonl",
    rows=[
        CERT_ROW,
        {
            "idCard": ID_B,
            "name": "李四",
            "action": "CANCEL",
            "certDate": "2026-03-20",
            "areaCode": "130126",
        },
    ],
    expected=[
        {
            "kind": "disability.certified",
            **CDPF,
            "event_time": day("2026-03-05"),
            "natural_key": f"{psn(ID_B)}|{day('2026-03-05')}",
            "person": psn(ID_B),
            "category": "physical",
            "level": 2,
        },
        {
            "kind": "disability.cancelled",
            **CDPF,
            "event_time": day("2026-03-20"),
            "natural_key": f"{psn(ID_B)}|{day('2026-03-20')}",
            "person": psn(ID_B),
        },
    ],
)

# --- housing, vehicles, market regulation, banks ------------------------------------------------

ASSET = {"channel": "batch", "region": "130126"}
PROPERTY_ID = "130126001001GB00001F00010001"
HOUSING = Case(
    id="housing/registrations",
    file_name="bdc_202603.csv",
    columns=["qlrzjh", "qlrmc", "bdcdyh", "djrq", "jzmj", "qhdm"],
    rows=[
        {
            "qlrzjh": ID_A,
            "qlrmc": "张三",
            "bdcdyh": PROPERTY_ID,
            "djrq": "2026-03-05",
            "jzmj": "89.5",
            "qhdm": "130126",
        },
        {
            "qlrzjh": ID_B,
            "qlrmc": "李四",
            "bdcdyh": "P-2",
            "djrq": "2026-03-06",
            "jzmj": "",
            "qhdm": "130126",
        },
    ],
    expected=[
        {
            "kind": "asset.property",
            "department": "housing",
            **ASSET,
            "event_time": day("2026-03-05"),
            "natural_key": f"{psn(ID_A)}|{PROPERTY_ID}",
            "person": psn(ID_A),
            "property_id": PROPERTY_ID,
            "area_m2": 89.5,
            "value": None,
        },
        {
            "kind": "asset.property",
            "department": "housing",
            **ASSET,
            "event_time": day("2026-03-06"),
            "natural_key": f"{psn(ID_B)}|P-2",
            "person": psn(ID_B),
            "property_id": "P-2",
            "area_m2": None,
            "value": None,
        },
    ],
)

VEHICLES = Case(
    id="vehicles/registrations",
    file_name="jdc_202603.csv",
    columns=["syrzjhm", "hphm", "ccdjrq", "gcjg", "qhdm"],
    rows=[
        {
            "syrzjhm": ID_A,
            "hphm": "冀A12345",
            "ccdjrq": "20260305",
            "gcjg": "12.5",
            "qhdm": "130126",
        }
    ],
    expected=[
        {
            "kind": "asset.vehicle",
            "department": "vehicles",
            **ASSET,
            "event_time": day("2026-03-05"),
            "natural_key": f"{psn(ID_A)}|冀A12345",
            "person": psn(ID_A),
            "vehicle_id": "冀A12345",
            "value": 125000.0,
        }
    ],
)

MARKET_REGULATION = Case(
    id="market_regulation/companies",
    file_name="scjg_202603.csv",
    columns=["fddbrzjhm", "tyshxydm", "zczb", "clrq", "djjg_qhdm"],
    rows=[
        {
            "fddbrzjhm": ID_D,
            "tyshxydm": "91440300MA5ABCDE1A",
            "zczb": "100",
            "clrq": "2026-03-05",
            "djjg_qhdm": "440305",
        },
        {
            "fddbrzjhm": ID_A,
            "tyshxydm": "92130126MA0ABCDE2B",
            "zczb": "0.35",
            "clrq": "2026-03-06",
            "djjg_qhdm": "130126",
        },
    ],
    expected=[
        {
            "kind": "asset.company",
            "department": "market_regulation",
            "channel": "batch",
            "region": "440305",
            "event_time": day("2026-03-05"),
            "natural_key": f"{psn(ID_D)}|91440300MA5ABCDE1A",
            "person": psn(ID_D),
            "company_id": "91440300MA5ABCDE1A",
            "capital": 1_000_000.0,
        },
        {
            "kind": "asset.company",
            "department": "market_regulation",
            **ASSET,
            "event_time": day("2026-03-06"),
            "natural_key": f"{psn(ID_A)}|92130126MA0ABCDE2B",
            "person": psn(ID_A),
            "company_id": "92130126MA0ABCDE2B",
            "capital": 3500.0,
        },
    ],
)

BANKS = Case(
    id="banks/balances",
    file_name="ck_202603.csv",
    columns=["zjhm", "khxm", "yhmc", "tjyf", "ye", "qhdm"],
    rows=[
        {
            "zjhm": ID_A,
            "khxm": "张三",
            "yhmc": "农业银行",
            "tjyf": "2026-03",
            "ye": "1234567",
            "qhdm": "130126",
        }
    ],
    expected=[
        {
            "kind": "asset.deposit",
            "department": "banks",
            **ASSET,
            "event_time": day("2026-03-01"),
            "natural_key": f"{psn(ID_A)}|农业银行|2026-03",
            "person": psn(ID_A),
            "month": "2026-03",
            "balance": 12345.67,
            "bank": "农业银行",
        }
    ],
)

# --- data exchange with other regions -----------------------------------------------------

EXCHANGE_COMMON = {"department": "exchange", "channel": "exchange", "region": "440305"}
EXCHANGE = Case(
    id="exchange/exchange",
    file_name="xch_20260305.jsonl",
    rows=[
        {
            "sjlx": "WAGE",
            "zjhm": ID_A,
            "xm": "张三",
            "ssqh": "440305",
            "ny": "202602",
            "je": "5200.00",
            "dw": "深圳某公司",
        },
        {"sjlx": "DEATH", "zjhm": ID_D, "xm": "王五", "ssqh": "440305", "sjrq": "2026-03-01"},
        {
            "sjlx": "SETL",
            "zjhm": ID_A,
            "xm": "张三",
            "ssqh": "440305",
            "sjrq": "2026-03-02",
            "jsid": "X-0001",
            "zfy": 1000,
            "jjzf": "600.40",
            "grzf": 399.6,
            "jzlx": "ZY",
        },
        {"sjlx": "EOB", "ssqh": "440305", "ny": "202603", "sjrq": "2026-03-31", "jls": 3},
    ],
    expected=[
        {
            "kind": "income.wage",
            **EXCHANGE_COMMON,
            "event_time": day("2026-02-01"),
            "natural_key": f"{psn(ID_A)}|2026-02|深圳某公司",
            "person": psn(ID_A),
            "month": "2026-02",
            "amount": 5200.0,
            "employer": "深圳某公司",
            "basis": "wage",
        },
        {
            "kind": "registration.death",
            **EXCHANGE_COMMON,
            "event_time": day("2026-03-01"),
            "natural_key": psn(ID_D),
            "person": psn(ID_D),
        },
        {
            "kind": "medical.settlement",
            **EXCHANGE_COMMON,
            "event_time": day("2026-03-02"),
            "natural_key": "X-0001",
            "person": psn(ID_A),
            "settlement_id": "X-0001",
            "total_cost": 1000.0,
            "fund_paid": 600.4,
            "out_of_pocket": 399.6,
            "care": "inpatient",
            "major_illness": False,
        },
        {
            "kind": "batch.end",
            **EXCHANGE_COMMON,
            "event_time": day("2026-03-31"),
            "natural_key": "440305|2026-03",
            "month": "2026-03",
            "record_count": 3,
        },
    ],
)

CASES = [
    CIVIL_AFFAIRS,
    PUBLIC_SECURITY,
    HR_CONTRIBUTIONS,
    HR_BENEFITS,
    HR_EMPLOYMENT,
    HR_END_OF_BATCH,
    MEDICAL_SETTLEMENTS,
    MEDICAL_WITHOUT_FLAG,
    MEDICAL_END_OF_BATCH,
    DISABLED_FEDERATION,
    HOUSING,
    VEHICLES,
    MARKET_REGULATION,
    BANKS,
    EXCHANGE,
]
by_case = pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])


def ingest_case(
    case: Case,
    directory: Path,
    catalog: Catalog,
    *,
    rows: list[dict[str, Any]] | None = None,
    received_at: dt.datetime = RECEIVED_AT,
) -> list[Event]:
    """The events of the case's rows (or of ``rows``), which must all be good."""
    items = ingest(directory / case.file_name, case.data(rows), catalog, received_at=received_at)
    assert rejects_of(items) == []
    return events_of(items)


# --- every layout and kind of every department ----------------------------------------------


def test_cases_cover_every_department_layout_and_kind(catalog: Catalog) -> None:
    shipped = {
        (department, layout.name, kind)
        for department, mapping in catalog.mappings.items()
        for layout in mapping.layouts
        for kind in layout.kinds
    }
    covered = set()
    for case in CASES:
        department, layout = catalog.layout_for(case.file_name)
        covered |= {(department, layout.name, expected["kind"]) for expected in case.expected}
    assert len(catalog.mappings) == 10
    assert covered == shipped


@by_case
def test_shipped_mapping_normalises_each_row_exactly(
    case: Case, tmp_path: Path, catalog: Catalog
) -> None:
    events = ingest_case(case, tmp_path, catalog)
    assert [record_of(event) for event in events] == case.expected


@by_case
def test_envelope_is_derived_from_delivery_and_key(
    case: Case, tmp_path: Path, catalog: Catalog
) -> None:
    path = tmp_path / case.file_name
    events = ingest_case(case, tmp_path, catalog)
    first_data_line = 1 if case.columns is None else 2
    for line, event in enumerate(events, start=first_data_line):
        assert event.v == 1
        kind = as_builtins(event)["kind"]
        assert event.event_id == event_id_for(event.department, kind, event.natural_key)
        assert as_builtins(event)["received_at"] == "2026-04-02T09:30:00+08:00"
        assert event.source == f"{path}:{line}"
    assert len({event.event_id for event in events}) == len(events)


@by_case
def test_event_id_and_fingerprint_are_stable_across_deliveries(
    case: Case, tmp_path: Path, catalog: Catalog
) -> None:
    first = ingest_case(case, tmp_path / "a", catalog)
    later = dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.UTC)
    again = ingest_case(case, tmp_path / "b", catalog, received_at=later)
    assert [e.event_id for e in again] == [e.event_id for e in first]
    assert [e.fingerprint for e in again] == [e.fingerprint for e in first]
    assert [e.source for e in again] != [e.source for e in first]
    assert all(e.received_at != f.received_at for e, f in zip(again, first, strict=True))


@by_case
def test_resent_file_under_another_name_gives_the_same_ids(
    case: Case, tmp_path: Path, catalog: Catalog
) -> None:
    first = ingest_case(case, tmp_path, catalog)
    resent = dataclasses.replace(case, file_name=case.resent_name())
    again = ingest_case(resent, tmp_path, catalog, received_at=RECEIVED_AT + dt.timedelta(days=3))
    assert [(e.event_id, e.fingerprint) for e in again] == [
        (e.event_id, e.fingerprint) for e in first
    ]


@by_case
def test_no_raw_id_number_or_name_in_events(case: Case, tmp_path: Path, catalog: Catalog) -> None:
    events = ingest_case(case, tmp_path, catalog)
    assert events
    assert_no_raw_ids(events, RAW_IDS)
    for event in events:
        encoded = to_json(event).decode()
        assert not any(name in encoded for name in NAMES)


# --- corrections and distinct records --------------------------------------------------------

# (case, row index, column, another value of a non-key field)
CORRECTIONS = [
    (HR_CONTRIBUTIONS, 0, "AAE180", "4600.00"),
    (HR_BENEFITS, 0, "AAE019", "2900"),
    (BANKS, 0, "ye", "1234568"),
    (VEHICLES, 0, "gcjg", "13"),
    (MEDICAL_SETTLEMENTS, 0, "psn_cash_pay", "2469.14"),
    (EXCHANGE, 0, "je", "5300"),
    (CIVIL_AFFAIRS, 0, "ffje", 1600),
    (DISABLED_FEDERATION, 0, "level", "一级"),
]

# (case, row index, column, another value of a key field)
OTHER_RECORDS = [
    (HR_CONTRIBUTIONS, 0, "AAE003", "202604"),
    (HR_CONTRIBUTIONS, 0, "AAB001", "OTHER-EMPLOYER"),
    (HR_CONTRIBUTIONS, 0, "AAC002", ID_D),
    (BANKS, 0, "yhmc", "工商银行"),
    (MEDICAL_SETTLEMENTS, 0, "setl_id", "S9999"),
    (PUBLIC_SECURITY, 3, "bdrq", "20260304"),
    (CIVIL_AFFAIRS, 0, "jzbh", "H130126-0002"),
]


def _with(case: Case, index: int, column: str, value: Any) -> list[dict[str, Any]]:
    rows = [dict(row) for row in case.rows]
    assert column in rows[index] or case.columns is None or column in case.columns
    rows[index][column] = value
    return rows


@pytest.mark.parametrize(
    ("case", "index", "column", "value"),
    CORRECTIONS,
    ids=[f"{c.id}:{col}" for c, _, col, _ in CORRECTIONS],
)
def test_same_key_with_other_content_is_a_correction(
    case: Case, index: int, column: str, value: Any, tmp_path: Path, catalog: Catalog
) -> None:
    original = ingest_case(case, tmp_path / "a", catalog)[index]
    corrected = ingest_case(case, tmp_path / "b", catalog, rows=_with(case, index, column, value))
    assert corrected[index].event_id == original.event_id
    assert corrected[index].natural_key == original.natural_key
    assert corrected[index].fingerprint != original.fingerprint


@pytest.mark.parametrize(
    ("case", "index", "column", "value"),
    OTHER_RECORDS,
    ids=[f"{c.id}:{col}" for c, _, col, _ in OTHER_RECORDS],
)
def test_other_natural_key_is_another_record(
    case: Case, index: int, column: str, value: Any, tmp_path: Path, catalog: Catalog
) -> None:
    original = ingest_case(case, tmp_path / "a", catalog)[index]
    other = ingest_case(case, tmp_path / "b", catalog, rows=_with(case, index, column, value))
    assert other[index].event_id != original.event_id
    assert other[index].natural_key != original.natural_key


# --- code tables ------------------------------------------------------------------------------

# Every code of every shipped code table and what it must become, written out
# here (not read from the TOML) so a changed translation fails a test.
RELATIONS = {
    "02": "head",
    "10": "spouse",
    "11": "spouse",
    "12": "spouse",
    "20": "child",
    "30": "child",
    "40": "grandchild",
    "50": "parent",
    "60": "grandparent",
    "70": "sibling",
    "99": "other",
}
CODE_TABLES: dict[tuple[str, str, str], dict[str, Any]] = {
    # (department, layout, event field) -> {code: value}
    ("civil_affairs", "roster", "scheme"): {"01": "dibao", "02": "tekun", "03": "low_income"},
    ("civil_affairs", "roster", "residence"): {"1": "urban", "2": "rural"},
    ("civil_affairs", "roster", "relation"): RELATIONS,
    ("civil_affairs", "roster", "members.relation"): RELATIONS,
    ("medical_insurance", "settlements", "care"): {
        "11": "outpatient",
        "14": "outpatient",
        "21": "inpatient",
        "22": "inpatient",
    },
    ("medical_insurance", "settlements", "major_illness"): {"1": True, "0": False},
    ("disabled_federation", "certificates", "category"): {
        "1": "visual",
        "2": "hearing",
        "3": "speech",
        "4": "physical",
        "5": "intellectual",
        "6": "mental",
        "7": "multiple",
    },
    ("disabled_federation", "certificates", "level"): {"一级": 1, "二级": 2, "三级": 3, "四级": 4},
    ("exchange", "exchange", "care"): {"MZ": "outpatient", "ZY": "inpatient"},
}
KIND_CODES: dict[tuple[str, str], dict[str, str]] = {
    ("civil_affairs", "roster"): {
        "ENROL": "roster.enrolled",
        "ADD": "roster.member_added",
        "REMOVE": "roster.member_removed",
        "EXIT": "roster.exited",
    },
    ("public_security", "changes"): {
        "01": "registration.birth",
        "02": "registration.death",
        "03": "registration.moved_in",
        "04": "registration.moved_out",
        "99": "batch.end",
    },
    ("human_resources", "benefits"): {
        "110": "income.pension",
        "120": "income.pension",
        "170": "income.pension",
        "210": "income.unemployment_benefit",
    },
    ("human_resources", "employment"): {"1": "employment.started", "2": "employment.ended"},
    ("disabled_federation", "certificates"): {
        "CERT": "disability.certified",
        "CANCEL": "disability.cancelled",
    },
    ("exchange", "exchange"): {
        "WAGE": "income.wage",
        "DEATH": "registration.death",
        "SETL": "medical.settlement",
        "EOB": "batch.end",
    },
}

# A row of the right kind to try each code in: (case, row index, raw column).
CODE_ROWS: dict[tuple[str, str, str], tuple[Case, int, str]] = {
    ("civil_affairs", "roster", "scheme"): (CIVIL_AFFAIRS, 0, "bzlx"),
    ("civil_affairs", "roster", "residence"): (CIVIL_AFFAIRS, 0, "cxlb"),
    ("civil_affairs", "roster", "relation"): (CIVIL_AFFAIRS, 1, "yhzgx"),
    ("medical_insurance", "settlements", "care"): (MEDICAL_SETTLEMENTS, 0, "med_type"),
    ("medical_insurance", "settlements", "major_illness"): (MEDICAL_SETTLEMENTS, 0, "bigill_flag"),
    ("disabled_federation", "certificates", "category"): (DISABLED_FEDERATION, 0, "category"),
    ("disabled_federation", "certificates", "level"): (DISABLED_FEDERATION, 0, "level"),
    ("exchange", "exchange", "care"): (EXCHANGE, 2, "jzlx"),
}


def test_code_tables_here_list_every_shipped_code(catalog: Catalog) -> None:
    shipped_fields: dict[tuple[str, str, str], set[str]] = {}
    shipped_kinds: dict[tuple[str, str], set[str]] = {}
    for department, mapping in catalog.mappings.items():
        for layout in mapping.layouts:
            if layout.kind_from is not None:
                shipped_kinds[department, layout.name] = set(layout.kind_from.codes)
            for kind in layout.kinds:
                for name, spec in layout.fields_for(kind).items():
                    if spec.codes:
                        shipped_fields.setdefault((department, layout.name, name), set()).update(
                            spec.codes
                        )
                    for item_name, item in spec.items.items():
                        if item.codes:
                            key = (department, layout.name, f"{name}.{item_name}")
                            shipped_fields.setdefault(key, set()).update(item.codes)
    assert {key: set(codes) for key, codes in CODE_TABLES.items()} == shipped_fields
    assert {key: set(codes) for key, codes in KIND_CODES.items()} == shipped_kinds


CODE_PARAMS = [
    (key, code, value)
    for key, table in CODE_TABLES.items()
    if key in CODE_ROWS
    for code, value in table.items()
]


@pytest.mark.parametrize(
    ("key", "code", "value"), CODE_PARAMS, ids=[f"{k[0]}.{k[2]}={c}" for k, c, _ in CODE_PARAMS]
)
def test_each_code_translates(
    key: tuple[str, str, str], code: str, value: Any, tmp_path: Path, catalog: Catalog
) -> None:
    case, index, column = CODE_ROWS[key]
    events = ingest_case(case, tmp_path, catalog, rows=_with(case, index, column, code))
    assert getattr(events[index], key[2]) == value


@pytest.mark.parametrize(("code", "relation"), sorted(RELATIONS.items()))
def test_roster_members_keep_order_positions_and_relations(
    code: str, relation: str, tmp_path: Path, catalog: Catalog
) -> None:
    members = [
        {"sfzh": ID_D, "xm": "王五", "yhzgx": "02"},
        {"sfzh": ID_A, "xm": "张三", "yhzgx": code},
        {"sfzh": ID_C, "xm": "张小", "yhzgx": "99"},
    ]
    (event,) = ingest_case(CIVIL_AFFAIRS, tmp_path, catalog, rows=[{**ROSTER_ENROL, "cy": members}])
    assert record_of(event)["members"] == [
        {"person": psn(ID_D), "relation": "head", "position": 1},
        {"person": psn(ID_A), "relation": relation, "position": 2},
        {"person": psn(ID_C), "relation": "other", "position": 3},
    ]


KIND_PARAMS = [
    (key, code, kind) for key, table in KIND_CODES.items() for code, kind in table.items()
]


def _row_of_kind(
    catalog: Catalog, department: str, layout_name: str, kind: str
) -> tuple[Case, int]:
    """A case row of ``kind`` read by the given layout, to try a record-type code on."""
    for case in CASES:
        found_department, layout = catalog.layout_for(case.file_name)
        if (found_department, layout.name) != (department, layout_name):
            continue
        for index, expected in enumerate(case.expected):
            if expected["kind"] == kind:
                return case, index
    raise AssertionError(f"no case row of kind {kind} for {department}/{layout_name}")


@pytest.mark.parametrize(
    ("key", "code", "kind"), KIND_PARAMS, ids=[f"{k[0]}.{k[1]}={c}" for k, c, _ in KIND_PARAMS]
)
def test_each_record_type_code_chooses_its_kind(
    key: tuple[str, str], code: str, kind: str, tmp_path: Path, catalog: Catalog
) -> None:
    department, layout_name = key
    case, index = _row_of_kind(catalog, department, layout_name, kind)
    _, layout = catalog.layout_for(case.file_name)
    assert layout.kind_from is not None
    row = _with(case, index, layout.kind_from.column, code)[index]
    events = ingest_case(case, tmp_path, catalog, rows=[row])
    assert [as_builtins(event)["kind"] for event in events] == [kind]
    assert record_of(events[0]) == case.expected[index]


# --- choosing a layout by file name -------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "department", "layout"),
    [
        ("roster_20260305.jsonl", "civil_affairs", "roster"),
        ("hukou_20260305.csv", "public_security", "changes"),
        ("si_contrib_202603.csv", "human_resources", "contributions"),
        ("si_benefit_202603.csv", "human_resources", "benefits"),
        ("employment_20260305.jsonl", "human_resources", "employment"),
        ("eob_si_202603.csv", "human_resources", "end_of_batch"),
        ("setl_20260305.csv", "medical_insurance", "settlements"),
        ("eob_setl_20260305.csv", "medical_insurance", "end_of_batch"),
        ("cdpf_20260305.jsonl", "disabled_federation", "certificates"),
        ("bdc_202603.csv", "housing", "registrations"),
        ("jdc_202603.csv", "vehicles", "registrations"),
        ("scjg_202603.csv", "market_regulation", "companies"),
        ("ck_202603.csv", "banks", "balances"),
        ("xch_20260305.jsonl", "exchange", "exchange"),
    ],
)
def test_layout_for_finds_the_one_matching_layout(
    file_name: str, department: str, layout: str, catalog: Catalog
) -> None:
    found_department, found = catalog.layout_for(file_name)
    assert (found_department, found.name) == (department, layout)
    # Restricting to the right department finds the same layout.
    assert catalog.layout_for(file_name, department) == (found_department, found)


@pytest.mark.parametrize("file_name", ["report.csv", "setl_20260305.jsonl", "SETL_1.CSV", "ck_"])
def test_layout_for_names_the_file_when_nothing_matches(file_name: str, catalog: Catalog) -> None:
    with pytest.raises(MappingError) as error:
        catalog.layout_for(file_name)
    message = str(error.value)
    assert f"file '{file_name}'" in message
    assert "no layout of any department" in message
    assert "banks/balances: ck_*.csv" in message  # says what would have matched


def test_layout_for_respects_the_department_restriction(catalog: Catalog) -> None:
    with pytest.raises(MappingError) as error:
        catalog.layout_for("setl_20260305.csv", department="banks")
    assert "department 'banks'" in str(error.value)
    assert "setl_20260305.csv" in str(error.value)


def test_layout_for_refuses_a_file_several_layouts_match(tmp_path: Path) -> None:
    for name in ("banks.toml", "housing.toml"):
        text = (MAPPINGS_DIR / name).read_text(encoding="utf-8")
        text = text.replace('files = ["ck_*.csv"]', 'files = ["ck_*.csv", "shared_*.csv"]')
        text = text.replace('files = ["bdc_*.csv"]', 'files = ["bdc_*.csv", "shared_*.csv"]')
        (tmp_path / name).write_text(text, encoding="utf-8")
    catalog = Catalog.load(tmp_path)
    with pytest.raises(MappingError) as error:
        catalog.layout_for("shared_1.csv")
    message = str(error.value)
    assert "shared_1.csv" in message and "several layouts" in message
    assert "banks/balances" in message and "housing/registrations" in message
    assert catalog.layout_for("shared_1.csv", department="banks")[0] == "banks"


# --- renaming a column is a config change ---------------------------------------------------


def _rename_everywhere(case: Case, old: str, new: str) -> Case:
    rows = [
        {(new if key == old else key): value for key, value in row.items()} for row in case.rows
    ]
    columns = None if case.columns is None else [new if c == old else c for c in case.columns]
    return dataclasses.replace(case, rows=rows, columns=columns)


@by_case
def test_renamed_column_is_a_mapping_edit_only(
    case: Case, tmp_path: Path, catalog: Catalog
) -> None:
    department, layout = catalog.layout_for(case.file_name)
    old = layout.fields["region"].column
    new = f"{old}_renamed"
    config = tmp_path / "config"
    config.mkdir()
    text = (MAPPINGS_DIR / f"{department}.toml").read_text(encoding="utf-8")
    assert f'column = "{old}"' in text
    (config / f"{department}.toml").write_text(
        text.replace(f'column = "{old}"', f'column = "{new}"'), encoding="utf-8"
    )
    renamed_catalog = Catalog.load(config)

    shipped = ingest_case(case, tmp_path / "shipped", catalog)
    renamed = ingest_case(_rename_everywhere(case, old, new), tmp_path / "new", renamed_catalog)
    assert [record_of(e) for e in renamed] == [record_of(e) for e in shipped]
    assert [(e.event_id, e.fingerprint) for e in renamed] == [
        (e.event_id, e.fingerprint) for e in shipped
    ]

    # The old layout no longer reads: every row names the column it lacks.
    stale = ingest(tmp_path / "stale" / case.file_name, case.data(), renamed_catalog)
    assert {(r.reason_code, r.column) for r in rejects_of(stale)} == {("missing_column", new)}
    assert len(rejects_of(stale)) == len(case.rows)
    # Rows of income still say whose month they were (unread, not absent), each
    # right after its reject; nothing else does.
    unreadable = [e for e in stale if isinstance(e, RecordUnreadable)]
    assert [(u.person, u.month) for u in unreadable] == [
        (e.person, e.month) for e in shipped if isinstance(e, Wage | Pension | UnemploymentBenefit)
    ]
    assert all(isinstance(stale[stale.index(u) - 1], Reject) for u in unreadable)
    assert len(stale) == len(case.rows) + len(unreadable)


# --- mapping files that must not load ---------------------------------------------------------

BASE_MAPPING = """\
department = "vehicles"

[[layouts]]
name = "registrations"
files = ["jdc_*.csv"]
format = "csv"

[layouts.fields]
person = { column = "syrzjhm", type = "id_number" }
vehicle_id = { column = "hphm", max_length = 20 }
event_time = { column = "ccdjrq", type = "date", formats = ["%Y%m%d"] }
value = { column = "gcjg", type = "amount", unit = "wan_yuan" }
region = { column = "qhdm", type = "region" }

[layouts.kinds."asset.vehicle"]
key = ["person", "vehicle_id"]
"""
VALUE_LINE = 'value = { column = "gcjg", type = "amount", unit = "wan_yuan" }\n'
KIND_HEADER = '[layouts.kinds."asset.vehicle"]\n'


def _broken(old: str, new: str) -> str:
    assert old in BASE_MAPPING
    return BASE_MAPPING.replace(old, new)


BROKEN_MAPPINGS = [
    pytest.param(
        _broken('kinds."asset.vehicle"', 'kinds."asset.car"'),
        ["unknown kind 'asset.car'", "valid kinds:", "asset.vehicle", "registration.death"],
        id="unknown-kind",
    ),
    pytest.param(
        _broken(VALUE_LINE, ""),
        ["kind 'asset.vehicle'", "no mapping for required field 'value'"],
        id="required-field-not-mapped",
    ),
    pytest.param(
        _broken('key = ["person", "vehicle_id"]', 'key = ["person", "plate"]'),
        ["key field 'plate' is not mapped"],
        id="key-field-not-mapped",
    ),
    pytest.param(
        _broken('key = ["person", "vehicle_id"]', "key = []"),
        ["key", "length >= 1"],
        id="empty-key",
    ),
    pytest.param(
        BASE_MAPPING + '[layouts.kinds."asset.vehicle".fields]\ncolour = { column = "csys" }\n',
        ["kind 'asset.vehicle'", "the event has no field 'colour'"],
        id="kind-field-the-event-lacks",
    ),
    pytest.param(
        # A shared field no kind of the layout has (here a typo of an optional
        # field) would otherwise be silently ignored.
        _broken(VALUE_LINE, VALUE_LINE + 'valeu = { column = "pgjg", type = "amount" }\n'),
        ["valeu"],
        id="shared-field-no-kind-has",
    ),
    pytest.param(
        BASE_MAPPING + 'constants = { colour = "red" }\n',
        ["the event has no field 'colour'"],
        id="constant-the-event-lacks",
    ),
    pytest.param(
        _broken(VALUE_LINE, VALUE_LINE + 'event_id = { column = "id" }\n'),
        ["field 'event_id' is derived"],
        id="derived-field-mapped",
    ),
    pytest.param(
        BASE_MAPPING + 'constants = { department = "banks" }\n',
        ["field 'department' is derived"],
        id="derived-field-as-constant",
    ),
    pytest.param(
        _broken('type = "date", formats = ["%Y%m%d"]', 'type = "date"'),
        ["field 'event_time'", "type date needs formats"],
        id="date-without-formats",
    ),
    pytest.param(
        _broken(
            'vehicle_id = { column = "hphm", max_length = 20 }',
            'vehicle_id = { column = "hphm", type = "code" }',
        ),
        ["field 'vehicle_id'", "type code needs a codes table"],
        id="code-without-codes",
    ),
    pytest.param(
        _broken('unit = "wan_yuan"', 'unti = "wan_yuan"'),
        ["unknown field `unti`", "$.layouts[0].fields"],
        id="typo-in-field-option",
    ),
    pytest.param(
        _broken('format = "csv"', 'format = "csv"\nencodng = "gbk"'),
        ["unknown field `encodng`"],
        id="typo-in-layout-option",
    ),
    pytest.param(
        _broken('unit = "wan_yuan"', 'unit = "jiao"'),
        ["jiao", ".unit"],
        id="unknown-unit",
    ),
    pytest.param(
        _broken('type = "amount"', 'type = "money"'),
        ["money", ".type"],
        id="unknown-field-type",
    ),
    pytest.param(
        _broken('department = "vehicles"', 'department = "police"'),
        ["police", "department"],
        id="unknown-department",
    ),
    pytest.param(
        _broken(KIND_HEADER, '[layouts.kinds."asset.property"]\nkey = ["person"]\n' + KIND_HEADER),
        ["several kinds need a kind_from column"],
        id="several-kinds-without-kind-from",
    ),
    pytest.param(
        _broken(
            'format = "csv"',
            'format = "csv"\nkind_from = { column = "lx", codes = { "1" = "asset.car" } }',
        ),
        ["kind_from code '1'", "'asset.car'"],
        id="kind-from-names-a-kind-without-table",
    ),
    pytest.param(
        _broken("[layouts.fields]", "[layouts.fields\n"),
        ["cannot read mapping"],
        id="not-toml",
    ),
]


@pytest.mark.parametrize(("text", "fragments"), BROKEN_MAPPINGS)
def test_broken_mapping_fails_to_load_naming_file_and_problem(
    text: str, fragments: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "vehicles.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as error:
        load_mapping(path)
    message = str(error.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    # The catalog reports the same error.
    with pytest.raises(MappingError, match=r"vehicles\.toml"):
        Catalog.load(tmp_path)


def test_base_of_the_broken_mappings_loads(tmp_path: Path) -> None:
    path = tmp_path / "vehicles.toml"
    path.write_text(BASE_MAPPING, encoding="utf-8")
    mapping = load_mapping(path)
    assert [layout.name for layout in mapping.layouts] == ["registrations"]


def test_a_department_mapped_twice_is_refused(tmp_path: Path) -> None:
    shutil.copy(MAPPINGS_DIR / "banks.toml", tmp_path / "banks.toml")
    shutil.copy(MAPPINGS_DIR / "banks.toml", tmp_path / "banks_copy.toml")
    with pytest.raises(MappingError, match=r"banks_copy\.toml: department 'banks' is mapped twice"):
        Catalog.load(tmp_path)


def test_a_directory_without_mappings_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="no department mappings"):
        Catalog.load(tmp_path)


def test_every_shipped_mapping_loads_with_its_department_name(catalog: Catalog) -> None:
    names = sorted(path.stem for path in MAPPINGS_DIR.glob("*.toml"))
    assert sorted(catalog.mappings) == names


def test_month_events_start_at_local_midnight_of_the_first(
    tmp_path: Path, catalog: Catalog
) -> None:
    (event,) = ingest_case(BANKS, tmp_path, catalog)
    moment = dt.datetime.fromisoformat(record_of(event)["event_time"])
    assert moment == dt.datetime(2026, 3, 1, tzinfo=CST)
    assert moment.utcoffset() == dt.timedelta(hours=8)
    assert moment.astimezone(dt.UTC) == dt.datetime(2026, 2, 28, 16, tzinfo=dt.UTC)
