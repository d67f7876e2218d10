"""Noise-rate estimators, detectors and suggestions on multi-label and regression runs with known errors.

Runs `analyze` (every default but `--budget 0.05`, a PCA map and probe retraining) on the engine tests'
seeded datasets (tests/task_datasets.py: a multi-label set of 4 tags with 10% one-tag errors, a linear
regression set with 10% corrupted targets, scikit-learn's diabetes records with 8%; `test_multilabel_20` on
request: the multi-label set with 20%), one run per seed, and
prints per run: the true noise rate and every applicable estimator's estimate; the precision at the
budget of each score (gradient detectors and baselines); how often the suggestion equals the truth on the
flagged wrong labels, for both label suggesters. docs/tasks.md quotes the figures.

    python benchmarks/task_estimators.py --seeds 0 1 2 --out /tmp/task-bench
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(dataset: str, seed: int, out: Path) -> dict:
    from core.config import DataConfig, EmbedConfig, FlagConfig, RunConfig
    from core.estimate.noise_rate import EstimateInputs, estimator_for
    from core.estimate.registry import NOISE_ESTIMATORS
    from core.evaluate.metrics import detection_metrics
    from core.pipeline.runner import analyze
    from core.run import schema
    from tests.task_datasets import register

    register()
    config = RunConfig(data=DataConfig(dataset=dataset), flag=FlagConfig(budget=0.05), embed=EmbedConfig(method="pca"),
                       seed=seed)
    run = analyze(config, out / f"{dataset}-{seed}", overwrite=True, retrain_after=False)
    manifest, samples = run.read_manifest(), run.read_samples()
    task = manifest["task"]["name"]
    truth = samples[schema.IS_NOISY].to_numpy(bool)
    factors = run.read_npz(schema.FACTORS)
    oof = run.read_npy(schema.OOF_PROBS)
    if task == "multilabel":
        given = np.zeros(oof.shape, np.uint8)
        for row, tags in enumerate(samples[schema.GIVEN_TAGS]):
            given[row, np.asarray(tags, dtype=np.int64)] = 1
    else:
        given = samples[schema.GIVEN_VALUE].to_numpy(np.float64)
    inputs = EstimateInputs(given, oof, factors["probs"], factors["grad_l2"].astype(np.float64), task)
    estimates = {name: float(estimator_for(name, task).rate(inputs)) for name in NOISE_ESTIMATORS
                 if task in NOISE_ESTIMATORS.entry(name).meta["tasks"]}
    precision = {name: detection_metrics(samples[schema.score_column(name)].to_numpy(), truth, 0.05)["precision"]
                 for name in schema.score_names(samples.columns)}
    flagged_wrong = samples[schema.IS_FLAGGED].to_numpy(bool) & truth
    suggestion = {}
    if task == "multilabel":
        true_sets = [tuple(t) for t in samples[schema.TRUE_TAGS]]
        for name, probs in (("counterfactual", factors["probs"]), ("out_of_fold", oof)):
            suggested = [tuple(np.flatnonzero(row >= 0.5)) for row in probs]
            hits = [suggested[i] == true_sets[i] for i in np.flatnonzero(flagged_wrong)]
            suggestion[name] = float(np.mean(hits)) if hits else float("nan")
    else:
        true_values = samples[schema.TRUE_VALUE].to_numpy(np.float64)
        inside = (samples[schema.SUGGESTED_LOW] <= true_values) & (true_values <= samples[schema.SUGGESTED_HIGH])
        suggestion["interval_covers_truth_flagged_wrong"] = float(inside[flagged_wrong].mean())
        suggestion["interval_covers_truth_all"] = float(inside.mean())
        suggestion["median_width"] = float((samples[schema.SUGGESTED_HIGH] - samples[schema.SUGGESTED_LOW]).median())
    return {"dataset": dataset, "seed": seed, "task": task, "true_rate": float(truth.mean()),
            "estimates": estimates, "chosen": manifest["suggested_budget"]["method"],
            "interval": [manifest["suggested_budget"]["low"], manifest["suggested_budget"]["high"]],
            "precision_at_5pct": precision, "suggestion_on_flagged_wrong": suggestion,
            "test_metrics": {k: v for k, v in manifest["model"].items() if k.startswith("test_")},
            "seconds": {k: round(v["seconds"], 1) for k, v in manifest["stages"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["test_multilabel", "test_regression", "test_diabetes"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("/tmp/task-bench"))
    args = parser.parse_args()
    for dataset in args.datasets:
        for seed in args.seeds:
            print(json.dumps(measure(dataset, seed, args.out)), flush=True)


if __name__ == "__main__":
    main()
