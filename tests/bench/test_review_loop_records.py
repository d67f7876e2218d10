"""The review-loop section's records on hand-made simulation points: where its targets are measured.

The targets are on the pair-flip runs at the learn checkpoints only; the symmetric runs give figures and
the estimate and conflict targets. Every expected value below is written by hand from the points.
"""

import pandas as pd
import pytest

from core.bench.review_loop import records


def _points() -> pd.DataFrame:
    rows = []

    def add(run: str, model: str, checkpoint: int, neighbors: float, control: float, estimate: float) -> None:
        base = {"run": run, "dataset": "digits", "noise_model": model, "noise": 0.2, "seed": int(run[-1]),
                "checkpoint": checkpoint, "static_precision": 0.5, "remaining": 100, "estimate": estimate,
                "low": estimate - 5, "high": estimate + 5}
        rows.append({**base, "method": "neighbors", "precision": neighbors, "gain": neighbors - 0.5})
        rows.append({**base, "method": "neighbors_no_reviews", "precision": control, "gain": control - 0.5})

    for run, wobble in (("pairflip-0", -0.01), ("pairflip-1", 0.0), ("pairflip-2", 0.01)):
        add(run, "pairflip", 50, 0.0, 0.0, 100)  # outside the learn checkpoints: a loss that must not count
        for checkpoint in (100, 200):
            add(run, "pairflip", checkpoint, 0.7 + wobble, 0.6 + wobble, 150)
    for run in ("symmetric-0", "symmetric-1"):
        for checkpoint in (50, 100):
            add(run, "symmetric", checkpoint, 0.5, 0.5, 110)
    return pd.DataFrame(rows)


def _conflicts() -> pd.DataFrame:
    return pd.DataFrame({"run": ["symmetric-0", "pairflip-0"], "noise_model": ["symmetric", "pairflip"],
                         "with_noisy": [0.9, 0.5], "random_pairs": [0.3, 0.5]})


@pytest.fixture(scope="module")
def by_name():
    out = records(_points(), pd.DataFrame(), _conflicts(), learn_checkpoints=(100, 200), learn_noise="pairflip")
    return {record.name: record for record in out}


def test_targets_are_on_the_pair_flip_runs_at_the_learn_checkpoints(by_name):
    assert by_name["review_loop_neighbors_gain_next_batch"].value == pytest.approx(0.2)
    assert by_name["review_loop_decisions_add"].value == pytest.approx(0.1)
    gain, added = by_name["review_loop_neighbors_gain_next_batch_ci_low"], by_name["review_loop_decisions_add_ci_low"]
    assert (gain.target, added.target) == ("> 0", "> 0")
    assert 0 < gain.value < 0.2 and gain.met is True
    assert added.value == pytest.approx(0.1) and added.met is True  # every run adds exactly 0.1


def test_symmetric_runs_are_figures_without_a_target(by_name):
    symmetric = [record for name, record in by_name.items() if name.startswith("review_loop_symmetric_")]
    assert symmetric and all(record.target is None for record in symmetric)
    assert by_name["review_loop_symmetric_neighbors_gain_next_batch"].value == pytest.approx(0.0)
    assert "review_loop_symmetric_neighbors_gain_next_batch_deep" not in by_name  # no checkpoint above 200


def test_estimate_and_conflict_targets_stay_on_the_symmetric_runs(by_name):
    estimate = by_name["review_loop_estimate_abs_relative_error"]
    assert estimate.target == "<= 0.25" and estimate.value == pytest.approx(0.1) and estimate.met is True
    pairflip = by_name["review_loop_pairflip_estimate_abs_relative_error"]
    assert pairflip.target is None and pairflip.value == pytest.approx((6 * 0.5 + 3 * 0.0) / 9)
    conflicts = by_name["conflicts_with_wrong_over_random_pairs"]
    assert conflicts.target == ">= 2" and conflicts.value == pytest.approx(3.0) and conflicts.met is True
    assert by_name["conflicts_pairflip_with_wrong_over_random_pairs"].target is None


def test_a_loop_that_does_not_learn_fails_the_target():
    points = _points()
    control = (points["noise_model"] == "pairflip") & (points["method"] == "neighbors_no_reviews")
    method = (points["noise_model"] == "pairflip") & (points["method"] == "neighbors")
    points.loc[control, "precision"] = points.loc[method, "precision"].to_numpy()  # as well as the method
    out = {record.name: record for record in records(points, pd.DataFrame(), _conflicts(), (100, 200))}
    assert out["review_loop_decisions_add_ci_low"].met is False
