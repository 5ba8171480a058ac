"""benchmarks/nab_run.py on two small NAB files, cut to 1,100 rows (a few seconds).

Checks NAB's results layout (the original scorer reads the same files), that
every row was scored in [0, 1] and labelled by the windows, and that the
summary and the plot are written and parse; the scores themselves are the
benchmark's to report.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks import nab_run, nab_score

FILES = ("realAdExchange/exchange-3_cpc_results.csv", "realAdExchange/exchange-3_cpm_results.csv")
DETECTORS = ("lifelineSeries", "lifelineBaseline", "lifelineHST", "null")
ROWS = 1100  # exchange-3_cpm's window (rows 1045-1197) is cut at the last row


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    corpus = nab_score.NAB_CORPUS
    if not (corpus / "labels" / "combined_windows.json").exists():
        pytest.fail(f"the NAB corpus is not at {corpus}: put it at ../shared/nab or set NAB_CORPUS")
    out = tmp_path_factory.mktemp("nab")
    nab_run.main(
        [
            "--match", "exchange-3_",
            "--limit-files", "2",
            "--max-rows", str(ROWS),
            "--results", str(out / "raw"),
            "--summary", str(out / "nab.json"),
            "--plot", str(out / "nab.png"),
            "--workers", "1",
        ]
    )  # fmt: skip
    return orjson.loads((out / "nab.json").read_bytes()), out


def test_results_are_in_nab_layout(run: tuple[dict[str, Any], Path]) -> None:
    _, out = run
    windows = nab_score.read_windows(nab_score.NAB_CORPUS / "labels" / "combined_windows.json")
    for detector in DETECTORS:
        for data_file in FILES:
            path = out / "raw" / detector / "realAdExchange" / f"{detector}_{data_file[15:]}"
            with path.open(newline="") as handle:
                rows = list(csv.DictReader(handle))
            assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
            assert len(rows) == ROWS
            assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
            times = [nab_score.parse_time(r["timestamp"]) for r in rows]
            labels = nab_score.in_window_labels(times, windows[data_file])
            assert [int(r["label"]) for r in rows] == labels
            assert 0 < sum(labels) < ROWS


def test_the_summary_parses_and_scores_every_detector(run: tuple[dict[str, Any], Path]) -> None:
    summary, out = run
    assert (summary["files"], summary["rows"], summary["max_rows"]) == (2, 2 * ROWS, ROWS)
    assert set(summary["detectors"]) == set(DETECTORS)
    assert summary["published"]["ARTime"]["standard"] == 74.9
    for name, detector in summary["detectors"].items():
        for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
            result = detector["profiles"][profile]
            assert set(result) >= {"score", "threshold", "raw_score", "counts"}
            assert result["counts"]["total"] == 2 * (ROWS - 165)  # 15 % probationary
            if name == "null":
                assert result["score"] == 0.0
    assert summary["detectors"]["lifelineSeries"]["state_floats"] == 67
    windows = nab_score.read_windows(nab_score.NAB_CORPUS / "labels" / "combined_windows.json")
    rescored = nab_score.score_detector(out / "raw", "lifelineSeries", windows)["standard"]
    reported = summary["detectors"]["lifelineSeries"]["profiles"]["standard"]
    assert (round(rescored.score, 2), rescored.threshold) == (
        reported["score"],
        reported["threshold"],
    )
    assert (out / "nab.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    per_file = orjson.loads((out / "raw" / "scores.json").read_bytes())
    assert set(per_file["lifelineHST"]["standard"]["files"]) == set(FILES)
