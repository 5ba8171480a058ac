"""NAB's published scoring method, implemented for Lifeline's benchmarks.

    .venv/bin/python benchmarks/nab_score.py --results benchmarks/results/raw/nab

Reads a detector's results in NAB's layout
(``<results>/<detector>/<category>/<detector>_<file>.csv``, columns
``timestamp,value,anomaly_score,label``) and the corpus' anomaly windows
(``labels/combined_windows.json``), and scores them the way NAB v1.x does, so
that the original scorer run on the same files gives the same figures:

- Windows are mapped to row indices by their start and end timestamps (the
  first row carrying each). A row belongs to a window from its start row to
  its end row.
- The first ``min(floor(0.15 * rows), 750)`` rows of each file are
  probationary: they are not scored, nor counted, and a window is only
  counted when at least one of its rows is after them.
- Each scored row has a credit: inside a window of width ``w`` ending at row
  ``r``, ``tp * f(-(r - i + 1) / w) / f(-1)``; outside every window,
  ``fp * f(|i - r'| / (w' - 1))`` against the last window before it (ending
  at ``r'``, width ``w'``), or ``-fp`` when no window came before, where
  ``f(p) = 2 / (1 + exp(5 p)) - 1`` for ``p < 3`` and ``-1`` from 3 on.
- At a threshold, the rows scoring at or above it are detections. A file's
  score is the sum of its outside detections' credits plus, per window, the
  credit of its earliest detection or ``-fn`` if none.
- One threshold per profile for the whole corpus: the sweep starts above every
  score (1.1, nothing detected) and steps down through each distinct score;
  the best total wins (the highest threshold among equals).
- Normalised: ``100 * (S - S_null) / (S_perfect - S_null)``, ``S_null`` being
  the score with nothing detected (NAB's null detector: ``-fn`` per counted
  window) and ``S_perfect`` ``tp`` per labelled window.

Row counts (TP, FP, FN, TN) are NAB's: detected or missed rows inside and
outside windows, probationary rows left out.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
# The corpus beside the repository (../shared/nab), or where NAB_CORPUS says.
NAB_CORPUS = Path(os.environ.get("NAB_CORPUS") or ROOT.parent / "shared" / "nab")
PROBATION_FRACTION = 0.15
PROBATION_CAP = 750  # NAB: 0.15 * 5000 rows
NOTHING_DETECTED = 1.1  # the sweep's first threshold, above every score


@dataclass(frozen=True)
class Profile:
    """NAB's cost matrix: credit for a window found, costs of a false alarm and of a miss."""

    tp: float
    fp: float
    fn: float


