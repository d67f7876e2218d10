"""Smoke test of `gradsift bench`'s machinery on tiny sizes (not a timed test: no figure is judged).

Every section runs on tiny injected `Sizes` and the JSON it writes is checked for shape;
the probe fit the benchmark times is checked against the implementation it replaced.
"""

import json
import math

import numpy as np
import pytest
import torch

from core.bench.common import Sizes, synthetic_features, target
from core.bench.retrain_latency import probe_objective, reference_linear_probe
from core.bench.run import SECTIONS, bench
from core.models.probe import train_linear_probe

pytestmark = pytest.mark.slow

TINY = Sizes(
    label="tiny",
    grad_n=300,
    feat_dim=16,
    grad_classes=(3,),
    loop_n=10,
    vmap_n=40,
    forward_model="cnn",
    forward_n=4,
    repeats=1,
    mem_n=1000,
    mem_classes=128,
    infl_n=300,
    infl_classes=3,
    lissa_iterations=5,
    self_lissa_targets=4,
    self_lissa_iterations=1,
    proj_n=300,
    proj_heads=((3, 8),),
    proj_dims=(8,),
    proj_seeds=1,
    e2e_dataset="blobs",
    e2e_args=(
        "--epochs",
        "2",
        "--min-steps",
        "0",
        "--no-retrain",
        "--embed",
        "pca",
        "--noise",
        "pairflip",
        "--noise-rate",
        "0.2",
        "--no-baselines",
    ),
    umap_workers=(),
    iforest_cold_start=False,
    help_repeats=0,
    probe_n=400,
    probe_classes=3,
    own_seeds=1,
    own_images=300,
    own_side=16,
    own_outputs_n=2000,
    own_outputs_dim=16,
    scale_n=3000,
    scale_dim=16,
    review_learn_datasets=("blobs",),
    review_learn_seeds=2,
    review_learn_checkpoints=(10, 20),
    review_datasets=("blobs",),
    review_noise_rates=(0.1,),
    review_seeds=2,
    review_checkpoints=(10, 20),
    review_batch=10,
    review_batches=2,
    review_settings=(("epochs", 2), ("min_steps", 0), ("baselines__enabled", False)),
    text_csv_rows=48,
    text_seeds=1,
    text_args=("--embed", "pca", "--no-retrain", "--influence", "tracing"),
)
"""mem_classes=128 with feat_dim=16 makes the gradient (128·17 = 2176) wider than projection_dim, as in CIFAR-100.
end_to_end's run has the review loop's first pair-flip configuration, so the review loop reads it (as in --quick)."""


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    records = bench(json_path=path, sizes=TINY, echo=False)
    return records, json.loads(path.read_text())


def test_every_section_runs_and_writes_valid_records(bench_json):
    records, payload = bench_json
    failed = [record for record in records if record.name.endswith("_failed")]
    assert not failed, [record.note for record in failed]
    assert isinstance(payload, list) and len(payload) == len(records)
    names = [item["name"] for item in payload]
    assert len(set(names)) == len(names), "record names must be unique"
    for item in payload:
        assert set(item) == {"name", "value", "unit", "target", "met"}
        assert item["value"] is None or (isinstance(item["value"], float) and math.isfinite(item["value"]))
        assert isinstance(item["unit"], str)
        if item["target"] is None:
            assert item["met"] is None
        else:
            assert isinstance(item["met"], bool)


def test_every_target_of_the_issue_has_a_record(bench_json):
    _, payload = bench_json
    targets = {item["name"] for item in payload if item["target"] is not None}
    assert targets == {
        "gradients_C3_closed_form_vs_loop", "gradients_C3_stage_over_forward", "memory_peak_rss_cifar100_shape",
        "influence_iforest_vs_lissa", "influence_iforest_vs_datainf", "retrain_probe_seconds",
        "own_folder_analyze_seconds", "own_folder_primary_minus_kfold_margin", "own_outputs_analyze_seconds",
        "own_outputs_primary_minus_margin", "scale_analyze_seconds", "scale_peak_rss_gb",
        "review_loop_neighbors_gain_next_batch_ci_low", "review_loop_decisions_add_ci_low",
        "review_loop_estimate_abs_relative_error",
        "conflicts_with_wrong_over_random_pairs",
        "text_csv_analyze_seconds", "text_primary_minus_margin",
    }
    names = {item["name"] for item in payload}
    assert {"e2e_analyze_wall", "e2e_stage_train", "retrain_probe_speedup"} <= names


