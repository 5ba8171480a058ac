"""River's Half-Space Trees scored from a snapshot of their reference masses.

A Half-Space Trees score depends only on the trees' reference masses
(``r_mass``), which change only when the forest's window turns over (every
``window_size`` learned values); between turns, one region's forest scores
every household of the region. :class:`ForestSnapshot` lays each tree out
in flat lists (heap order: the children of node ``i`` are ``2i + 1`` and
``2i + 2``), holding per node the split and, where River's walk would stop,
the score it would have summed down to there. A score is then a few list
lookups per tree instead of River's walk over node objects. Learning walks
the same lists and counts on River's own nodes (the window's turn is River's
own ``learn_one``), so the forest, and its checkpoint, stay River's. The walk
that learns a value also scores it: the node where it ends in a tree knows
the score a walk to it stops with.

The score is River's ``HalfSpaceTrees.score_one`` exactly: masses are
integers, River's float sum of integers below 2**53 is exact, and so is this
integer sum; both end with the same division.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from river import anomaly

LEAF = -1  # the feature of a node at the trees' full height: it has no split


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
        # Per tree, by node in heap order: the node itself (whose l_mass learning
        # counts), its split (feature index or LEAF, threshold), whether River's
        # scoring walk stops there, and the score summed down to it.
        self.trees: list[tuple[list[Any], list[int], list[float], list[bool], list[int]]] = []
        self.ends: list[list[int]] = []
        for root in forest.trees:
            # Breadth first from the root: a padded tree is complete, so this is heap order.
            nodes, depths, above = [root], [0], [0]
            split: list[int] = []
            thresholds: list[float] = []
            stops: list[bool] = []
            totals: list[int] = []
            for i, node in enumerate(nodes):  # (the list grows as the walk goes)
                depth = depths[i]
                total = above[i] + node.r_mass * (1 << depth)
                totals.append(total)
                if depth == self.height:
                    split.append(LEAF)
                    thresholds.append(0.0)
                    stops.append(True)
                    continue
                split.append(position[node.feature])
                thresholds.append(node.threshold)
                stops.append(node.r_mass < forest.size_limit)
                nodes.extend(node.children)
                depths += [depth + 1, depth + 1]
                above += [total, total]
            self.trees.append((nodes, split, thresholds, stops, totals))
            # Per node, the score River's walk towards it ends with: the sum at the
            # first node on the way where the walk stops. For a node at full height
            # (where learning ends) that is the tree's score of the values it counts.
            ends, stopped = totals[:], stops[:]
            for i in range(1, len(nodes)):
                parent = (i - 1) // 2
                if stopped[parent]:
                    ends[i], stopped[i] = ends[parent], True
            self.ends.append(ends)

    def score_one(self, x: Mapping[str, float]) -> float:
        """``HalfSpaceTrees.score_one(x)``."""
        if self.first_window:
            return 0  # (River's own: an int)
        values = [x[name] for name in self.features]
        score = 0
        for _, split, thresholds, stops, totals in self.trees:
            i = 0
            while not stops[i]:
                # River goes left when value < threshold, else right (NaN too).
                i = 2 * i + 1 if values[split[i]] < thresholds[i] else 2 * i + 2
            score += totals[i]
        return 1 - score / self.max_score

    def learn_one(self, x: Mapping[str, float]) -> list[int]:
        """Count ``x`` on its way down every tree (River's ``_walk_learn``), as the
        forest's ``learn_one`` does short of turning the window: learn through
        :func:`learn`, which leaves the window's last value to River. Returns where
        ``x`` ended in each tree (for :meth:`score_ends` and :meth:`unlearn`)."""
        values = [x[name] for name in self.features]
        ends = []
        for nodes, split, thresholds, _, _ in self.trees:
            i = 0
            for _ in range(self.height):
                nodes[i].l_mass += 1
                i = 2 * i + 1 if values[split[i]] < thresholds[i] else 2 * i + 2
            nodes[i].l_mass += 1
            ends.append(i)
        self.forest.counter += 1
        return ends

    def score_ends(self, ends: Sequence[int]) -> float:
        """``score_one(x)`` for the value that :meth:`learn_one` took to ``ends``."""
        if self.first_window:
            return 0  # (River's own: an int)
        score = sum(tree_ends[i] for tree_ends, i in zip(self.ends, ends, strict=True))
        return 1 - score / self.max_score

    def unlearn(self, ends: Sequence[int]) -> None:
        """Take back the last :meth:`learn_one`, which took its value to ``ends``."""
        for (nodes, _, _, _, _), i in zip(self.trees, ends, strict=True):
            while i > 0:
                nodes[i].l_mass -= 1
                i = (i - 1) // 2
            nodes[0].l_mass -= 1
        self.forest.counter -= 1


def learn(
    detector: anomaly.QuantileFilter, snapshot: ForestSnapshot, x: Mapping[str, float]
) -> bool:
    """River's ``QuantileFilter.learn_one(x)`` for the filter over ``snapshot``'s forest,
    through the snapshot; True when the forest's window turned (the snapshot is stale).

    The score is where ``x`` ends in each tree, so one walk down the trees both
    learns and scores: a value flagged (which a protected forest must not learn,
    one in ``1 - q``) is taken back again.
    """
    forest = snapshot.forest
    protect = detector.protect_anomaly_detector
    if not snapshot.trees or forest.counter + 1 == forest.window_size:
        # The first value builds the trees, the window's last turns it: River's own.
        score = snapshot.score_one(x)
        stale = not protect or not detector.classify(score)
        if stale:
            forest.learn_one(x)
    else:
        ends = snapshot.learn_one(x)
        score = snapshot.score_ends(ends)
        stale = False
        if protect and detector.classify(score):
            snapshot.unlearn(ends)
    detector.quantile.update(score)
    return stale
