"""Which noise-rate estimator should suggest the budget, and where should the suggested label come from?
Measured against the injected truth (docs/budget.md).

Grid: digits and mnist5k with symmetric / pairflip / human noise at 5, 10, 20 and 30% and without noise;
blobs and moons (two classes: every noise model is the same flip) at 0, 5, 10, 20 and 30%; seeds 0..N-1.
One `analyze` per configuration, reused by every estimator: the default recipe (digits and mnist5k: the
small CNN), the L2 detector only, no baselines, the PCA map, no retraining; runs already in --out are
reused (the pipeline resumes).

Per run, from what the run stored (oof_probs.npy, gradient_factors.npz, scores.parquet; the true labels
only to score):
- every registered noise-rate estimator's point estimate and bootstrap interval (the run's
  suggest.bootstrap resamples, suggest.level): error against the true rate, coverage, width;
- the estimated precision and recall of the L2 flags at k = 5% and at k = the estimate, against the true ones;
- the suggested label of each registered suggester on the truly noisy flagged samples (at k = 5% and at the
  default estimator's k): how often it equals the true label.

    python benchmarks/budget_estimators.py [--seeds 3] [--jobs 1] [--out runs/bench-budget] [--datasets ...]

Prints the tables of docs/budget.md; writes every row as budget_estimators.csv in --out.
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

MULTI_CLASS = ("digits", "mnist5k")
TWO_CLASS = ("blobs", "moons")
NOISE = ("symmetric", "pairflip", "human")
RATES = (0.05, 0.10, 0.20, 0.30)
TARGET_ERROR, TARGET_COVERAGE, TARGET_WIDTH = 0.03, 0.90, 0.08
CHECK_BUDGET = 0.05


def tasks(seeds: int, datasets: tuple[str, ...] = MULTI_CLASS + TWO_CLASS) -> list[tuple]:
    out = []
    for seed in range(seeds):
        for dataset in datasets:
            out.append((dataset, "symmetric", 0.0, seed))
            models = NOISE if dataset in MULTI_CLASS else ("symmetric",)
            out += [(dataset, noise, rate, seed) for noise, rate in itertools.product(models, RATES)]
    return out


def measure(task: tuple, out: str) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    from core.config import (
        BaselineConfig,
        DataConfig,
        DetectConfig,
        EmbedConfig,
        RunConfig,
    )
    from core.detect.flagging import flag
    from core.estimate.noise_rate import (
        EstimateInputs,
        estimate_with_interval,
        posterior,
        precision_recall,
    )
    from core.estimate.registry import LABEL_SUGGESTERS, NOISE_ESTIMATORS
    from core.estimate.suggest import suggest_labels
    from core.pipeline.runner import analyze
    from core.run import schema

    dataset, noise, rate, seed = task
    config = RunConfig(data=DataConfig(dataset=dataset, noise=noise, noise_rate=rate),
                       detect=DetectConfig(detectors=("l2",)), baselines=BaselineConfig(enabled=False),
                       embed=EmbedConfig(method="pca"), seed=seed)
    run = analyze(config, Path(out) / f"{dataset}-{noise}-{rate}-seed{seed}", retrain_after=False)
    samples = run.read_samples()
    factors = run.read_npz(schema.FACTORS)
    scores = samples[schema.score_column("l2")].to_numpy(np.float64)
    inputs = EstimateInputs(samples[schema.GIVEN_LABEL].to_numpy(np.int64), run.read_npy(schema.OOF_PROBS),
                            factors["probs"], scores)
    truth = samples[schema.IS_NOISY].to_numpy(bool)
    true_label = samples[schema.TRUE_LABEL].to_numpy(np.int64)
    true_rate = float(truth.mean())
    base = {"dataset": dataset, "noise": noise if rate > 0 else "none", "rate": rate, "seed": seed,
            "true_rate": true_rate, "n_train": len(samples)}
    rows = []
    default_value = None
    for name in NOISE_ESTIMATORS:
        interval = estimate_with_interval(name, inputs, resamples=config.suggest.bootstrap, level=config.suggest.level,
                                          max_rows=config.suggest.max_rows, seed=seed)  # the bootstrap alone
        if name == config.suggest.noise_estimator:
            default_value = interval.value
        probability = posterior(name, inputs, interval.value)
        row = {**base, "kind": "estimator", "name": name, "value": interval.value,
               "bootstrap_low": interval.low, "bootstrap_high": interval.high, "error": interval.value - true_rate}
        for label, budget in (("at5", CHECK_BUDGET), ("at_estimate", max(interval.value, 1 / len(samples)))):
            precision, recall = precision_recall(probability, scores, budget)
            true_precision, true_recall = precision_recall(truth.astype(np.float64), scores, budget)
            row.update({f"precision_{label}": precision, f"true_precision_{label}": true_precision,
                        f"recall_{label}": recall, f"true_recall_{label}": true_recall})
        rows.append(row)
    for name in LABEL_SUGGESTERS:
        suggested = suggest_labels(getattr(inputs, LABEL_SUGGESTERS.entry(name).meta["probs"])).label
        row = {**base, "kind": "suggester", "name": name}
        for label, budget in (("at5", CHECK_BUDGET), ("at_suggested", max(default_value, 1 / len(samples)))):
            chosen = flag(scores, budget) & truth
            row[f"n_noisy_flagged_{label}"] = int(chosen.sum())
            row[f"correct_{label}"] = int((suggested[chosen] == true_label[chosen]).sum())
        row["n_noisy"] = int(truth.sum())
        row["correct_all_noisy"] = int((suggested[truth] == true_label[truth]).sum())
        rows.append(row)
    return rows


def markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A markdown table of `frame` with its index as the first columns (no extra dependency)."""
    frame = frame.reset_index()
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def widened(estimators: pd.DataFrame, model_error: float) -> pd.DataFrame:
    """The rows with the interval the suggest stage reports: the bootstrap's, `model_error` more on each side
    (clipped to [0, 1]; core.estimate.noise_rate.estimate_with_interval), its coverage and width."""
    low = np.maximum(estimators["bootstrap_low"] - model_error, 0.0)
    high = np.minimum(estimators["bootstrap_high"] + model_error, 1.0)
    truth = estimators["true_rate"]
    return estimators.assign(low=low, high=high, width=high - low,
                             covered=(low <= truth + 1e-12) & (truth <= high + 1e-12),
                             bootstrap_covered=(estimators["bootstrap_low"] <= truth + 1e-12)
                             & (truth <= estimators["bootstrap_high"] + 1e-12))


