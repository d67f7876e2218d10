"""The review loop on multi-label and regression runs: labels in the run's form, refits under the run's task, every
method and the estimate of the errors left (classification's own results: test_loop, test_rerank)."""

import numpy as np
import pandas as pd
import pytest

from core.gradients.last_layer import gradients_from_outputs
from core.review import methods
from core.review.inputs import LoopInputs, ReviewState, tag_array
from core.review.refit import Refits, predicted_differs, refit_gradient_l2
from core.review.registry import RERANK_METHODS
from core.review.rerank import read_rerank, rerank
from core.run import reviews, schema
from core.run.label_forms import make_form
from core.tasks.base import make_task

KINDS = ("multilabel", "regression")


def toy_kind_inputs(kind: str, n: int = 240, seed: int = 0) -> tuple[LoopInputs, np.ndarray, np.ndarray]:
    """Three separable feature clusters; the label is the cluster's (tags: {cluster}, value: 10 × cluster), 15% of
    them moved to the next cluster's. Returns (inputs, true labels, the moved samples)."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 3, n)
    features = (np.eye(3)[cluster] * 4 + rng.standard_normal((n, 3))).astype(np.float32)
    flip = rng.random(n) < 0.15
    given_cluster = np.where(flip, (cluster + 1) % 3, cluster)
    if kind == "multilabel":
        true, given = tag_array([[c] for c in cluster]), tag_array([[c] for c in given_cluster])
        form, task, n_outputs = make_form("multilabel", 3), make_task("multilabel"), 3
    else:
        true, given = cluster * 10.0, given_cluster * 10.0
        task = make_task("regression", given)
        form, n_outputs = make_form({"name": "regression", "scale": task.scale}), 1
    static = flip * 2.0 + rng.random(n)
    inputs = LoopInputs(given_labels=given, score_names=["score_l2", "score_other"],
                        scores=np.column_stack([static, rng.random(n)]), static=static, features=features,
                        n_classes=n_outputs, probe_reg=1e-2, seed=0, form=form, task=task)
    return inputs, true, np.flatnonzero(flip)


def _corrected(inputs: LoopInputs, true: np.ndarray, moved: np.ndarray, count: int) -> ReviewState:
    """The first `count` moved samples relabelled to their true label by decisions in the run's form."""
    ids = moved[:count]
    decisions = pd.DataFrame({schema.SAMPLE_ID: ids, reviews.ACTION: [reviews.RELABEL] * count,
                              reviews.NEW_LABEL: pd.Series(list(true[ids]), dtype=object)})
    return ReviewState.from_decisions(decisions, inputs.given_labels)


@pytest.mark.parametrize("kind", KINDS)
def test_decisions_apply_in_the_runs_form(kind):
    inputs, true, moved = toy_kind_inputs(kind)
    state = _corrected(inputs, true, moved, 5)
    assert state.labels.dtype == inputs.given_labels.dtype
    assert not inputs.form.differ(state.labels[moved[:5]], true[moved[:5]]).any()
    assert inputs.form.differ(state.labels[moved[5:]], true[moved[5:]]).all()
    untouched = np.setdiff1d(np.arange(inputs.n_samples), moved[:5])
    assert not inputs.form.differ(state.labels[untouched], inputs.given_labels[untouched]).any()


@pytest.mark.parametrize("kind", KINDS)
def test_every_method_ranks_the_moved_labels_first(kind):
    inputs, true, moved = toy_kind_inputs(kind)
    state = _corrected(inputs, true, moved, 5)
    refits = Refits(inputs, state)
    unreviewed_moved = np.setdiff1d(moved, state.reviewed)
    clean = np.setdiff1d(np.arange(inputs.n_samples), moved)
    for name in RERANK_METHODS.names():
        scores = np.asarray(RERANK_METHODS.get(name)(inputs, state, refits), dtype=np.float64)
        assert scores.shape == (inputs.n_samples,) and np.isfinite(scores).all(), name
        assert np.median(scores[unreviewed_moved]) > np.median(scores[clean]), name
    disagrees = refits.disagrees
    assert disagrees[unreviewed_moved].mean() > disagrees[clean].mean()
    if kind == "multilabel":
        assert disagrees[unreviewed_moved].mean() > 0.5 > disagrees[clean].mean()
    # Values: the in-sample fit misses most clean targets by more than the tolerance too (the estimate's known
    # high bias for regression, docs/review-loop.md), so only the order is asserted.


