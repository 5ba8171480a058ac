"""How right were the alerts? Precision, recall, F1 and time to alert against labels.

Labels (``labels.jsonl`` of a simulated world, or an analyst's own file in the
same layout) record life events, never rule outcomes. Which detectors each
life event should trip is decided here, from the event and its details
(docs/detectors.md has the table):

* an alert is **right** when a label of the same household, dated in the
  alert's story month or up to two months before it, is a life event that
  may trip that detector;
* a label is **found** by a detector it should trip when such an alert exists.

Precision per detector = right alerts / its alerts; recall = found labels /
labels that should trip it (scikit-learn's ``precision_recall_fscore_support``
on those counts). Time to alert is from the arrival of the record that reveals
the life event (``revealed_by`` in simulated labels; else the event's date) to
the arrival of the records that raised the alert (the engine's clock), in days.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import orjson
from sklearn.metrics import precision_recall_fscore_support

from engine.alert import Alert
from engine.timeline import month_index

MATCH_MONTHS = 2  # an alert may come up to two months after the life event's month...
# ...after the months a rule needs by definition: income above the line must hold
# for three closed months after the new income starts.
RULE_MONTHS = {"income_above_line": 1}
DROP = 0.3  # the default income_drop threshold...
# ...and a fall this much deeper should be found: monthly wages vary by about 8%
# in the simulated worlds, so a fall just at the threshold may measure either side.
MARGIN = 0.05
DEATHS = ("earner_death", "sole_member_death", "member_death_other", "wages_after_death")


@dataclass(frozen=True)
class Label:
    label_id: str
    household: str
    event: str
    date: str
    month: str
    member_position: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    revealed_at: str | None = None  # arrival of the record that reveals the event


def load_world_labels(labels: Path) -> tuple[list[Label], list[Label]]:
    """The labels, and the benefit endings derived from income_sources.jsonl beside them."""
    sources = labels.parent / "income_sources.jsonl"
    return load_labels(labels), (benefit_endings(sources) if sources.exists() else [])


def load_labels(path: Path) -> list[Label]:
    labels = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            raw = orjson.loads(line)
            labels.append(
                Label(
                    raw["label_id"],
                    raw["household"],
                    raw["event"],
                    raw["date"],
                    raw["month"],
                    raw.get("member_position"),
                    raw.get("details") or {},
                    (raw.get("revealed_by") or {}).get("received_at"),
                )
            )
    return labels


def benefit_endings(sources: Path) -> list[Label]:
    """Life events the world's income sources hold but its labels do not: a benefit running out.

    A simulated world's ``income_sources.jsonl`` lists every income stream with
    its months; an unemployment benefit that stops (after a job loss, or after
    its recipient found work) makes the household's income fall, which
    ``income_drop`` and ``fell_under_line`` rightly report. They count as right
    for those alerts (``acceptable``), never as labels to find (recall).
    """
    derived = []
    for number, line in enumerate(sources.read_bytes().splitlines()):
        raw = orjson.loads(line) if line.strip() else {}
        if raw.get("kind") == "unemployment" and raw.get("end_month"):
            month = raw["end_month"]
            derived.append(
                Label(
                    f"B{number:06d}",
                    raw["household"],
                    "benefit_ended",
                    f"{month}-01",
                    month,
                    raw.get("member_position"),
                    {"benefit": raw.get("amount")},
                )
            )
    return derived


def _fall(details: Mapping[str, Any]) -> float | None:
    before, after = details.get("household_income_before"), details.get("household_income_after")
    if not before or after is None:
        return None
    return float(1 - after / before)


def expected(label: Label) -> set[str]:
    """The detectors this life event should trip (recall is counted on these)."""
    d = label.details
    share = float(d.get("member_share") or 0)
    fall = _fall(d)
    out: set[str] = set()
    event = label.event
    if event == "job_loss" and share >= 0.4:
        out.add("job_loss")
    if event in ("earner_death", "sole_member_death") and share >= 0.4:
        out.add("earner_death")
    if event == "sole_member_death":
        out.add("sole_member_died")
    if event == "illness":
        out.add("spending_spike")
    if event == "disability_onset":
        out.add("disability_onset")
    if event == "income_above_line" and d.get("scheme") != "low_income":
        out.add("income_above_line")
    if event in ("property", "vehicle", "company", "deposit_over_limit"):
        out.add("asset_acquired")
    if event.startswith("moved_"):
        out.add("moved_away")
    if event in ("wages_after_death", "employment_while_unemployed"):
        out.add("conflicting_records")
    if (
        fall is not None
        and fall >= DROP + MARGIN
        and event not in DEATHS[2:]
        and float(d.get("household_income_before") or 0) >= 500
    ):
        out.add("income_drop")
    if event == "fell_under_line" or (
        d.get("scheme") == "low_income"
        and (d.get("per_capita_after") or 1e9)
        < float(d.get("line") or 0)
        <= float(d.get("per_capita_before") or 0)
    ):
        out.add("fell_under_line")
    return out


def acceptable(label: Label) -> set[str]:
    """Detectors whose alert this life event makes right (precision is counted on these)."""
    out = expected(label) | {"unusual_trajectory"}
    if label.event == "benefit_ended":
        out |= {"income_drop", "fell_under_line"}
    fall = _fall(label.details)
    if fall is not None and fall >= DROP - 0.1:
        out |= {"income_drop", "fell_under_line"}  # a fall near the threshold may go either way
    if label.event in DEATHS:
        out |= {"earner_death", "sole_member_died", "income_drop", "conflicting_records",
                "fell_under_line", "job_loss"}  # fmt: skip
    if label.event == "birth":
        out.add("fell_under_line")  # one more mouth: income per person falls
    if label.event in ("job_loss", "income_drop"):
        out |= {"job_loss", "income_drop", "fell_under_line"}
    if label.event in (
        "member_death_other",
        "employment_while_unemployed",
    ) or label.event.startswith("moved_"):
        out.add("income_above_line")  # fewer members, or wages on top of a benefit
    return out


@dataclass
class DetectorScore:
    detector: str
    alerts: int
    right: int
    labels: int
    found: int
    precision: float
    recall: float
    f1: float
    days_to_alert_median: float | None
    days_to_alert_p90: float | None


def latest_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """The last revision of each alert, those still standing (not withdrawn)."""
    latest: dict[str, Alert] = {}
    for alert in alerts:
        latest[alert.alert_id] = alert
    return [a for a in latest.values() if a.status in ("raised", "updated", "capped")]


def _days(alert: Alert, label: Label) -> float:
    """From the arrival of the record that reveals the event (or, without it, the event's
    date) to the arrival of the records that raised the alert."""
    when = dt.datetime.fromisoformat(alert.processed_at)
    if label.revealed_at:
        start = dt.datetime.fromisoformat(label.revealed_at)
    else:
        start = dt.datetime.fromisoformat(label.date).replace(tzinfo=when.tzinfo)
    return max((when - start).total_seconds() / 86400, 0.0)


def _matches(alert: Alert, label: Label) -> bool:
    gap = month_index(alert.story.month) - month_index(label.month)
    window = MATCH_MONTHS + RULE_MONTHS.get(alert.detector, 0)
    return alert.household == label.household and 0 <= gap <= window


def score(
    alerts: Iterable[Alert],
    labels: list[Label],
    derived: list[Label] = (),  # type: ignore[assignment]
) -> dict[str, DetectorScore]:
    """Scores per detector; ``derived`` labels may make alerts right but are not to be found."""
    standing = latest_alerts(alerts)
    by_household: dict[str, list[Label]] = defaultdict(list)
    for label in [*labels, *derived]:
        by_household[label.household].append(label)
    detectors = sorted({a.detector for a in standing} | {d for lb in labels for d in expected(lb)})
    result = {}
    for detector in detectors:
        mine = [a for a in standing if a.detector == detector]
        right = [a for a in mine if _is_right(a, by_household[a.household])]
        should = [lb for lb in labels if detector in expected(lb)]
        delays: list[float] = []
        found = 0
        for label in should:
            hits = [a for a in mine if _matches(a, label)]
            if hits:
                found += 1
                delays.append(min(_days(a, label) for a in hits))
        precision, recall, f1 = _prf(len(mine), len(right), len(should), found)
        result[detector] = DetectorScore(
            detector, len(mine), len(right), len(should), found, precision, recall, f1,
            round(median(delays), 1) if delays else None,
            round(float(np.percentile(delays, 90)), 1) if delays else None,
        )  # fmt: skip
    return result


def _is_right(alert: Alert, labels: list[Label]) -> bool:
    return any(_matches(alert, lb) and alert.detector in acceptable(lb) for lb in labels)


def _prf(alerts: int, right: int, labels: int, found: int) -> tuple[float, float, float]:
    """Precision on alerts and recall on labels, through scikit-learn's definitions."""
    y_pred = [1] * alerts
    y_true = [1] * right + [0] * (alerts - right)
    precision = (
        precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)[0]
        if alerts
        else 0.0
    )
    y_true = [1] * labels
    y_pred = [1] * found + [0] * (labels - found)
    recall = (
        precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)[1]
        if labels
        else 0.0
    )
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return round(float(precision), 4), round(float(recall), 4), round(f1, 4)


