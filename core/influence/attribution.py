"""Which training samples shaped a test prediction: attribution in gradient space (paper Section 7, Table 3).

Two-stage workflow: (1) per-sample gradients of the training samples (n, p) and of the
test samples (m, p), in the same parameter space and layout (projected with the same
projector, if at all); (2) an attribution method turns them into an **influence matrix**
(m, n) float64 — row t ranks the training samples for test sample t, **higher = more
influential** for every method. `class_detection_auc` / `class_detection_recall` score
a matrix with DataInf's protocol, and core.influence.run_attribution applies the methods to a run
directory made by `gradsift analyze`.

Methods (registry `ATTRIBUTION_METHODS`, name → function(inputs) → (m, n)):

- ``oga_class`` — the paper's per-class Isolation Forests, as in the authors' reference
  code: one `IsolationForest` per class c fitted on class c's training gradients; test
  gradient g_t is scored by every class's forest with scikit-learn's `score_samples`
  (= −2^(−E[h(g_t)]/c(ψ)), h the path length, ψ the trees' sample size; *higher = more
  normal*), and that score is copied to every training sample of the class:
  S[t, j] = score_{y_j}(g_t). It ranks **classes** (every training sample of a class
  ties); higher = g_t looks like a typical gradient of z_j's class = more influential.
- ``oga_sample`` — a per-sample ranking from the same forests: the *isolation
  similarity* of g_t and g_j in the forest of z_j's class, S[t, j] = mean over that
  forest's trees of the depth at which the tree separates g_t from g_j (the depth of
  their deepest common node; when both end in the same leaf, that leaf's depth plus
  c(leaf size), the expected remaining depth, as in scikit-learn's path length), divided
  by c(ψ) so forests of classes of different sizes are comparable. Higher = the two
  gradients stay together longer under random isolation = more similar in the geometry
  the forest learned = more influential. Unlike ``oga_class`` it differs between the
  samples of a class; a test gradient that is an outlier for a class is isolated early,
  so it shares only short paths with any sample of that class.
- ``oga`` — classes ordered by ``oga_class``, samples inside a class by ``oga_sample``
  (lexicographic; expressed as a rank score n − position, higher = more influential).
  Its class-detection AUC and recall equal ``oga_class``'s; it is the ranking to show a
  person ("the most similar samples of the class whose gradients the test gradient fits").
- ``datainf`` — DataInf's influence with v = the test sample's own gradient:
  |vᵀ Ĥ⁻¹ g_j| with Kwon et al.'s closed-form inverse per parameter block (the same
  quantity as `core.influence.methods.datainf_influence`, whose harm = −vᵀĤ⁻¹g_j). Ranked by
  magnitude, as DataInf's protocol ("the absolute values of the influence function"):
  a training sample that strongly raises *or* lowers the test loss is influential.
- ``tracing`` — gradient tracing / TracIn at one checkpoint: |g_t · g_j|.

Signed influence for the baselines (project convention, `core.influence.methods`): harm =
−g_tᵀĤ⁻¹g_j, higher = upweighting z_j raises the test sample's loss; `attribute_run`
reports it next to the magnitude.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from sklearn.metrics import roc_auc_score

from core.detect.class_forests import ClassForests
from core.errors import DataError
from core.influence.solvers import datainf_solve
from core.registry import Registry

# --------------------------------------------------------------------------- methods


@dataclass
class AttributionInputs:
    """Everything an attribution method may use; the per-class forests are fitted once, on first use."""

    train_grads: np.ndarray
    """(n, p) training gradients."""
    train_labels: np.ndarray
    """(n,) integer classes of the training samples (the labels the model was trained on)."""
    test_grads: np.ndarray
    """(m, p) test gradients, same layout as train_grads."""
    block_sizes: Mapping[str, int] | None = None
    """Parameter block name → column count (DataInf's per-layer λ); None = one block."""
    seed: int = 0
    n_trees: int = 100
    fitted_forests: ClassForests | None = None
    """Per-class forests already fitted on these training gradients and labels (reused, not refitted)."""

    def __post_init__(self) -> None:
        self.train_grads = np.asarray(self.train_grads)
        self.test_grads = np.asarray(self.test_grads)
        self.train_labels = np.asarray(self.train_labels).reshape(-1)
        if self.train_grads.ndim != 2 or self.test_grads.ndim != 2:
            raise DataError(f"gradients must be 2-D, got {self.train_grads.shape} and {self.test_grads.shape}")
        if self.train_grads.shape[1] != self.test_grads.shape[1]:
            raise DataError(f"train gradients have width {self.train_grads.shape[1]} but test gradients "
                            f"{self.test_grads.shape[1]}; project both with the same projector")
        if len(self.train_labels) != len(self.train_grads):
            raise DataError(f"{len(self.train_grads)} training gradients but {len(self.train_labels)} labels")

    @cached_property
    def forests(self) -> ClassForests:
        if self.fitted_forests is not None:
            return self.fitted_forests
        return ClassForests(self.n_trees, self.seed).fit(self.train_grads, self.train_labels)

    @cached_property
    def class_score_matrix(self) -> np.ndarray:
        """(m, n_classes) forest scores, columns in `forests.classes_` order."""
        return self.forests.class_scores(self.test_grads)

    @cached_property
    def similarity_matrix(self) -> np.ndarray:
        return self.forests.isolation_similarity(self.test_grads)


AttributionFn = Callable[[AttributionInputs], np.ndarray]


ATTRIBUTION_METHODS: Registry[AttributionFn] = Registry("attribution method")
"""Name → fn(inputs) -> (m, n) float64 influence, higher = more influential; meta `signed_harm` for the
influence baselines: their signed harm −vᵀĤ⁻¹g_j (m, n), higher = z_j raises the test sample's loss."""


@ATTRIBUTION_METHODS.register(
    "oga_class",
    "per-class iForest score of the test gradient, copied to every sample of the class (reference code; ranks classes)",
)
def oga_class(inputs: AttributionInputs) -> np.ndarray:
    column = np.searchsorted(inputs.forests.classes_, inputs.train_labels)
    return inputs.class_score_matrix[:, column]


@ATTRIBUTION_METHODS.register("oga_sample", "isolation similarity of test and training gradient in the training "
                                    "sample's class forest (per sample)")
def oga_sample(inputs: AttributionInputs) -> np.ndarray:
    return inputs.similarity_matrix


@ATTRIBUTION_METHODS.register("oga", "classes by oga_class, samples within a class by oga_sample (rank score)")
def oga_lexicographic(inputs: AttributionInputs) -> np.ndarray:
    class_level = oga_class(inputs)
    within = inputs.similarity_matrix
    n = class_level.shape[1]
    out = np.empty_like(class_level)
    for t in range(len(class_level)):
        order = np.lexsort((np.arange(n), -within[t], -class_level[t]))
        out[t, order] = np.arange(n, 0, -1, dtype=np.float64)
    return out


def datainf_matrix(train_grads: np.ndarray, test_grads: np.ndarray, block_sizes: Mapping[str, int] | None = None,
                   lambda_factor: float = 0.1) -> np.ndarray:
    """(m, n) float64 vᵀĤ⁻¹g_j for every test gradient v (rows) and training gradient g_j (columns).

    Ĥ⁻¹ is DataInf's closed-form inverse per block (core.influence.solvers.datainf_solve),
    all test rows at once: O(m·n·p). Equals −`core.influence.methods.datainf_influence(train, v)`
    row by row (that function returns harm = −vᵀĤ⁻¹g).
    """
    train = np.asarray(train_grads, dtype=np.float64)
    test = np.asarray(test_grads, dtype=np.float64)
    solved, _ = datainf_solve(train, test.T, block_sizes, lambda_factor)
    return solved.T @ train.T


def datainf_harm(inputs: AttributionInputs) -> np.ndarray:
    """Signed harm −vᵀĤ⁻¹g_j (m, n) of the DataInf baseline (core.influence.methods' convention)."""
    return -datainf_matrix(inputs.train_grads, inputs.test_grads, inputs.block_sizes)


def tracing_harm(inputs: AttributionInputs) -> np.ndarray:
    """Signed harm −v·g_j (m, n) of gradient tracing: higher = upweighting z_j raises the test loss."""
    return -(np.asarray(inputs.test_grads, np.float64) @ np.asarray(inputs.train_grads, np.float64).T)


@ATTRIBUTION_METHODS.register("datainf", "|DataInf influence| with v = the test gradient (DataInf's protocol)",
                              signed_harm=datainf_harm)
def datainf(inputs: AttributionInputs) -> np.ndarray:
    return np.abs(datainf_harm(inputs))


@ATTRIBUTION_METHODS.register("tracing", "|gradient tracing| = |test gradient · training gradient|",
                              signed_harm=tracing_harm)
def tracing(inputs: AttributionInputs) -> np.ndarray:
    return np.abs(tracing_harm(inputs))


def influence_matrices(inputs: AttributionInputs, methods: Sequence[str]) -> dict[str, np.ndarray]:
    """method → (m, n) float64 influence, higher = more influential; forests are fitted once for all OGA methods."""
    return {name: np.asarray(ATTRIBUTION_METHODS.get(name)(inputs), dtype=np.float64) for name in methods}


# --------------------------------------------------------------------------- metrics


def _check_matrix(influence: np.ndarray, train_labels: np.ndarray, test_labels: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    influence = np.asarray(influence, dtype=np.float64)
    train_labels = np.asarray(train_labels).reshape(-1)
    test_labels = np.asarray(test_labels).reshape(-1)
    if influence.shape != (len(test_labels), len(train_labels)):
        raise DataError(f"influence must be (n_test, n_train) = ({len(test_labels)}, {len(train_labels)}), "
                        f"got {influence.shape}")
    return np.nan_to_num(influence, nan=-np.inf), train_labels, test_labels


def class_detection_auc(influence: np.ndarray, train_labels: np.ndarray, test_labels: np.ndarray) -> np.ndarray:
    """(m,) ROC AUC of each test row's influence against "training sample is of the test sample's class".

    DataInf's class-detection AUC (average it over test samples). Ties count half
    (scikit-learn's `roc_auc_score`); NaN where the class has no training samples or
    only training samples of it.
    """
    influence, train_labels, test_labels = _check_matrix(influence, train_labels, test_labels)
    out = np.full(len(test_labels), np.nan)
    for t, label in enumerate(test_labels):
        truth = train_labels == label
        if 0 < truth.sum() < len(truth):
            out[t] = roc_auc_score(truth, influence[t])
    return out


def class_detection_recall(influence: np.ndarray, train_labels: np.ndarray, test_labels: np.ndarray) -> np.ndarray:
    """(m,) share of the top-n_c training samples of each test row that are of the test sample's class.

    n_c = the number of training samples of that class (90 in the benchmarks), so recall
    = precision here. Ties are broken by training order (the earlier sample ranks first),
    so results are deterministic; NaN where the class has no training samples.
    """
    influence, train_labels, test_labels = _check_matrix(influence, train_labels, test_labels)
    out = np.full(len(test_labels), np.nan)
    positions = np.arange(len(train_labels))
    for t, label in enumerate(test_labels):
        truth = train_labels == label
        count = int(truth.sum())
        if count:
            top = np.lexsort((positions, -influence[t]))[:count]
            out[t] = truth[top].mean()
    return out


def rank_training_samples(influence_row: np.ndarray, top_k: int) -> np.ndarray:
    """Indices of the top_k training samples of one (n,) influence row, most influential first (ties: earlier first)."""
    row = np.nan_to_num(np.asarray(influence_row, dtype=np.float64), nan=-np.inf)
    return np.lexsort((np.arange(len(row)), -row))[:top_k]
