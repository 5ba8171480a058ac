"""Invented people: names, valid ID numbers, households of realistic shape.

Everything is made up. ID numbers are valid in form (region of first
registration, birth date, sequence with the sex parity, MOD 11-2 check
character) so the connectors accept them, and unique within a world.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from connectors.simulate.model import Household, Person
from engine.identity import check_character

# fmt: off
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏"
    "卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾"
)
GIVEN = {
    ("M", "old"): ("建国", "国庆", "志强", "振华", "德明", "金海", "保平", "永刚", "福生", "宝山",
                   "立新", "树林", "玉田", "满仓", "长顺", "春生", "俊峰", "文斌", "铁柱",
                   "连生", "广才", "书贵", "凤岐", "兰亭"),
    ("F", "old"): ("秀兰", "桂英", "淑珍", "玉梅", "凤英", "秀英", "桂兰", "素芬", "丽华", "春梅",
                   "金凤", "玉兰", "彩霞", "秀芳", "月娥", "爱玲", "素云", "淑芬", "翠花", "冬梅"),
    ("M", "mid"): ("磊", "伟", "勇", "鹏", "强", "军", "涛", "亮", "超", "斌", "海涛", "晓东",
                   "永辉", "建波", "立军", "志刚", "红旗", "卫东", "国强", "学军", "海军", "春雷"),
    ("F", "mid"): ("娜", "静", "丽", "敏", "燕", "霞", "艳", "芳", "晓燕", "丽娜", "海燕", "红梅",
                   "秋月", "雪莲", "丽萍", "晓红", "春燕", "翠萍", "金玲", "彩云"),
    ("M", "young"): ("浩然", "子轩", "宇航", "俊杰", "博文", "梓豪", "晨阳", "志远", "一鸣", "天佑",
                     "思源", "家豪", "明哲", "昊天", "嘉乐", "子墨", "奕辰", "沐阳"),
    ("F", "young"): ("欣怡", "梓涵", "雨萱", "诗琪", "佳怡", "思雨", "可欣", "紫涵", "梦瑶", "婉婷",
                     "语桐", "心悦", "一诺", "若汐", "雨彤", "佳琪", "梓萱", "安然"),
}
# fmt: on

# GB/T 4761 relation to the head, by normalised relation and sex.
RELATION_CODES = {
    ("head", "M"): "02",
    ("head", "F"): "02",
    ("spouse", "M"): "10",
    ("spouse", "F"): "10",
    ("child", "M"): "20",
    ("child", "F"): "30",
    ("grandchild", "M"): "40",
    ("grandchild", "F"): "40",
    ("parent", "M"): "50",
    ("parent", "F"): "50",
    ("other", "M"): "99",
    ("other", "F"): "99",
}


@dataclass(frozen=True)
class MemberSpec:
    relation: str
    sex: str
    age: int


def given_name(rng: random.Random, sex: str, year: int) -> str:
    era = "old" if year < 1972 else "mid" if year < 2000 else "young"
    return rng.choice(GIVEN[(sex, era)])


class IdNumbers:
    """Issues unique, valid ID numbers."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def issue(self, rng: random.Random, region: str, birth: dt.date, sex: str) -> str:
        while True:
            sequence = 2 * rng.randrange(0, 500) + (1 if sex == "M" else 0)
            first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
            number = first17 + check_character(first17)
            if number not in self._used:
                self._used.add(number)
                return number


def _adult_pair(rng: random.Random, low: int, high: int) -> list[MemberSpec]:
    head = rng.randint(low, high)
    return [
        MemberSpec("head", "M", head),
        MemberSpec("spouse", "F", max(18, head - rng.randint(-2, 5))),
    ]


def _children(rng: random.Random, parent_age: int, count: int, relation: str) -> list[MemberSpec]:
    oldest = max(0, min(parent_age - 20, 26))
    return [MemberSpec(relation, rng.choice("MF"), rng.randint(0, oldest)) for _ in range(count)]


