"""Neighbour votes: how many of a sample's nearest neighbours carry another label, after the reviews.

A sample whose neighbours in the analyzed model's feature space (features.npy) mostly carry another
label is suspicious (the idea of cleanlab's and SimiFeat's neighbour-based detectors). The reviews enter
the votes directly: a relabelled sample votes with its new label, a confirmed-mislabeled one stops
voting. Measured with the truth as the reviewer (docs/review-loop.md), the votes with refit's margin as
the tie-break rank the unreviewed samples at least as well as the refit alone, and better deep in the
queue; what the decisions themselves add to them is small (a few thousandths of precision).

The neighbour table is exact (core.review.duplicates.nearest_rows, brute force in blocks). Above
`max_rows` samples it is built on a candidate set only: every reviewed sample plus the unreviewed ones
ranked highest by `priority`, each searched among the candidates, so the cost is max_rows² × D, not n².
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.detect.flagging import ranking
from core.review.duplicates import nearest_rows
from core.run.io import take_rows
from core.run.label_forms import LabelForm


@dataclass(frozen=True)
class NeighborTable:
    """The k nearest neighbours of the candidate samples, among the candidates."""

    rows: np.ndarray
    """(m,) int64 sample ids of the candidates, sorted (every sample when n ≤ max_rows)."""
    neighbors: np.ndarray
    """(m, k) int64 sample ids of each candidate's nearest candidates, nearest first, itself excluded."""


def candidate_rows(n: int, reviewed: np.ndarray, priority: np.ndarray, max_rows: int) -> np.ndarray:
    """(m,) sorted sample ids: all n when n ≤ max_rows, else every reviewed sample and the unreviewed ones with
    the highest `priority` (n,), up to max_rows in all (the reviewed ones first, so their votes always count)."""
    if n <= max_rows:
        return np.arange(n, dtype=np.int64)
    reviewed = np.unique(np.asarray(reviewed, dtype=np.int64))[:max_rows]
    others = np.setdiff1d(np.arange(n), reviewed)
    best = others[ranking(np.asarray(priority, dtype=np.float64)[others])[:max_rows - len(reviewed)]]
    return np.sort(np.concatenate([reviewed, best]))


def neighbor_table(features: np.ndarray, rows: np.ndarray, k: int, metric: str = "cosine",
                   progress: Callable[[int, int], None] | None = None) -> NeighborTable:
    """The `k` nearest neighbours of every sample in `rows` among `rows`, by `metric` on features (n, D)."""
    rows = np.asarray(rows, dtype=np.int64)
    subset = features if len(rows) == len(features) else take_rows(features, rows)
    local, _ = nearest_rows(subset, np.arange(len(rows)), k, metric, progress)
    return NeighborTable(rows=rows, neighbors=rows[local])


def disagreement(table: NeighborTable, labels: np.ndarray, removed: np.ndarray,
                 form: LabelForm | None = None) -> np.ndarray:
    """(m,) float64 in [0, 1], aligned with table.rows: the share of each candidate's neighbours whose label
    (`labels` (n,), the reviews applied) differs from its own, by the `form`'s `differ` (another tag set, a value
    more than the tolerance away; classes compared as they are without a form), neighbours in `removed` (n,) not
    voting (0 when none votes). Higher = more suspicious."""
    votes = ~np.asarray(removed, dtype=bool)[table.neighbors]
    theirs = labels[table.neighbors]
    mine = np.repeat(labels[table.rows][:, None], table.neighbors.shape[1], axis=1)
    if form is None:
        differ = theirs != mine
    else:
        differ = np.asarray(form.differ(theirs.ravel(), mine.ravel()), dtype=bool).reshape(theirs.shape)
    differ &= votes
    return differ.sum(axis=1) / np.maximum(votes.sum(axis=1), 1)
