"""Benchmark 5: what random projection costs and buys — iForest on raw vs projected gradients.

For each data set, at every width in `Sizes.proj_dims` below its gradient width, and raw:
project the last-layer gradients (Kronecker from the factors, as the pipeline does, and
sparse JL on the materialized rows for comparison), fit `outlier_scores("iforest")`, and
score against the known label noise (AUROC, and precision at the run's 5% budget), mean
over `proj_seeds` seeds (the projection's and the forest's). Time = projection + iForest.
Norm error = the 99th percentile over samples of |‖Pg‖ − ‖g‖| / ‖g‖ (the exact norm is
‖r‖·‖h̃‖ in closed form), which is what the map and any norm- or distance-based detector
inherit from the projection.

Data sets:
- digits: one `gradsift analyze --dataset digits` run (its features.npy and
  gradient_factors.npz: the analyzed model's in-sample factors; 10% injected noise);
- head_CxD for each (C, D) in `Sizes.proj_heads`: synthetic D-dim ReLU features, C
  classes, 10% symmetric noise, a softmax head fitted to the noisy labels
  (`train_linear_probe`); `proj_n` samples (at most `proj_n_wide` when the raw gradient
  is wider than 4,096). The raw reference is skipped
  when the raw matrix would exceed `RAW_LIMIT_BYTES` (then the widest sparse projection
  is the reference).

The recommendation printed at the end is the smallest width whose Kronecker AUROC is
within `AUROC_TOLERANCE` of the reference's on every data set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.bench.common import Log, Record, Sizes, info, synthetic_features, timed
from core.config import DetectConfig, GradientConfig, TrainConfig
from core.detect.estimators import outlier_scores
from core.evaluate.metrics import detection_metrics
from core.gradients.last_layer import (
    LastLayerFactors,
    closed_form_gradients,
    head_factors,
    iter_closed_form_chunks,
)
from core.gradients.projection import KroneckerProjector, SparseJLProjector
from core.models.probe import train_linear_probe
from core.run import schema

AUROC_TOLERANCE = 0.005
RAW_LIMIT_BYTES = 1.5e9


CHECK_BUDGET = 0.05
"""Precision is compared at a fixed 5% (the paper's budget)."""


def run_factors(run_dir: Path) -> tuple[LastLayerFactors, np.ndarray]:
    """The in-sample factors and the (n,) is_noisy truth of an analyzed run directory."""
    import pandas as pd

    arrays = np.load(run_dir / schema.FACTORS)
    samples = pd.read_parquet(run_dir / schema.SAMPLES, columns=[schema.IS_NOISY, schema.FOLD])
    if (samples[schema.FOLD] != -1).any():
        raise ValueError(f"{run_dir} has cross-fitted gradients; this benchmark needs an in_sample run")
    factors = LastLayerFactors(features=np.load(run_dir / schema.FEATURES), probs=arrays["probs"],
                               residual=arrays["residual"], loss=arrays["loss"])
    return factors, samples[schema.IS_NOISY].fillna(False).to_numpy(dtype=bool)


def head_factors_synthetic(n: int, dim: int, n_classes: int) -> tuple[LastLayerFactors, np.ndarray]:
    data = synthetic_features(n, dim, n_classes, seed=5 + n_classes)
    head = train_linear_probe(data.features, data.given, n_classes, TrainConfig().weight_decay, seed=0, max_iter=100)
    return head_factors(head, data.features, data.given), data.is_noisy


def _kronecker(factors: LastLayerFactors, dim: int, seed: int, chunk: int) -> np.ndarray:
    projector = KroneckerProjector(factors.n_classes, factors.feat_dim, dim, seed)
    out = np.empty((factors.n_samples, projector.out_dim), np.float32)
    for start in range(0, factors.n_samples, chunk):
        out[start:start + chunk] = projector.project_factors(factors.residual[start:start + chunk],
                                                             factors.features[start:start + chunk])
    return out


def _sparse(factors: LastLayerFactors, dim: int, seed: int, chunk: int) -> np.ndarray:
    projector = SparseJLProjector(factors.width(), dim, seed)
    out = np.empty((factors.n_samples, dim), np.float32)
    for start, rows in iter_closed_form_chunks(factors, True, chunk):
        out[start:start + len(rows)] = projector.project(rows)
    return out


def evaluate(name: str, factors: LastLayerFactors, is_noisy: np.ndarray, sizes: Sizes, log: Log) -> dict:
    """{(kind, width): {"auroc", "precision", "norm_p99", "seconds", "out_dim"}} averaged over seeds."""
    chunk, budget = GradientConfig().chunk_size, CHECK_BUDGET
    width = factors.width()
    trees = DetectConfig().iforest_trees
    results: dict[tuple[str, int], dict] = {}
    exact_norms = np.linalg.norm(factors.residual, axis=1) * np.sqrt(
        np.square(factors.features.astype(np.float64)).sum(axis=1) + 1.0)

    def score(kind: str, dim: int, make) -> None:
        runs = []
        for seed in range(sizes.proj_seeds):
            def project_and_score(seed: int = seed) -> tuple[np.ndarray, np.ndarray]:
                matrix = make(seed)
                return matrix, outlier_scores("iforest", matrix, seed, DetectConfig(iforest_trees=trees))

            seconds, (matrix, scores) = timed(project_and_score)
            metrics = detection_metrics(scores, is_noisy, budget)
            error = np.abs(np.linalg.norm(matrix, axis=1) - exact_norms) / np.maximum(exact_norms, 1e-12)
            runs.append((metrics["auroc"], metrics["precision"], float(np.percentile(error, 99)), seconds,
                         matrix.shape[1]))
        auroc, precision, norm_p99, seconds, out_dim = (np.array(column) for column in zip(*runs))
        results[(kind, dim)] = {"auroc": float(auroc.mean()), "auroc_std": float(auroc.std()),
                                "precision": float(precision.mean()), "norm_p99": float(norm_p99.mean()),
                                "seconds": float(np.min(seconds)), "out_dim": int(out_dim[0])}

    if factors.n_samples * width * 4 <= RAW_LIMIT_BYTES:
        score("raw", width, lambda seed: closed_form_gradients(factors))
    for dim in sizes.proj_dims:
        if dim >= width:
            continue
        score("kronecker", dim, lambda seed, dim=dim: _kronecker(factors, dim, seed, chunk))
        score("sparse", dim, lambda seed, dim=dim: _sparse(factors, dim, seed, chunk))
    raw = _reference(results)
    log(f"  {name}: N={factors.n_samples:,}, C={factors.n_classes}, D={factors.feat_dim}, width {width:,}, "
        f"{int(is_noisy.sum())} noisy; {sizes.proj_seeds} seed(s); time = projection + iForest (best seed)")
    if ("raw", width) not in results:
        log(f"    raw gradients skipped ({factors.n_samples * width * 4 / 1e9:.1f} GB); times relative to sparse "
            f"{raw['out_dim']}")
    log(f"    {'projection':<10} {'width':>6} {'AUROC':>14} {'prec@5%':>8} {'norm p99':>9} {'time':>9} "
        f"{'ref/this':>9}")
    for (kind, _), result in results.items():
        log(f"    {kind:<10} {result['out_dim']:>6} {result['auroc']:>8.4f}±{result['auroc_std']:.3f} "
            f"{result['precision']:>8.3f} {100 * result['norm_p99']:>8.1f}% {result['seconds']:>8.2f}s "
            f"{raw['seconds'] / result['seconds']:>8.2f}x")
    return results


def _reference(results: dict) -> dict:
    """The raw gradients' result, or the widest sparse projection's when raw was skipped."""
    for (kind, _), result in results.items():
        if kind == "raw":
            return result
    return results[max((key for key in results if key[0] == "sparse"), key=lambda key: key[1])]


def recommend(all_results: dict[str, dict]) -> int | None:
    """Smallest Kronecker width whose AUROC is within AUROC_TOLERANCE of the reference on every data set."""
    widths = sorted({dim for results in all_results.values() for kind, dim in results if kind == "kronecker"})
    for dim in widths:
        ok = True
        for results in all_results.values():
            raw = _reference(results)
            projected = results.get(("kronecker", dim))
            if projected is not None and projected["auroc"] < raw["auroc"] - AUROC_TOLERANCE:
                ok = False
        if ok:
            return dim
    return None


def run(sizes: Sizes, log: Log, run_dir: Path | None = None) -> list[Record]:
    log("[5] projection quality vs speed (iForest on raw vs projected gradients)")
    datasets: dict[str, tuple[LastLayerFactors, np.ndarray]] = {}
    if run_dir is not None:
        datasets[Path(run_dir).name] = run_factors(Path(run_dir))
    for n_classes, dim in sizes.proj_heads:
        n = sizes.proj_n if n_classes * (dim + 1) <= 4096 else min(sizes.proj_n, sizes.proj_n_wide)
        datasets[f"head_{n_classes}x{dim}"] = head_factors_synthetic(n, dim, n_classes)
    all_results = {name: evaluate(name, factors, noisy, sizes, log) for name, (factors, noisy) in datasets.items()}
    records: list[Record] = []
    for name, results in all_results.items():
        raw = _reference(results)
        for (kind, _), result in results.items():
            label = "raw" if kind == "raw" else f"{kind}_{dim}"
            records.append(info(f"projection_{name}_{label}_auroc", result["auroc"], "auroc",
                                note=f"width {result['out_dim']}, mean of {sizes.proj_seeds} seed(s)"))
            records.append(info(f"projection_{name}_{label}_precision", result["precision"], "precision",
                                note=f"precision at {CHECK_BUDGET:.0%}, iForest"))
            records.append(info(f"projection_{name}_{label}_norm_p99", result["norm_p99"], "fraction",
                                note="99th percentile of the relative error of projected gradient norms"))
            if kind != "raw":
                records.append(info(f"projection_{name}_{label}_speedup", raw["seconds"] / result["seconds"], "x",
                                    note="reference (raw) time / (projection + iForest) time"))
    choice = recommend(all_results)
    if choice is not None:
        log(f"  smallest Kronecker width within {AUROC_TOLERANCE} AUROC of the reference on every data set: {choice} "
            f"(current default projection_dim: {GradientConfig().projection_dim})")
        records.append(info("projection_recommended_dim", choice, "dims",
                            note=f"smallest tried width within {AUROC_TOLERANCE} AUROC of raw on every data set"))
    else:
        log(f"  no tried width stays within {AUROC_TOLERANCE} AUROC of raw on every data set")
    return records
