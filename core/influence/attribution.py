"""Which training samples shaped a test prediction: attribution in gradient space (paper Section 7, Table 3).

Two-stage workflow: (1) per-sample gradients of the training samples (n, p) and of the
test samples (m, p), in the same parameter space and layout (projected with the same
projector, if at all); (2) an attribution method turns them into an **influence matrix**
(m, n) float64 — row t ranks the training samples for test sample t, **higher = more
influential** for every method. `class_detection_auc` / `class_detection_recall` score
a matrix with DataInf's protocol, and `attribute_run` applies the methods to a run
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

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.metrics import roc_auc_score

from core.errors import ConfigError, DataError
from core.detect.isolation_forest import FastIsolationForest, average_path_length

# --------------------------------------------------------------------------- per-class forests


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
        return ClassForests(self.n_trees, self.seed).fit(self.train_grads, self.train_labels)

    @cached_property
    def class_score_matrix(self) -> np.ndarray:
        """(m, n_classes) forest scores, columns in `forests.classes_` order."""
        return self.forests.class_scores(self.test_grads)

    @cached_property
    def similarity_matrix(self) -> np.ndarray:
        return self.forests.isolation_similarity(self.test_grads)


AttributionFn = Callable[[AttributionInputs], np.ndarray]


@dataclass(frozen=True)
class AttributionMethod:
    fn: AttributionFn
    help: str


ATTRIBUTION_METHODS: dict[str, AttributionMethod] = {}


def register_attribution(name: str, help: str) -> Callable[[AttributionFn], AttributionFn]:
    """Register fn(inputs) -> (m, n) float64 influence, higher = more influential, under `name`."""

    def wrap(fn: AttributionFn) -> AttributionFn:
        ATTRIBUTION_METHODS[name] = AttributionMethod(fn=fn, help=help)
        return fn

    return wrap


@register_attribution("oga_class", "per-class iForest score of the test gradient, copied to every sample of the "
                                   "class (reference code; ranks classes)")
def oga_class(inputs: AttributionInputs) -> np.ndarray:
    column = np.searchsorted(inputs.forests.classes_, inputs.train_labels)
    return inputs.class_score_matrix[:, column]


@register_attribution("oga_sample", "isolation similarity of test and training gradient in the training "
                                    "sample's class forest (per sample)")
def oga_sample(inputs: AttributionInputs) -> np.ndarray:
    return inputs.similarity_matrix


@register_attribution("oga", "classes by oga_class, samples within a class by oga_sample (rank score)")
def oga_lexicographic(inputs: AttributionInputs) -> np.ndarray:
    class_level = oga_class(inputs)
    within = inputs.similarity_matrix
    n = class_level.shape[1]
    out = np.empty_like(class_level)
    for t in range(len(class_level)):
        order = np.lexsort((np.arange(n), -within[t], -class_level[t]))
        out[t, order] = np.arange(n, 0, -1, dtype=np.float64)
    return out


def _blocks(width: int, block_sizes: Mapping[str, int] | None) -> list[slice]:
    if block_sizes is None:
        return [slice(0, width)]
    bounds = np.cumsum([0, *block_sizes.values()])
    if bounds[-1] != width:
        raise DataError(f"block sizes sum to {bounds[-1]}, gradients have width {width}")
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def datainf_matrix(train_grads: np.ndarray, test_grads: np.ndarray, block_sizes: Mapping[str, int] | None = None,
                   lambda_factor: float = 0.1) -> np.ndarray:
    """(m, n) float64 vᵀĤ⁻¹g_j for every test gradient v (rows) and training gradient g_j (columns).

    Per block l: λ_l = lambda_factor · mean_i ‖g_il‖² / d_l and
    Ĥ_l⁻¹v_l = (1/(nλ_l)) Σ_i [v_l − (v_l·g_il)/(λ_l + ‖g_il‖²) g_il] (Kwon et al. 2024),
    all test rows at once: O(m·n·p). Equals −`core.influence.methods.datainf_influence(train, v)`
    row by row (that function returns harm = −vᵀĤ⁻¹g).
    """
    train = np.asarray(train_grads, dtype=np.float64)
    test = np.asarray(test_grads, dtype=np.float64)
    n, width = train.shape
    out = np.zeros((len(test), n))
    for cols in _blocks(width, block_sizes):
        g, v = train[:, cols], test[:, cols]
        sq_norms = (g * g).sum(axis=1)
        lam = lambda_factor * float(sq_norms.mean()) / max(cols.stop - cols.start, 1)
        if lam <= 0:
            continue  # an all-zero block carries no influence
        coeff = (v @ g.T) / (lam + sq_norms)[None, :]
        solved = (n * v - coeff @ g) / (n * lam)
        out += solved @ g.T
    return out


@register_attribution("datainf", "|DataInf influence| with v = the test gradient (DataInf's protocol)")
def datainf(inputs: AttributionInputs) -> np.ndarray:
    return np.abs(datainf_matrix(inputs.train_grads, inputs.test_grads, inputs.block_sizes))


@register_attribution("tracing", "|gradient tracing| = |test gradient · training gradient|")
def tracing(inputs: AttributionInputs) -> np.ndarray:
    return np.abs(np.asarray(inputs.test_grads, np.float64) @ np.asarray(inputs.train_grads, np.float64).T)


SIGNED_HARM: dict[str, Callable[[AttributionInputs], np.ndarray]] = {
    "datainf": lambda inputs: -datainf_matrix(inputs.train_grads, inputs.test_grads, inputs.block_sizes),
    "tracing": lambda inputs: -(np.asarray(inputs.test_grads, np.float64)
                                @ np.asarray(inputs.train_grads, np.float64).T),
}
"""Signed harm (m, n) of the influence baselines (core.influence.methods): −vᵀĤ⁻¹g_j, higher = z_j raises t's loss."""