def test_target_evaluates_its_comparison():
    assert target("x", 31.0, "x", ">= 30").met is True
    assert target("x", 1.2, "x", "<= 1.1").met is False
    assert target("x", float("nan"), "x", "<= 1.1").met is False


def test_unknown_section_is_refused():
    assert "gradients" in SECTIONS
    with pytest.raises(ValueError, match="unknown benchmark section"):
        bench(sizes=TINY, only=["nope"], echo=False)


def test_linear_probe_reaches_the_previous_implementations_optimum():
    data = synthetic_features(2000, 32, 4, seed=3, separation=0.3)
    current = train_linear_probe(data.features, data.given, 4, weight_decay=1e-4, seed=0)
    previous = reference_linear_probe(data.features, data.given, 4, weight_decay=1e-4, seed=0)
    ours = probe_objective(current, data.features, data.given, 1e-4)
    theirs = probe_objective(previous, data.features, data.given, 1e-4)
    assert ours <= theirs + 1e-5
    with torch.no_grad():
        x = torch.as_tensor(data.features)
        agree = (current(x).argmax(1) == previous(x).argmax(1)).float().mean().item()
    assert agree > 0.99
    again = train_linear_probe(data.features, data.given, 4, weight_decay=1e-4, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(current.state_dict().values(), again.state_dict().values()))


def test_linear_probe_handles_constant_feature_columns():
    data = synthetic_features(500, 8, 3, seed=1)
    features = np.concatenate([data.features, np.full((500, 2), 3.0, np.float32)], axis=1)
    head = train_linear_probe(features, data.given, 3, weight_decay=1e-4, seed=0)
    assert torch.isfinite(head.weight).all() and torch.isfinite(head.bias).all()
    previous = reference_linear_probe(features, data.given, 3, weight_decay=1e-4, seed=0)
    assert probe_objective(head, features, data.given, 1e-4) <= probe_objective(previous, features, data.given,
                                                                                1e-4) + 1e-5


def test_quick_scale_reads_own_datas_outputs_run():
    from core.bench.common import scaled

    records = bench(sizes=scaled(TINY, scale_from_own_outputs=True), only=["own_data", "scale"], echo=False)
    by_name = {record.name: record for record in records}
    assert not [name for name in by_name if name.endswith("_failed")], [r.note for r in records]
    wall = by_name["scale_analyze_seconds"]
    assert "section 8's run" in wall.note and "2,000 x 16" in wall.note
    assert wall.value == by_name["own_outputs_analyze_seconds"].value  # the same analysis, not a second one


def test_lanes_put_second_core_sections_apart_and_keep_readers_with_their_runs():
    from core.bench.common import scaled
    from core.bench.run import lanes

    everything = ["gradients", "memory", "end_to_end", "projection", "retrain", "own_data", "own_data_kfold",
                  "scale", "review_loop"]
    first, second = lanes(everything, scaled(TINY, second_core=True))
    assert first == ["gradients", "retrain", "own_data", "scale"]
    assert second == ["memory", "end_to_end", "projection", "own_data_kfold", "review_loop"]
    assert lanes(everything, TINY) == (everything, [])  # the full bench: one lane
    assert lanes(["review_loop", "end_to_end"], scaled(TINY, second_core=True)) == (["review_loop", "end_to_end"], [])


def test_second_core_lane_runs_in_a_background_process_and_records_keep_section_order(capsys):
    from core.bench.common import scaled

    records = bench(sizes=scaled(TINY, second_core=True), only=["retrain", "end_to_end", "review_loop"])
    names = [record.name for record in records]
    assert not [name for name in names if name.endswith("_failed")], [r.note for r in records]
    # registry order: end_to_end, then retrain, then review_loop, whichever lane finished first
    assert names.index("e2e_analyze_wall") < names.index("retrain_probe_seconds") < names.index(
        "review_loop_decisions_add_ci_low")
    printed = capsys.readouterr().out
    assert "on the second core, in a background process" in printed
    assert "(end_to_end: " in printed and "on the second core, load average" in printed
    assert "the run the bench already made" in printed  # the review loop read end_to_end's run in its lane


def test_a_part_runs_with_its_section_and_is_refused_alone():
    with pytest.raises(ValueError, match="unknown benchmark section"):
        bench(sizes=TINY, only=["own_data_kfold"], echo=False)
