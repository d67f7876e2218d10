"""Which detector leads regression: the residual's norm ‖r‖ (`residual`) against the gradient's `l2` = ‖r‖·‖h̃‖,
`iforest` and cleanlab's regression score, on regression sets of several shapes (docs/tasks.md, "Which detector").

Per dataset × seed, one `analyze` with every default except `--budget 0.05` and, for the generated CSV sets,
`--noise-rate 0.08` (core.data.task_noise `targets`: swaps, dropped digits, unit changes). Every score comes
from the same run and is cut at the run's flag count; the truth (`is_noisy`) is read only to score.

- diabetes: scikit-learn's 442 records (the built-in source, 8% corrupted);
- friedman1 / friedman1_small: scikit-learn's Friedman #1 (10 features, 5 of them in a non-linear target),
  100 + 10·y, 3,000 rows with noise 1 / 500 rows with noise 3;
- linear / linear_small: scikit-learn's make_regression (20 features, 10 informative), 300 + y, 3,000 rows
  with noise 20 / 500 rows with noise 60.

    python benchmarks/regression_detectors.py [--seeds 3] [--out runs/bench-regression-detectors]

Prints the mean precision per dataset and score with 95% t-intervals; writes regression_detectors.csv in --out.
On diabetes it adds `oracle_linear`, a bound that reads the truth: |given − ŷ| ranked with ŷ fitted on the true
targets (how far a model untouched by the corrupted records could go).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

BUDGET = 0.05
NOISE_RATE = 0.08
SCORES = ("residual", "l2", "iforest", "cleanlab_regression")
GENERATED = {
    "friedman1": ("friedman1", 3000, 1.0),
    "friedman1_small": ("friedman1", 500, 3.0),
    "linear": ("linear", 3000, 20.0),
    "linear_small": ("linear", 500, 60.0),
}
"""name → (generator, rows, noise): each written once (random_state 0) as a manifest with a `target` column."""


def write_generated(name: str, out: Path) -> Path:
    from sklearn.datasets import make_friedman1, make_regression

    kind, rows, noise = GENERATED[name]
    if kind == "friedman1":
        x, y = make_friedman1(n_samples=rows, noise=noise, random_state=0)
        y = 100 + 10 * y
    else:
        x, y = make_regression(n_samples=rows, n_features=20, n_informative=10, noise=noise, random_state=0)
        y = 300 + y
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    frame["target"] = np.round(y, 2)
    path = out / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def measure(dataset: str, source: str, seed: int, out: Path) -> dict:
    from core.config import DataConfig, FlagConfig, RunConfig
    from core.detect.flagging import Flagging
    from core.pipeline.runner import analyze
    from core.run import schema

    noise = None if dataset == "diabetes" else NOISE_RATE
    config = RunConfig(data=DataConfig(dataset=source, noise_rate=noise), flag=FlagConfig(budget=BUDGET), seed=seed)
    run = analyze(config, out / f"{dataset}-seed{seed}", overwrite=True, retrain_after=False)
    samples = run.read_samples()
    truth = samples[schema.IS_NOISY].to_numpy(bool)
    count = int(samples[schema.IS_FLAGGED].sum())
    row = {"dataset": dataset, "seed": seed, "n": len(samples), "noisy": int(truth.sum()), "flagged": count,
           "primary": run.flagging().detector}
    for name in SCORES:
        scores = samples[schema.score_column(name)].to_numpy(np.float64)
        row[name] = float(truth[Flagging.resolve(name, count / len(scores), len(scores)).mask(scores)].mean())
    if dataset == "diabetes":
        row["oracle_linear"] = oracle_linear(samples, count)
    return row


def oracle_linear(samples: pd.DataFrame, count: int) -> float:
    """A bound, not a detector (it reads the truth): the precision of ranking |given − ŷ| with ŷ a least-squares fit
    on the training records' *true* targets, i.e. with a model no corrupted target has touched."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    from core.detect.flagging import Flagging
    from core.run import schema

    features, targets = load_diabetes(return_X_y=True)
    rows = np.array([int(str(source).split()[-1]) for source in samples[schema.SOURCE]])  # "row N"
    true = samples[schema.TRUE_VALUE].to_numpy(np.float64)
    if not np.allclose(targets[rows], true):
        raise ValueError("the samples' sources do not point at scikit-learn's diabetes rows")
    fitted = LinearRegression().fit(features[rows], true).predict(features[rows])
    scores = np.abs(samples[schema.GIVEN_VALUE].to_numpy(np.float64) - fitted)
    truth = samples[schema.IS_NOISY].to_numpy(bool)
    return float(truth[Flagging.resolve("l2", count / len(scores), len(scores)).mask(scores)].mean())


def main() -> None:
    import torch

    from core.evaluate.intervals import t_interval

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="runs/bench-regression-detectors")
    parser.add_argument("--datasets", nargs="*", default=["diabetes", *GENERATED])
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sources = {name: name if name == "diabetes" else str(write_generated(name, out)) for name in args.datasets}
    rows = []
    for dataset, source in sources.items():
        for seed in range(args.seeds):
            rows.append(measure(dataset, source, seed, out))
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "regression_detectors.csv", index=False)
    table = []
    for dataset, part in frame.groupby("dataset", sort=False):
        cells = {"dataset": dataset, "n train (noisy)": f"{part['n'].iloc[0]} ({part['noisy'].iloc[0]})"}
        for name in (*SCORES, "oracle_linear"):
            if name in part and part[name].notna().all():
                mean, low, high = t_interval(part[name].to_numpy(float), bounds=(0.0, 1.0))
                cells[name] = f"{mean:.3f} [{low:.3f}, {high:.3f}]"
        table.append(cells)
    print(pd.DataFrame(table).to_string(index=False))


if __name__ == "__main__":
    main()
