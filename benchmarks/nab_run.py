"""NAB for Lifeline's online models: every series of the corpus, one model each.

    .venv/bin/python benchmarks/nab_run.py                 # the whole corpus, 2 processes
    .venv/bin/python benchmarks/nab_run.py --match realAdExchange --limit-files 2 --max-rows 1100

Each model sees its series once, in order, and scores every row before
learning it. The rows go to ``benchmarks/results/raw/nab/`` in NAB's results
layout (``<detector>/<category>/<detector>_<file>.csv``: timestamp, value,
anomaly_score, label), where the original NAB scorer can read them too;
benchmarks/nab_score.py scores them, and the summary goes to
``benchmarks/results/nab.json`` beside NAB's published scoreboard, with a
plot in ``benchmarks/results/nab.png``.

The detectors (names without underscores: NAB's normaliser keys its results
by the name's first ``_``-separated word):

- ``lifelineBaseline``: the household detector's ``HouseholdBaseline`` (River
  EWMean, EWVar and PageHinkley over one household's income) with the
  parameters config/detectors.toml gives ``unusual_trajectory``. Score: half
  of ``|z| / 4`` (the value's z against the baseline, capped at 4 there) plus
  a half when a copy of the Page-Hinkley test, fed the value, sees a change.
- ``lifelineHST``: ``RegionModel`` (River HalfSpaceTrees behind a
  QuantileFilter), one per series, fed the household detector's features with
  the series as the income: against the 3 values before, against the value
  12 before, z against the baseline, its change flag, against the series'
  running median (as the local line), no medical spending, and a
  ``SeriesScorer``'s score of the value (its defaults); features clipped
  to [0, 1]. Score: the forest's score. Learns as the detector does.
- ``lifelineSeries``: detectors/series.py's ``SeriesScorer`` with its
  defaults (the season: 24 bins of a day).
- ``null``: NAB's null detector (0.5 everywhere), which the original
  scorer's normalisation needs; it scores 0.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import multiprocessing
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/nab_run.py` without PYTHONPATH
    sys.path.insert(0, str(ROOT))

from river import stats  # noqa: E402

from benchmarks import nab_score  # noqa: E402
from detectors.catalog import load_detectors  # noqa: E402
from detectors.models import FEATURES, HouseholdBaseline, RegionModel, UnusualTrajectory  # noqa: E402
from detectors.series import HEADER, SeriesScorer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DETECTORS_TOML = ROOT / "config" / "detectors.toml"

# NAB v1.0 README scoreboard (standard, reward low FP, reward low FN); Numenta
# HTM is published as a range, 70.5-69.7 / 62.6-61.7 / 75.2-74.2 (upper kept).
PUBLISHED = {
    "Perfect": (100.0, 100.0, 100.0),
    "ARTime": (74.9, 65.1, 80.4),
    "Numenta HTM": (70.5, 62.6, 75.2),
    "CAD OSE": (69.9, 67.0, 73.2),
    "earthgecko Skyline": (58.2, 46.2, 63.9),
    "KNN CAD": (58.0, 43.4, 64.8),
    "Relative Entropy": (54.6, 47.6, 58.8),
    "Random Cut Forest": (51.7, 38.4, 59.7),
    "Twitter ADVec": (47.1, 33.6, 53.5),
    "Windowed Gaussian": (39.6, 20.9, 47.4),
    "Etsy Skyline": (35.7, 27.1, 44.5),
    "Bayesian Changepoint": (17.7, 3.2, 32.2),
    "Random": (11.0, 1.2, 19.5),
    "Null": (0.0, 0.0, 0.0),
}
PROFILE_NAMES = tuple(nab_score.PROFILES)  # standard, reward_low_FP_rate, reward_low_FN_rate


class Scorer(Protocol):
    def update(self, x: float, t: float) -> float: ...


class NullDetector:
    """NAB's null detector: the same score for every row."""

    def update(self, x: float, t: float) -> float:
        return 0.5


