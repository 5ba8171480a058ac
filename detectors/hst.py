"""River's Half-Space Trees scored from a snapshot of their reference masses.

A Half-Space Trees score depends only on the trees' reference masses
(``r_mass``), which change only when the forest's window turns over (every
``window_size`` learned values); between turns, one region's forest scores
every household of the region. :class:`ForestSnapshot` lays out the part of
each tree that River's scoring walk can pass through as nested tuples (the
split, then the two sides), ending, where the walk would stop, in the score
it would have summed down to there. A score is then a few tuple lookups per
tree instead of River's walk over node objects.

Learning counts a value on every node of its way down every tree (``l_mass``,
River's ``_walk_learn``), and only the window's turn reads those counts. So
the snapshot keeps the values it learns and counts them all at once
(:meth:`ForestSnapshot.settle`, one array walk per tree) when the window is
about to turn or the forest is checkpointed; the window's turn itself is
River's own ``learn_one``, and the forest, and its checkpoint, stay River's.

The score is River's ``HalfSpaceTrees.score_one`` exactly: masses are
integers, River's float sum of integers below 2**53 is exact, and so is this
integer sum; both end with the same division.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
from river import anomaly

# River's scoring walk through one tree, from a node: the score summed down to where
# it stops, or the split (feature index, threshold) and the walks from its children.
Walk: TypeAlias = "int | tuple[int, float, Walk, Walk]"


class ForestSnapshot:
    """The scores of a ``HalfSpaceTrees`` as its reference masses stand now.

    Valid until the forest's window turns: :func:`learn` says when to take a
    new one. Values must carry every feature (as the forest was built from).
    """

    def __init__(self, forest: anomaly.HalfSpaceTrees, features: Sequence[str]) -> None:
        self.forest = forest
        self.first_window: bool = forest._first_window
        self.max_score: int = forest._max_score
        self.height = forest.height
        self.features = tuple(features)
        position = {name: i for i, name in enumerate(self.features)}
        self.walks = [self._walk(root, 0, 0, position) for root in forest.trees]
        # Per tree, by node in heap order: the node itself (whose l_mass learning
        # counts) and, above the full height, its split (feature index, threshold).
        self.trees: list[tuple[list[Any], list[int], list[float]]] = []
        branches = (1 << self.height) - 1  # (a padded tree is complete)
        for root in forest.trees:
            nodes, split, thresholds = [root], [], []
            for i in range(branches):  # breadth first from the root: heap order
                node = nodes[i]
                split.append(position[node.feature])
                thresholds.append(node.threshold)
                nodes.extend(node.children)
            self.trees.append((nodes, split, thresholds))
        # The values learned and not yet counted on the nodes (see settle).
        self.pending: list[list[float]] = []

    def _walk(self, node: Any, depth: int, above: int, position: dict[str, int]) -> Walk:
        total: int = above + node.r_mass * (1 << depth)
        if depth == self.height or node.r_mass < self.forest.size_limit:
            return total
        left, right = node.children
        return (
            position[node.feature],
            node.threshold,
            self._walk(left, depth + 1, total, position),
            self._walk(right, depth + 1, total, position),
        )

    def score_one(self, x: Mapping[str, float]) -> float:
        """``HalfSpaceTrees.score_one(x)``."""
        if self.first_window:
            return 0  # (River's own: an int)
        values = [x[name] for name in self.features]
        score = 0
        for node in self.walks:
            while type(node) is tuple:  # (isinstance costs a fifth of the score)
                feature, threshold, left, right = node
                # River goes left when value < threshold, else right (NaN too).
                node = left if values[feature] < threshold else right
            score += node  # type: ignore[operator]  # (where the walk stopped: an int)
        return 1 - score / self.max_score

    def learn_one(self, x: Mapping[str, float]) -> None:
        """Learn ``x`` as the forest's ``learn_one`` does short of turning the window
        (learn through :func:`learn`, which leaves the window's last value to River):
        counted on the nodes at the next :meth:`settle`."""
        self.pending.append([x[name] for name in self.features])
        self.forest.counter += 1

    def settle(self) -> None:
        """Count the values learned since the last settle on the trees' nodes, every
        node a value passes from the root to the full height (River's ``_walk_learn``)."""
        if not self.pending:
            return
        values = np.array(self.pending, dtype=np.float64)
        self.pending = []
        rows = np.arange(len(values))
        for nodes, split, thresholds in self.trees:
            features, cuts = np.array(split), np.array(thresholds)
            at = np.zeros(len(values), dtype=np.intp)
            passed = [at]
            for _ in range(self.height):
                # River goes left when value < threshold, else right (NaN too).
                right = ~(values[rows, features[at]] < cuts[at])
                at = 2 * at + 1 + right
                passed.append(at)
            counts = np.bincount(np.concatenate(passed), minlength=len(nodes))
            for i in np.flatnonzero(counts).tolist():
                nodes[i].l_mass += int(counts[i])


def learn(
    detector: anomaly.QuantileFilter, snapshot: ForestSnapshot, x: Mapping[str, float]
) -> bool:
    """River's ``QuantileFilter.learn_one(x)`` for the filter over ``snapshot``'s forest,
    through the snapshot; True when the forest's window turned (the snapshot is stale).

    A value flagged (which a protected forest must not learn, one in ``1 - q``) is
    not learned.
    """
    forest = snapshot.forest
    score = snapshot.score_one(x)
    learned = not detector.protect_anomaly_detector or not detector.classify(score)
    stale = False
    if not snapshot.trees or forest.counter + 1 == forest.window_size:
        # The first value builds the trees, the window's last turns it: River's own,
        # on the masses counted so far.
        snapshot.settle()
        if learned:
            forest.learn_one(x)
            stale = True
    elif learned:
        snapshot.learn_one(x)
    detector.quantile.update(score)
    return stale