@pytest.mark.parametrize("kind", KINDS)
def test_a_relabel_moves_the_neighbour_votes(kind):
    inputs, true, moved = toy_kind_inputs(kind)
    nothing = _corrected(inputs, true, moved, 0)
    before = methods.neighbors_scores(inputs, nothing, Refits(inputs, nothing))
    corrected = _corrected(inputs, true, moved, 10)
    refits = Refits(inputs, corrected)
    after = methods.neighbors_scores(inputs, corrected, refits)
    table = refits.neighbor_table
    clean_near = np.setdiff1d(np.unique(table.neighbors[np.isin(table.rows, moved[:10])]), moved)
    assert len(clean_near) and (after[clean_near] <= before[clean_near] + 1e-5).all()
    assert (after[clean_near] < before[clean_near] - 0.05).any(), "a corrected neighbour stops voting against them"


@pytest.mark.parametrize("kind", KINDS)
def test_refit_norms_equal_the_materialized_gradients_of_the_task(kind):
    inputs, true, moved = toy_kind_inputs(kind)
    state = _corrected(inputs, true, moved, 5)
    probs = Refits(inputs, state).in_sample
    materialized = gradients_from_outputs(inputs.features, probs, inputs.task_labels(state.labels),
                                          dtype=np.float64, task=inputs.task)
    np.testing.assert_allclose(refit_gradient_l2(inputs, probs, state.labels), np.linalg.norm(materialized, axis=1),
                               rtol=1e-5)
    assert predicted_differs(inputs, probs, state.labels).dtype == bool


def _review_with_truth(run, count: int) -> reviews.ReviewStore:
    """Decide the static ranking's first and last `count` / 2 samples with the run's truth: relabel wrong ones, keep
    the rest (both kinds of decision, whatever the fixture's share of wrong labels)."""
    from core.run.label_forms import form_of_run

    form = form_of_run(run.path)
    task = form.name
    true_column = schema.TRUE_TAGS if task == "multilabel" else schema.TRUE_VALUE
    samples = run.read_samples()
    given = form.given_labels(run.path)
    ranked = samples.sort_values([schema.score_column(run.flagging().detector), schema.SAMPLE_ID],
                                 ascending=[False, True])
    top = pd.concat([ranked.head(count // 2), ranked.tail(count - count // 2)])
    store = reviews.ReviewStore(run.path)
    for row in top.itertuples():
        raw = getattr(row, true_column)
        truth = tuple(sorted(int(t) for t in raw)) if task == "multilabel" else float(raw)
        if form.same(truth, given[row.sample_id]):
            store.record([row.sample_id], reviews.KEEP, "sim")
        else:
            store.record([row.sample_id], reviews.RELABEL, "sim", new_label=truth)
    return store


@pytest.mark.parametrize("kind", KINDS)
def test_rerank_on_a_run_of_each_kind(digits_run, tmp_path, kind):
    from tests.kind_runs import multilabel_run, regression_run

    run = (multilabel_run if kind == "multilabel" else regression_run)(digits_run, tmp_path / kind)
    store = _review_with_truth(run, 30)
    n_wrong = int(store.decisions()[reviews.ACTION].eq(reviews.RELABEL).sum())
    assert 0 < n_wrong < 30, "the fixture's top holds wrong and right labels"
    for method in ("neighbors", "refit", "refit_l2", "blend", "stack", "static"):
        from core.review.config import RerankConfig

        result = rerank(run.path, RerankConfig(method=method))
        frame = result.frame
        assert list(frame.columns) == list(schema.RERANK_COLUMNS) and np.isfinite(frame[schema.RERANK_SCORE]).all()
        assert int(frame[schema.WAS_REVIEWED].sum()) == 30
        open_ranks = np.sort(frame[~frame[schema.WAS_REVIEWED]][schema.RERANK_RANK].to_numpy())
        np.testing.assert_array_equal(open_ranks, np.arange(1, len(frame) - 29))
        remaining = result.facts["remaining"]
        assert remaining["low"] <= remaining["estimate"] <= remaining["high"] and result.facts["n_wrong"] == n_wrong
    assert read_rerank(run.path).facts["method"] == "static"