def compose(rng: random.Random, template: str) -> list[MemberSpec]:
    """Members of a household of the given shape: relations, sexes, ages at the start."""
    if template == "elderly_single":
        return [MemberSpec("head", rng.choice("MFF"), rng.randint(62, 92))]
    if template == "elderly_couple":
        return _adult_pair(rng, 62, 86)
    if template == "couple_children":
        pair = _adult_pair(rng, 28, 54)
        return pair + _children(rng, pair[1].age, rng.choice((1, 1, 2, 2, 3)), "child")
    if template == "single_parent":
        head = MemberSpec("head", rng.choice("FFM"), rng.randint(25, 52))
        return [head, *_children(rng, head.age, rng.choice((1, 1, 2)), "child")]
    if template == "three_generations":
        pair = _adult_pair(rng, 30, 52)
        grandparent = MemberSpec("parent", rng.choice("MF"), rng.randint(pair[0].age + 20, 90))
        children = _children(rng, pair[1].age, rng.choice((1, 2, 2, 3)), "child")
        return [*pair, *children, grandparent][:6]
    if template == "grandparents_grandchildren":
        pair = _adult_pair(rng, 56, 76)
        return pair + _children(rng, 30, rng.choice((1, 1, 2)), "grandchild")
    if template == "adult_alone":
        return [MemberSpec("head", rng.choice("MMF"), rng.randint(30, 59))]
    if template == "parent_adult_child":
        head = MemberSpec("head", rng.choice("MF"), rng.randint(50, 78))
        child = MemberSpec("child", rng.choice("MF"), rng.randint(20, head.age - 22))
        return [head, child]
    raise ValueError(f"unknown household template '{template}'")


def make_household(
    rng: random.Random,
    ids: IdNumbers,
    *,
    case: str,
    region: str,
    scheme: str,
    residence: str,
    line: float,
    template: str,
    enrolled: dt.date,
    birthplaces: list[tuple[float, list[str]]],
    reference: dt.date,
) -> Household:
    """A household with named members; ``birthplaces`` are (share, regions) for non-locals."""
    specs = compose(rng, template)
    family = rng.choice(SURNAMES)
    members: list[Person] = []
    for position, spec in enumerate(specs, start=1):
        born = reference - dt.timedelta(days=365 * spec.age + rng.randint(0, 364))
        born_in = region
        draw = rng.random()
        for share, places in birthplaces:
            if spec.relation not in ("child", "grandchild") and draw < share:
                born_in = rng.choice(places)
                break
            draw -= share
        inherits = spec.relation in ("child", "grandchild") or (
            spec.relation == "head" and spec.sex == "M"
        )
        surname = family if inherits else rng.choice(SURNAMES)
        members.append(
            Person(
                id_number=ids.issue(rng, born_in, born, spec.sex),
                name=surname + given_name(rng, spec.sex, born.year),
                sex=spec.sex,
                birth=born,
                relation=spec.relation,
                relation_code=RELATION_CODES[(spec.relation, spec.sex)],
                household=case,
                region=region,
                position=position,
            )
        )
    return Household(
        case=case,
        region=region,
        scheme=scheme,
        residence=residence,
        line=line,
        template=template,
        members=members,
        enrolled=enrolled,
    )


def newborn(
    rng: random.Random, ids: IdNumbers, household: Household, parent: Person, born: dt.date
) -> Person:
    """A baby registered in the household's county, carrying the family surname."""
    sex = rng.choice("MF")
    relation = "grandchild" if parent.relation == "child" else "child"
    father = next(
        (p for p in household.members if p.sex == "M" and p.relation in ("head", "spouse")), None
    )
    surname = (father or parent).name[0]
    return Person(
        id_number=ids.issue(rng, household.region, born, sex),
        name=surname + given_name(rng, sex, born.year),
        sex=sex,
        birth=born,
        relation=relation,
        relation_code=RELATION_CODES[(relation, sex)],
        household=household.case,
        region=household.region,
        position=len(household.members) + 1,
        joined=born,
    )
