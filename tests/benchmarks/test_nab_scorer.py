"""benchmarks/nab_score.py against cases worked out by hand from NAB's rules.

NAB's curve is ``f(p) = 2 / (1 + exp(5 p)) - 1``, which is ``tanh(-5 p / 2)``:
the expected values below are written with ``tanh`` so that they do not
repeat the implementation. Every file here has 20 rows, 5 minutes apart, so
its first 3 rows (``floor(0.15 * 20)``) are probationary, and one window
covering rows 10 to 14 (width 5) unless a case says otherwise.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from benchmarks import nab_score
from benchmarks.nab_score import PROFILES, file_rows, score_corpus, score_file

START = datetime(2015, 3, 1)
TIMES = [START + timedelta(minutes=5 * i) for i in range(20)]
WINDOW = [(TIMES[10], TIMES[14])]
STANDARD = PROFILES["standard"]
F_MINUS_1 = math.tanh(2.5)  # f(-1): a detection on a window's first row


def detections(*rows: int, n: int = 20, score: float = 1.0) -> list[float]:
    return [score if i in rows else 0.0 for i in range(n)]


def standard_score(scores: list[float], windows: list[tuple[datetime, datetime]] = WINDOW) -> float:
    return score_file(file_rows("f.csv", TIMES, scores, windows), STANDARD, 0.5).score


def test_a_detection_on_the_first_row_of_a_window_earns_the_whole_tp_weight() -> None:
    assert standard_score(detections(10)) == pytest.approx(1.0, abs=1e-12)


def test_a_detection_on_the_last_row_of_a_window_earns_little() -> None:
    # p = -(14 - 14 + 1) / 5 = -0.2
    assert standard_score(detections(14)) == pytest.approx(math.tanh(0.5) / F_MINUS_1, abs=1e-12)


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    counts = score_file(file_rows("f.csv", TIMES, detections(11, 12, 14), WINDOW), STANDARD, 0.5)
    # row 11: p = -(14 - 11 + 1) / 5 = -0.8; rows 12 and 14 add nothing (but are TP rows)
    assert counts.score == pytest.approx(math.tanh(2.0) / F_MINUS_1, abs=1e-12)
    assert (counts.tp, counts.fn, counts.windows_detected) == (3, 2, 1)


def test_a_false_positive_before_any_window_costs_the_whole_fp_weight() -> None:
    counts = score_file(file_rows("f.csv", TIMES, detections(5), WINDOW), STANDARD, 0.5)
    assert counts.score == pytest.approx(-0.11 - 1.0, abs=1e-12)  # and the window is missed
    assert (counts.fp, counts.tn, counts.fn, counts.total) == (1, 11, 5, 17)


def test_a_false_positive_after_a_window_is_weighted_by_its_distance() -> None:
    # row 16: p = |14 - 16| / (5 - 1) = 0.5, f(0.5) = tanh(-1.25)
    expected = 0.11 * math.tanh(-1.25)
    assert standard_score(detections(16)) == pytest.approx(-1.0 + expected, abs=1e-12)
    # right after the window a false positive costs almost nothing: row 15, p = 0.25
    assert standard_score(detections(15)) == pytest.approx(-1.0 + 0.11 * math.tanh(-0.625))


def test_three_window_widths_after_a_window_a_false_positive_costs_the_whole_weight() -> None:
    # A window of rows 10 and 11 (width 2): row 14 is at p = 3 / (2 - 1) = 3, where
    # NAB stops the curve (f(3) would be -0.9999994).
    windows = [(TIMES[10], TIMES[11])]
    assert standard_score(detections(14), windows) == -1.0 - 0.11
    assert standard_score(detections(13), windows) == pytest.approx(-1.0 + 0.11 * math.tanh(-5.0))


def test_probationary_rows_are_neither_scored_nor_counted() -> None:
    counts = score_file(file_rows("f.csv", TIMES, detections(0, 1, 2), WINDOW), STANDARD, 0.5)
    assert counts.score == -1.0
    assert (counts.fp, counts.total) == (0, 17)
    assert nab_score.probation_rows(20) == 3
    assert nab_score.probation_rows(10_000) == 750  # 15 %, at most 750 rows


def test_a_missed_window_costs_the_profile_fn_weight() -> None:
    rows = file_rows("f.csv", TIMES, detections(5), WINDOW)
    assert score_file(rows, PROFILES["reward_low_FN_rate"], 0.5).score == pytest.approx(-2.11)
    assert score_file(rows, PROFILES["reward_low_FP_rate"], 0.5).score == pytest.approx(-1.22)


def test_the_null_detector_scores_0_and_a_perfect_one_100() -> None:
    # 200 rows (30 probationary): flagging every row would cost far more than it finds.
    times = [START + timedelta(minutes=5 * i) for i in range(200)]
    windows = [(times[60], times[69]), (times[120], times[129])]
    null = [file_rows("f.csv", times, [0.5] * 200, windows)]  # NAB's null detector
    perfect = [file_rows("f.csv", times, detections(60, 120, n=200), windows)]
    for profile in PROFILES.values():
        nothing = score_corpus(null, profile)
        assert (nothing.score, nothing.raw, nothing.threshold) == (0.0, -2 * profile.fn, 1.1)
        best = score_corpus(perfect, profile)
        assert best.raw == pytest.approx(2.0)
        assert best.score == pytest.approx(100.0)


def test_the_sweep_picks_the_threshold_with_the_best_total() -> None:
    scores = [0.0] * 20
    scores[5] = 0.9  # a false positive before the window: -0.11 from 0.9 down
    scores[11] = 0.8  # the window found at p = -0.8 from 0.8 down
    scores[12] = 0.6  # a later row of the window: changes nothing, a tie with 0.8
    for i in (16, 17, 18, 19):
        scores[i] = 0.5  # false positives after the window: worse from 0.5 down
    rows = file_rows("f.csv", TIMES, scores, WINDOW)
    points = nab_score.sweep([rows], STANDARD)
    assert [p.threshold for p in points] == [1.1, 0.9, 0.8, 0.6, 0.5, 0.0]
    found = math.tanh(2.0) / F_MINUS_1
    assert points[2].score == pytest.approx(found - 0.11)
    result = score_corpus([rows], STANDARD)
    assert result.threshold == 0.8  # the highest of the tied best
    assert result.raw == pytest.approx(found - 0.11)
    assert result.totals.score == pytest.approx(points[2].score)


def test_windows_map_to_the_first_row_carrying_their_timestamps(tmp_path: Path) -> None:
    labels = tmp_path / "windows.json"
    labels.write_bytes(
        orjson.dumps({"c/f.csv": [["2015-03-01 00:50:00.000000", "2015-03-01 01:10:00.000000"]]})
    )
    windows = nab_score.read_windows(labels)["c/f.csv"]
    times = [*TIMES[:11], TIMES[10], *TIMES[11:]]  # row 10's time twice
    assert nab_score.window_spans(times, windows) == [(10, 15)]
    assert nab_score.in_window_labels(TIMES, windows) == [int(10 <= i <= 14) for i in range(20)]
    with pytest.raises(ValueError, match="not a row's timestamp"):
        nab_score.window_spans(TIMES[1::2], windows, "c/f.csv")


def test_scores_are_read_from_nab_results_layout(tmp_path: Path) -> None:
    path = nab_score.results_path(tmp_path, "det", "cat/f.csv")
    assert path == tmp_path / "det" / "cat" / "det_f.csv"
    path.parent.mkdir(parents=True)
    lines = ["timestamp,value,anomaly_score,label"]
    lines += [f"{t:%Y-%m-%d %H:%M:%S},1,{s},0" for t, s in zip(TIMES, detections(10), strict=True)]
    path.write_text("\n".join(lines) + "\n")
    (path.parent.parent / "det_standard_scores.csv").write_text("written by the original\n")
    result = nab_score.score_detector(tmp_path, "det", {"cat/f.csv": WINDOW})
    assert result["standard"].score == pytest.approx(100.0)
    assert result["standard"].files["cat/f.csv"].windows_detected == 1
