"""The detection-quality benchmark end to end on two small worlds (about 15 s).

benchmarks/quality.py --smoke: a default and a differently mixed world of 400
households over 20 months, replayed and scored, with the IsolationForest and
random baselines. Checks the result file's shape and that its figures are
sane; the figures themselves are the benchmark's to report, not asserted here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks import quality

SCORE_FIELDS = {
    "detector", "alerts", "right", "labels", "found", "precision", "recall", "f1",
    "days_to_alert_median", "days_to_alert_p90", "alerts_per_1000_households_month",
}  # fmt: skip


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("quality")
    quality.main(["--smoke", "--out", str(out), "--jobs", "2"])
    return orjson.loads((out / "quality.json").read_bytes()), out


def _sane(score: dict[str, Any]) -> None:
    assert SCORE_FIELDS <= set(score)
    for metric in ("precision", "recall", "f1"):
        assert 0 <= score[metric] <= 1, (score["detector"], metric, score[metric])
    assert 0 <= score["right"] <= score["alerts"]
    assert 0 <= score["found"] <= score["labels"]
    assert score["alerts_per_1000_households_month"] >= 0
    for days in ("days_to_alert_median", "days_to_alert_p90"):
        assert score[days] is None or score[days] >= 0
    if score["days_to_alert_median"] is not None:
        assert score["days_to_alert_median"] <= score["days_to_alert_p90"]


def test_result_file_names_its_worlds_configs_and_seeds(smoke: tuple[dict[str, Any], Path]) -> None:
    result, _ = smoke
    assert result["preset"] == "smoke" and result["target"] == 0.9
    assert result["config_versions"] and all(result["config_versions"])
    assert "code_version" in result
    assert [w["kind"] for w in result["worlds"]] == ["default", "mixed"]
    assert set(result["simulator_configs"]) == {"default", "mixed"}
    hashes = {c["sha256"] for c in result["simulator_configs"].values()}
    assert len(hashes) == 2
    for world in result["worlds"]:
        assert world["seed"] == 1 and world["households"] >= 400 and world["months"] == 20
        assert world["labels"] > 0 and world["events"] > 0
        assert world["seconds"]["replay"] > 0


def test_every_score_is_sane_and_caseworkers_get_alerts(smoke: tuple[dict[str, Any], Path]) -> None:
    result, _ = smoke
    for world in result["worlds"]:
        assert world["caseworker_load"]["alerts_per_1000_households_month"] > 0
        assert sum(world["caseworker_load"]["by_direction"].values()) > 0
        rules = {n: s for n, s in world["detectors"].items() if n != "unusual_trajectory"}
        assert rules and any(s["alerts"] > 0 for s in rules.values())
        for score in [*world["detectors"].values(), *world["models"].values()]:
            _sane(score)
        for below in result["rules_below_target"]:
            assert min(below["precision"], below["recall"]) < result["target"]


def test_baselines_flag_as_many_households_as_the_river_model(
    smoke: tuple[dict[str, Any], Path],
) -> None:
    result, _ = smoke
    flagged = 0
    for world in result["worlds"]:
        models = world["models"]
        assert set(models) == {"unusual_trajectory", "isolation_forest", "random"}
        river = models["unusual_trajectory"]["alerts"]
        # The same budget per region and month (fewer only if too few households are eligible).
        assert 0 < models["isolation_forest"]["alerts"] <= river
        assert 0 < models["random"]["alerts"] <= river
        assert models["isolation_forest"]["labels"] == models["unusual_trajectory"]["labels"]
        flagged += river
    assert flagged > 0


def test_the_mixed_world_differs_in_events_and_noise(smoke: tuple[dict[str, Any], Path]) -> None:
    default, mixed = smoke[0]["worlds"]
    per_household = [w["labels"] / w["households"] for w in (default, mixed)]
    assert per_household[1] > per_household[0]
    assert (
        mixed["noise"]["duplicates"] / mixed["events"]
        > default["noise"]["duplicates"] / default["events"]
    )


def test_plots_are_written(smoke: tuple[dict[str, Any], Path]) -> None:
    _, out = smoke
    for name in ("quality-precision-recall.png", "quality-alert-volume.png", "quality-models.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
