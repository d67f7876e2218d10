"""Which gradient score should be the default primary detector? Measured, not assumed (docs/detectors.md).

Grid: digits and mnist5k, each with the small CNN and the MLP, symmetric / pairflip / human
label noise at 5%, 10% and 20%, seeds 0..N-1; plus blobs (logistic regression) and moons (MLP)
with their own flips. Every other setting is the default (budget 5%). Scores compared, all
from the same run's in-sample last-layer gradients:

- `iforest`, `l1`, `l2`: the registered detectors (iForest on the stored gradients);
- `iforest_residual`: Isolation Forest on the residual p − e_y scaled by ‖[h, 1]‖ (C dims);
- `l2_iforest`: a combination that stays a real score: the geometric mean of the L2 norm and
  iForest's anomaly score, each divided by its median (higher = more outlying);
- `normalized_margin`: cleanlab's label-quality baseline on out-of-fold probabilities (reference).

    python benchmarks/detector_choice.py [--seeds 3] [--jobs 2] [--out runs/bench-detectors]

Prints the mean precision at the budget and AUROC per score and setting, and the overall
ranking (mean precision, AUROC breaking ties); writes every row as CSV.
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

CHECK_BUDGET = 0.05
"""The budget these figures are measured at (a fixed 5%, as the paper reports)."""


GRID_DATA = ("digits", "mnist5k")
GRID_MODELS = ("cnn", "mlp")
GRID_NOISE = ("symmetric", "pairflip", "human")
GRID_RATES = (0.05, 0.10, 0.20)
SCORES = ("iforest", "l1", "l2", "iforest_residual", "l2_iforest", "normalized_margin")


def extra_scores(run) -> dict[str, np.ndarray]:
    """The candidate scores that are not registered detectors, from the run's stored factors."""
    from core.detect.estimators import outlier_scores
    from core.run import schema

    factors = run.read_npz(schema.FACTORS)
    features = run.read_npy(schema.FEATURES)
    scale = np.sqrt((features.astype(np.float64) ** 2).sum(axis=1) + 1.0)
    residual = factors["residual"] * scale[:, None]
    samples = run.read_samples()
    iforest = samples[schema.score_column("iforest")].to_numpy()
    l2 = samples[schema.score_column("l2")].to_numpy()
    anomaly = iforest  # the iforest column is −score_samples = 2^(−E[h]/c(ψ)), in (0, 1]
    combined = np.sqrt((l2 / np.median(l2)) * (anomaly / np.median(anomaly)))
    return {"iforest_residual": outlier_scores("iforest", residual.astype(np.float32), run.config().seed),
            "l2_iforest": combined}


def measure(task: tuple) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    from core.config import (
        BaselineConfig,
        DataConfig,
        EmbedConfig,
        RunConfig,
        TrainConfig,
    )
    from core.evaluate.metrics import detection_metrics
    from core.pipeline.runner import analyze
    from core.run import schema

    dataset, model, noise, rate, seed, out = task
    data = DataConfig(dataset=dataset) if noise is None else DataConfig(dataset=dataset, noise=noise, noise_rate=rate)
    config = RunConfig(data=data, train=TrainConfig(model=model), embed=EmbedConfig(method="pca"),
                       baselines=BaselineConfig(influence=(), label_quality=("normalized_margin",)), seed=seed)
    name = f"{dataset}-{model}-{noise}-{rate}-seed{seed}"
    run = analyze(config, Path(out) / name, retrain_after=False)
    samples = run.read_samples()
    truth = samples[schema.IS_NOISY].to_numpy(dtype=bool)
    scores = {name: samples[schema.score_column(name)].to_numpy() for name in ("iforest", "l1", "l2",
                                                                               "normalized_margin")}
    scores.update(extra_scores(run))
    rows = []
    for score, values in scores.items():
        metrics = detection_metrics(values, truth, CHECK_BUDGET)
        rows.append({"dataset": dataset, "model": model, "noise": noise or "own flips", "rate": rate, "seed": seed,
                     "score": score, "precision": metrics["precision"], "auroc": metrics["auroc"],
                     "ap": metrics["ap"], "test_accuracy": run.read_manifest()["model"]["test_accuracy"]})
    return rows


def markdown(frame: pd.DataFrame) -> str:
    """A markdown table of `frame` with its index as the first columns (no extra dependency)."""
    frame = frame.reset_index()
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs") / "bench-detectors")
    args = parser.parse_args(argv)
    tasks = [(d, m, n, r, s, str(args.out)) for d, m, n, r, s in
             itertools.product(GRID_DATA, GRID_MODELS, GRID_NOISE, GRID_RATES, range(args.seeds))]
    tasks += [(d, m, None, None, s, str(args.out)) for (d, m) in (("blobs", "logreg"), ("moons", "mlp"))
              for s in range(args.seeds)]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [row for result in pool.map(measure, tasks) for row in result]
    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "detector_choice.csv", index=False)
    setting = frame.assign(rate=frame["rate"].map(lambda r: "-" if pd.isna(r) else f"{r:.2f}"))
    table = setting.pivot_table(index=["dataset", "model", "noise", "rate"], columns="score", values="precision",
                                aggfunc="mean")[list(SCORES)]
    print("precision at the 5% budget, mean over seeds\n")
    print(markdown(table))
    overall = frame.groupby("score")[["precision", "auroc", "ap"]].mean().sort_values(["precision", "auroc"],
                                                                                      ascending=False)
    print("\noverall (every setting weighs the same)\n")
    print(markdown(overall))


if __name__ == "__main__":
    main()
