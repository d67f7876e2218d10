"""The pieces of the review loop: decisions → state, refits with the reviews applied (closed-form norms against
materialized gradients), the methods, the estimate of the errors left on known-answer data, the simulation."""

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from core.gradients.last_layer import gradients_from_outputs
from core.review import methods
from core.review.inputs import LoopInputs, ReviewState
from core.review.refit import Refits, margin_scores, oof_refit_probs, predicted_differs, refit_gradient_l2
from core.review.registry import RERANK_METHODS
from core.review.remaining import disagreement_count, estimate_remaining, mixture_count
from core.review.simulate import NO_REVIEWS, loop_found, simulate, truth_of
from core.run import reviews, schema


def toy_inputs(n: int = 240, seed: int = 0) -> tuple[LoopInputs, np.ndarray]:
    """Three separable feature clusters, 15% of the labels flipped; the static score ranks the flips first."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 3, n)
    features = (np.eye(3)[true] * 4 + rng.standard_normal((n, 3))).astype(np.float32)
    given = true.copy()
    flip = rng.random(n) < 0.15
    given[flip] = (given[flip] + 1) % 3
    static = flip * 2.0 + rng.random(n)
    inputs = LoopInputs(given_labels=given, score_names=["score_l2", "score_other"],
                        scores=np.column_stack([static, rng.random(n)]), static=static, features=features,
                        n_classes=3, probe_reg=1e-2, seed=0)
    return inputs, true


def test_decisions_become_labels_and_masks():
    given = np.array([0, 1, 2, 0, 1])
    decisions = pd.DataFrame({schema.SAMPLE_ID: [3, 0, 1], reviews.ACTION: [reviews.KEEP, reviews.RELABEL,
                                                                            reviews.MISLABELED],
                              reviews.NEW_LABEL: pd.array([None, 2, None], dtype="Int64")})
    state = ReviewState.from_decisions(decisions, given)
    assert state.reviewed.tolist() == [0, 1, 3] and state.wrong.tolist() == [True, True, False]
    assert state.labels.tolist() == [2, 1, 2, 0, 1] and state.removed.tolist() == [False, True, False, False, False]
    assert state.unreviewed.tolist() == [2, 4] and state.key == reviews.decisions_key(decisions)
    same = ReviewState.from_arrays(given, [0, 1, 3], [True, True, False], np.array([2, -1, 0]))
    assert same.labels.tolist() == state.labels.tolist() and same.removed.tolist() == state.removed.tolist()


def test_refit_norms_equal_the_materialized_gradients():
    inputs, _ = toy_inputs()
    state = ReviewState.from_arrays(inputs.given_labels, [], [])
    probs = Refits(inputs, state).in_sample
    materialized = gradients_from_outputs(inputs.features, probs, inputs.given_labels, dtype=np.float64)
    np.testing.assert_allclose(refit_gradient_l2(inputs, probs, inputs.given_labels),
                               np.linalg.norm(materialized, axis=1), rtol=1e-5)


def test_out_of_fold_refits_ignore_removed_samples_labels():
    inputs, true = toy_inputs()
    removed = np.flatnonzero(inputs.given_labels != true)[:10]
    state = ReviewState.from_arrays(inputs.given_labels, removed, np.ones(len(removed), bool))
    other = inputs.given_labels.copy()
    other[removed] = (other[removed] + 1) % 3
    state_other = ReviewState.from_arrays(other, removed, np.ones(len(removed), bool))
    np.testing.assert_array_equal(oof_refit_probs(inputs, state), oof_refit_probs(inputs, state_other))
    relabelled = ReviewState.from_arrays(inputs.given_labels, removed, np.ones(len(removed), bool), true[removed])
    assert not np.array_equal(oof_refit_probs(inputs, state), oof_refit_probs(inputs, relabelled))


def test_margin_orientation():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    np.testing.assert_allclose(margin_scores(probs, np.array([0, 0])), [-0.8, 0.6])


@pytest.mark.parametrize("method", RERANK_METHODS.names())
def test_every_method_scores_every_sample_and_finds_the_flips(method):
    inputs, true = toy_inputs()
    order = np.argsort(-inputs.static)[:15]
    state = ReviewState.from_arrays(inputs.given_labels, np.sort(order), (inputs.given_labels != true)[np.sort(order)],
                                    true[np.sort(order)])
    scores = RERANK_METHODS.get(method)(inputs, state, Refits(inputs, state))
    assert scores.shape == (inputs.n_samples,) and np.isfinite(scores).all()
    noisy = inputs.given_labels != true
    unreviewed = state.unreviewed
    top = unreviewed[np.argsort(-scores[unreviewed])[:int(noisy[unreviewed].sum())]]
    assert noisy[top].mean() > 0.7, f"{method} does not rank the remaining flips first"


def test_the_stacked_model_waits_for_both_kinds_of_decision():
    inputs, _ = toy_inputs()
    state = ReviewState.from_arrays(inputs.given_labels, [0, 1, 2], [True, True, False])
    assert not methods.can_stack(state)
    np.testing.assert_array_equal(methods.stack_scores(inputs, state, Refits(inputs, state)), inputs.static)


def test_mixture_recovers_a_known_share_and_respects_the_reviews():
    rng = np.random.default_rng(4)
    scores = np.concatenate([rng.lognormal(0, 0.4, 900), rng.lognormal(3, 0.4, 100)])
    everyone = np.arange(1000)
    assert mixture_count(scores, [], [], everyone) == pytest.approx(100, abs=5)
    reviewed = np.arange(900, 950)  # half of the high component confirmed wrong
    left = np.setdiff1d(everyone, reviewed)
    assert mixture_count(scores, reviewed, np.ones(50), left) == pytest.approx(50, abs=5)
    assert mixture_count(scores, reviewed, np.zeros(50), left) < 50, "kept decisions pull the estimate down"


def test_estimate_range_and_disagreements():
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.4, 0.6], [0.8, 0.2]])
    labels = np.array([0, 0, 0, 0])
    inputs, _ = toy_inputs(4)
    inputs.n_classes = 2
    disagrees = predicted_differs(inputs, probs, labels)
    assert disagrees.tolist() == [False, True, True, False]
    assert disagreement_count(disagrees, np.array([0, 1, 2])) == 2
    estimate = estimate_remaining(disagrees, np.array([1.0, 5, 4, 1.2]), np.array([3]), np.array([False]),
                                  np.array([0, 1, 2]))
    assert estimate.low <= estimate.estimate <= estimate.high and estimate.n_unreviewed == 3
    assert {estimate.low, estimate.high} == {estimate.disagreement, estimate.mixture}


def test_simulation_rows_and_loop(digits_run):
    inputs, truth = LoopInputs.from_run(digits_run), truth_of(digits_run)
    frame = simulate(inputs, truth, methods=("refit", "neighbors", "static"), checkpoints=(20, 40), batch=10)
    controls = {f"refit{NO_REVIEWS}", f"neighbors{NO_REVIEWS}"}
    assert len(frame) == 2 * 5 and set(frame.method) == {"refit", "neighbors", "static"} | controls
    np.testing.assert_allclose(frame.gain, frame.precision - frame.static_precision)
    assert (frame[frame.method == "static"].gain == 0).all()
    noisy = inputs.given_labels != truth
    order = np.lexsort((np.arange(inputs.n_samples), -inputs.static))
    assert frame[frame.checkpoint == 20].remaining.iloc[0] == noisy.sum() - noisy[order[:20]].sum()
    found = loop_found(inputs, truth, "refit", batches=3, batch=10)
    assert found[0] == noisy[order[:10]].sum() and np.all(np.diff(found) >= 0) and found[-1] <= 30
    np.testing.assert_array_equal(loop_found(inputs, truth, "static", batches=3, batch=10),
                                  np.cumsum([noisy[order[i:i + 10]].sum() for i in (0, 10, 20)]))


def test_simulation_needs_the_truth(loop_run):
    from core.run.rundir import RunDir

    samples = pd.read_parquet(loop_run / schema.SAMPLES)
    samples[schema.TRUE_LABEL] = pd.array([None] * len(samples), dtype="Int64")
    samples.to_parquet(loop_run / schema.SAMPLES, index=False)
    with pytest.raises(ConfigError, match="no true labels"):
        truth_of(RunDir(loop_run))
