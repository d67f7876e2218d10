"""Isolation Forest whose scoring streams the gradient matrix once instead of once per tree.

scikit-learn's `IsolationForest.score_samples` applies the forest tree by tree: every
tree walks every row of X, so a (50,000 × 5,130) float32 gradient matrix (1 GB) is
streamed from memory 100 times, with a handful of random reads into each 20 KB row per
pass. Scoring was ~85% of the detector's time, bound by memory latency.
`FastIsolationForest` fits exactly as sklearn does (it *is* an `IsolationForest`) and
scores with a compiled loop that copies a block of rows into cache once and walks all
trees over it (benchmarks/detectors_vs_influence.py: about 2x faster on that matrix).
The scores are bit-identical to sklearn's: the same float32 input, the same
float32-vs-float64 threshold comparison, the same per-tree depth terms summed in tree
order, the same final transform (tests/detect/test_isolation_forest.py).

numba is imported lazily (it is already a dependency through umap-learn) and compiles
the kernel once per machine into its on-disk cache.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.utils.validation import check_is_fitted, validate_data

COMPILED_SCORING_MIN_VALUES = 1 << 22
"""Below 4M values (16 MB of float32, inside the L3 cache) sklearn's own scoring is as fast
and skips numba's import; the scores are the same either way."""
_BLOCK_ROWS = 32
"""Rows scored together: 32 rows of a 5,130-wide float32 gradient are 656 KB, inside L2."""
_kernel = None


def average_path_length(n_samples: np.ndarray | int) -> np.ndarray:
    """c(n): the expected path length of an unsuccessful search in a binary search tree of n items.

    c(n) = 2(ln(n − 1) + γ) − 2(n − 1)/n for n > 2, c(2) = 1, c(n ≤ 1) = 0 (Liu et al.
    2008; scikit-learn's IsolationForest normalization).
    """
    n = np.asarray(n_samples, dtype=np.float64)
    out = np.zeros_like(n)
    big = n > 2
    out[n == 2] = 1.0
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _depth_kernel():
    """The compiled per-row loop over all trees (compiled on first use, cached on disk)."""
    global _kernel
    if _kernel is None:
        import numba

        @numba.njit(cache=True, nogil=True)
        def forest_depths(X, roots, left, right, feature, threshold, missing_left, leaf_depth, out):
            for start in range(0, X.shape[0], _BLOCK_ROWS):
                block = X[start:start + _BLOCK_ROWS].copy()  # one sequential read, then cache hits
                depths = np.zeros(block.shape[0])
                for tree in range(roots.shape[0]):
                    for row in range(block.shape[0]):  # independent walks: the CPU overlaps them
                        node = roots[tree]
                        while left[node] >= 0:
                            value = block[row, feature[node]]
                            if np.isnan(value):
                                node = left[node] if missing_left[node] else right[node]
                            elif value <= threshold[node]:
                                node = left[node]
                            else:
                                node = right[node]
                        depths[row] += leaf_depth[node]
                out[start:start + block.shape[0]] = depths

        _kernel = forest_depths
    return _kernel


class FastIsolationForest(IsolationForest):
    """sklearn's IsolationForest with a single-pass `score_samples` (same numbers, see module doc).

    Uses sklearn's scoring for small X, sparse X, when trees see feature subsets
    (`max_features < 1.0`, which gradsift never uses), or if a future scikit-learn no longer
    keeps the per-tree path lengths this reads.
    """

    def fit(self, X, y=None, sample_weight=None) -> FastIsolationForest:
        super().fit(X, y, sample_weight)
        try:
            self._flatten_trees()
        except AttributeError:  # sklearn's private per-tree path lengths moved: score the sklearn way
            self._flat_trees_ = None
        return self

    def _flatten_trees(self) -> None:
        """All trees' node arrays concatenated, child indices offset to the concatenation."""
        roots, left, right, feature, threshold, missing_left, leaf_depth = [], [], [], [], [], [], []
        offset = 0
        for index, estimator in enumerate(self.estimators_):
            tree = estimator.tree_
            is_leaf = tree.children_left < 0
            roots.append(offset)
            left.append(np.where(is_leaf, -1, tree.children_left + offset))
            right.append(np.where(is_leaf, -1, tree.children_right + offset))
            feature.append(tree.feature)
            threshold.append(tree.threshold)
            missing = getattr(tree, "missing_go_to_left", None)
            missing_left.append(np.zeros(tree.node_count, dtype=bool) if missing is None else missing.astype(bool))
            # sklearn adds (decision path length + average path length - 1.0) per tree: same terms here.
            leaf_depth.append(self._decision_path_lengths[index] + self._average_path_length_per_tree[index] - 1.0)
            offset += tree.node_count
        self._flat_trees_ = (
            np.asarray(roots, dtype=np.int64),
            np.concatenate(left).astype(np.int64),
            np.concatenate(right).astype(np.int64),
            np.concatenate(feature).astype(np.int64),
            np.concatenate(threshold).astype(np.float64),
            np.concatenate(missing_left),
            np.concatenate(leaf_depth).astype(np.float64),
        )

    def score_samples(self, X) -> np.ndarray:
        """(n,) sklearn's score: lower = more abnormal."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float32, reset=False, ensure_all_finite=False)
        if (self._flat_trees_ is None or not isinstance(X, np.ndarray) or self._max_features != X.shape[1]
                or X.size < COMPILED_SCORING_MIN_VALUES):
            return self._score_samples(X)
        depths = np.zeros(X.shape[0], dtype=np.float64)
        _depth_kernel()(np.ascontiguousarray(X), *self._flat_trees_, depths)
        denominator = len(self.estimators_) * average_path_length(self._max_samples)
        return -(2 ** -np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0))