PROFILES = {
    "standard": Profile(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": Profile(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": Profile(tp=1.0, fp=0.11, fn=2.0),
}

Window = tuple[datetime, datetime]


def parse_time(text: str) -> datetime:
    """NAB timestamps: ``2014-02-19 10:50:00`` in data, with ``.000000`` in labels."""
    return datetime.fromisoformat(text.strip())


def read_windows(path: Path) -> dict[str, list[Window]]:
    """The labelled anomaly windows per data file (``category/file.csv``)."""
    raw = orjson.loads(path.read_bytes())
    return {rel: [(parse_time(a), parse_time(b)) for a, b in spans] for rel, spans in raw.items()}


def probation_rows(rows: int) -> int:
    return min(math.floor(PROBATION_FRACTION * rows), PROBATION_CAP)


def scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: 0.987 at -1 (a window's start), 0 at 0, -1 from 3 on."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def window_spans(
    timestamps: Sequence[datetime], windows: Sequence[Window], where: str = ""
) -> list[tuple[int, int]]:
    """Each window's first and last row index, found by its timestamps.

    A window starting after the last row is dropped and one ending after it is
    cut at it (a shortened series in a smoke run); any other timestamp that no
    row carries is an error, as in the original.
    """
    first_row: dict[datetime, int] = {}
    for i, t in enumerate(timestamps):
        first_row.setdefault(t, i)
    last_time = timestamps[-1] if timestamps else None
    spans = []
    for start, end in windows:
        if last_time is None or start > last_time:
            continue
        if start not in first_row:
            raise ValueError(f"{where}: window start {start} is not a row's timestamp")
        if end not in first_row and end <= last_time:
            raise ValueError(f"{where}: window end {end} is not a row's timestamp")
        spans.append((first_row[start], first_row.get(end, len(timestamps) - 1)))
    return spans


def in_window_labels(timestamps: Sequence[datetime], windows: Sequence[Window]) -> list[int]:
    """NAB's ``label`` column: 1 for a row whose time is inside a window, else 0."""
    return [int(any(a <= t <= b for a, b in windows)) for t in timestamps]


@dataclass
class FileRows:
    """One file's scored rows (after probation) and what each is worth, before weights."""

    name: str
    rows: int
    scores: np.ndarray  # anomaly scores of the scored rows
    window: np.ndarray  # index of the row's window in the file, -1 outside
    credit: np.ndarray  # inside: f(p) / f(-1); outside: f(p) or -1 (times tp or fp later)
    windows: int  # labelled windows in the file (S_perfect counts them)
    counted_windows: int  # windows with a scored row (a miss costs fn)


def file_rows(
    name: str, timestamps: Sequence[datetime], scores: Sequence[float], windows: Sequence[Window]
) -> FileRows:
    if len(timestamps) != len(scores):
        raise ValueError(f"{name}: {len(timestamps)} timestamps but {len(scores)} scores")
    spans = window_spans(timestamps, windows, name)
    n = len(timestamps)
    window = np.full(n, -1, dtype=np.int64)
    credit = np.empty(n, dtype=np.float64)
    position = 0
    previous: tuple[int, int] | None = None  # (last row, width) of the window before
    for k, (first, last) in enumerate([*spans, (n, n)]):
        for i in range(position, first):  # outside: a false positive if detected
            if previous is None:
                credit[i] = -1.0
            elif previous[1] == 1:
                credit[i] = -1.0  # the original divides by zero here; NAB has no such window
            else:
                credit[i] = scaled_sigmoid(abs(previous[0] - i) / (previous[1] - 1))
        if first >= n:
            break
        width = last - first + 1
        for i in range(first, last + 1):
            window[i] = k
            credit[i] = scaled_sigmoid(-(last - i + 1) / width) / MAX_TP
        previous = (last, width)
        position = last + 1
    start = probation_rows(n)
    kept = window[start:]
    return FileRows(
        name=name,
        rows=n,
        scores=np.asarray(scores, dtype=np.float64)[start:],
        window=kept,
        credit=credit[start:],
        windows=len(spans),
        counted_windows=len(set(kept[kept >= 0].tolist())),
    )


def weighted(rows: FileRows, profile: Profile) -> np.ndarray:
    return np.where(rows.window >= 0, rows.credit * profile.tp, rows.credit * profile.fp)


@dataclass
class Counts:
    score: float = 0.0
    tp: int = 0
    tn: int = 0
    fp: int = 0
    fn: int = 0
    total: int = 0
    windows: int = 0
    windows_detected: int = 0

    def add(self, other: Counts) -> None:
        for name in ("score", "tp", "tn", "fp", "fn", "total", "windows", "windows_detected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def score_file(rows: FileRows, profile: Profile, threshold: float) -> Counts:
    """One file's NAB score and row counts with detections at scores >= threshold."""
    values = weighted(rows, profile)
    detected = rows.scores >= threshold
    inside = rows.window >= 0
    score = float(values[detected & ~inside].sum())
    found = 0
    for k in sorted(set(rows.window[inside].tolist())):
        hits = np.flatnonzero(detected & (rows.window == k))
        if hits.size:
            score += float(values[hits[0]])  # the earliest detection is worth the most
            found += 1
        else:
            score -= profile.fn
    return Counts(
        score=score,
        tp=int((detected & inside).sum()),
        tn=int((~detected & ~inside).sum()),
        fp=int((detected & ~inside).sum()),
        fn=int((~detected & inside).sum()),
        total=int(rows.scores.size),
        windows=rows.counted_windows,
        windows_detected=found,
    )


@dataclass(frozen=True)
class SweepPoint:
    threshold: float
    score: float


def sweep(files: Sequence[FileRows], profile: Profile) -> list[SweepPoint]:
    """The corpus score at 1.1 (nothing detected) and at each distinct score, descending."""
    scores = np.concatenate([f.scores for f in files]) if files else np.empty(0)
    values = np.concatenate([weighted(f, profile) for f in files]) if files else np.empty(0)
    # One id per window over the corpus; -1 outside windows.
    ids = []
    offset = 0
    for f in files:
        ids.append(np.where(f.window >= 0, f.window + offset, -1))
        offset += f.windows
    window = np.concatenate(ids) if ids else np.empty(0, dtype=np.int64)
    best = [-profile.fn] * offset  # per window: its earliest detection's credit, or the miss
    counted = np.zeros(offset, dtype=bool)
    counted[window[window >= 0]] = True
    false_total = 0.0
    window_total = -profile.fn * int(counted.sum())
    order = np.argsort(-scores, kind="stable")
    points = [SweepPoint(NOTHING_DETECTED, window_total)]
    ordered_scores = scores[order].tolist()
    ordered_values = values[order].tolist()
    ordered_windows = window[order].tolist()
    for j, (s, v, k) in enumerate(
        zip(ordered_scores, ordered_values, ordered_windows, strict=True)
    ):
        if k < 0:
            false_total += v
        elif v > best[k]:
            window_total += v - best[k]
            best[k] = v
        if j + 1 == len(ordered_scores) or ordered_scores[j + 1] != s:
            points.append(SweepPoint(s, false_total + window_total))
    return points


def best_threshold(points: Sequence[SweepPoint]) -> SweepPoint:
    """The best total; among equal totals the highest threshold (the original's stable sort)."""
    best = points[0]
    for p in points[1:]:
        if p.score > best.score:
            best = p
    return best


@dataclass
class ProfileResult:
    threshold: float
    score: float  # normalised, 0 for the null detector, 100 for a perfect one
    raw: float
    null: float
    perfect: float
    totals: Counts
    files: dict[str, Counts] = field(default_factory=dict)


def score_corpus(files: Sequence[FileRows], profile: Profile) -> ProfileResult:
    point = best_threshold(sweep(files, profile))
    totals = Counts()
    per_file = {}
    for f in files:
        counts = score_file(f, profile, point.threshold)
        per_file[f.name] = counts
        totals.add(counts)
    null = -profile.fn * sum(f.counted_windows for f in files)
    perfect = profile.tp * sum(f.windows for f in files)
    normalised = 100.0 * (totals.score - null) / (perfect - null) if perfect != null else 0.0
    return ProfileResult(point.threshold, normalised, totals.score, null, perfect, totals, per_file)


def results_path(results: Path, detector: str, data_file: str) -> Path:
    category, name = data_file.split("/")
    return results / detector / category / f"{detector}_{name}"


def read_results(results: Path, detector: str) -> dict[str, tuple[list[datetime], list[float]]]:
    """A detector's timestamps and scores per data file (``category/file.csv``)."""
    found = {}
    prefix = f"{detector}_"
    for path in sorted((results / detector).glob("*/*.csv")):
        if path.name.endswith("_scores.csv") or not path.name.startswith(prefix):
            continue
        times: list[datetime] = []
        scores: list[float] = []
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            at, score_at = header.index("timestamp"), header.index("anomaly_score")
            for row in reader:
                times.append(parse_time(row[at]))
                scores.append(float(row[score_at]))
        found[f"{path.parent.name}/{path.name[len(prefix) :]}"] = (times, scores)
    return found


def score_detector(
    results: Path, detector: str, windows: dict[str, list[Window]]
) -> dict[str, ProfileResult]:
    series = read_results(results, detector)
    if not series:
        raise FileNotFoundError(f"no results for detector '{detector}' under {results}")
    unknown = sorted(set(series) - set(windows))
    if unknown:
        raise ValueError(f"detector '{detector}': no labels for {', '.join(unknown)}")
    files = [file_rows(name, *series[name], windows[name]) for name in sorted(series)]
    return {name: score_corpus(files, profile) for name, profile in PROFILES.items()}


def summary(result: ProfileResult, per_file: bool = True) -> dict[str, object]:
    out: dict[str, object] = {
        "score": round(result.score, 2),
        "threshold": result.threshold,
        "raw_score": round(result.raw, 4),
        "null_score": result.null,
        "perfect_score": result.perfect,
        "counts": asdict(result.totals) | {"score": round(result.totals.score, 4)},
    }
    if per_file:
        out["files"] = {
            name: asdict(c) | {"score": round(c.score, 4)} for name, c in result.files.items()
        }
    return out


def detectors_in(results: Path) -> list[str]:
    return sorted(p.name for p in results.iterdir() if p.is_dir()) if results.is_dir() else []


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks/results/raw/nab")
    parser.add_argument(
        "--labels", type=Path, default=NAB_CORPUS / "labels" / "combined_windows.json"
    )
    parser.add_argument("--detectors", nargs="*", help="default: every folder under --results")
    parser.add_argument("--out", type=Path, help="write per-profile scores and counts as JSON")
    args = parser.parse_args(None if argv is None else list(argv))
    windows = read_windows(args.labels)
    report = {}
    for detector in args.detectors or detectors_in(args.results):
        scored = score_detector(args.results, detector, windows)
        report[detector] = {name: summary(r) for name, r in scored.items()}
        line = "  ".join(
            f"{name} {r.score:6.2f} (t={r.threshold:.6g})" for name, r in scored.items()
        )
        print(f"{detector:20} {line}")
    if args.out:
        args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
