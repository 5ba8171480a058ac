"""Simulator settings: ``config/simulator.toml`` validated into frozen structs.

Every number of the world model lives in that file. It is read once, with
:func:`engine.config.load_toml`, then checked against the engine settings
(regions, local lines) and the department mappings it renders into, so a
mistake stops the load with a message naming the file and the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import msgspec

from connectors.mapping import Catalog, Layout, MappingError
from engine.config import ConfigError, Settings, load_settings, load_toml
from engine.events import EVENT_TYPES
from engine.identity import RegionRelation, is_valid_region, region_relation

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "simulator.toml"

Share = Annotated[float, msgspec.Meta(ge=0, le=1)]
Weight = Annotated[float, msgspec.Meta(ge=0)]
Yearly = Annotated[float, msgspec.Meta(ge=0, le=2)]
Yuan = Annotated[float, msgspec.Meta(ge=0, le=10_000_000)]
Scheme = Literal["dibao", "tekun", "low_income"]
Template = Literal[
    "elderly_single",
    "elderly_couple",
    "couple_children",
    "single_parent",
    "three_generations",
    "grandparents_grandchildren",
    "adult_alone",
    "parent_adult_child",
]
Cadence = Literal["monthly", "daily", "interface", "end_of_batch"]
# What an unmapped column a department sends may hold (names are masked by the mappings).
EXTRA_SOURCES = (
    "name",
    "employer_name",
    "hospital",
    "address",
    "vehicle_brand",
    "company_name",
    "certificate_number",
)
Malformation = Literal["id_check_digit", "bad_date", "bad_number", "unknown_code", "truncated"]

# The life events the simulator injects, in the order they are drawn (events
# with few eligible households first, so that others do not use them up).
LIFE_EVENTS = (
    "employment_while_unemployed",
    "sole_member_death",
    "fell_under_line",
    "income_above_line",
    "wages_after_death",
    "earner_death",
    "member_death_other",
    "job_loss",
    "income_drop",
    "birth",
    "disability_onset",
    "illness",
    "deposit_over_limit",
    "moved_same_city",
    "moved_cross_city",
    "moved_cross_province",
    "property",
    "vehicle",
    "vehicle_cheap",
    "company",
)


def _check_range(name: str, pair: tuple[float, float]) -> None:
    if pair[0] > pair[1]:
        raise ValueError(f"{name}: low {pair[0]:g} is above high {pair[1]:g}")


def _check_keys(name: str, table: dict[str, float], valid: tuple[str, ...]) -> None:
    for key in valid:
        if key not in table:
            raise ValueError(f"{name}: no value for '{key}' (needs {', '.join(valid)})")
    for key in table:
        if key not in valid:
            raise ValueError(f"{name}: unknown key '{key}' (valid: {', '.join(valid)})")


class Population(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    region_weights: dict[str, Weight]
    scheme_weights: dict[Scheme, Weight]
    templates: dict[Scheme, dict[Template, Weight]]
    urban_share: Share
    born_elsewhere_share: Share
    born_other_province_share: Share
    enrolled_days_before_start: Annotated[int, msgspec.Meta(ge=1, le=3650)]
    late_enrolments_per_year: Yearly
    exits_per_year: Yearly

    def __post_init__(self) -> None:
        if not any(self.region_weights.values()):
            raise ValueError("region_weights: at least one weight must be above 0")
        if not any(self.scheme_weights.values()):
            raise ValueError("scheme_weights: at least one weight must be above 0")
        for scheme, weight in self.scheme_weights.items():
            if weight > 0 and not any(self.templates.get(scheme, {}).values()):
                raise ValueError(
                    f"templates.{scheme}: scheme has weight {weight:g} but no template"
                )


class Income(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    dibao_per_capita: tuple[float, float]
    low_income_per_capita: tuple[float, float]
    min_wage: Yuan
    max_wage: Yuan
    two_earner_share: Share
    student_share: Share
    employee_pension_share: dict[str, Share]
    employee_pension: tuple[float, float]
    residents_pension: tuple[float, float]
    unemployment_share: Share
    unemployment_benefit: tuple[float, float]
    city_office_share: Share
    cross_region_share: Share
    cross_region_split: dict[str, Weight]
    employers_per_county: Annotated[int, msgspec.Meta(ge=1, le=10000)]
    employers_per_place: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    other_income: tuple[float, float]
    tekun_care: tuple[float, float]

    def __post_init__(self) -> None:
        for name in (
            "dibao_per_capita",
            "low_income_per_capita",
            "employee_pension",
            "residents_pension",
            "unemployment_benefit",
            "other_income",
            "tekun_care",
        ):
            _check_range(name, getattr(self, name))
        if self.min_wage > self.max_wage:
            raise ValueError("min_wage is above max_wage")
        _check_keys("employee_pension_share", self.employee_pension_share, ("urban", "rural"))
        _check_keys(
            "cross_region_split",
            self.cross_region_split,
            ("same_city", "cross_city", "cross_province"),
        )


class Noise(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    seasonal_share: Share
    seasonal_months: list[Annotated[int, msgspec.Meta(ge=1, le=12)]]
    wage_variation: Annotated[float, msgspec.Meta(ge=0, le=0.5)]
    missing_month_rate: Share
    late_wage_share: Share
    duplicate_share: Share
    correction_share: Share
    correction_kinds: list[str]
    malformed_share: Share
    malformed_reasons: list[Malformation]
    malformed_skip_kinds: list[str] = []


class Background(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    outpatient_per_month: dict[str, Share]
    second_claim_share: Share
    chronic_share: Share
    outpatient_cost: tuple[float, float]
    fund_share: tuple[float, float]
    deposit_account_share: Share
    spouse_account_share: Share
    deposit_balance: tuple[float, float]
    deposit_balance_cap: Share
    minor_disability_per_year: Yearly

    def __post_init__(self) -> None:
        for name in ("outpatient_cost", "fund_share", "deposit_balance"):
            _check_range(name, getattr(self, name))
        _check_keys(
            "outpatient_per_month", self.outpatient_per_month, ("child", "adult", "elderly")
        )


class EventRates(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Yearly probability per ELIGIBLE household (see docs/simulation.md)."""

    employment_while_unemployed: Yearly
    sole_member_death: Yearly
    fell_under_line: Yearly
    income_above_line: Yearly
    wages_after_death: Yearly
    earner_death: Yearly
    member_death_other: Yearly
    job_loss: Yearly
    income_drop: Yearly
    birth: Yearly
    disability_onset: Yearly
    illness: Yearly
    deposit_over_limit: Yearly
    moved_same_city: Yearly
    moved_cross_city: Yearly
    moved_cross_province: Yearly
    property: Yearly
    vehicle: Yearly
    vehicle_cheap: Yearly
    company: Yearly


