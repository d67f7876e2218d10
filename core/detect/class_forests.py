"""One Isolation Forest per class: the paper's attribution geometry (Section 7, Table 3).

`ClassForests.fit(train_grads, labels)` fits one forest per class on that class's
training gradients; `class_scores` scores test gradients with every class's forest
(scikit-learn's direction: higher = more normal) and `isolation_similarity` measures how
long a test gradient and each training gradient stay together under random isolation in
the training sample's class forest (core.influence.attribution turns both into rankings).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from core.detect.isolation_forest import FastIsolationForest, average_path_length
from core.errors import ConfigError, DataError


class ClassForests:
    """One Isolation Forest per class, each fitted on that class's training gradients only.

    Follows the scikit-learn contract: `__init__` stores arguments, `fit(X, y)` returns
    self, learned state ends in ``_``. Every forest uses all features (max_features=1.0),
    ψ = min(256, class size) samples per tree, and `random_state` (the same for every
    class, as the reference code).
    """

    def __init__(self, n_estimators: int = 100, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> ClassForests:
        """X (n, p) training gradients, y (n,) integer classes. Stores each class's training paths for similarity."""
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y).reshape(-1)
        if X.ndim != 2 or len(X) != len(y):
            raise DataError(f"need gradients (n, p) and labels (n,), got {X.shape} and {y.shape}")
        self.classes_ = np.unique(y)
        self.n_train_ = len(y)
        self.rows_: list[np.ndarray] = []
        self.forests_: list[FastIsolationForest] = []
        self.train_paths_: list[list[tuple[sparse.csr_matrix, np.ndarray]]] = []
        for label in self.classes_:
            rows = np.flatnonzero(y == label)
            forest = FastIsolationForest(n_estimators=self.n_estimators, max_features=1.0,
                                     random_state=self.random_state, n_jobs=1).fit(X[rows])
            self.rows_.append(rows)
            self.forests_.append(forest)
            self.train_paths_.append([(tree.decision_path(X[rows]).tocsr().astype(np.float32), tree.apply(X[rows]))
                                      for tree in forest.estimators_])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "forests_"):
            raise ConfigError("ClassForests is not fitted; call fit(X, y) first")

    def class_scores(self, X: np.ndarray) -> np.ndarray:
        """(m, n_classes) float64 scikit-learn `score_samples` of each class's forest, higher = more normal.

        Column k belongs to class `classes_[k]`. Values lie in [−1, 0): −2^(−E[h]/c(ψ)).
        """
        self._check_fitted()
        X = np.asarray(X, dtype=np.float32)
        return np.column_stack([forest.score_samples(X) for forest in self.forests_]).astype(np.float64)

    def isolation_similarity(self, X: np.ndarray) -> np.ndarray:
        """(m, n_train) float64: for each training sample j, the isolation similarity of X[t] and j in j's class forest.

        Mean over the forest's trees of the separation depth (depth of the deepest common
        node; same leaf: leaf depth + c(leaf size)), divided by c(ψ). ≥ 0, higher = more similar.
        """
        self._check_fitted()
        X = np.asarray(X, dtype=np.float32)
        out = np.zeros((len(X), self.n_train_))
        for rows, forest, paths in zip(self.rows_, self.forests_, self.train_paths_):
            total = np.zeros((len(X), len(rows)))
            for tree, (train_path, train_leaf) in zip(forest.estimators_, paths):
                test_path = tree.decision_path(X).tocsr().astype(np.float32)
                shared_nodes = np.asarray((test_path @ train_path.T).todense())
                depth = shared_nodes - 1.0
                test_leaf = tree.apply(X)
                same_leaf = test_leaf[:, None] == train_leaf[None, :]
                if same_leaf.any():
                    extra = average_path_length(tree.tree_.n_node_samples[test_leaf])
                    depth = depth + same_leaf * extra[:, None]
                total += depth
            out[:, rows] = total / len(forest.estimators_) / max(float(average_path_length(forest.max_samples_)), 1.0)
        return out
