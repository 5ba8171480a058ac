"""Same settings, size, seed and start month: byte-identical worlds; another seed: another world."""

from __future__ import annotations

from pathlib import Path

from connectors.simulate import SimulatorSettings, simulate


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_same_seed_gives_the_same_bytes(settings: SimulatorSettings, tmp_path: Path) -> None:
    simulate(settings, 60, 18, 3, tmp_path / "a")
    simulate(settings, 60, 18, 3, tmp_path / "b")
    first, second = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_another_seed_gives_another_world(settings: SimulatorSettings, tmp_path: Path) -> None:
    simulate(settings, 60, 18, 3, tmp_path / "a")
    simulate(settings, 60, 18, 4, tmp_path / "b")
    first, second = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert first["arrivals.jsonl"] != second["arrivals.jsonl"]
    assert first["departments/si_contrib_202301.csv"] != second["departments/si_contrib_202301.csv"]


def test_a_second_run_into_the_same_folder_replaces_the_first(
    settings: SimulatorSettings, tmp_path: Path
) -> None:
    simulate(settings, 30, 14, 1, tmp_path / "w", start_month="2024-01")
    simulate(settings, 30, 14, 1, tmp_path / "w", start_month="2025-01")
    names = {p.name for p in (tmp_path / "w" / "departments").iterdir()}
    assert "si_contrib_202501.csv" in names
    assert "si_contrib_202401.csv" not in names  # the first world's files are gone