def estimator_summary(estimators: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and estimator: mean |error| and mean error (points), share within ±3 points, coverage of the
    bootstrap alone and of the reported interval, its mean width (points), share at most 8 points wide."""
    grouped = estimators.assign(abs_error=estimators["error"].abs()).groupby(["dataset", "name"])
    return pd.DataFrame({
        "runs": grouped.size(),
        "mean |error| (pt)": grouped["abs_error"].mean() * 100,
        "mean error (pt)": grouped["error"].mean() * 100,
        "within ±3 pt": grouped["abs_error"].apply(lambda e: (e <= TARGET_ERROR + 1e-12).mean()),
        "bootstrap coverage": grouped["bootstrap_covered"].mean(),
        "coverage": grouped["covered"].mean(),
        "mean width (pt)": grouped["width"].mean() * 100,
        "width ≤ 8 pt": grouped["width"].apply(lambda w: (w <= TARGET_WIDTH + 1e-12).mean()),
    })


MODEL_ERRORS = np.round(np.arange(0, 0.0501, 0.0025), 4)


def smallest_model_error(estimators: pd.DataFrame) -> float:
    """The smallest allowance on MODEL_ERRORS whose pooled coverage reaches the target (the last one else)."""
    for model_error in MODEL_ERRORS:
        if widened(estimators, model_error)["covered"].mean() >= TARGET_COVERAGE:
            return float(model_error)
    return float(MODEL_ERRORS[-1])


def model_error_report(estimators: pd.DataFrame) -> str:
    """Coverage / mean width per dataset against the allowance, and leave-one-dataset-out: the allowance chosen
    on the other datasets, scored on the one left out."""
    rows = []
    for model_error in MODEL_ERRORS:
        frame = widened(estimators, model_error)
        row = {"model_error (pt)": model_error * 100}
        for dataset, part in [*frame.groupby("dataset"), ("all", frame)]:
            row[dataset] = f"{part['covered'].mean():.2f} / {part['width'].mean() * 100:.1f}"
        rows.append(row)
    lines = [markdown(pd.DataFrame(rows).set_index("model_error (pt)"), digits=2), "",
             "leave one dataset out (allowance chosen on the others → coverage / mean width on it)", ""]
    held = []
    for dataset in sorted(estimators["dataset"].unique()):
        chosen = smallest_model_error(estimators[estimators["dataset"] != dataset])
        part = widened(estimators[estimators["dataset"] == dataset], chosen)
        held.append({"held out": dataset, "allowance (pt)": chosen * 100, "coverage": part["covered"].mean(),
                     "mean width (pt)": part["width"].mean() * 100})
    lines.append(markdown(pd.DataFrame(held).set_index("held out")))
    return "\n".join(lines)


def report(frame: pd.DataFrame, runs: int) -> None:
    """Print every table of docs/budget.md from the rows of `measure`."""
    from core.config import SuggestConfig

    default = SuggestConfig()
    estimators = widened(frame[frame["kind"] == "estimator"], default.model_error)
    print(f"noise-rate estimators against the truth ({runs} runs; interval: the bootstrap ± {default.model_error:.1%}; "
          f"targets: |error| ≤ 3 points, coverage ≥ {TARGET_COVERAGE:.0%}, width ≤ 8 points)\n")
    print(markdown(estimator_summary(estimators)))
    print("\nevery run\n")
    print(markdown(estimator_summary(estimators.assign(dataset="all"))))
    print(f"\n{default.noise_estimator}: coverage / mean width (pt) of the bootstrap ± model_error\n")
    print(model_error_report(estimators[estimators["name"] == default.noise_estimator]))
    cells = estimators.pivot_table(index=["dataset", "noise", "rate"], columns="name", values="value", aggfunc="mean")
    cells.insert(0, "true", estimators.groupby(["dataset", "noise", "rate"])["true_rate"].mean())
    print("\nmean estimate per setting (over seeds)\n")
    print(markdown(cells))
    precision = estimators.assign(
        p5=(estimators["precision_at5"] - estimators["true_precision_at5"]).abs(),
        pe=(estimators["precision_at_estimate"] - estimators["true_precision_at_estimate"]).abs(),
        re=(estimators["recall_at_estimate"] - estimators["true_recall_at_estimate"]).abs(),
    ).groupby(["dataset", "name"])[["p5", "pe", "re"]].mean().rename(columns={
        "p5": "|est − true| precision at k=5%", "pe": "… precision at k=estimate", "re": "… recall at k=estimate"})
    print("\nestimated precision / recall of the L2 flags against the true ones (mean absolute difference)\n")
    print(markdown(precision))
    suggesters = frame[frame["kind"] == "suggester"].groupby(["dataset", "name"])[
        ["correct_at5", "n_noisy_flagged_at5", "correct_at_suggested", "n_noisy_flagged_at_suggested",
         "correct_all_noisy", "n_noisy"]].sum()
    labels = pd.DataFrame({
        "noisy flagged at 5%": suggesters["n_noisy_flagged_at5"],
        "= true label": suggesters["correct_at5"] / suggesters["n_noisy_flagged_at5"],
        "noisy flagged at suggested k": suggesters["n_noisy_flagged_at_suggested"],
        "= true label ": suggesters["correct_at_suggested"] / suggesters["n_noisy_flagged_at_suggested"],
        "every noisy sample": suggesters["correct_all_noisy"] / suggesters["n_noisy"],
    })
    print("\nsuggested label = true label, on the truly noisy flagged samples (pooled over runs)\n")
    print(markdown(labels))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs") / "bench-budget")
    parser.add_argument("--datasets", nargs="+", default=list(MULTI_CLASS + TWO_CLASS), help="a subset of the grid")
    parser.add_argument("--summarize", type=Path, default=None,
                        help="only print the tables from a budget_estimators.csv written before")
    args = parser.parse_args(argv)
    if args.summarize is not None:
        frame = pd.read_csv(args.summarize)
        report(frame, len(frame[["dataset", "noise", "rate", "seed"]].drop_duplicates()))
        return
    grid = tasks(args.seeds, tuple(args.datasets))
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [row for result in pool.map(measure, grid, itertools.repeat(str(args.out))) for row in result]
    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "budget_estimators.csv", index=False)
    report(frame, len(grid))


if __name__ == "__main__":
    main()
