"""The targets of multi-label and regression analysis (docs/tasks.md, "Measured"): precision of the flags, against
cleanlab's label-quality scores on the same run's out-of-fold outputs, the suggested tag sets, and the cost.

1. Detection, per dataset × seed, one `analyze` with every default except `--budget 0.05`:
   - mnist_pairs (multi-label: two MNIST digits side by side, 10% tag errors): precision of the flagged set;
     precision of cleanlab's multi-label score at the same count; the share of the truly wrong flagged samples
     whose suggested tag set equals the true one;
   - diabetes (442 records, 8% corrupted targets) and regression_synth (50,000 generated rows): precision of
     the flagged set and of cleanlab's regression score at the same count.
   The truth (`is_noisy`, `true_tags`) is read only to score. Intervals: 95% t-intervals over the seeds.
2. Cost: the same inputs analysed as a multi-label (or regression) task and as a single-label one (the first
   tag; the target cut at its deciles), every default, one thread, interleaved, best of --repeats.

    python benchmarks/task_targets.py [--seeds 3] [--jobs 2] [--out runs/bench-tasks] [--skip-cost]

Prints the tables of docs/tasks.md; writes task_targets.csv and task_cost.csv in --out.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

DATASETS = ("mnist_pairs", "diabetes", "regression_synth")
BUDGET = 0.05
CLEANLAB = {"multilabel": "cleanlab_multilabel", "regression": "cleanlab_regression"}
"""The label-quality baseline column each task is compared with (core.influence registry names)."""


def top_count(scores: np.ndarray, count: int) -> np.ndarray:
    """(n,) bool: the `count` highest scores (ties broken by row order, as core.detect.flagging does)."""
    from core.detect.flagging import Flagging

    return Flagging.resolve("l2", count / len(scores), len(scores)).mask(scores)


def measure(cell: tuple, out: str, huber_delta: float | None = None) -> dict:
    import torch

    torch.set_num_threads(1)
    from core.config import DataConfig, FlagConfig, RunConfig, TrainConfig
    from core.pipeline.runner import analyze
    from core.run import schema

    dataset, seed = cell
    train = TrainConfig() if huber_delta is None else TrainConfig(huber_delta=huber_delta)
    config = RunConfig(data=DataConfig(dataset=dataset), train=train, flag=FlagConfig(budget=BUDGET), seed=seed)
    started = time.perf_counter()
    run = analyze(config, Path(out) / f"{dataset}-seed{seed}")
    seconds = time.perf_counter() - started
    manifest = run.read_manifest()
    task = manifest["task"]["name"]
    samples = run.read_samples()
    truth = samples[schema.IS_NOISY].to_numpy(bool)
    flagged = samples[schema.IS_FLAGGED].to_numpy(bool)
    cleanlab_column = schema.score_column(CLEANLAB[task])
    cleanlab = top_count(samples[cleanlab_column].to_numpy(np.float64), int(flagged.sum())) \
        if cleanlab_column in samples else None
    row = {"dataset": dataset, "task": task, "seed": seed, "n": len(samples), "noisy": int(truth.sum()),
           "flagged": int(flagged.sum()), "precision": float(truth[flagged].mean()),
           "recall": float(truth[flagged].sum() / max(truth.sum(), 1)),
           "cleanlab_precision": None if cleanlab is None else float(truth[cleanlab].mean()),
           "suggested_budget": manifest["suggested_budget"]["budget"], "seconds": round(seconds, 1)}
    if task == "multilabel":
        wrong_flagged = samples[flagged & truth]
        right = [sorted(a) == sorted(b) for a, b in zip(wrong_flagged[schema.SUGGESTED_TAGS],
                                                        wrong_flagged[schema.TRUE_TAGS])]
        row["suggested_set_right"] = float(np.mean(right)) if right else None
    results = run.read_parquet(schema.RETRAIN) if run.file(schema.RETRAIN).exists() else None
    if results is not None and len(results):
        pruned = results[results["budget"] > 0]
        row["metric"] = pruned["metric"].iloc[0]
        row["metric_delta_mean"] = float(pruned["delta"].mean())
    return row


def cost_inputs(out: Path) -> list[tuple[str, str, Path]]:
    """(what, task, npz path) pairs with the same inputs: multi-label vs first-tag classes (mnist_pairs, flattened
    for an MLP and as images, where each task gets its own `--model auto`), regression vs decile classes
    (regression_synth)."""
    from core.config import DataConfig
    from core.data.load import load_dataset

    files = []
    pairs = load_dataset(DataConfig(dataset="mnist_pairs"), 0)
    x = pairs.x_train.reshape(len(pairs.x_train), -1).astype(np.float32) / 255.0
    x_test = pairs.x_test.reshape(len(pairs.x_test), -1).astype(np.float32) / 255.0
    first = lambda tags: np.asarray(tags).argmax(axis=1)  # noqa: E731 - the lowest tag shown
    for task, kwargs in (("multilabel", {"Y": pairs.given_train, "Y_test": pairs.y_test}),
                         ("classification", {"y": first(pairs.given_train), "y_test": first(pairs.y_test)})):
        path = out / f"cost-pairs-{task}.npz"
        np.savez(path, X=x, X_test=x_test, **kwargs)
        files.append(("mnist_pairs inputs", task, path))
    for task, kwargs in (("multilabel", {"Y": pairs.given_train, "Y_test": pairs.y_test}),
                         ("classification", {"y": first(pairs.given_train), "y_test": first(pairs.y_test)})):
        path = out / f"cost-pairs-images-{task}.npz"  # images: --model auto picks cnn_pool (tags) and cnn (classes)
        np.savez(path, X=pairs.x_train, X_test=pairs.x_test, **kwargs)
        files.append(("mnist_pairs images", task, path))
    synth = load_dataset(DataConfig(dataset="regression_synth"), 0)
    edges = np.quantile(synth.given_train, np.linspace(0, 1, 11)[1:-1])
    for task, kwargs in (("regression", {"y": synth.given_train, "y_test": synth.y_test}),
                         ("classification", {"y": np.digitize(synth.given_train, edges),
                                             "y_test": np.digitize(synth.y_test, edges)})):
        path = out / f"cost-synth-{task}.npz"
        np.savez(path, X=synth.x_train, X_test=synth.x_test, **kwargs)
        files.append(("regression_synth inputs", task, path))
    return files


def measure_cost(out: Path, repeats: int) -> pd.DataFrame:
    import torch

    torch.set_num_threads(1)
    from core.config import DataConfig, RunConfig
    from core.pipeline.runner import analyze

    rows = []
    files = cost_inputs(out)
    for repeat in range(repeats):
        for what, task, path in files:
            target = out / f"cost-{path.stem}-{repeat}"
            started = time.perf_counter()
            analyze(RunConfig(data=DataConfig(dataset=str(path), task=task)), target, overwrite=True)
            rows.append({"inputs": what, "task": task, "repeat": repeat,
                         "seconds": time.perf_counter() - started})
    frame = pd.DataFrame(rows)
    best = frame.groupby(["inputs", "task"], sort=False)["seconds"].min().unstack()
    best["ratio"] = best.drop(columns="classification").max(axis=1) / best["classification"]
    return best


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    from core.evaluate.intervals import t_interval

    out = []
    for dataset, part in frame.groupby("dataset", sort=False):
        row = {"dataset": dataset, "seeds": len(part), "n": int(part["n"].iloc[0])}
        for column in ("precision", "cleanlab_precision", "suggested_set_right", "recall"):
            if column in part and part[column].notna().all():
                mean, low, high = t_interval(part[column].to_numpy(float), bounds=(0.0, 1.0))
                row[column] = f"{mean:.3f} [{low:.3f}, {high:.3f}]"
        if part["cleanlab_precision"].notna().all():
            mean, low, high = t_interval((part["precision"] - part["cleanlab_precision"]).to_numpy(float))
            row["gradsift − cleanlab"] = f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"
        out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--huber-delta", type=float, default=None, help="train.huber_delta (default: the config's)")
    parser.add_argument("--out", default="runs/bench-tasks")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells = [(dataset, seed) for dataset in args.datasets for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(measure, cells, [str(out)] * len(cells), [args.huber_delta] * len(cells)))
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "task_targets.csv", index=False)
    pd.set_option("display.width", 200)
    print(frame.to_string(index=False))
    print(summary(frame).to_string(index=False))
    if not args.skip_cost:
        cost = measure_cost(out, args.repeats)
        cost.to_csv(out / "task_cost.csv")
        print(cost.round(1).to_string())


if __name__ == "__main__":
    main()