def get_attribution(name: str) -> AttributionMethod:
    """The registered method; unknown names raise a ConfigError listing the valid ones."""
    if name not in ATTRIBUTION_METHODS:
        raise ConfigError(f"unknown attribution method {name!r}; valid methods: {', '.join(ATTRIBUTION_METHODS)}")
    return ATTRIBUTION_METHODS[name]


def influence_matrices(inputs: AttributionInputs, methods: Sequence[str]) -> dict[str, np.ndarray]:
    """method → (m, n) float64 influence, higher = more influential; forests are fitted once for all OGA methods."""
    return {name: np.asarray(get_attribution(name).fn(inputs), dtype=np.float64) for name in methods}


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


# --------------------------------------------------------------------------- run directories

DEFAULT_RUN_METHODS = ("oga", "oga_class", "oga_sample", "datainf", "tracing")

TEST_ID = "test_id"
TEST_LABEL = "test_label"
TEST_PRED = "test_pred_label"
METHOD = "method"
RANK = "rank"
INFLUENCE = "influence"
HARM = "harm"
SAME_CLASS = "same_class"
ATTRIBUTION_COLUMNS = (TEST_ID, TEST_LABEL, TEST_PRED, METHOD, RANK, "sample_id", "given_label", INFLUENCE, HARM,
                       SAME_CLASS)
"""Columns of `RunAttribution.top`; sample_id and given_label are core.run.schema's names."""


@dataclass
class RunAttribution:
    """Per-test-sample attribution of an analyzed run."""

    top: pd.DataFrame
    """One row per (test_id, method, rank): the top-k training samples (columns ATTRIBUTION_COLUMNS).
    influence: the method's score (higher = more influential); harm: the signed baseline value
    (−g_tᵀĤ⁻¹g_j; NaN for OGA methods); same_class: the training sample's given label equals the test label."""
    metrics: pd.DataFrame
    """One row per method: mean class-detection AUC and recall over the selected test samples
    (classes = given training labels)."""
    info: dict = field(default_factory=dict)
    """What was computed: gradient layout, width, projection, seed, trees."""


def _closed_form(features: np.ndarray, probs: np.ndarray, labels: np.ndarray, include_bias: bool) -> np.ndarray:
    """(n, C·D̃) float32 kron(p − e_y, h̃): the last-layer gradient layout of core.gradients.last_layer."""
    from core.gradients.last_layer import gradients_from_outputs

    return gradients_from_outputs(features, probs, labels, include_bias)