class BaselineAdapter:
    """The household baseline over one series, scored before it learns each value."""

    def __init__(self, trajectory: UnusualTrajectory) -> None:
        self.baseline = HouseholdBaseline(trajectory.fading_factor, None)

    def update(self, x: float, t: float) -> float:
        # Half from the z-score, half from the change test: with either alone (or
        # their maximum) a tenth of the rows tie at 1 and no threshold beats silence.
        score = abs(self.baseline.z(x)) / 8.0 + (0.5 if _change_seen(self.baseline, x) else 0.0)
        self.baseline.learn(x)
        return score


def _change_seen(baseline: HouseholdBaseline, x: float) -> bool:
    """Would the baseline's Page-Hinkley test see a change with this value? (A copy learns it.)"""
    probe = baseline.probe()
    probe.update(x / max(float(baseline.mean.get()), 100.0))  # type: ignore[no-untyped-call]
    return bool(probe.drift_detected)


class RegionAdapter:
    """The region's Half-Space Trees over one series, fed the household detector's features."""

    def __init__(self, trajectory: UnusualTrajectory) -> None:
        t = trajectory
        self.model = RegionModel(t.n_trees, t.height, t.window_size, t.quantile, t.seed)
        self.baseline = HouseholdBaseline(t.fading_factor, None)
        self.before: deque[float] = deque(maxlen=12)  # the values before, oldest first
        self.line = stats.Quantile(0.5)  # the series' running median stands for the local line
        self.series = SeriesScorer()  # the household's SeriesScorer, with a day for a season

    def features(self, x: float, t: float, changed: bool) -> dict[str, float]:
        recent = sum(list(self.before)[-3:]) / 3
        last_year = self.before[0] if len(self.before) == 12 else 0.0
        line = self.line.get() or 0.0
        line = line if line > 0 else 1.0
        raw = {
            "income_vs_recent": _ratio(x, recent),
            "income_vs_last_year": _ratio(x, last_year),
            "income_z": (self.baseline.z(x) + 4) / 8,
            "income_change": 1.0 if changed else 0.0,
            "per_capita_vs_line": min(x / line, 3.0) / 3.0,
            "medical_vs_income": 0.0,
            "income_surprise": self.series.score_one(x, t),
        }
        return {f: min(max(raw[f], 0.0), 1.0) for f in FEATURES}

    def update(self, x: float, t: float) -> float:
        score = 0.0
        if len(self.before) >= 3:  # the detector waits for three months of history
            score = float(
                self.model.filter.score_one(self.features(x, t, _change_seen(self.baseline, x)))
            )
            learned = self.features(x, t, False)
            learned["income_change"] = 1.0 if self.baseline.learn(x) else 0.0
            self.model.filter.learn_one(learned)  # type: ignore[no-untyped-call]
            self.model.seen += 1
        else:
            self.baseline.learn(x)
        self.series.learn_one(x, t)
        self.before.append(x)
        self.line.update(x)
        return score


def _ratio(value: float, base: float, cap: float = 2.0) -> float:
    return min(value / base, cap) / cap if base > 0 else 0.5


def _trajectory() -> UnusualTrajectory:
    built, _ = load_detectors(DETECTORS_TOML)
    for detector in built:
        if isinstance(detector, UnusualTrajectory):
            return detector
    raise SystemExit(f"{DETECTORS_TOML}: unusual_trajectory is not enabled")


@dataclass(frozen=True)
class DetectorSpec:
    describe: str
    make: Callable[[], Scorer]


def detector_specs() -> dict[str, DetectorSpec]:
    trajectory = _trajectory()
    params = trajectory._get_params()
    return {
        "lifelineSeries": DetectorSpec(f"detectors.series.{SeriesScorer()!r}", SeriesScorer),
        "lifelineBaseline": DetectorSpec(
            f"detectors.models.HouseholdBaseline(fading_factor={params['fading_factor']})",
            lambda: BaselineAdapter(trajectory),
        ),
        "lifelineHST": DetectorSpec(
            "detectors.models.RegionModel("
            + ", ".join(
                f"{k}={params[k]}" for k in ("n_trees", "height", "window_size", "quantile", "seed")
            )
            + f") with HouseholdBaseline(fading_factor={params['fading_factor']})",
            lambda: RegionAdapter(trajectory),
        ),
        "null": DetectorSpec("NAB's null detector: 0.5 for every row", NullDetector),
    }