class Events(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    warmup_months: Annotated[int, msgspec.Meta(ge=12, le=120)]
    tail_months: Annotated[int, msgspec.Meta(ge=0, le=24)]
    deposit_limit: Yuan
    vehicle_value_limit: Yuan
    rates: EventRates


class Places(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where people of one monitored county work, move and were born."""

    city_office: str
    same_city: Annotated[list[str], msgspec.Meta(min_length=1)]
    cross_city: Annotated[list[str], msgspec.Meta(min_length=1)]
    cross_province: Annotated[list[str], msgspec.Meta(min_length=1)]


class LayoutDelivery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How and when one department layout's files are delivered."""

    cadence: Cadence
    stem: str  # strftime pattern that replaces the '*' of the layout's first glob
    time: str = "09:00"
    delay_days: tuple[int, int] = (0, 0)
    end_of_batch: str | None = None
    late_kinds: list[str] = []
    late_delay_days: tuple[int, int] = (3, 20)
    extra_columns: dict[str, str] = {}

    def __post_init__(self) -> None:
        _check_range("delay_days", self.delay_days)
        _check_range("late_delay_days", self.late_delay_days)
        if self.delay_days[0] < 0:
            raise ValueError("delay_days must not be negative")
        if self.late_delay_days[0] < 1:
            raise ValueError("late_delay_days must start at 1 or more (after the end of batch)")
        try:
            dt.datetime.strptime(self.time, "%H:%M")
        except ValueError:
            raise ValueError(f"time must be HH:MM, got {self.time!r}") from None

    @property
    def clock(self) -> dt.time:
        hours, minutes = self.time.split(":")
        return dt.time(int(hours), int(minutes))


class SimulatorParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The content of config/simulator.toml."""

    population: Population
    places: dict[str, Places]
    place_names: dict[str, str]
    layouts: dict[str, LayoutDelivery]
    income: Income
    noise: Noise
    background: Background
    events: Events
    lifeline: str = "lifeline.toml"
    connectors: str = "connectors"


class SimulatorError(ConfigError):
    """The simulator config is wrong; the message names the file and the field."""


@dataclass(frozen=True)
class SimulatorSettings:
    """Everything a simulation needs: its parameters, the regions and the mappings."""

    params: SimulatorParams
    engine: Settings
    catalog: Catalog

    def layout(self, key: str) -> tuple[str, Layout]:
        department, name = key.split("/", 1)
        layout = next(lo for lo in self.catalog.mappings[department].layouts if lo.name == name)
        return department, layout

    def layout_for_kind(self, department: str, kind: str) -> str:
        """The ``department/layout`` key of the one layout that carries ``kind``."""
        keys = [
            f"{department}/{layout.name}"
            for layout in self.catalog.mappings[department].layouts
            if kind in layout.kinds
        ]
        if len(keys) != 1:
            raise SimulatorError(
                f"department '{department}' needs exactly one layout for '{kind}', found {keys}"
            )
        return keys[0]

    def line(self, region: str, residence: str) -> float:
        found = self.engine.region(region)
        assert found is not None
        return found.urban_line if residence == "urban" else found.rural_line


def load_simulator_settings(path: Path = DEFAULT_CONFIG) -> SimulatorSettings:
    """Read and check config/simulator.toml, the engine settings and the mappings it names."""
    params = load_toml(path, SimulatorParams, SimulatorError, what="simulator config")
    try:
        engine = load_settings(path.parent / params.lifeline)
        catalog = Catalog.load(path.parent / params.connectors)
    except (ConfigError, MappingError) as exc:
        raise SimulatorError(f"{path}: {exc}") from None
    settings = SimulatorSettings(params, engine, catalog)
    _check(path, settings)
    return settings


def _check(path: Path, settings: SimulatorSettings) -> None:
    params = settings.params

    def fail(message: str) -> NoReturn:
        raise SimulatorError(f"{path}: {message}")

    monitored = [r.code for r in settings.engine.regions]
    for code in params.population.region_weights:
        if code not in monitored:
            fail(
                f"population.region_weights: region '{code}' is not a region of "
                f"{params.lifeline} (valid: {', '.join(monitored)})"
            )
        if code not in params.places:
            fail(f'places: no [places."{code}"] for region {code} of population.region_weights')
    for code, places in params.places.items():
        expected = {
            "same_city": RegionRelation.SAME_CITY,
            "cross_city": RegionRelation.CROSS_CITY,
            "cross_province": RegionRelation.CROSS_PROVINCE,
        }
        lists = {"same_city": [*places.same_city, places.city_office]}
        lists.update(cross_city=places.cross_city, cross_province=places.cross_province)
        for name, codes in lists.items():
            for other in codes:
                if not is_valid_region(other):
                    fail(f"places.{code}.{name}: '{other}' is not a 6-digit region code")
                if region_relation(code, other) != expected[name]:
                    relation = region_relation(code, other).value
                    fail(f"places.{code}.{name}: '{other}' is {relation} of {code}, not {name}")
                if other not in params.place_names:
                    fail(f"place_names: no name for region '{other}' (used in places.{code})")
        if code not in params.place_names:
            fail(f"place_names: no name for region '{code}'")
    for name in ("correction_kinds", "malformed_skip_kinds"):
        for kind in getattr(params.noise, name):
            if kind not in EVENT_TYPES:
                fail(
                    f"noise.{name}: unknown kind '{kind}' (valid: {', '.join(sorted(EVENT_TYPES))})"
                )
    _check_layouts(settings, fail)


def _check_layouts(settings: SimulatorSettings, error: Callable[[str], NoReturn]) -> None:
    params = settings.params
    known = {
        f"{dept}/{layout.name}": layout
        for dept, mapping in sorted(settings.catalog.mappings.items())
        for layout in mapping.layouts
    }
    for key in known:
        if key not in params.layouts:
            error(f'layouts: no [layouts."{key}"]: say how the simulator delivers its files')
    sample = dt.date(2026, 3, 15)
    for key, delivery in params.layouts.items():
        where = f'layouts."{key}"'
        if key not in known:
            error(f"{where}: no such department layout (known: {', '.join(known)})")
        layout = known[key]
        department = key.split("/", 1)[0]
        pattern = layout.files[0]
        if pattern.count("*") != 1:
            error(f"{where}: the layout's first file glob '{pattern}' must hold exactly one '*'")
        for stem in (sample.strftime(delivery.stem), sample.strftime(delivery.stem) + "_late1"):
            name = pattern.replace("*", stem)
            try:
                found = settings.catalog.layout_for(name)
            except MappingError as exc:
                error(f"{where}: stem '{delivery.stem}' gives '{name}': {exc}")
            if found != (department, layout):
                error(f"{where}: stem '{delivery.stem}' gives '{name}', read by another layout")
        if delivery.cadence == "daily" and delivery.delay_days[0] != delivery.delay_days[1]:
            error(f"{where}: a daily batch has one fixed delay; delay_days must be equal")
        if delivery.end_of_batch is not None:
            target = known.get(delivery.end_of_batch)
            if target is None or "batch.end" not in target.kinds:
                error(
                    f"{where}: end_of_batch '{delivery.end_of_batch}' is not a layout "
                    "with a batch.end kind"
                )
            if delivery.end_of_batch != key and (
                params.layouts.get(delivery.end_of_batch, delivery).cadence != "end_of_batch"
            ):
                error(f"{where}: end_of_batch '{delivery.end_of_batch}' needs cadence end_of_batch")
        for kind in delivery.late_kinds:
            if kind not in layout.kinds:
                error(f"{where}: late_kinds: the layout has no kind '{kind}'")
        if delivery.late_kinds and delivery.end_of_batch is None:
            error(f"{where}: late_kinds need an end_of_batch to be late after")
        if delivery.late_kinds and delivery.cadence != "monthly":
            error(f"{where}: late_kinds are for monthly batches only")
        columns = {spec.column for spec in layout.fields.values()}
        columns |= {spec.column for kind in layout.kinds.values() for spec in kind.fields.values()}
        for column, source in delivery.extra_columns.items():
            if column in columns:
                error(f"{where}: extra column '{column}' is already mapped to an event field")
            if source not in EXTRA_SOURCES:
                error(
                    f"{where}: extra column '{column}' holds unknown '{source}' "
                    f"(valid: {', '.join(EXTRA_SOURCES)})"
                )
    groups: dict[str, list[str]] = {}
    for key, delivery in params.layouts.items():
        if delivery.end_of_batch and delivery.end_of_batch != key:
            groups.setdefault(delivery.end_of_batch, []).append(key)
    for eob, members in groups.items():
        first = params.layouts[members[0]]
        for other in members[1:]:
            there = params.layouts[other]
            if (there.cadence, there.delay_days, there.time) != (
                first.cadence,
                first.delay_days,
                first.time,
            ):
                error(
                    f'layouts."{other}": layouts closed by one end_of_batch ({eob}) are '
                    f"one batch: cadence, delay_days and time must equal {members[0]}'s"
                )
        if params.layouts[eob].clock <= first.clock:
            error(f'layouts."{eob}": the end of batch must come after its data ({first.time})')
