"""Every registered detector, checked the same way (after River's own checks)."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from detectors.base import REGISTRY, build, params_type
from detectors.catalog import load_detectors
from engine.config import ConfigError
from engine.findings import View
from engine.household import new_household

from .factory import ROOT, enrol, event, person, wage

NAMES = sorted(REGISTRY)


def test_every_registered_detector_is_configured() -> None:
    detectors, _ = load_detectors(ROOT / "config" / "detectors.toml")
    assert sorted(d.name for d in detectors) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_builds_from_defaults_clones_and_pickles(name: str) -> None:
    detector = build(name, {}, "test")
    assert repr(detector.clone()) == repr(detector)
    assert repr(pickle.loads(pickle.dumps(detector))) == repr(detector)
    assert detector.direction in ("help", "review", "data")


@pytest.mark.parametrize("name", NAMES)
def test_unknown_or_bad_parameters_fail_at_load_naming_the_detector(name: str) -> None:
    with pytest.raises(ConfigError, match=f"detector '{name}'.*unknown field `surprise`"):
        build(name, {"surprise": 1}, "config/detectors.toml")
    fields = params_type(REGISTRY[name]).__struct_fields__
    if fields:
        with pytest.raises(ConfigError, match=f"config/detectors.toml: detector '{name}'"):
            build(name, {fields[0]: "not a number"}, "config/detectors.toml")


def test_an_unknown_detector_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown detector 'nope'.*income_drop"):
        build("nope", {}, "config/detectors.toml")


def test_ranges_are_checked() -> None:
    with pytest.raises(ConfigError, match="drop"):
        build("income_drop", {"drop": 1.5}, "config/detectors.toml")


@pytest.mark.parametrize("name", NAMES)
def test_quiet_on_a_flat_normal_history(name: str) -> None:
    """A stable two-person household with steady wages: no detector has anything to say."""
    head, spouse = person(31), person(32)
    enrolment = enrol("H1", [(head, "head"), (spouse, "spouse")], when="2023-01-03")
    state = new_household(enrolment, 16)  # type: ignore[arg-type]
    from engine.apply import Context, apply

    months = [f"{2023 + (m // 12)}-{m % 12 + 1:02d}" for m in range(20)]
    apply(state, enrolment, Context(16, 0))
    detector = build(name, {}, "test")
    findings = []
    for index, month in enumerate(months):
        change = apply(state, wage(head, month, 1100.0), Context(16, index - 3))
        findings += detector.on_record(View(state, None, index), wage(head, month, 1100.0), change)
        findings += detector.on_month(View(state, _region(), index), 276 + index)
    assert findings == []


def _region():  # type: ignore[no-untyped-def]
    from engine.config import RegionSettings

    return RegionSettings(code="130126", name="t", city="t", urban_line=760, rural_line=600)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name: str) -> None:
    """The same history gives the same findings, on fresh copies of the detector."""
    head = person(41)
    enrolment = enrol("H1", [(head, "head")], when="2024-01-03")
    from engine.apply import Context, apply

    def run() -> list[object]:
        state = new_household(enrolment, 16)  # type: ignore[arg-type]
        apply(state, enrolment, Context(16, 0))
        detector = copy.deepcopy(build(name, {}, "test"))
        found: list[object] = []
        for e in [
            wage(head, "2024-01", 3000.0),
            event("registration.death", "2024-02-10", person=head),
        ]:
            change = apply(state, e, Context(16, 0))
            found += detector.on_record(View(state, _region(), 0), e, change)
        return found

    assert run() == run()


def test_configured_file_round_trip(tmp_path: Path) -> None:
    text = (ROOT / "config" / "detectors.toml").read_text()
    broken = tmp_path / "detectors.toml"
    broken.write_text(text.replace("min_share = 0.4", "min_share = 4", 1))
    with pytest.raises(ConfigError, match=str(broken)):
        load_detectors(broken)
