"""Which budget should `gradsift analyze` flag by default: a fixed 5%, or `auto` (the suggested budget)?

Grid: digits, mnist5k and intents × symmetric / pairflip / human noise at 5, 10 and 20% × seeds 0..N-1. One
`analyze` per cell with every default except: the L2 detector only (the default primary), no baselines, the
PCA map, no retraining (none of these changes the L2 ranking or the suggested budget). Both policies are then
decisions on top of the same analysis (core.detect.flagging.Flagging):
- precision, recall and F1 of the flagged set against the injected truth (read only to score);
- test accuracy after pruning the flags, probe retraining over 5 bootstrap seeds, each paired with its k = 0;
  the paired difference auto − 5% of a cell is the mean over those seeds (same resamples, same baseline).
Intervals are 95% t-intervals over the cells of a row (rates × seeds). Runs already in --out are reused.

    python benchmarks/default_budget.py [--seeds 3] [--jobs 2] [--out runs/bench-default-budget]

Prints the table of docs/budget.md ("The default budget"); writes every row as default_budget.csv in --out.
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

DATASETS = ("digits", "mnist5k", "intents")
NOISE = ("symmetric", "pairflip", "human")
RATES = (0.05, 0.10, 0.20)
FIXED = 0.05
RETRAIN_SEEDS = 5


def measure(task: tuple, out: str) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    from core.config import BaselineConfig, DataConfig, DetectConfig, EmbedConfig, RunConfig
    from core.detect.flagging import Flagging
    from core.pipeline.retrain import retrain_seeds
    from core.pipeline.runner import analyze
    from core.run import schema

    dataset, noise, rate, seed = task
    config = RunConfig(data=DataConfig(dataset=dataset, noise=noise, noise_rate=rate),
                       detect=DetectConfig(detectors=("l2",)), baselines=BaselineConfig(enabled=False),
                       embed=EmbedConfig(method="pca"), seed=seed)
    run = analyze(config, Path(out) / f"{dataset}-{noise}-{rate}-seed{seed}", retrain_after=False)
    samples = run.read_samples([schema.IS_NOISY, schema.score_column("l2")])
    truth = samples[schema.IS_NOISY].to_numpy(bool)
    scores = samples[schema.score_column("l2")].to_numpy(np.float64)
    n = len(scores)
    suggested = run.read_manifest()["suggested_budget"]["budget"]
    rows = []
    for policy, flagging in (("5%", Flagging.resolve("l2", FIXED, n)),
                             ("auto", Flagging.resolve("l2", FIXED, n, auto=True, suggested=suggested))):
        flagged = flagging.mask(scores)
        hits = int((flagged & truth).sum())
        precision, recall = hits / max(flagged.sum(), 1), hits / max(truth.sum(), 1)
        summary = retrain_seeds(run, "l2", flagging.budget, mode="probe", seeds=RETRAIN_SEEDS)
        rows.append({"dataset": dataset, "noise": noise, "rate": rate, "seed": seed, "policy": policy,
                     "budget": flagging.budget, "true_rate": float(truth.mean()), "precision": precision,
                     "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-12),
                     "accuracy": summary.accuracy_mean, "delta_vs_k0": summary.delta_mean,
                     "seed_accuracies": [row["test_accuracy"] for row in summary.rows]})
    return rows


def table(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: mean P/R/F1/accuracy of each policy and the paired accuracy difference auto − 5% [95% CI]."""
    from core.evaluate.intervals import t_interval

    out = []
    for key, part in frame.groupby(by, sort=False) if by else [("all", frame)]:
        wide = part.pivot_table(index=["dataset", "noise", "rate", "seed"], columns="policy",
                                values=["precision", "recall", "f1", "accuracy", "budget"])
        diff, low, high = t_interval((wide["accuracy"]["auto"] - wide["accuracy"]["5%"]).to_numpy())
        f1_diff, f1_low, f1_high = t_interval((wide["f1"]["auto"] - wide["f1"]["5%"]).to_numpy())
        row = dict(zip(by, key if isinstance(key, tuple) else (key,))) if by else {"group": "all"}
        row["cells"] = len(wide)
        for policy in ("5%", "auto"):
            row[f"P {policy}"] = wide["precision"][policy].mean()
            row[f"R {policy}"] = wide["recall"][policy].mean()
            row[f"F1 {policy}"] = wide["f1"][policy].mean()
            row[f"acc {policy}"] = wide["accuracy"][policy].mean()
        row["F1 auto − 5% [95% CI]"] = f"{f1_diff:+.3f} [{f1_low:+.3f}, {f1_high:+.3f}]"
        row["acc auto − 5% [95% CI]"] = f"{diff:+.4f} [{low:+.4f}, {high:+.4f}]"
        out.append(row)
    return pd.DataFrame(out)


def markdown(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="runs/bench-default-budget")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    args = parser.parse_args()
    tasks = list(itertools.product(args.datasets, NOISE, RATES, range(args.seeds)))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for done, result in enumerate(pool.map(measure, tasks, itertools.repeat(args.out)), start=1):
            rows += result
            print(f"{done}/{len(tasks)} {result[0]['dataset']} {result[0]['noise']} {result[0]['rate']} "
                  f"seed {result[0]['seed']}: auto {result[1]['budget']:.3f}", flush=True)
            pd.DataFrame(rows).to_csv(Path(args.out) / "default_budget.csv", index=False)
    frame = pd.DataFrame(rows)
    print("\nper dataset and noise (cells: rates × seeds)\n")
    print(markdown(table(frame, ["dataset", "noise"])))
    print("\nper dataset and rate\n")
    print(markdown(table(frame, ["dataset", "rate"])))
    print("\nevery cell\n")
    print(markdown(table(frame, [])))


if __name__ == "__main__":
    main()