# The models have no life event they must find; their recall is counted on the
# life events that change a household's income or spending path, the paths they
# watch (docs/detectors.md). A sole member's death is left out: the household
# ends, so there is no path left to score.
TRAJECTORY_EVENTS = frozenset(
    {
        "job_loss",
        "income_drop",
        "fell_under_line",
        "illness",
        "earner_death",
        "income_above_line",
        "employment_while_unemployed",
        "wages_after_death",
    }
)


def score_model(
    alerts: Iterable[Alert],
    labels: list[Label],
    derived: list[Label] = (),  # type: ignore[assignment]
    detector: str = "unusual_trajectory",
    events: frozenset[str] = TRAJECTORY_EVENTS,
) -> DetectorScore:
    """A model detector's score: precision as :func:`score` counts it; recall, F1 and
    time to alert on the labels of ``events``, found by a matching alert of ``detector``."""
    standing = [a for a in latest_alerts(alerts) if a.detector == detector]
    precision = score(standing, labels, derived).get(detector)
    should = [lb for lb in labels if lb.event in events]
    delays: list[float] = []
    found = 0
    by_household: dict[str, list[Alert]] = defaultdict(list)
    for alert in standing:
        by_household[alert.household].append(alert)
    for label in should:
        hits = [a for a in by_household[label.household] if _matches(a, label)]
        if hits:
            found += 1
            delays.append(min(_days(a, label) for a in hits))
    right = precision.right if precision else 0
    p, r, f1 = _prf(len(standing), right, len(should), found)
    return DetectorScore(
        detector, len(standing), right, len(should), found, p, r, f1,
        round(median(delays), 1) if delays else None,
        round(float(np.percentile(delays, 90)), 1) if delays else None,
    )  # fmt: skip
