"""The Half-Space Trees snapshot scores exactly as River does, and learns as River's filter
(its masses settled on the forest's nodes: at the window's turn, at a checkpoint)."""

from __future__ import annotations

import math
import pickle
import random

import pytest
from river import anomaly

from detectors.hst import ForestSnapshot, learn
from detectors.models import FEATURES, RegionModel


def point(rng: random.Random, odd: bool = False) -> dict[str, float]:
    if odd:
        return {f: rng.choice([0.0, 1.0, rng.random()]) for f in FEATURES}
    return {f: min(max(rng.gauss(0.5, 0.1), 0.0), 1.0) for f in FEATURES}


def filtered(window_size: int, seed: int) -> anomaly.QuantileFilter:
    forest = anomaly.HalfSpaceTrees(
        n_trees=15,
        height=8,
        window_size=window_size,
        limits={f: (0.0, 1.0) for f in FEATURES},
        seed=seed,
    )
    return anomaly.QuantileFilter(forest, q=0.95, protect_anomaly_detector=True)


@pytest.mark.parametrize(("window_size", "seed"), [(10, 1), (50, 2), (500, 42)])
def test_scores_and_learning_equal_rivers(window_size: int, seed: int) -> None:
    """Two filters fed the same values, one through River alone, one through the snapshot:
    every score equal (not close: equal), and the same forests in the end."""
    rng = random.Random(seed)
    river, ours = filtered(window_size, seed), filtered(window_size, seed)
    snapshot = ForestSnapshot(ours.anomaly_detector, FEATURES)
    for n in range(4 * window_size + 7):
        x = point(rng, odd=n % 13 == 0)
        probe = point(rng, odd=n % 5 == 0)
        assert snapshot.score_one(probe) == river.anomaly_detector.score_one(probe)
        assert type(snapshot.score_one(probe)) is type(river.anomaly_detector.score_one(probe))
        river.learn_one(x)
        if learn(ours, snapshot, x):
            snapshot = ForestSnapshot(ours.anomaly_detector, FEATURES)
        assert ours.quantile.get() == river.quantile.get()
    snapshot.settle()
    assert pickle.dumps(ours) == pickle.dumps(river)


def test_nan_goes_right_as_in_river() -> None:
    rng = random.Random(3)
    river = filtered(10, 3)
    for _ in range(25):
        river.learn_one(point(rng))
    x = {**point(rng), FEATURES[0]: math.nan, FEATURES[3]: math.nan}
    snapshot = ForestSnapshot(river.anomaly_detector, FEATURES)
    assert snapshot.score_one(x) == river.anomaly_detector.score_one(x)


def test_the_snapshot_is_not_checkpointed() -> None:
    """A region model pickles as it did before it had a snapshot, and scores the same after."""
    rng = random.Random(5)
    model = RegionModel(n_trees=5, height=4, window_size=20, quantile=0.9, seed=1)
    for _ in range(30):
        model.learn_one(point(rng))
    before = pickle.dumps(model)
    x = point(rng)
    score = model.score_one(x)  # (takes a snapshot)
    assert pickle.dumps(model) == before
    assert pickle.loads(before).score_one(x) == score == model.forest.score_one(x)


def test_settled_values_are_counted_as_rivers_walks_count_them() -> None:
    """Values learned through the snapshot, once settled, leave the forest as River's
    own learning of them does (counter and every l_mass); settling twice counts once."""
    rng = random.Random(7)
    river, ours = filtered(100, 7), filtered(100, 7)
    for _ in range(110):  # past the first window: the masses are not all 0
        x = point(rng)
        river.anomaly_detector.learn_one(x)
        ours.anomaly_detector.learn_one(x)
    snapshot = ForestSnapshot(ours.anomaly_detector, FEATURES)
    for n in range(30):
        x = point(rng, odd=n % 3 == 0)
        if n == 4:
            x = {**x, FEATURES[2]: math.nan}  # (goes right, as in River)
        river.anomaly_detector.learn_one(x)
        snapshot.learn_one(x)
        if n % 11 == 0:
            snapshot.settle()
            assert pickle.dumps(ours) == pickle.dumps(river)
    assert pickle.dumps(ours) != pickle.dumps(river)
    snapshot.settle()
    snapshot.settle()
    assert pickle.dumps(ours) == pickle.dumps(river)


def test_a_checkpoint_holds_what_was_learned_since_the_window_turned() -> None:
    rng = random.Random(9)
    model = RegionModel(n_trees=5, height=4, window_size=20, quantile=0.9, seed=1)
    river = RegionModel(n_trees=5, height=4, window_size=20, quantile=0.9, seed=1)
    for _ in range(33):
        x = point(rng)
        model.learn_one(x)
        river.filter.learn_one(x)
    assert pickle.dumps(model) == pickle.dumps(river)


def test_flagged_values_are_not_learned_by_a_protected_forest() -> None:
    """Values the filter flags are not learned: the forests still end equal."""
    rng = random.Random(11)
    river, ours = filtered(40, 11), filtered(40, 11)
    snapshot = ForestSnapshot(ours.anomaly_detector, FEATURES)
    flagged = 0
    for n in range(300):
        x = point(rng, odd=n % 4 == 0)
        score = river.anomaly_detector.score_one(x)
        flagged += bool(n > 40 and river.classify(score))
        river.learn_one(x)
        if learn(ours, snapshot, x):
            snapshot = ForestSnapshot(ours.anomaly_detector, FEATURES)
        if n % 37 == 0:  # (in mid-window too)
            snapshot.settle()
            assert pickle.dumps(ours) == pickle.dumps(river)
    snapshot.settle()
    assert pickle.dumps(ours) == pickle.dumps(river)
    assert flagged > 10