def run_gradients(run_path: str | Path, test_labels: np.ndarray | None = None, projection_dim: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Closed-form last-layer gradients of a run's train and test samples from its stored features and probabilities.

    Returns (train_grads (n, w), train_labels (n,) given labels, test_grads (m, w), test_labels (m,), info).
    Gradients are kron(p − e_y, h̃) of the analyzed (ERM) model — not gradients.npy, which
    may be projected or come from cross-fitted models. When C·D̃ exceeds `projection_dim`
    (default: the run's gradients.projection_dim), train and test are projected with one
    `KroneckerProjector` (seed = the run's seed), never forming the outer products.
    Test labels: given, else the run's (cached in erm_outputs.npz; older runs reload the dataset).
    """
    from core.run import schema
    from core.run.rundir import RunDir
    from core.pipeline.runner import run_test_labels
    from core.gradients.projection import KroneckerProjector

    run = RunDir(run_path)
    manifest = run.read_manifest()
    config = run.config()
    samples = run.read_samples()
    train_labels = samples[schema.GIVEN_LABEL].to_numpy(dtype=np.int64)
    features = run.read_npy(schema.FEATURES)
    test_features = run.read_npy(schema.TEST_FEATURES)
    erm = run.read_npz(schema.ERM_OUTPUTS)
    train_probs, test_probs = erm["train_probs"], erm["test_probs"]
    if test_labels is None:
        test_labels = run_test_labels(run, manifest, config)
    test_labels = np.asarray(test_labels, dtype=np.int64).reshape(-1)
    if len(test_labels) != len(test_features):
        raise DataError(f"{len(test_labels)} test labels for {len(test_features)} test samples in {run.path}")
    include_bias = config.gradients.include_bias
    n_classes = train_probs.shape[1]
    width = n_classes * (features.shape[1] + int(include_bias))
    out_dim = projection_dim or config.gradients.projection_dim
    info = {"gradients": "closed-form last layer kron(p - e_y, [h, 1])" if include_bias
            else "closed-form last layer kron(p - e_y, h)", "width": width, "projection": None}
    if width <= out_dim:
        return (_closed_form(features, train_probs, train_labels, include_bias), train_labels,
                _closed_form(test_features, test_probs, test_labels, include_bias), test_labels, info)
    projector = KroneckerProjector(n_classes, features.shape[1], out_dim, config.seed, include_bias)

    def project(feats: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        residual = probs.astype(np.float32).copy()
        residual[np.arange(len(labels)), labels] -= 1.0
        return projector.project_factors(residual, feats)

    info.update(projection="KroneckerProjector", stored_width=projector.out_dim)
    return (project(features, train_probs, train_labels), train_labels,
            project(test_features, test_probs, test_labels), test_labels, info)


def attribute_run(run_path: str | Path, test_ids: Sequence[int] | None = None, *, top_k: int = 10,
                  methods: Sequence[str] = DEFAULT_RUN_METHODS, test_labels: np.ndarray | None = None,
                  seed: int | None = None, n_trees: int | None = None,
                  projection_dim: int | None = None) -> RunAttribution:
    """Top-k training samples for each selected test sample of an analyzed run, under each method.

    test_ids: rows of the run's test split (default: all). Per-class forests are fitted
    on the given training labels (seed and tree count default to the run's). The
    ground truth of the metrics is "training sample's given label = test label".
    """
    from core.run import schema
    from core.run.rundir import RunDir

    for name in methods:
        get_attribution(name)
    if top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}")
    config = RunDir(run_path).config()
    train_grads, train_labels, test_grads, all_test_labels, info = run_gradients(run_path, test_labels, projection_dim)
    erm = RunDir(run_path).read_npz(schema.ERM_OUTPUTS)
    selected = np.arange(len(test_grads)) if test_ids is None else np.asarray(test_ids, dtype=np.int64).reshape(-1)
    if len(selected) and (selected.min() < 0 or selected.max() >= len(test_grads)):
        raise ConfigError(f"test ids must lie in [0, {len(test_grads)}); got [{selected.min()}, {selected.max()}]")
    inputs = AttributionInputs(train_grads, train_labels, test_grads[selected],
                               seed=config.seed if seed is None else seed,
                               n_trees=config.detect.iforest_trees if n_trees is None else n_trees)
    chosen_labels = all_test_labels[selected]
    predicted = erm["test_probs"].argmax(axis=1)[selected]
    frames, metric_rows = [], []
    for name, matrix in influence_matrices(inputs, methods).items():
        harm = SIGNED_HARM[name](inputs) if name in SIGNED_HARM else None
        for row, test_id in enumerate(selected):
            top = rank_training_samples(matrix[row], top_k)
            frames.append(pd.DataFrame({
                TEST_ID: int(test_id), TEST_LABEL: int(chosen_labels[row]), TEST_PRED: int(predicted[row]),
                METHOD: name, RANK: np.arange(1, len(top) + 1), schema.SAMPLE_ID: top.astype(np.int64),
                schema.GIVEN_LABEL: train_labels[top], INFLUENCE: matrix[row, top],
                HARM: harm[row, top] if harm is not None else np.nan,
                SAME_CLASS: train_labels[top] == chosen_labels[row]}))
        metric_rows.append({METHOD: name,
                            "auc": float(np.nanmean(class_detection_auc(matrix, train_labels, chosen_labels)))
                            if len(selected) else math.nan,
                            "recall": float(np.nanmean(class_detection_recall(matrix, train_labels, chosen_labels)))
                            if len(selected) else math.nan})
    top_frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(ATTRIBUTION_COLUMNS))
    info.update(seed=inputs.seed, n_trees=inputs.n_trees, n_test=len(selected))
    return RunAttribution(top=top_frame[list(ATTRIBUTION_COLUMNS)], metrics=pd.DataFrame(metric_rows), info=info)


def class_heatmap(run_path: str | Path, method: str = "oga") -> np.ndarray:
    """(C, C) mean influence of training samples of class j (columns, given labels) on test
    samples of class i (rows, test labels) under `method` — the run's class heat map."""
    from core.run.rundir import RunDir

    get_attribution(method)
    config = RunDir(run_path).config()
    train_grads, train_labels, test_grads, test_labels, _ = run_gradients(run_path)
    inputs = AttributionInputs(train_grads, train_labels, test_grads, seed=config.seed,
                               n_trees=config.detect.iforest_trees)
    matrix = influence_matrices(inputs, [method])[method]
    n_classes = int(max(train_labels.max(), test_labels.max())) + 1
    heat = np.full((n_classes, n_classes), np.nan)
    for i in np.unique(test_labels):
        rows = matrix[test_labels == i]
        for j in np.unique(train_labels):
            heat[i, j] = rows[:, train_labels == j].mean()
    return heat