def _format(score: float) -> str:
    # Ten decimals: the same rows tie in every reader (pandas' parser and Python's
    # may differ in the last bit of a longer number, never in its order).
    return repr(round(score, 10))


@dataclass(frozen=True)
class Job:
    detector: str
    data_file: str  # category/file.csv
    corpus: str
    results: str
    max_rows: int | None
    windows: list[tuple[datetime, datetime]]


def run_file(job: Job) -> tuple[str, str, int, float]:
    """One model over one series: writes its results file; returns rows and CPU seconds."""
    with (Path(job.corpus) / "data" / job.data_file).open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    if job.max_rows is not None:
        rows = rows[: job.max_rows]
    times = [nab_score.parse_time(r[0]) for r in rows]
    labels = nab_score.in_window_labels(times, job.windows)
    model = _SPECS[job.detector].make()
    started = time.process_time()
    scores = [
        model.update(float(value), float(calendar.timegm(t.timetuple())))
        for t, (_, value) in zip(times, rows, strict=True)
    ]
    seconds = time.process_time() - started
    out = nab_score.results_path(Path(job.results), job.detector, job.data_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["timestamp", "value", "anomaly_score", "label"])
        for (stamp, value), score, label in zip(rows, scores, labels, strict=True):
            writer.writerow([stamp, value, _format(score), label])
    return job.detector, job.data_file, len(rows), seconds


_SPECS: dict[str, DetectorSpec] = {}


def _init_worker() -> None:
    _SPECS.update(detector_specs())


def clear_results(results: Path, detector: str) -> None:
    """Remove a detector's earlier results (only files of NAB's layout), so runs never mix."""
    folder = results / detector
    if not folder.is_dir():
        return
    for path in folder.glob(f"*/{detector}_*.csv"):
        path.unlink()
    for path in folder.glob(f"{detector}_*"):
        path.unlink()
    for sub in sorted(folder.iterdir(), reverse=True):
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()
    if not any(folder.iterdir()):
        shutil.rmtree(folder)


