"""Which model multi-label images get: the small CNN (`cnn`) against the CNN pooled over positions (`cnn_pool`),
on two multi-label image sets, 3 seeds each (docs/tasks.md, "Which model multi-label images get").

- `mnist_pairs`: the built-in source (two 28-px mnist5k digits side by side, 10% tag errors);
- `digits_pairs`: the same construction from scikit-learn's 1,797 8-px digits (8 × 16 images, 1,500 pairs,
  10% tag errors from core.data.noise `tags` with the same digit confusions), written as an npz archive
  (`Y` the given tags, `Y_true` the truth, `Y_test`).

Per dataset × model × seed one `analyze` with every default except `--budget 0.05` and `--model`; precision of the
flagged 5% (the primary, `l2`) and the share of truly wrong flagged samples whose suggested tag set is the true
one, and the model's test exact-set accuracy. The truth is read only to score.

    python benchmarks/multilabel_models.py [--seeds 3] [--out runs/bench-multilabel-models]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

MODELS = ("cnn", "cnn_pool")
BUDGET = 0.05
N_DIGIT_PAIRS = 1500


def write_digits_pairs(out: Path, seed: int) -> Path:
    """digits_pairs for one seed: train/test pools split first (20% test), pairs drawn as mnist_pairs does."""
    from sklearn.datasets import load_digits

    from core.config import DataConfig
    from core.data.noise import noisy_train_labels
    from core.data.pairs import DIGIT_CONFUSIONS, _compose, _pairs
    from core.data.split import carve_test_split

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)[:, None]
    train_pool, test_pool = carve_test_split(len(digits.target), digits.target, 0.2, seed)
    n_test = N_DIGIT_PAIRS // 5
    rng = np.random.default_rng([seed, 0])
    x_train, clean = _compose(images, digits.target, *_pairs(train_pool, N_DIGIT_PAIRS - n_test, rng))
    x_test, y_test = _compose(images, digits.target, *_pairs(test_pool, n_test, rng))
    given, _ = noisy_train_labels(clean, 10, DataConfig(), np.random.default_rng([seed, 1]), x_train, 0.10,
                                  task="multilabel", confusions=DIGIT_CONFUSIONS)
    path = out / f"digits_pairs-seed{seed}.npz"
    np.savez(path, X=x_train, Y=given, Y_true=clean, X_test=x_test, Y_test=y_test,
             tag_names=np.array([str(d) for d in range(10)]))
    return path


def measure(dataset: str, source: str, model: str, seed: int, out: Path) -> dict:
    from core.config import DataConfig, FlagConfig, RunConfig, TrainConfig
    from core.pipeline.runner import analyze
    from core.run import schema

    config = RunConfig(data=DataConfig(dataset=source), train=TrainConfig(model=model),
                       flag=FlagConfig(budget=BUDGET), seed=seed)
    run = analyze(config, out / f"{dataset}-{model}-seed{seed}", overwrite=True, retrain_after=False)
    samples, manifest = run.read_samples(), run.read_manifest()
    truth = samples[schema.IS_NOISY].to_numpy(bool)
    flagged = samples[schema.IS_FLAGGED].to_numpy(bool)
    wrong = samples[flagged & truth]
    right = [sorted(a) == sorted(b) for a, b in zip(wrong[schema.SUGGESTED_TAGS], wrong[schema.TRUE_TAGS])]
    return {"dataset": dataset, "model": model, "seed": seed, "precision": float(truth[flagged].mean()),
            "set_right": float(np.mean(right)) if right else float("nan"),
            "test_exact": manifest["model"].get("test_exact_set_accuracy")}


def main() -> None:
    import torch

    from core.evaluate.intervals import t_interval

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="*", default=["digits_pairs", "mnist_pairs"])
    parser.add_argument("--out", default="runs/bench-multilabel-models")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for dataset in args.datasets:
        for seed in range(args.seeds):
            source = str(write_digits_pairs(out, seed)) if dataset == "digits_pairs" else dataset
            for model in MODELS:
                rows.append(measure(dataset, source, model, seed, out))
                print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "multilabel_models.csv", index=False)
    table = []
    for (dataset, model), part in frame.groupby(["dataset", "model"], sort=False):
        cells = {"dataset": dataset, "model": model}
        for column in ("precision", "set_right", "test_exact"):
            mean, low, high = t_interval(part[column].to_numpy(float), bounds=(0.0, 1.0))
            cells[column] = f"{mean:.3f} [{low:.3f}, {high:.3f}]"
        table.append(cells)
    print(pd.DataFrame(table).to_string(index=False))


if __name__ == "__main__":
    main()
