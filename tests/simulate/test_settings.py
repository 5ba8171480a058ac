"""The simulator config is checked at load, and the files follow the mappings by construction."""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from pathlib import Path

import pytest

from connectors.mapping import Catalog
from connectors.simulate import SimulatorError, SimulatorSettings, load_simulator_settings, simulate
from tests.simulate.conftest import CONFIG, REPO_ROOT, ingest


def write_config(tmp_path: Path, old: str, new: str) -> Path:
    text = CONFIG.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new)
    text = text.replace(
        'lifeline = "lifeline.toml"', f'lifeline = "{REPO_ROOT}/config/lifeline.toml"'
    )
    text = text.replace(
        'connectors = "connectors"', f'connectors = "{REPO_ROOT}/config/connectors"'
    )
    path = tmp_path / "simulator.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"130126" = 0.55', '"110105" = 0.55', "region '110105' is not a region of"),
        ("seasonal_share = 0.25", "seasonal_share = 1.5", "Expected `float` <= 1"),
        ("seasonal_share = 0.25", "seasonal_shares = 0.25", "unknown field `seasonal_shares`"),
        (
            "dibao_per_capita = [0.2, 0.8]",
            "dibao_per_capita = [0.8, 0.2]",
            "low 0.8 is above high 0.2",
        ),
        (
            'same_city = ["130123",',
            'same_city = ["410526",',
            "'410526' is cross_province of 130126",
        ),
        (
            '\n[layouts."banks/balances"]',
            '\n[layouts."banks/other"]\ncadence = "monthly"\nstem = "%Y%m"\n[layouts."banks/balances"]',
            "no such department layout (known: ",
        ),
        ('stem = "%Y-%m"', 'stem = "%Y"', None),
        (
            'late_kinds = ["income.wage"]\nlate_delay_days = [3, 20]\nextra_columns = { AAC003',
            'late_kinds = ["income.pension"]\nlate_delay_days = [3, 20]\nextra_columns = { AAC003',
            "late_kinds: the layout has no kind 'income.pension'",
        ),
        (
            'extra_columns = { khxm = "name" }',
            'extra_columns = { khxm = "nickname" }',
            "'nickname' (valid: name, ",
        ),
        ('extra_columns = { khxm = "name" }', 'extra_columns = { ye = "name" }', "already mapped"),
    ],
)
def test_a_bad_config_names_the_file_and_the_field(
    tmp_path: Path, old: str, new: str, message: str | None
) -> None:
    path = write_config(tmp_path, old, new)
    if message is None:  # a stem that still names a file of the layout is fine
        load_simulator_settings(path)
        return
    with pytest.raises(SimulatorError) as caught:
        load_simulator_settings(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_every_layout_needs_a_delivery(tmp_path: Path) -> None:
    text = CONFIG.read_text(encoding="utf-8")
    start = text.index('[layouts."vehicles/registrations"]')
    end = text.index("[layouts.", start + 10)
    path = write_config(tmp_path, text[start:end], "")
    with pytest.raises(SimulatorError, match=r'no \[layouts."vehicles/registrations"\]'):
        load_simulator_settings(path)


def test_a_renamed_column_is_followed(settings: SimulatorSettings, tmp_path: Path) -> None:
    mappings = tmp_path / "connectors"
    shutil.copytree(REPO_ROOT / "config" / "connectors", mappings)
    path = mappings / "human_resources.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('"AAE180"', '"JFJS"'), "utf-8")
    renamed = dataclasses.replace(settings, catalog=Catalog.load(mappings))
    summary = simulate(renamed, 30, 14, 5, tmp_path / "world")
    header = (
        (tmp_path / "world" / "departments" / "si_contrib_202301.csv").read_text().split("\n")[0]
    )
    assert "JFJS" in header.split(",") and "AAE180" not in header
    world = ingest(tmp_path / "world", renamed.catalog, summary)
    assert Counter(r.reason_code for r in world.rejects) == Counter(summary.noise["malformed"])
    assert world.of_kind("income.wage")