def run_all(
    detectors: Sequence[str],
    files: Sequence[str],
    windows: dict[str, list[tuple[datetime, datetime]]],
    args: argparse.Namespace,
) -> dict[str, dict[str, float]]:
    jobs = [
        Job(d, f, str(args.corpus), str(args.results), args.max_rows, windows[f])
        for d in detectors
        for f in files
    ]
    jobs.sort(key=lambda j: -(args.corpus / "data" / j.data_file).stat().st_size)  # big ones first
    timing: dict[str, dict[str, float]] = {d: {"rows": 0, "cpu_seconds": 0.0} for d in detectors}
    started = time.perf_counter()

    def report(done: int, result: tuple[str, str, int, float]) -> None:
        detector, data_file, rows, seconds = result
        timing[detector]["rows"] += rows
        timing[detector]["cpu_seconds"] += seconds
        print(
            f"[{done:3}/{len(jobs)}] {time.perf_counter() - started:6.1f} s  {detector:16} "
            f"{data_file:58} {rows:6} rows {seconds:6.2f} s",
            flush=True,
        )

    if args.workers <= 1:
        _init_worker()
        for done, job in enumerate(jobs, 1):
            report(done, run_file(job))
    else:
        context = multiprocessing.get_context("fork")
        with context.Pool(args.workers, initializer=_init_worker) as pool:
            for done, result in enumerate(pool.imap_unordered(run_file, jobs), 1):
                report(done, result)
    return timing


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = {
        name: tuple(d["profiles"][p]["score"] for p in PROFILE_NAMES)
        for name, d in summary["detectors"].items()
        if name != "null"
    }
    rows = sorted(
        [(f"{n} (ours)", s, True) for n, s in ours.items()]
        + [(n, s, False) for n, s in PUBLISHED.items() if n not in ("Perfect", "Null")],
        key=lambda r: r[1][0],
    )
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.5))
    height = 0.27
    colours = {False: ("#9aa5b1", "#c3cbd3", "#6b7785"), True: ("#d9480f", "#f08c00", "#a61e4d")}
    labels = ("standard", "reward low FP", "reward low FN")
    for i, (_, scores, mine) in enumerate(rows):
        for k, score in enumerate(scores):
            ax.barh(i + (1 - k) * height, score, height, color=colours[mine][k])
        ax.text(max(scores[0], 0) + 0.8, i + height, f"{scores[0]:.1f}", va="center", fontsize=8)
    for k, label in enumerate(labels):
        ax.barh(0, 0, 0, color=colours[False][k], label=f"{label} (published)")
        ax.barh(0, 0, 0, color=colours[True][k], label=f"{label} (ours)")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    for tick, (_, _, mine) in zip(ax.get_yticklabels(), rows, strict=True):
        tick.set_fontweight("bold" if mine else "normal")
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_xlabel("NAB score (100 perfect, 0 null); bars: standard, low FP, low FN")
    ax.set_title(
        f"NAB: Lifeline's online models ({summary['files']} series, {summary['rows']:,} rows) "
        "beside the published scoreboard",
        fontsize=9,
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    specs = detector_specs()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectors", nargs="+", choices=sorted(specs), default=list(specs))
    parser.add_argument("--corpus", type=Path, default=nab_score.NAB_CORPUS)
    parser.add_argument("--results", type=Path, default=RESULTS / "raw" / "nab")
    parser.add_argument("--summary", type=Path, default=RESULTS / "nab.json")
    parser.add_argument("--plot", type=Path, default=RESULTS / "nab.png")
    parser.add_argument("--match", help="only the files whose path contains this")
    parser.add_argument("--limit-files", type=int, help="only the first N files (sorted by path)")
    parser.add_argument("--max-rows", type=int, help="only the first N rows of each file")
    parser.add_argument("--workers", type=int, default=2, help="processes (1: none)")
    args = parser.parse_args(None if argv is None else list(argv))
    windows = nab_score.read_windows(args.corpus / "labels" / "combined_windows.json")
    files = sorted(f for f in windows if not args.match or args.match in f)
    files = files[: args.limit_files] if args.limit_files is not None else files
    if not files:
        raise SystemExit(f"no NAB file matches {args.match!r}")
    for detector in args.detectors:
        clear_results(args.results, detector)
    started = time.perf_counter()
    timing = run_all(args.detectors, files, windows, args)
    wall = time.perf_counter() - started
    summary: dict[str, Any] = {
        "benchmark": "NAB (Numenta Anomaly Benchmark) corpus, scored by benchmarks/nab_score.py",
        "command": " ".join(
            ["benchmarks/nab_run.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "files": len(files),
        "rows": int(timing[args.detectors[0]]["rows"]),
        "windows": 0,
        "max_rows": args.max_rows,
        "workers": args.workers,
        "wall_seconds": round(wall, 1),
        "detectors": {},
        "published": {n: dict(zip(PROFILE_NAMES, s, strict=True)) for n, s in PUBLISHED.items()},
    }
    per_file: dict[str, Any] = {}
    for detector in args.detectors:
        scored = nab_score.score_detector(args.results, detector, windows)
        standard = scored["standard"]
        summary["windows"] = int(standard.perfect / nab_score.PROFILES["standard"].tp)
        t = timing[detector]
        summary["detectors"][detector] = {
            "model": specs[detector].describe,
            "state_floats": (HEADER + 2 * SeriesScorer().season_bins)
            if detector == "lifelineSeries"
            else None,
            "cpu_seconds": round(t["cpu_seconds"], 1),
            "microseconds_per_row": round(1e6 * t["cpu_seconds"] / max(t["rows"], 1), 1),
            "profiles": {
                name: nab_score.summary(result, per_file=False) for name, result in scored.items()
            },
        }
        per_file[detector] = {name: nab_score.summary(r) for name, r in scored.items()}
        line = "  ".join(f"{n} {r.score:6.2f}" for n, r in scored.items())
        print(f"{detector:16} {line}", flush=True)
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    (args.results / "scores.json").write_bytes(orjson.dumps(per_file, option=orjson.OPT_INDENT_2))
    plot(summary, args.plot)
    print(f"{args.summary}, {args.plot}; per file: {args.results / 'scores.json'} ({wall:.0f} s)")


if __name__ == "__main__":
    main()
