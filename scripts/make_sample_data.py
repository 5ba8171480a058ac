#!/usr/bin/env python3
"""Write a small, realistic, deterministic set of raw department files.

    .venv/bin/python scripts/make_sample_data.py              # writes samples/
    .venv/bin/python scripts/make_sample_data.py --out /tmp/s  # somewhere else

The files go to ``<out>/departments/`` (one flat folder, names matching the
``files`` globs of ``config/connectors/*.toml``) and ``<out>/README.md``
describes them. They are written exactly in the *raw* layouts the mappings
declare: coded column names, code tables, department date formats, amounts in
fen or wan yuan where the department uses them, the roster's members nested
as JSON objects.

The data: 40 assisted households in two counties of two prefecture cities of
Hebei, Lingshou (130126, Shijiazhuang) and Cheng'an (130424, Handan),
enrolled in late 2025, with monthly records for 2026-01 to 2026-04 from every
department, a handful of life stories the detectors should find, and a few
deliberate problems (each marked ``DELIBERATE`` below) that the connector
must reject with a clear reason.

Everything is invented: names, ID numbers (valid in form: region of first
registration, birth date, sequence with the sex parity, MOD 11-2 check
character), employers, plates, accounts. The same seed gives byte-identical
files: no wall clock, no hash-ordered iteration, rows sorted.

Stdlib only, plus ``engine.identity`` for the check character.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.identity import check_character, validate_id_number  # noqa: E402

SEED = 20260501
MONTHS = ["202601", "202602", "202603", "202604"]

LINGSHOU, CHENGAN = "130126", "130424"
COUNTIES = {
    LINGSHOU: ("灵寿县", "Lingshou County", "Shijiazhuang"),
    CHENGAN: ("成安县", "Cheng'an County", "Handan"),
}
LINES = {"urban": 760, "rural": 600}  # local minimum-living line, yuan/person/month

# Region codes used below (GB/T 2260), for the README and for reading the code.
PLACES = {
    "130100": "Shijiazhuang city-level social insurance office",
    "130104": "Shijiazhuang, Qiaoxi District",
    "130123": "Zhengding County (Shijiazhuang)",
    "130125": "Xingtang County (Shijiazhuang)",
    "130126": "Lingshou County (Shijiazhuang)",
    "130181": "Xinji (Shijiazhuang)",
    "130400": "Handan city-level offices",
    "130424": "Cheng'an County (Handan)",
    "130425": "Daming County (Handan)",
    "130602": "Baoding, Jingxiu District",
    "130624": "Fuping County (Baoding)",
    "110105": "Beijing, Chaoyang District",
    "120116": "Tianjin, Binhai New Area",
    "370102": "Jinan, Lixia District (Shandong)",
    "371502": "Liaocheng, Dongchangfu District (Shandong)",
    "371522": "Shen County (Liaocheng, Shandong)",
    "410526": "Hua County (Anyang, Henan)",
}

# GB/T 4761 relation to the head, as the roster's code table knows them.
REL = {
    "head": "02",
    "spouse": "10",
    "son": "20",
    "daughter": "30",
    "grandchild": "40",
    "parent": "50",
    "other": "99",
}


# --------------------------------------------------------------------------
# People and households
# --------------------------------------------------------------------------


@dataclass
class Person:
    label: str  # "A01/head": household short name / role
    role: str  # head, spouse, son, mother, ...
    relation: str  # yhzgx code
    sex: str  # M or F
    age: int  # on 2026-01-01
    born_in: str  # region of first registration (ID digits 1-6)
    wage: int = 0  # monthly income at enrolment, yuan
    pension: int = 0
    unemployment: int = 0
    birth: dt.date = dt.date(1900, 1, 1)
    name: str = ""
    id: str = ""


@dataclass
class Household:
    short: str  # A01 (Lingshou) .. B20 (Cheng'an)
    scheme: str  # dibao, tekun, low_income
    area: str  # urban or rural: which local line applies
    enrolled: dt.date
    farm: int  # other declared income (farming, odd jobs), yuan/month
    members: list[Person]
    story: str
    care: int = 0  # tekun care allowance, yuan/month
    case: str = ""
    county: str = ""
    declared: int = 0
    benefit: int = 0


def M(
    role: str,
    sex: str,
    age: int,
    born_in: str | None = None,
    rel: str | None = None,
    wage: int = 0,
    pension: int = 0,
    unemployment: int = 0,
) -> Person:
    relation = (
        rel
        or {
            "head": "head",
            "spouse": "spouse",
            "son": "son",
            "daughter": "daughter",
            "mother": "parent",
            "father": "parent",
            "grandson": "grandchild",
            "granddaughter": "grandchild",
            "daughter_in_law": "other",
            "mother_in_law": "other",
        }[role]
    )
    return Person("", role, REL[relation], sex, age, born_in or "", wage, pension, unemployment)


def H(
    short: str,
    scheme: str,
    area: str,
    enrolled: str,
    members: list[Person],
    story: str,
    farm: int = 0,
    care: int = 0,
) -> Household:
    return Household(
        short, scheme, area, dt.date.fromisoformat(enrolled), farm, members, story, care
    )


# Ages are on 2026-01-01; wage/pension/unemployment are the incomes the
# household declared at enrolment (gross, yuan a month). born_in defaults to
# the household's county.
# fmt: off
HOUSEHOLDS = [
    # ---- Lingshou County (130126), Shijiazhuang -------------------------------
    H("A01", "dibao", "rural", "2025-10-01",
      [M("head", "M", 46, wage=2100), M("spouse", "F", 44), M("son", "M", 17),
       M("mother", "F", 72)],
      "Income drop and job loss: the head (only earner) loses his job at the paper mill "
      "(employment ended 2026-02-27); contribution bases for Jan and Feb, none from March."),
    H("A02", "dibao", "urban", "2025-11-01",
      [M("head", "F", 38, wage=1500), M("spouse", "M", 40), M("daughter", "F", 12)],
      "Income above the line: the spouse starts a job in Shijiazhuang on 2026-01-05 "
      "(3,600 a month); per-capita income about 1,700 > 760 for Jan to Apr. The head's "
      "February base is corrected in the March file (1,500 -> 1,650)."),
    H("A03", "dibao", "rural", "2025-10-15",
      [M("head", "M", 58, wage=2300), M("spouse", "F", 55), M("mother", "F", 80),
       M("grandson", "M", 9)],
      "Earner death with conflicting records: the head (only earner) dies 2026-01-20; "
      "his employer still reports a contribution base for February (wages after death). "
      "Roster removes him 2026-02-15."),
    H("A04", "tekun", "rural", "2025-10-01", [M("head", "M", 81)],
      "Sole member died: the only member dies 2026-03-12; roster exit 2026-04-02.",
      farm=50, care=300),
    H("A05", "dibao", "rural", "2025-11-10", [M("head", "F", 52), M("son", "M", 24)],
      "Moved away, same city: the son's registration moves to Zhengding County "
      "(130123, Shijiazhuang) on 2026-01-14. Head's April deposit row has no balance.",
      farm=300),
    H("A06", "dibao", "rural", "2025-12-01",
      [M("head", "M", 55), M("spouse", "F", 53, "371522"), M("daughter", "F", 26),
       M("son", "M", 22, wage=2300)],
      "Moved away, another province: the daughter marries and moves her registration to "
      "Liaocheng, Shandong (371502) on 2026-03-20; roster removes her 2026-04-08.", farm=200),
    H("A07", "dibao", "rural", "2025-10-20",
      [M("head", "M", 51), M("spouse", "F", 49), M("son", "M", 19)],
      "Major illness: the spouse is on dialysis (monthly chronic-disease outpatient "
      "settlements) with two inpatient stays flagged major illness (Jan, Mar); out-of-pocket "
      "spending far above half the household's income.", farm=400),
    H("A08", "dibao", "rural", "2025-11-01",
      [M("head", "M", 40, wage=2300), M("father", "M", 67), M("mother", "F", 65),
       M("daughter", "F", 10)],
      "Disability onset: the father has a stroke (inpatient, settled 2026-02-19, 6,700 out "
      "of pocket) and is certified physically disabled level 2 on 2026-03-18."),
    H("A09", "low_income", "urban", "2025-12-01",
      [M("head", "F", 45, wage=2600), M("spouse", "M", 47), M("son", "M", 15)],
      "Asset: the head registers an apartment (89.6 m2) on 2026-02-10.", farm=600),
    H("A10", "dibao", "rural", "2025-10-01", [M("head", "F", 60), M("son", "M", 33)],
      "Asset: the son becomes legal representative of a new company (capital 50 wan "
      "yuan = 500,000 yuan) on 2026-01-22.", farm=500),
    H("A11", "dibao", "rural", "2025-11-15",
      [M("head", "M", 68), M("spouse", "F", 66, "130125")],
      "Asset: the head's deposits jump to about 139,000 yuan in March (land compensation), "
      "over any savings limit.", farm=300),
    H("A12", "dibao", "urban", "2025-12-01",
      [M("head", "M", 41, unemployment=1674), M("spouse", "F", 39), M("son", "M", 14)],
      "Conflict: the head draws unemployment benefit Jan to Apr but starts a job on "
      "2026-02-23 (contribution base for Mar and Apr)."),
    H("A13", "low_income", "rural", "2025-10-01",
      [M("head", "M", 54), M("spouse", "F", 52), M("son", "M", 28, wage=3100),
       M("daughter", "F", 20)],
      "Cross-province: the son works in Beijing (110105); his wages arrive by exchange.",
      farm=500),
    H("A14", "low_income", "urban", "2025-11-01",
      [M("head", "M", 66, pension=1850), M("spouse", "F", 64)],
      "Background: the head's enterprise pension (1,850) every month."),
    H("A15", "tekun", "urban", "2025-12-01", [M("head", "F", 74)],
      "Background (her April outpatient row carries an oversized field).", care=200),
    H("A16", "dibao", "rural", "2025-10-01",
      [M("head", "M", 49), M("spouse", "F", 47, "130624"), M("son", "M", 23, wage=2900),
       M("daughter", "F", 16), M("mother", "F", 75)],
      "Cross-city: the son works in Baoding (130602); his wages arrive by exchange.", farm=300),
    H("A17", "dibao", "rural", "2025-11-01", [M("head", "F", 45), M("daughter", "F", 15)],
      "Disability level 4 (intellectual) certified for the daughter 2026-01-20: "
      "not severe, no alert expected.", farm=200),
    H("A18", "low_income", "rural", "2025-12-01",
      [M("head", "M", 44, wage=2800), M("spouse", "F", 42), M("son", "M", 12)],
      "Background: the head works for a Shijiazhuang employer (city-level insuring office "
      "130100). His February vehicle row has an impossible date.", farm=300),
    H("A19", "dibao", "rural", "2025-10-01", [M("head", "M", 63)],
      "Background (his February outpatient row has a non-numeric amount).", farm=150),
    H("A20", "dibao", "rural", "2025-11-20",
      [M("head", "F", 36), M("son", "M", 11), M("daughter", "F", 8),
       M("mother_in_law", "F", 66)],
      "Background: a widow with two children and her mother-in-law (relation code 99). "
      "Her January outpatient row has a bad check digit.", farm=300),
    # ---- Cheng'an County (130424), Handan -------------------------------------
    H("B01", "dibao", "rural", "2025-10-01",
      [M("head", "M", 42, wage=2800), M("spouse", "F", 40, "410526"), M("son", "M", 15),
       M("daughter", "F", 12), M("mother", "F", 70)],
      "Cross-province: the head works in Tianjin (120116); wages by exchange.", farm=200),
    H("B02", "dibao", "rural", "2025-10-15",
      [M("head", "M", 61), M("spouse", "F", 59), M("grandson", "M", 10)],
      "Medical spending spike: small outpatient bills in Jan and Feb, then an inpatient "
      "stay settled 2026-03-21 with 14,400 yuan out of pocket (> 10,000). His February "
      "outpatient row is re-sent in the March file (exact duplicate).", farm=400),
    H("B03", "dibao", "rural", "2025-11-01",
      [M("head", "M", 58), M("spouse", "F", 56), M("son", "M", 29, wage=2300),
       M("daughter_in_law", "F", 27, "130425")],
      "Birth: a granddaughter is born 2026-02-03; roster adds her 2026-03-02.", farm=200),
    H("B04", "dibao", "rural", "2025-12-01", [M("head", "M", 31), M("mother", "F", 58)],
      "Move in: the head's bride moves her registration in from Hua County, Henan "
      "(410526) on 2026-02-16; roster adds her as spouse 2026-02-26.", farm=600),
    H("B05", "dibao", "rural", "2025-10-01",
      [M("head", "M", 52, wage=2300), M("spouse", "F", 50), M("son", "M", 17),
       M("father", "M", 78)],
      "Earner death: the head (only earner, Handan employer) dies 2026-03-05; employment "
      "ended the same day; roster removes him 2026-04-10. His January base is re-sent in "
      "the February file (exact duplicate)."),
    H("B06", "dibao", "rural", "2025-11-01",
      [M("head", "F", 50), M("son", "M", 23), M("father", "M", 76)],
      "Moved away, another city: the son's registration moves to Baoding (130602) on "
      "2026-02-25.", farm=300),
    H("B07", "low_income", "urban", "2025-10-01",
      [M("head", "F", 36, wage=2500), M("spouse", "M", 38), M("son", "M", 9)],
      "Job loss: the head (main earner) is laid off 2026-01-15; unemployment benefit "
      "Feb to Apr (1,674); per-capita income falls under the line.", farm=800),
    H("B08", "dibao", "rural", "2025-11-01",
      [M("head", "M", 50), M("spouse", "F", 48), M("son", "M", 16),
       M("father", "M", 79, pension=1420)],
      "Cross-province death: the father, living with his daughter in Jinan, dies there "
      "2026-02-14 (exchange record from 370102); his pension, the household's only recorded "
      "income, stops after February; roster removes him 2026-03-05.", farm=400),
    H("B09", "dibao", "rural", "2025-12-01",
      [M("head", "F", 54), M("son", "M", 30, wage=2300),
       M("daughter_in_law", "F", 28, "130181"), M("grandson", "M", 6)],
      "Asset: the son registers a car bought for 12.5 wan yuan (125,000) on 2026-03-11.",
      farm=300),
    H("B10", "dibao", "rural", "2025-10-15",
      [M("head", "M", 45, wage=2900), M("spouse", "F", 43), M("daughter", "F", 17),
       M("son", "M", 13), M("mother", "F", 72)],
      "Cross-province: the head works in Tianjin; inpatient there (settled 2026-02-20, "
      "exchange record); his February wage is lower (1,700 instead of 2,900)."),
    H("B11", "low_income", "rural", "2025-11-01",
      [M("head", "M", 52), M("spouse", "F", 50), M("daughter", "F", 24, wage=2600)],
      "Cross-city: the daughter works in Shijiazhuang (130104); wages by exchange. The "
      "head's April vehicle row has its price in yuan in a wan-yuan column.", farm=400),
    H("B12", "dibao", "rural", "2025-10-01",
      [M("head", "F", 41), M("son", "M", 17), M("daughter", "F", 13)],
      "Disability cancelled: the son's hearing certificate (level 4) is cancelled after "
      "re-assessment on 2026-01-12.", farm=300),
    H("B13", "tekun", "rural", "2025-11-01", [M("head", "M", 77)],
      "Background (his March outpatient row has an unknown med_type).", care=300),
    H("B14", "dibao", "urban", "2025-12-01",
      [M("head", "M", 64, pension=1100), M("spouse", "F", 62)],
      "Background: small pension. His February deposit row arrives in GB18030."),
    H("B15", "low_income", "urban", "2025-10-01",
      [M("head", "M", 46, wage=3000), M("spouse", "F", 44, wage=1900), M("son", "M", 18),
       M("daughter", "F", 14)],
      "Background: two earners; a used car for 4.8 wan yuan in February (under any limit)."),
    H("B16", "dibao", "rural", "2025-11-01", [M("head", "F", 69), M("grandson", "M", 15)],
      "Background (her March outpatient row has a negative amount).", farm=200),
    H("B17", "tekun", "urban", "2025-12-01", [M("head", "F", 71)], "Background.", care=200),
    H("B18", "dibao", "rural", "2025-10-01",
      [M("head", "M", 39, "130425", wage=2300), M("spouse", "F", 37, "371522"),
       M("son", "M", 11), M("daughter", "F", 8)],
      "Background: head born in Daming (same city), spouse born in Shandong."),
    H("B19", "low_income", "rural", "2025-11-01",
      [M("head", "M", 60, pension=1600), M("spouse", "F", 58)],
      "Background: pension. His March deposit row carries an ID with an impossible birth "
      "date."),
    H("B20", "dibao", "rural", "2025-12-01",
      [M("head", "M", 47), M("spouse", "F", 45), M("mother", "F", 74)],
      "Background (his April outpatient row is the truncated last line).", farm=500),
]
# fmt: on

# People who join later (not in the enrolment).
BRIDE = M("spouse", "F", 28, "410526")  # B04, moves in 2026-02-16
BABY = M("granddaughter", "F", 0)  # B03, born 2026-02-03

DEATHS = {  # label -> date of death
    "A03/head": dt.date(2026, 1, 20),
    "A04/head": dt.date(2026, 3, 12),
    "B05/head": dt.date(2026, 3, 5),
    "B08/father": dt.date(2026, 2, 14),
}
MOVED_OUT = {  # label -> (date, to region)
    "A05/son": (dt.date(2026, 1, 14), "130123"),
    "B06/son": (dt.date(2026, 2, 25), "130602"),
    "A06/daughter": (dt.date(2026, 3, 20), "371502"),
}

# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------

SURNAMES = "王李张刘杨赵陈孙郭马高何吴周徐朱胡田韩冯董宋魏贾郝史梁崔曹范"
# fmt: off
GIVEN = {
    ("M", "old"): ["建国", "国庆", "志强", "振华", "德明", "金海", "保平", "永刚", "福生",
                   "宝山", "立新", "树林", "玉田", "满仓", "长顺", "春生", "俊峰", "文斌"],
    ("F", "old"): ["秀兰", "桂英", "淑珍", "玉梅", "凤英", "秀英", "桂兰", "素芬", "丽华",
                   "春梅", "金凤", "玉兰", "彩霞", "秀芳", "月娥", "爱玲", "素云", "淑芬"],
    ("M", "mid"): ["磊", "伟", "勇", "鹏", "强", "军", "涛", "亮", "超", "斌", "海涛",
                   "晓东", "永辉", "建波", "立军", "志刚", "红旗", "卫东"],
    ("F", "mid"): ["娜", "静", "丽", "敏", "燕", "霞", "艳", "芳", "晓燕", "丽娜", "海燕",
                   "红梅", "秋月", "雪莲", "丽萍", "晓红", "春燕", "翠萍"],
    ("M", "young"): ["浩然", "子轩", "宇航", "俊杰", "博文", "梓豪", "晨阳", "志远",
                     "一鸣", "天佑", "思源", "家豪", "明哲", "昊天", "嘉乐", "子墨"],
    ("F", "young"): ["欣怡", "梓涵", "雨萱", "诗琪", "佳怡", "思雨", "可欣", "紫涵",
                     "梦瑶", "婉婷", "语桐", "心悦", "一诺", "若汐", "雨彤", "佳琪"],
}
# fmt: on


def given_name(rng: random.Random, sex: str, year: int) -> str:
    era = "old" if year < 1972 else "mid" if year < 2000 else "young"
    return rng.choice(GIVEN[(sex, era)])


# --------------------------------------------------------------------------
# ID numbers
# --------------------------------------------------------------------------


def id_number(rng: random.Random, region: str, birth: dt.date, sex: str, used: set[str]) -> str:
    """A valid 18-character ID: region, birth date, sequence (odd: male), check."""
    while True:
        sequence = 2 * rng.randrange(0, 499) + (1 if sex == "M" else 2)
        first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
        number = first17 + check_character(first17)
        if number not in used:
            used.add(number)
            return validate_id_number(number)


def bad_check_digit(number: str) -> str:
    """DELIBERATE helper: the same number with a wrong check character."""
    right = number[17]
    wrong = next(c for c in "1234567890" if c != right)
    return number[:17] + wrong


def impossible_birth_date(number: str) -> str:
    """DELIBERATE helper: 31 February typed for the birth day, check char recomputed
    so the only fault is the date."""
    first17 = number[:10] + "0231" + number[14:17]
    return first17 + check_character(first17)


def uscc(rng: random.Random, region: str) -> str:
    """A unified social credit code (GB 32100) with valid check characters."""
    org_alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    # organisation part of a code issued since 2015: "MA" and 6 more characters
    body = "MA" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(6))
    # organisation code check (GB 11714) over the 8 characters
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    value = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
    c9 = 11 - sum(value[c] * w for c, w in zip(body, weights, strict=True)) % 11
    org = body + ("X" if c9 == 10 else "0" if c9 == 11 else str(c9))
    first17 = "91" + region + org
    weights18 = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(org_alphabet.index(c) * w for c, w in zip(first17, weights18, strict=True))
    return first17 + org_alphabet[(31 - total % 31) % 31]


# --------------------------------------------------------------------------
# Income streams
# --------------------------------------------------------------------------

EMPLOYERS = {  # AAB001 -> (AAB004 name, AAB301 insuring office)
    "13012600318": ("灵寿县鑫源造纸有限公司", LINGSHOU),
    "13012600542": ("灵寿县万家福超市", LINGSHOU),
    "13012600873": ("灵寿县宏达建材有限公司", LINGSHOU),
    "13012601204": ("灵寿县金石云母制品厂", LINGSHOU),
    "13012600966": ("灵寿县康洁物业服务有限公司", LINGSHOU),
    "13012601377": ("灵寿县顺达汽车修理厂", LINGSHOU),
    "13012600415": ("灵寿县恒昌农机有限公司", LINGSHOU),
    "13010001127": ("石家庄顺捷物流有限公司", "130100"),
    "13010002254": ("石家庄华北机械配件有限公司", "130100"),
    "13042400237": ("成安县永盛纺织有限公司", CHENGAN),
    "13042400618": ("成安县利民食品有限公司", CHENGAN),
    "13042400791": ("成安县宏图建筑工程有限公司", CHENGAN),
    "13042401035": ("成安县锦程服装厂", CHENGAN),
    "13040000483": ("邯郸市兴达钢结构有限公司", "130400"),
    "13040001150": ("邯郸市安泰物流有限公司", "130400"),
}


def span(amount: int, first: str = "202601", last: str = "202604") -> dict[str, int]:
    return {m: amount for m in MONTHS if first <= m <= last}


# (person, employer, {month: contribution base}) -- human resources, monthly CSV
CONTRIBUTIONS = [
    ("A01/head", "13012600318", span(2100, last="202602")),  # job ends 2026-02-27
    ("A02/head", "13012600542", span(1500)),  # Feb corrected to 1,650 in March's file
    ("A02/spouse", "13010001127", span(3600)),  # new job from 2026-01-05
    ("A03/head", "13012600873", span(2300, last="202602")),  # died 01-20: Feb is a conflict
    ("A06/son", "13012601204", span(2300)),
    ("A08/head", "13012600966", span(2300)),
    ("A09/head", "13012601377", span(2600)),
    ("A12/head", "13012600415", span(2600, first="202603")),  # job from 02-23, on benefit
    ("A18/head", "13010002254", span(2800)),
    ("B03/son", "13042400618", span(2300)),
    ("B05/head", "13040000483", span(2300, last="202602")),  # died 03-05
    ("B07/head", "13042400237", span(2500, last="202601")),  # laid off 01-15
    ("B09/son", "13042401035", span(2300)),
    ("B15/head", "13040001150", span(3000)),
    ("B15/spouse", "13042400237", span(1900)),
    ("B18/head", "13042400791", span(2300)),
]

# (person, AAE140, insuring office, {month: amount}) -- pensions 110, unemployment 210
BENEFITS = [
    ("A14/head", "110", LINGSHOU, span(1850)),
    ("A12/head", "210", LINGSHOU, span(1674)),  # still paid while employed: conflict
    ("B07/head", "210", CHENGAN, span(1674, first="202602")),
    ("B08/father", "110", CHENGAN, span(1420, last="202602")),  # died 02-14 in Jinan
    ("B14/head", "110", CHENGAN, span(1100)),
    ("B19/head", "110", CHENGAN, span(1600)),
]

# (person, sending platform, employer, {month: wage}) -- cross-region exchange
EXCHANGE_WAGES = [
    ("A13/son", "110105", "北京鸿运餐饮管理有限公司", span(3100)),
    ("A16/son", "130602", "保定市恒通汽车配件厂", span(2900)),
    ("B01/head", "120116", "天津滨海宏达建筑劳务有限公司", span(2800)),
    (
        "B10/head",
        "120116",
        "天津港安物流有限公司",
        {"202601": 2900, "202602": 1700, "202603": 2900, "202604": 2900},
    ),
    ("B11/daughter", "130104", "石家庄乐购商贸有限公司", span(2600)),
]

# (person, started/ended, employer, date, reason) -- employment changes, interface JSON
EMPLOYMENT = [
    ("A02/spouse", "1", "13010001127", dt.date(2026, 1, 5), None),
    ("B07/head", "2", "13042400237", dt.date(2026, 1, 15), "企业裁员"),
    ("A12/head", "1", "13012600415", dt.date(2026, 2, 23), None),  # while on benefit
    ("A01/head", "2", "13012600318", dt.date(2026, 2, 27), "企业停产"),
    ("B05/head", "2", "13040000483", dt.date(2026, 3, 5), "死亡"),
]

HOSPITALS = {
    LINGSHOU: [
        "灵寿县医院",
        "灵寿县中医院",
        "灵寿县青同镇卫生院",
        "灵寿县慈峪镇卫生院",
        "灵寿县塔上镇卫生院",
        "灵寿县南寨乡卫生院",
    ],
    CHENGAN: [
        "成安县人民医院",
        "成安县中医院",
        "成安县商城镇卫生院",
        "成安县漳河店镇卫生院",
        "成安县李家疃镇卫生院",
        "成安县辛义乡卫生院",
    ],
}
A11_DEPOSITS = {
    "202601": 621_537,
    "202602": 640_210,
    "202603": 13_895_188,
    "202604": 13_910_725,
}  # fen: 6,215.37 ... 139,107.25 yuan
BANKS = {
    LINGSHOU: ["中国农业银行灵寿县支行", "河北灵寿农村商业银行", "中国邮政储蓄银行灵寿县支行"],
    CHENGAN: ["河北成安农村商业银行", "中国邮政储蓄银行成安县支行", "中国农业银行成安县支行"],
}


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def json_yuan(fen: int) -> int | float:
    return fen // 100 if fen % 100 == 0 else round(fen / 100, 2)


def month_of(day: dt.date) -> str:
    return f"{day:%Y%m}"


# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------


@dataclass
class Problem:
    """A DELIBERATE fault, for the README table."""

    file: str
    line: int
    reason_code: str
    what: str


@dataclass
class Output:
    files: dict[str, bytes] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # file -> what is in it
    rows: Counter[str] = field(default_factory=Counter)  # file -> data lines
    expected: Counter[str] = field(default_factory=Counter)  # event kind -> count
    batches: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)


def csv_text(header: list[str], rows: list[list[str]], newline: str = "\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def jsonl_text(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.out = Output()
        self.people: dict[str, Person] = {}
        self.households: dict[str, Household] = {}
        self.used_ids: set[str] = set()
        self._setl_seq = 0

    # --- people ------------------------------------------------------------

    def person(self, p: Person, household: Household, surname: str, label: str) -> None:
        rng = self.rng
        p.label = label
        p.born_in = p.born_in or household.county
        year = 2025 - p.age
        p.birth = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
        p.id = id_number(rng, p.born_in, p.birth, p.sex, self.used_ids)
        p.name = (surname or rng.choice(SURNAMES)) + given_name(rng, p.sex, year)
        assert label not in self.people, label
        self.people[label] = p

    def build_people(self) -> None:
        for h in HOUSEHOLDS:
            h.county = LINGSHOU if h.short.startswith("A") else CHENGAN
            h.case = f"HB{h.county}-{int(h.short[1:]):04d}"
            # Children and grandchildren carry the family (father's) surname; a female
            # head (widowed or alone) and her own father keep hers; spouses, mothers
            # and in-laws have their own.
            family = self.rng.choice(SURNAMES)
            head = family if h.members[0].sex == "M" else self.rng.choice(SURNAMES)
            for p in h.members:
                surname = {
                    "head": head,
                    "father": head,
                    "son": family,
                    "daughter": family,
                    "grandson": family,
                    "granddaughter": family,
                }.get(p.role, "")
                self.person(p, h, surname, f"{h.short}/{p.role}")
            n = len(h.members)
            wages = sum(round(p.wage * 0.8) for p in h.members)  # dibao rules deduct ~20%
            h.declared = h.farm + wages + sum(p.pension + p.unemployment for p in h.members)
            line = LINES[h.area]
            if h.scheme == "dibao":
                h.benefit = max(line * n - h.declared, 0)
                assert h.declared < line * n, h.short
            elif h.scheme == "tekun":
                h.benefit = round(line * 1.3) + h.care
            else:
                h.benefit = 0  # monitored, not paid
                assert line * n <= h.declared <= 1.5 * line * n, h.short
            self.households[h.short] = h
        b04, b03 = self.households["B04"], self.households["B03"]
        self.person(BRIDE, b04, "", "B04/bride")
        BABY.age = 0
        self.person(BABY, b03, self.people["B03/son"].name[0], "B03/baby")
        BABY.birth = dt.date(2026, 2, 3)  # re-issue the ID for the real birth date
        self.used_ids.discard(BABY.id)
        BABY.id = id_number(self.rng, CHENGAN, BABY.birth, "F", self.used_ids)

    def alive_and_here(self, label: str, day: dt.date) -> bool:
        if label in DEATHS and day >= DEATHS[label]:
            return False
        return not (label in MOVED_OUT and day >= MOVED_OUT[label][0])

    def county_of(self, label: str) -> str:
        return self.households[label.split("/")[0]].county

    # --- files -------------------------------------------------------------

    def put(self, name: str, data: bytes, note: str, rows: int) -> None:
        assert name not in self.out.files, name
        self.out.files[name] = data
        self.out.notes[name] = note
        self.out.rows[name] = rows

    def expect(self, kind: str, n: int = 1) -> None:
        self.out.expected[kind] += n

    def problem(self, file: str, line: int, code: str, what: str) -> None:
        self.out.problems.append(Problem(file, line, code, what))
        self.out.expected[f"reject:{code}"] += 1

    # --- civil affairs: the roster ---------------------------------------------

    def roster(self) -> None:
        by_month: dict[str, list[dict[str, object]]] = defaultdict(list)
        for h in HOUSEHOLDS:
            by_month[month_of(h.enrolled)].append(
                {
                    "ywlx": "ENROL",
                    "jzbh": h.case,
                    "xzqh": h.county,
                    "bzlx": {"dibao": "01", "tekun": "02", "low_income": "03"}[h.scheme],
                    "cxlb": "1"
                    if h.area == "urban"
                    else "2",  # not mapped (yet): 1 town, 2 country
                    "ffje": f"{h.benefit}.00",
                    "sbsr": f"{h.declared}.00",
                    "rq": h.enrolled.isoformat(),
                    "cy": [{"sfzh": p.id, "xm": p.name, "yhzgx": p.relation} for p in h.members],
                }
            )
        p = self.people

        def change(
            kind: str,
            short: str,
            day: dt.date,
            who: Person | None = None,
            reason: str | None = None,
            relation: str | None = None,
        ) -> None:
            h = self.households[short]
            row: dict[str, object] = {"ywlx": kind, "jzbh": h.case, "xzqh": h.county}
            if who is not None:
                row.update({"sfzh": who.id, "xm": who.name})
            if relation is not None:
                row["yhzgx"] = relation
            row["rq"] = day.isoformat()
            if reason is not None:
                row["yy"] = reason
            by_month[month_of(day)].append(row)

        change("REMOVE", "A03", dt.date(2026, 2, 15), p["A03/head"], "死亡")
        change("ADD", "B04", dt.date(2026, 2, 26), p["B04/bride"], relation=REL["spouse"])
        change("ADD", "B03", dt.date(2026, 3, 2), p["B03/baby"], relation=REL["grandchild"])
        change("REMOVE", "B08", dt.date(2026, 3, 5), p["B08/father"], "死亡（外省通报）")
        change("EXIT", "A04", dt.date(2026, 4, 2), reason="特困供养对象死亡，终止供养")
        change("REMOVE", "A06", dt.date(2026, 4, 8), p["A06/daughter"], "户籍迁出至外省")
        change("REMOVE", "B05", dt.date(2026, 4, 10), p["B05/head"], "死亡")
        kinds = {
            "ENROL": "roster.enrolled",
            "ADD": "roster.member_added",
            "REMOVE": "roster.member_removed",
            "EXIT": "roster.exited",
        }
        for month in sorted(by_month):
            rows = sorted(by_month[month], key=lambda r: (str(r["rq"]), str(r["jzbh"])))
            for r in rows:
                self.expect(kinds[str(r["ywlx"])])
            counts = Counter(str(r["ywlx"]) for r in rows)
            what = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
            self.put(
                f"roster_{month}.jsonl",
                jsonl_text(rows).encode(),
                f"civil affairs roster (interface): {what}",
                len(rows),
            )

    # --- public security: household registration ----------------------------------

    def hukou(self) -> None:
        header = ["sfzh", "xm", "bdlx", "bdrq", "qhdm", "qcqhdm", "qrqhdm", "fqsfzh", "tjyf", "jls"]
        p = self.people
        events: list[tuple[dt.date, str, Person, str, str, str, str]] = []
        # (date, code, person, registering office, from, to, parent)
        for label, day in DEATHS.items():
            if label != "B08/father":  # died in Shandong: reported by exchange, not here
                events.append((day, "02", p[label], self.county_of(label), "", "", ""))
        for label, (day, to) in MOVED_OUT.items():
            home = self.county_of(label)
            events.append((day, "04", p[label], home, home, to, ""))
        events.append((dt.date(2026, 2, 3), "01", p["B03/baby"], CHENGAN, "", "", p["B03/son"].id))
        events.append((dt.date(2026, 2, 16), "03", p["B04/bride"], CHENGAN, "410526", CHENGAN, ""))
        files: dict[dt.date, list[list[str]]] = defaultdict(list)
        counts: Counter[tuple[str, str]] = Counter()
        kinds = {
            "01": "registration.birth",
            "02": "registration.death",
            "03": "registration.moved_in",
            "04": "registration.moved_out",
        }
        for day, code, who, office, frm, to, parent in sorted(events, key=lambda e: e[0]):
            exported = day + dt.timedelta(days=1)  # the daily batch of the next morning
            files[exported].append(
                [who.id, who.name, code, f"{day:%Y%m%d}", office, frm, to, parent, "", ""]
            )
            counts[(office, month_of(day))] += 1
            self.expect(kinds[code])
        # Code 99: the month's batch is complete, one row per county, in the file of
        # the 1st of the next month. jls counts that county's change records.
        for month in MONTHS:
            y, m = int(month[:4]), int(month[4:])
            closing = dt.date(y + (m == 12), m % 12 + 1, 1)
            for county in (LINGSHOU, CHENGAN):
                files[closing].append(
                    [
                        "",
                        "",
                        "99",
                        f"{closing:%Y%m%d}",
                        county,
                        "",
                        "",
                        "",
                        month,
                        str(counts[(county, month)]),
                    ]
                )
                self.expect("batch.end")
        self.out.batches["public_security (hukou 99 rows)"] = {
            (c, m): counts[(c, m)] for m in MONTHS for c in (LINGSHOU, CHENGAN)
        }
        names = {
            "01": "birth",
            "02": "death",
            "03": "moved in",
            "04": "moved out",
            "99": "end of batch",
        }
        for day in sorted(files):
            rows = files[day]
            what = ", ".join(names[r[2]] for r in rows)
            self.put(
                f"hukou_{day:%Y%m%d}.csv",
                csv_text(header, rows).encode(),
                f"public security daily batch: {what}",
                len(rows),
            )

    # --- human resources ---------------------------------------------------------

    def social_insurance(self) -> None:
        p = self.people
        contrib_header = ["AAB301", "AAB001", "AAB004", "AAC002", "AAC003", "AAE003", "AAE180"]
        benefit_header = ["AAB301", "AAC002", "AAC003", "AAE140", "AAE003", "AAE019"]
        counts: Counter[tuple[str, str]] = Counter()
        contrib: dict[str, list[list[str]]] = defaultdict(list)
        benefit: dict[str, list[list[str]]] = defaultdict(list)
        for label, employer, amounts in CONTRIBUTIONS:
            name, office = EMPLOYERS[employer]
            for month, amount in amounts.items():
                contrib[month].append(
                    [office, employer, name, p[label].id, p[label].name, month, f"{amount}.00"]
                )
                counts[(office, month)] += 1
        for label, code, office, amounts in BENEFITS:
            for month, amount in amounts.items():
                benefit[month].append(
                    [office, p[label].id, p[label].name, code, month, f"{amount}.00"]
                )
                counts[(office, month)] += 1
        for month in MONTHS:
            contrib[month].sort(key=lambda r: (r[0], r[1], r[3]))
            benefit[month].sort(key=lambda r: (r[0], r[3], r[1]))
        self.expect("income.wage", sum(len(v) for v in contrib.values()))
        for rows in benefit.values():
            for r in rows:
                self.expect("income.pension" if r[3] == "110" else "income.unemployment_benefit")
        # Exact duplicates (NOT rejects): the February export re-sends two January
        # rows unchanged -- same natural key, same content, same event id.
        jan = contrib["202601"]
        resent = [r for r in jan if r[3] in (p["A01/head"].id, p["B05/head"].id)]
        assert len(resent) == 2
        contrib["202602"].extend(list(r) for r in resent)
        self.expect("income.wage", 2)
        # A correction (NOT a reject): March's file carries A02's head's February base
        # again with a different amount (1,500 -> 1,650): same event id, new content.
        feb = next(r for r in contrib["202602"] if r[3] == p["A02/head"].id)
        corrected = list(feb)
        corrected[6] = "1650.00"
        contrib["202603"].append(corrected)
        self.expect("income.wage")
        for month in MONTHS:
            name = f"si_contrib_{month}.csv"
            extra = {
                "202602": "; last 2 rows re-send January rows (exact duplicates)",
                "202603": "; last row corrects a February base",
            }.get(month, "")
            self.put(
                name,
                csv_text(contrib_header, contrib[month]).encode(),
                f"social insurance contribution bases for {month}{extra}",
                len(contrib[month]),
            )
            name = f"si_benefit_{month}.csv"
            self.put(
                name,
                csv_text(benefit_header, benefit[month]).encode(),
                f"pensions (110) and unemployment benefit (210) paid for {month}",
                len(benefit[month]),
            )
        # End of batch: one control row per insuring office and month, counting the
        # office's contribution and benefit records of that month (each once).
        offices = sorted({office for office, _ in counts})
        closing = {
            "202601": "2026-02-06 17:42:10",
            "202602": "2026-03-06 18:05:33",
            "202603": "2026-04-07 17:58:02",
            "202604": "2026-05-07 18:21:47",
        }
        for month in MONTHS:
            rows = [[o, month, str(counts[(o, month)]), closing[month]] for o in offices]
            self.put(
                f"eob_si_{month}.csv",
                csv_text(["AAB301", "AAE003", "JLS", "WCSJ"], rows).encode(),
                f"social insurance end of batch for {month}, one row per insuring office",
                len(rows),
            )
            self.expect("batch.end", len(rows))
        self.out.batches["human_resources (eob_si)"] = {
            (o, m): counts[(o, m)] for m in MONTHS for o in offices
        }
        # Employment changes, through the interface.
        by_month: dict[str, list[dict[str, object]]] = defaultdict(list)
        for label, change, employer, day, reason in EMPLOYMENT:
            name, office = EMPLOYERS[employer]
            row: dict[str, object] = {
                "aac002": p[label].id,
                "aac003": p[label].name,
                "aab001": employer,
                "aab004": name,
                "aab301": office,
                "bglx": change,
                "bgrq": f"{day:%Y%m%d}",
            }
            if reason:
                row["tgyy"] = reason
            by_month[month_of(day)].append(row)
            self.expect("employment.started" if change == "1" else "employment.ended")
        for month in sorted(by_month):
            changes = sorted(by_month[month], key=lambda r: (str(r["bgrq"]), str(r["aac002"])))
            what = ", ".join("started" if r["bglx"] == "1" else "ended" for r in changes)
            self.put(
                f"employment_{month}.jsonl",
                jsonl_text(changes).encode(),
                f"employment changes (interface): {what}",
                len(changes),
            )

    # --- medical insurance ----------------------------------------------------------

    def settlement(
        self,
        label: str,
        when: dt.datetime,
        med_type: str,
        total: int,
        fund: int,
        hospital: str,
        bigill: str = "0",
    ) -> dict[str, str]:
        who = self.people[label]
        county = self.county_of(label)
        self._setl_seq += 1
        return {
            "setl_id": f"{county}{when:%Y%m%d}{self._setl_seq:06d}",
            "certno": who.id,
            "psn_name": who.name,
            "insuplc_admdvs": county,
            "fixmedins_name": hospital,
            "med_type": med_type,
            "setl_time": f"{when:%Y-%m-%d %H:%M:%S}",
            "medfee_sumamt": yuan(total),
            "fund_pay_sumamt": yuan(fund),
            "psn_cash_pay": yuan(total - fund),
            "bigill_flag": bigill,
        }

    def medical(self) -> None:
        rng = self.rng
        T = dt.datetime
        s = self.settlement
        story = [
            # A07 spouse: dialysis (14 = chronic/special outpatient) monthly, and two
            # inpatient stays with the major-illness flag.
            s(
                "A07/spouse",
                T(2026, 1, 12, 10, 31, 5),
                "21",
                1_860_000,
                1_490_000,
                "河北医科大学第二医院",
                "1",
            ),
            s("A07/spouse", T(2026, 1, 28, 15, 2, 44), "14", 586_040, 498_134, "灵寿县医院"),
            s("A07/spouse", T(2026, 2, 26, 14, 47, 19), "14", 586_040, 498_134, "灵寿县医院"),
            s(
                "A07/spouse",
                T(2026, 3, 16, 9, 55, 30),
                "21",
                2_130_000,
                1_705_000,
                "河北医科大学第二医院",
                "1",
            ),
            s("A07/spouse", T(2026, 3, 27, 16, 10, 2), "14", 586_040, 498_134, "灵寿县医院"),
            s("A07/spouse", T(2026, 4, 28, 15, 36, 51), "14", 586_040, 498_134, "灵寿县医院"),
            # A08 father: a stroke (admitted 02-05, discharged and settled 02-19), rehab.
            s("A08/father", T(2026, 1, 9, 9, 12, 40), "11", 12_600, 6_300, "灵寿县慈峪镇卫生院"),
            s(
                "A08/father",
                T(2026, 2, 19, 10, 12, 33),
                "21",
                2_680_000,
                2_010_000,
                "河北医科大学第二医院",
            ),
            s("A08/father", T(2026, 3, 24, 11, 5, 9), "14", 38_000, 23_000, "灵寿县中医院"),
            s("A08/father", T(2026, 4, 21, 10, 48, 26), "14", 38_000, 23_000, "灵寿县中医院"),
            # A04's only member, before his death.
            s("A04/head", T(2026, 1, 20, 8, 51, 17), "11", 4_800, 2_400, "灵寿县塔上镇卫生院"),
            s("A04/head", T(2026, 3, 3, 9, 20, 58), "11", 6_400, 3_200, "灵寿县塔上镇卫生院"),
            # B02 head: small bills, then an inpatient stay with 14,400 out of pocket.
            s("B02/head", T(2026, 1, 14, 10, 3, 21), "11", 8_500, 4_500, "成安县商城镇卫生院"),
            s("B02/head", T(2026, 2, 10, 9, 41, 7), "11", 13_200, 6_600, "成安县商城镇卫生院"),
            s("B02/head", T(2026, 3, 21, 11, 26, 45), "21", 5_860_000, 4_420_000, "邯郸市中心医院"),
            s("B02/head", T(2026, 4, 15, 15, 17, 3), "11", 21_000, 11_500, "成安县人民医院"),
        ]
        # Background: small outpatient bills (general outpatient, code 11) of other
        # members, four per county and month.
        story_people = {"A07/spouse", "A08/father", "A04/head", "B02/head"}
        background: list[dict[str, str]] = []
        for month in MONTHS:
            y, m = int(month[:4]), int(month[4:])
            for county in (LINGSHOU, CHENGAN):
                pool = [
                    label
                    for label in self.people
                    if self.county_of(label) == county
                    and label not in story_people
                    and label not in ("B03/baby",)
                ]
                for label in rng.sample(pool, 4):
                    when = T(
                        y,
                        m,
                        rng.randint(1, 28),
                        rng.randint(8, 16),
                        rng.randint(0, 59),
                        rng.randint(0, 59),
                    )
                    if not self.alive_and_here(label, when.date()):
                        continue
                    total = rng.randint(25, 380) * 100 + rng.choice((0, 50))
                    fund = round(total * rng.choice((0.4, 0.45, 0.5, 0.55, 0.6)))
                    background.append(
                        s(label, when, "11", total, fund, rng.choice(HOSPITALS[county][2:]))
                    )
        # DELIBERATE problems, one row each, for members whose loss changes no story.
        bad = {
            # wrong check character in certno -> id_check_digit
            "202601": [
                (
                    "id_check_digit",
                    "certno has a wrong check character",
                    s(
                        "A20/head",
                        T(2026, 1, 17, 9, 6, 12),
                        "11",
                        6_650,
                        3_325,
                        "灵寿县南寨乡卫生院",
                    ),
                )
            ],
            # letter O typed for a zero in the total -> bad_number
            "202602": [
                (
                    "bad_number",
                    "medfee_sumamt '1O6.50' (letter O for zero)",
                    s(
                        "A19/head",
                        T(2026, 2, 11, 10, 15, 40),
                        "11",
                        10_650,
                        5_325,
                        "灵寿县青同镇卫生院",
                    ),
                )
            ],
            # med_type 99 is not in the code table -> unknown_code; and a sign error
            # in the out-of-pocket amount -> out_of_range (negative)
            "202603": [
                (
                    "unknown_code",
                    "med_type 99 (not in 11/14/21/22)",
                    s(
                        "B13/head",
                        T(2026, 3, 9, 14, 22, 31),
                        "11",
                        9_200,
                        4_600,
                        "成安县漳河店镇卫生院",
                    ),
                ),
                (
                    "out_of_range",
                    "psn_cash_pay negative (sign error at the source)",
                    s(
                        "B16/head",
                        T(2026, 3, 18, 8, 44, 3),
                        "11",
                        6_400,
                        3_200,
                        "成安县辛义乡卫生院",
                    ),
                ),
            ],
            # a runaway hospital-name field of > 4,096 characters -> oversized_field;
            # the export cut off in its last line -> truncated
            "202604": [
                (
                    "oversized_field",
                    "fixmedins_name of 4,100+ characters",
                    s("A15/head", T(2026, 4, 8, 10, 30, 0), "11", 15_800, 7_900, "灵寿县医院"),
                ),
                (
                    "truncated",
                    "last line cut off after 7 of 11 columns (no newline)",
                    s(
                        "B20/head",
                        T(2026, 4, 27, 16, 2, 18),
                        "11",
                        7_300,
                        3_650,
                        "成安县李家疃镇卫生院",
                    ),
                ),
            ],
        }
        header = list(story[0])
        counts: Counter[tuple[str, str]] = Counter()
        resend = None
        for month in MONTHS:
            prefix = f"{month[:4]}-{month[4:]}"
            rows = [r for r in story + background if r["setl_time"].startswith(prefix)]
            problems = bad[month]
            for code, _, row in problems:
                if code == "id_check_digit":
                    row["certno"] = bad_check_digit(row["certno"])
                elif code == "bad_number":
                    row["medfee_sumamt"] = "1O6.50"
                elif code == "unknown_code":
                    row["med_type"] = "99"
                elif code == "out_of_range":
                    row["fund_pay_sumamt"] = "102.50"
                    row["psn_cash_pay"] = "-38.50"
                elif code == "oversized_field":
                    row["fixmedins_name"] += "；备注：" + "重复上传，请核对。" * 460
            ordinary = list(rows)
            ordinary += [row for code, _, row in problems if code != "truncated"]
            ordinary.sort(key=lambda r: (r["setl_time"], r["setl_id"]))
            for r in ordinary + [row for code, _, row in problems if code == "truncated"]:
                counts[(r["insuplc_admdvs"], month)] += 1
            if month == "202603":
                # Exact duplicate (NOT a reject): B02's February outpatient row re-sent.
                resend = next(
                    r
                    for r in story
                    if r["certno"] == self.people["B02/head"].id
                    and r["setl_time"].startswith("2026-02")
                )
                ordinary.append(dict(resend))
            text = csv_text(header, [list(r.values()) for r in ordinary], newline="\r\n")
            name = f"setl_{month}.csv"
            trunc = [row for code, _, row in problems if code == "truncated"]
            if trunc:
                full = csv_text(header, [list(trunc[0].values())], "\r\n").split("\r\n")[1]
                cut = full[: full.index(trunc[0]["setl_time"]) + 9]  # ...,2026-04-2
                text += cut
            lines = text.split("\r\n")
            for code, what, row in problems:
                line = next(i for i, t in enumerate(lines, start=1) if row["setl_id"] in t)
                self.problem(name, line, code, what)
            n = len(ordinary) + len(trunc)
            self.expect("medical.settlement", len(ordinary) - (len(problems) - len(trunc)))
            extra = "; last row re-sends a February row (exact duplicate)" * (month == "202603")
            self.put(
                name,
                text.encode(),
                f"medical settlements settled in {month} "
                f"(CRLF line ends, extra column fixmedins_name){extra}",
                n,
            )
        # DELIBERATE: an empty daily export (0 bytes) -> empty_file
        self.put("setl_20260415.csv", b"", "an empty daily export (0 bytes)", 0)
        self.problem("setl_20260415.csv", 0, "empty_file", "0-byte file")
        closing = {
            "202601": "2026-02-02 01:20:00",
            "202602": "2026-03-02 01:20:00",
            "202603": "2026-04-02 01:20:00",
            "202604": "2026-05-02 01:20:00",
        }
        for month in MONTHS:
            eob = [[c, month, str(counts[(c, month)]), closing[month]] for c in (LINGSHOU, CHENGAN)]
            self.put(
                f"eob_setl_{month}.csv",
                csv_text(["insuplc_admdvs", "stt_month", "setl_cnt", "fin_time"], eob).encode(),
                f"medical settlements end of batch for {month}, per insuring region",
                len(eob),
            )
            self.expect("batch.end", len(eob))
        self.out.batches["medical_insurance (eob_setl)"] = {
            (c, m): counts[(c, m)] for m in MONTHS for c in (LINGSHOU, CHENGAN)
        }

    # --- disabled persons' federation ---------------------------------------------

    def disability(self) -> None:
        p = self.people
        records = [
            ("B12/son", "CANCEL", "2", "四级", dt.date(2026, 1, 12)),
            ("A17/daughter", "CERT", "5", "四级", dt.date(2026, 1, 20)),
            ("A08/father", "CERT", "4", "二级", dt.date(2026, 3, 18)),
        ]
        by_month: dict[str, list[dict[str, object]]] = defaultdict(list)
        levels = {"一级": "1", "二级": "2", "三级": "3", "四级": "4"}
        for label, action, category, level, day in records:
            who = p[label]
            by_month[month_of(day)].append(
                {
                    "idCard": who.id,
                    "name": who.name,
                    "action": action,
                    "category": category,
                    "level": level,
                    "certDate": day.isoformat(),
                    # second-generation certificate number: ID number + category + level
                    "certNo": who.id + category + levels[level],
                    "areaCode": self.county_of(label),
                }
            )
            self.expect("disability.certified" if action == "CERT" else "disability.cancelled")
        for month in sorted(by_month):
            rows = by_month[month]
            what = ", ".join(f"{r['action']} level {r['level']}" for r in rows)
            self.put(
                f"cdpf_{month}.jsonl",
                jsonl_text(rows).encode(),
                f"disability certificates (interface): {what}",
                len(rows),
            )

    # --- assets ---------------------------------------------------------------

    def assets(self) -> None:
        p, rng = self.people, self.rng
        # Housing: one apartment.
        a09 = p["A09/head"]
        self.put(
            "bdc_202602.csv",
            csv_text(
                ["bdcdyh", "qlrzjh", "qlrmc", "zl", "djrq", "jzmj", "qhdm"],
                [
                    [
                        "130126001003GB00217F00030052",
                        a09.id,
                        a09.name,
                        "灵寿县灵寿镇滨河小区3号楼2单元502室",
                        "2026-02-10",
                        "89.60",
                        LINGSHOU,
                    ]
                ],
            ).encode(),
            "real estate registrations: an apartment",
            1,
        )
        self.expect("asset.property")
        # Vehicles: price in wan yuan.
        header = ["hphm", "syrzjhm", "clpp", "ccdjrq", "gcjg", "qhdm"]
        b15, a18, b09, b11 = p["B15/head"], p["A18/head"], p["B09/son"], p["B11/head"]
        feb = [
            ["冀DK3H57", b15.id, "大众牌", "20260208", "4.8", CHENGAN],
            # DELIBERATE: 30 February -> bad_date
            ["冀AB6T21", a18.id, "五菱牌", "20260230", "3.6", LINGSHOU],
        ]
        self.put(
            "jdc_202602.csv",
            csv_text(header, feb).encode(),
            "vehicle registrations: a used car for 4.8 wan yuan; a row dated 20260230",
            2,
        )
        self.problem("jdc_202602.csv", 3, "bad_date", "ccdjrq 20260230 (30 February)")
        self.expect("asset.vehicle")
        self.put(
            "jdc_202603.csv",
            csv_text(
                header, [["冀DF8M92", b09.id, "比亚迪牌", "20260311", "12.5", CHENGAN]]
            ).encode(),
            "vehicle registrations: a car for 12.5 wan yuan (125,000)",
            1,
        )
        self.expect("asset.vehicle")
        # DELIBERATE: price typed in yuan into the wan-yuan column (68000 wan yuan =
        # 680,000,000 yuan, above the mapping's max) -> out_of_range
        self.put(
            "jdc_202604.csv",
            csv_text(
                header, [["冀DL0Q36", b11.id, "长安牌", "20260416", "68000", CHENGAN]]
            ).encode(),
            "vehicle registrations: a price typed in yuan instead of wan yuan",
            1,
        )
        self.problem(
            "jdc_202604.csv",
            2,
            "out_of_range",
            "gcjg 68000 wan yuan (yuan typed in a wan-yuan column) above max",
        )
        # Market regulation: a company, capital in wan yuan.
        a10 = p["A10/son"]
        self.put(
            "scjg_202601.csv",
            csv_text(
                ["tyshxydm", "qymc", "fddbrzjhm", "zczb", "clrq", "djjg_qhdm"],
                [
                    [
                        uscc(rng, LINGSHOU),
                        "灵寿县鑫达石材有限公司",
                        a10.id,
                        "50",
                        "2026-01-22",
                        LINGSHOU,
                    ]
                ],
            ).encode(),
            "company registrations: capital 50 wan yuan",
            1,
        )
        self.expect("asset.company")
        # Banks: month-end balances in fen; UTF-8 with a BOM (an Excel-style export).
        holders = [
            "A01/head",
            "A05/head",
            "A07/head",
            "A09/head",
            "A11/head",
            "A14/head",
            "B01/spouse",
            "B02/head",
            "B07/head",
            "B11/head",
            "B14/head",
            "B19/head",
        ]
        bank_of = {h: rng.choice(BANKS[self.county_of(h)]) for h in holders}
        balance = {h: rng.randint(300, 15_000) * 100 + rng.randint(0, 99) for h in holders}
        header = ["zjhm", "khxm", "yhmc", "tjyf", "ye", "qhdm"]
        for month in MONTHS:
            tjyf = f"{month[:4]}-{month[4:]}"
            rows: list[list[str]] = []
            for h in holders:
                balance[h] = max(0, balance[h] + rng.randint(-40_000, 60_000))
                if h == "A11/head":  # land compensation paid in March: over any limit
                    balance[h] = A11_DEPOSITS[month]
                who = p[h]
                rows.append(
                    [who.id, who.name, bank_of[h], tjyf, str(balance[h]), self.county_of(h)]
                )
            rows.sort(key=lambda r: (r[5], r[2], r[0]))
            name = f"ck_{tjyf}.csv"
            lines = csv_text(header, rows).encode().split(b"\n")
            note = "deposit balances in fen (UTF-8 with BOM)"
            if month == "202602":
                # DELIBERATE: one sub-system's row arrives GB18030-encoded -> encoding
                i = next(i for i, r in enumerate(rows) if r[0] == p["B14/head"].id) + 1
                lines[i] = csv_text(header, [rows[i - 1]]).split("\n")[1].encode("gb18030")
                self.problem(name, i + 1, "encoding", "a row in GB18030, not UTF-8")
                note += "; one row in GB18030"
            elif month == "202603":
                # DELIBERATE: ID number with 31 February as birth date -> id_birth_date
                i = next(i for i, r in enumerate(rows) if r[0] == p["B19/head"].id) + 1
                rows[i - 1][0] = impossible_birth_date(rows[i - 1][0])
                lines[i] = csv_text(header, [rows[i - 1]]).split("\n")[1].encode()
                self.problem(name, i + 1, "id_birth_date", "zjhm with birth date xxxx0231")
                note += "; one ID with an impossible birth date"
            elif month == "202604":
                # DELIBERATE: the balance is missing -> missing_value
                i = next(i for i, r in enumerate(rows) if r[0] == p["A05/head"].id) + 1
                rows[i - 1][4] = ""
                lines[i] = csv_text(header, [rows[i - 1]]).split("\n")[1].encode()
                self.problem(name, i + 1, "missing_value", "ye (balance) empty")
                note += "; one row without a balance"
            self.expect("asset.deposit", len(rows) - 1 if month != "202601" else len(rows))
            self.put(name, b"\xef\xbb\xbf" + b"\n".join(lines), note, len(rows))

    # --- cross-region exchange ------------------------------------------------------

    def exchange(self) -> None:
        p = self.people
        by_month: dict[str, list[dict[str, object]]] = defaultdict(list)
        counts: Counter[tuple[str, str]] = Counter()
        for label, platform, employer, amounts in EXCHANGE_WAGES:
            who = p[label]
            for month, amount in amounts.items():
                by_month[month].append(
                    {
                        "sjlx": "WAGE",
                        "zjhm": who.id,
                        "xm": who.name,
                        "ssqh": platform,
                        "ny": month,
                        "je": amount,
                        "dw": employer,
                    }
                )
                counts[(platform, month)] += 1
                self.expect("income.wage")
        b10, b08 = p["B10/head"], p["B08/father"]
        by_month["202602"].append(
            {
                "sjlx": "SETL",
                "zjhm": b10.id,
                "xm": b10.name,
                "ssqh": "120116",
                "sjrq": "2026-02-20",
                "jsid": "120116ZY20260220004172",
                "zfy": json_yuan(980_000),
                "jjzf": json_yuan(610_000),
                "grzf": json_yuan(370_000),
                "jzlx": "ZY",
            }
        )
        counts[("120116", "202602")] += 1
        self.expect("medical.settlement")
        by_month["202602"].append(
            {
                "sjlx": "DEATH",
                "zjhm": b08.id,
                "xm": b08.name,
                "ssqh": "370102",
                "sjrq": "2026-02-14",
            }
        )
        counts[("370102", "202602")] += 1
        self.expect("registration.death")
        self.out.batches["exchange (sjlx EOB)"] = dict(sorted(counts.items()))
        for month in MONTHS:
            rows = sorted(
                by_month[month],
                key=lambda r: (str(r["sjlx"]) != "WAGE", str(r["ssqh"]), str(r["zjhm"])),
            )
            y, m = int(month[:4]), int(month[4:])
            closing = dt.date(y + (m == 12), m % 12 + 1, 3).isoformat()
            eobs = [
                {"sjlx": "EOB", "ssqh": platform, "ny": month, "sjrq": closing, "jls": n}
                for (platform, mm), n in sorted(counts.items())
                if mm == month
            ]
            text = jsonl_text(rows)
            note = "cross-region exchange: wages"
            if month == "202602":
                note += ", a settlement (Tianjin), a death (Jinan)"
            if month == "202604":
                # DELIBERATE: the transfer broke off in the last record: Tianjin's
                # end-of-batch line is cut mid-way (no closing brace) -> bad_json.
                # Tianjin's April batch therefore never closes by count.
                tianjin = next(e for e in eobs if e["ssqh"] == "120116")
                eobs.remove(tianjin)
                text += jsonl_text(eobs)
                cut = jsonl_text([tianjin]).rstrip("\n")
                text += cut[: cut.index('"sjrq"') + 17]
                self.problem(
                    f"xch_{month}.jsonl",
                    len(rows) + len(eobs) + 1,
                    "bad_json",
                    "Tianjin's end-of-batch record cut off mid-line",
                )
                note += "; end of batch per platform, Tianjin's cut off"
                self.expect("batch.end", len(eobs))
                n = len(rows) + len(eobs) + 1
            else:
                text += jsonl_text(eobs)
                note += "; end of batch per sending platform"
                self.expect("batch.end", len(eobs))
                n = len(rows) + len(eobs)
            self.put(f"xch_{month}.jsonl", text.encode(), note, n)

    # --- all -------------------------------------------------------------------

    def run(self) -> Output:
        self.build_people()
        self.roster()
        self.hukou()
        self.social_insurance()
        self.medical()
        self.disability()
        self.assets()
        self.exchange()
        return self.out


# --------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------

ROLE_EN = {
    "head": "head",
    "spouse": "spouse",
    "son": "son",
    "daughter": "daughter",
    "mother": "mother",
    "father": "father",
    "grandson": "grandson",
    "granddaughter": "granddaughter",
    "daughter_in_law": "daughter-in-law",
    "mother_in_law": "mother-in-law",
}


def readme(out: Output) -> str:
    w: list[str] = []
    add = w.append
    add("# Sample department files\n")
    add(
        "Raw files as the departments deliver them, for two counties of Hebei in two "
        "prefecture cities: **Lingshou County (130126, Shijiazhuang)** and **Cheng'an County "
        "(130424, Handan)**. Forty assisted households enrolled in late 2025; monthly records "
        "for 2026-01 to 2026-04 from every department mapped in `config/connectors/`.\n"
    )
    add(
        "Written by `scripts/make_sample_data.py` (seeded: running it again gives "
        "byte-identical files, this README included). Do not edit by hand; change the "
        "generator and run\n"
    )
    add("```\n.venv/bin/python scripts/make_sample_data.py\n```\n")
    add(
        "Everything is invented. Names and ID numbers exist only in the raw files "
        "(this README names nobody); the ID numbers are valid in form (region of first "
        "registration, birth date, sequence, MOD 11-2 check character) and belong to no one. "
        "Most people were first registered in their county; some elsewhere (Daming 130425, "
        "Xingtang 130125, Xinji 130181, Fuping 130624, Shandong 371522, Henan 410526).\n"
    )
    add("Read them with `lifeline run` (all files) or `lifeline connect FILE`.\n")
    add("## Files\n")
    add("All in `departments/` (flat). Rows are data lines (header excluded).\n")
    add("| file | rows | content |\n| --- | ---: | --- |")
    for name in sorted(out.files):
        add(f"| `{name}` | {out.rows[name]} | {out.notes[name]} |")
    total = sum(len(d) for d in out.files.values())
    add(f"\n{len(out.files)} files, {sum(out.rows.values())} rows, {total:,} bytes.\n")
    add(
        "Format details worth knowing: bank files (`ck_*`) start with a UTF-8 BOM; medical "
        "settlement files (`setl_*`) have CRLF line ends; some files carry columns the "
        "mappings do not read (`AAB004` employer name, `fixmedins_name` hospital, `zl` "
        "address, `clpp` make, `qymc` company name, `aab004`, and the roster's `cxlb`: "
        "1 town, 2 countryside, which says which local line applies). Amounts: `ye` in fen, "
        "`gcjg` and `zczb` in wan yuan, everything else in yuan.\n"
    )
    add("## Households\n")
    add(
        "Local line: 760 yuan/person/month in town, 600 in the countryside. Declared "
        "income = farm/other income + 80% of wages (the dibao rules deduct work costs) + "
        "pensions and benefits. Dibao benefit = line x members - declared income; tekun = "
        "1.3 x line + care allowance; low-income households (1 to 1.5 x line) are monitored, "
        "not paid.\n"
    )
    add("| case | scheme | area | members | benefit | declared | story |")
    add("| --- | --- | --- | --- | ---: | ---: | --- |")
    for h in HOUSEHOLDS:
        members = ", ".join(f"{ROLE_EN[p.role]} {p.age}" for p in h.members)
        add(
            f"| {h.case} | {h.scheme} | {'town' if h.area == 'urban' else 'country'} | "
            f"{members} | {h.benefit} | {h.declared} | {h.story} |"
        )
    add("")
    add(
        "Later joiners: the bride of HB130424-0004 (moved in 2026-02-16, added 2026-02-26) "
        "and the granddaughter of HB130424-0003 (born 2026-02-03, added 2026-03-02).\n"
    )
    add("## Stories to detect\n")
    for line in STORIES:
        add(f"- {line}")
    add("")
    add("## Deliberate problems\n")
    add(
        "Each produces exactly one reject (line 0: the whole file). Duplicates and the "
        "correction are **not** rejects: the re-sent rows give the same event id and "
        "fingerprint, the correction the same event id with a new fingerprint.\n"
    )
    add("| file | line | expected reason | problem |\n| --- | ---: | --- | --- |")
    for pr in sorted(out.problems, key=lambda x: (x.file, x.line)):
        add(f"| `{pr.file}` | {pr.line} | `{pr.reason_code}` | {pr.what} |")
    add("\nNot rejects:\n")
    add(
        "- `si_contrib_202602.csv`: its last two rows re-send two January rows unchanged "
        "(HB130126-0001 head, HB130424-0005 head)."
    )
    add(
        "- `si_contrib_202603.csv`: its last row corrects the February base of "
        "HB130126-0002's head (1,500 -> 1,650)."
    )
    add(
        "- `setl_202603.csv`: its last row re-sends HB130424-0002 head's February "
        "outpatient settlement unchanged.\n"
    )
    add("## End-of-batch counts\n")
    add(
        "Each department closes a month per region: human resources per insuring office "
        "(`eob_si_*`), medical insurance per insuring region (`eob_setl_*`), public security "
        "with `bdlx = 99` rows in the daily file of the 1st of the next month, the exchange "
        "with an `EOB` record per sending platform. The count is the number of records the "
        "department exported for that region and month, each once: a re-sent row or a "
        "correction does not count again, but a row the connector rejects does (the "
        "department did send it), so medical batches holding a rejected row stay one short "
        "of their count. Zero counts are real (nothing happened that month). The "
        "`eob_si` count covers the office's `si_contrib` and `si_benefit` rows only, not the "
        "employment changes that arrive by interface (same department and region). Tianjin's "
        "(120116) April `EOB` record is the line cut off in `xch_202604.jsonl`, so that batch "
        "never closes by count.\n"
    )
    for dept, counts in out.batches.items():
        cells = ", ".join(f"{r} {m}: {n}" for (r, m), n in counts.items())
        add(f"- {dept}: {cells}")
    add("")
    add("## Expected result of reading every file\n")
    add("| kind | count |\n| --- | ---: |")
    for kind, n in sorted(out.expected.items()):
        add(f"| {kind} | {n} |")
    add(
        "\n(Event counts include the three re-sent rows and the correction; "
        "`reject:` rows are rejects by reason code.)"
    )
    return "\n".join(w) + "\n"


STORIES = [
    "**Income drop / job loss** (help): HB130126-0001, the only earner's employment ends "
    "2026-02-27; no contribution base for March and April.",
    "**Income above the line** (review): HB130126-0002, a new job from 2026-01-05 puts "
    "per-capita income at about 1,700 > 760 for January to April.",
    "**Earner death** (help): HB130424-0005 (death 2026-03-05, no wages after February); "
    "also HB130126-0003 and HB130424-0008 (the father's pension was the only recorded "
    "income).",
    "**Wages after a recorded death** (data): HB130126-0003, death 2026-01-20, "
    "contribution base reported for February.",
    "**Employment while receiving unemployment benefit** (data): HB130126-0012, job from "
    "2026-02-23 with contribution bases for March and April while the benefit is paid to "
    "April.",
    "**Job loss, fell under the line** (help): HB130424-0007 (low-income), laid off "
    "2026-01-15, unemployment benefit from February.",
    "**Medical spending spike** (help): HB130424-0002, 14,400 yuan out of pocket for one "
    "inpatient stay in March (> 10,000); HB130126-0008 (stroke, 6,700 in February); "
    "HB130126-0007 (major illness, dialysis every month).",
    "**Disability onset** (help): HB130126-0008, level 2 physical, 2026-03-18. A level-4 "
    "certificate (HB130126-0017) and a cancellation (HB130424-0012) should not alert as onset.",
    "**Sole member died** (review, urgent): HB130126-0004, 2026-03-12; roster exit 2026-04-02.",
    "**Moved away** (review): HB130126-0005 same city (130123, 2026-01-14); HB130424-0006 "
    "another city (130602, 2026-02-25); HB130126-0006 another province (371502, "
    "2026-03-20).",
    "**Assets** (review): property HB130126-0009 (2026-02-10); company HB130126-0010 "
    "(500,000 yuan, 2026-01-22); vehicle 125,000 yuan HB130424-0009 (2026-03-11); deposits "
    "about 139,000 yuan HB130126-0011 (from March). The 48,000-yuan used car of "
    "HB130424-0015 is under any value limit.",
    "**Cross-region records**: wages from Beijing 110105 (HB130126-0013) and Tianjin "
    "120116 (HB130424-0001, HB130424-0010) are cross-province; from Baoding 130602 "
    "(HB130126-0016) and Shijiazhuang 130104 (HB130424-0011) cross-city; a Tianjin inpatient "
    "settlement (HB130424-0010); a death reported from Jinan 370102 (HB130424-0008).",
    "**Side effects that may rightly alert**: HB130424-0010's February wage is 41% lower "
    "(hospital stay); HB130424-0008 loses its only recorded income (the pension) when the "
    "father dies; HB130126-0012's income rises above the line for March and April only (two "
    "months, not three).",
    "**Life events without alerts of their own**: a birth (HB130424-0003) and a move in from "
    "Henan (HB130424-0004), each followed by a roster addition.",
]


def write(out_dir: Path, out: Output, text: str) -> None:
    departments = out_dir / "departments"
    departments.mkdir(parents=True, exist_ok=True)
    for old in sorted(departments.iterdir()):
        if old.is_file() and old.name not in out.files:
            old.unlink()
    for name in sorted(out.files):
        (departments / name).write_bytes(out.files[name])
    (out_dir / "README.md").write_bytes(text.encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "samples",
        help="output folder (default: samples/ of the repository)",
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed ({SEED})")
    args = parser.parse_args(argv)
    gen = Generator(args.seed)
    out = gen.run()
    write(args.out, out, readme(out))
    size = sum(len(d) for d in out.files.values())
    print(
        f"wrote {len(out.files)} files ({sum(out.rows.values())} rows, {size:,} bytes) "
        f"to {args.out / 'departments'}, and {args.out / 'README.md'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
