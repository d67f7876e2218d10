"""8. Your own data, first run: a folder of images and an outputs file, every default
(`gradsift bench --only own_data`).

- **Folder**: 1,797 of scikit-learn's digits written as 32×32 grayscale PNGs in class
  sub-folders, with ~12% human-like label mistakes (flips to confusable classes, seeded),
  analyzed by `gradsift analyze --dataset FOLDER` with every default (baselines and UMAP
  included) in a fresh process, numba's cache warmed first. Target: ≤ 90 s wall per seed.
- **Folder with K full retrains** (`run_kfold`, the registry's `own_data_kfold` part: a precision figure,
  so --quick runs it on the second core): the same folder analyzed with `--oof full` (cleanlab's
  out-of-fold probabilities from K full retrains of the same model; `--no-retrain --embed pca
  --influence exact`, which change neither the model nor the detectors). Target: the primary
  detector's precision at 5% (mean over the seeds) at least cleanlab's normalized margin, both read
  from that one run (its model is the default run's: same seed, same training). Its wall time is
  information: gradsift needs one training, cleanlab's protocol K.
- **Outputs file**: 40,000 × 256 model outputs (class means with confusable pairs, ReLU
  features, a softmax head fitted on 10% noisy labels), `gradsift analyze --dataset outputs.npz`
  with every default. Target: ≤ 60 s, primary precision at 5% within 0.01 of cleanlab's
  normalized margin on the same probabilities, or better. At this size the influence baselines
  are skipped (40,000 × 2,570 gradient values exceed `baselines.max_gradient_values`) and UMAP runs
  200 epochs (its default above 10,000 rows; 500 at or below). --quick keeps both at 12,000 rows
  (`own_outputs_full_regime`: the limit scaled by the rows); at 10,000 rows with every default an
  analysis also computed the seven influence baselines (23 s on one thread) and UMAP's 500 epochs
  (~7 s more): 67 s, partly for work the 40,000-row target never does.

Every analysis runs in a fresh process with torch's default threads, or on `child_threads` (--quick: 1;
the time targets' notes then say so).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from core.bench.common import FULL, Log, Record, Sizes, info, target
from core.bench.end_to_end import _env, _wall, cli_command, thread_env, threads_note, wall_and_cpu

CHECK_BUDGET = 0.05
"""Precision is compared at a fixed 5% (the paper\'s budget), whatever the run flags."""


def make_digit_folder(root: Path, seed: int, noise_rate: float = 0.12, side: int = 32, limit: int | None = None
                      ) -> np.ndarray:
    """Write digits as side×side PNGs under root/<given label>/; returns (n,) bool truly-mislabelled per file
    index (file names are `<index>.png`)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from core.data.noise import inject_noise

    digits = load_digits()
    images = np.round(digits.images[:limit] * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target[:limit].astype(np.int64)
    given = inject_noise(labels, 10, "human", noise_rate, np.random.default_rng([seed, 9]), images[:, None])
    for index, (image, label) in enumerate(zip(images, given)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR).save(folder / f"{index}.png")
    return given != labels


def make_outputs(path: Path, n: int, dim: int, seed: int, noise_rate: float = 0.10, n_classes: int = 10,
                 head_rows: int = 50_000, chunk: int = 100_000) -> None:
    """A model's outputs on n samples: ReLU features around class means (pairs of classes close), and the
    logits of a softmax head fitted on the noisy labels of (at most `head_rows` of) them; y_true kept.

    The first n // 5 rows are the test split. Generated `chunk` rows at a time in float32, so a
    million rows of 512 features cost their 2 GB once, not several times over.
    """
    from core.data.noise import inject_noise
    from core.models.probe import train_linear_probe

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim)).astype(np.float32)
    centers[1::2] = centers[::2] + 0.6 * rng.normal(size=(n_classes // 2, dim)).astype(np.float32)  # confusable
    truth = rng.integers(0, n_classes, n)
    features = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        block = truth[start:start + chunk]
        noise = rng.standard_normal((len(block), dim), dtype=np.float32)
        features[start:start + chunk] = np.maximum(centers[block] + 1.6 * noise, 0)
    given = inject_noise(truth, n_classes, "human", noise_rate, rng, features)
    fit = np.sort(rng.choice(n, size=min(n, head_rows), replace=False))
    head = train_linear_probe(features[fit], given[fit], n_classes, 1e-3, seed)
    import torch

    logits = np.empty((n, n_classes), np.float32)
    with torch.no_grad():
        for start in range(0, n, chunk):
            logits[start:start + chunk] = head(torch.as_tensor(features[start:start + chunk])).numpy()
    test = n // 5
    np.savez(path, features=features[test:], logits=logits[test:], y=given[test:], y_true=truth[test:],
             features_test=features[:test], logits_test=logits[:test], y_test=truth[:test])


def _scores(run_dir: Path) -> tuple[float, dict[str, float]]:
    from core.evaluate.metrics import detection_metrics
    from core.run import schema
    from core.run.rundir import RunDir

    run = RunDir(run_dir)
    samples = run.read_samples()
    truth = samples[schema.IS_NOISY].to_numpy(dtype=bool)
    precision = {name: detection_metrics(samples[schema.score_column(name)].to_numpy(), truth,
                                         CHECK_BUDGET)["precision"]
                 for name in schema.score_names(samples.columns)}
    return precision[run.flagging().detector], precision


def _folder_truth(run_dir: Path, wrong_by_index: np.ndarray) -> None:
    """Give the folder run its truth: which file was flipped (the folder itself carries given labels only)."""
    from core.run import schema
    from core.run.io import write_parquet
    from core.run.rundir import RunDir

    run = RunDir(run_dir)
    samples = run.read_samples()
    index = np.array([int(Path(source).stem) for source in samples[schema.SOURCE]])
    samples[schema.IS_NOISY] = wrong_by_index[index]
    write_parquet(run.file(schema.SAMPLES), samples)


def full_regime_args(sizes: Sizes) -> tuple[list[str], str]:
    """(extra `analyze` options, the note's words) that make a smaller outputs file skip the influence baselines as
    FULL's does: `baselines.max_gradient_values` scaled by the ratio of rows (`own_outputs_full_regime`)."""
    if not sizes.own_outputs_full_regime:
        return [], ""
    from core.config import BaselineConfig

    limit = BaselineConfig().max_gradient_values * sizes.own_outputs_n // FULL.own_outputs_n
    return (["--max-gradient-values", str(limit)],
            f" but --max-gradient-values {limit:,} (the default x {sizes.own_outputs_n:,} / {FULL.own_outputs_n:,} "
            "rows: the influence baselines skipped, as at full size)")


OUTPUTS_RUN = "outputs"
"""Name of the kept outputs run under `keep_run`; its wall seconds and size are in `ANALYZE_FACTS` beside it."""
ANALYZE_FACTS = "outputs-analyze.json"


def run(sizes: Sizes, log: Log, keep_run: Path | None = None) -> tuple[list[Record], Path | None]:
    """Records, and the outputs run copied to keep_run/outputs when `scale_from_own_outputs` asks for it (the scale
    section then reads it instead of analyzing a file of its own), else None."""
    log("[8] your own data, first run: an image folder and an outputs file, every default")
    kept = None
    records: list[Record] = []
    with tempfile.TemporaryDirectory(prefix="gradsift-bench-own-") as tmp_name:
        tmp = Path(tmp_name)
        warm = [sys.executable, "-c", "import numpy as np; from core.config import EmbedConfig; "
                "from core.evaluate.embedding import embed_2d; embed_2d(np.random.rand(300, 8), EmbedConfig(), 0)"]
        _wall(warm, _env())  # numba's cache warm, as a second run on a machine would find it
        walls, cpus, primary = [], [], []
        env = {**_env(), **thread_env(sizes.child_threads)}
        threads = threads_note(sizes.child_threads)
        for seed in range(sizes.own_seeds):
            folder = tmp / f"folder-{seed}"
            wrong = make_digit_folder(folder, seed, side=sizes.own_side, limit=sizes.own_images)
            out = tmp / f"run-{seed}"
            wall, cpu = wall_and_cpu([*cli_command(), "analyze", "--dataset", str(folder), "--out", str(out),
                                      "--seed", str(seed)], env, log_path=tmp / f"analyze-{seed}.log")
            walls.append(wall)
            cpus.append(cpu)
            _folder_truth(out, wrong)
            value, _ = _scores(out)
            primary.append(value)
            log(f"    seed {seed}: analyze {wall:.1f} s (CPU {cpu:.1f} s), primary P@5% {primary[-1]:.3f}")
        records += [target("own_folder_analyze_seconds", max(walls), "s", "<= 90",
                           f"max over {len(walls)} seeds; {sizes.own_images} {sizes.own_side}px grayscale images, "
                           f"every default{threads}"),
                    info("own_folder_analyze_cpu_seconds", max(cpus), "s", "the analysis's CPU seconds, max over "
                         "seeds: on one thread about its wall time on a quiet machine"),
                    info("own_folder_primary_precision", float(np.mean(primary)), "")]

        outputs = tmp / "outputs.npz"
        make_outputs(outputs, sizes.own_outputs_n + sizes.own_outputs_n // 4, sizes.own_outputs_dim, 0)
        out = tmp / "outputs-run"
        extra, regime = full_regime_args(sizes)
        wall, cpu = wall_and_cpu([*cli_command(), "analyze", "--dataset", str(outputs), "--out", str(out), *extra],
                                 env, log_path=tmp / "outputs.log")
        value, precision = _scores(out)
        from cleanlab.rank import get_label_quality_scores

        arrays = np.load(outputs)
        logits = arrays["logits"].astype(np.float64)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        quality = get_label_quality_scores(arrays["y"], probs, method="normalized_margin")
        from core.evaluate.metrics import detection_metrics

        same_probs = detection_metrics(1 - quality, arrays["y"] != arrays["y_true"], 0.05)["precision"]
        log(f"    outputs {sizes.own_outputs_n} x {sizes.own_outputs_dim}: analyze {wall:.1f} s (CPU {cpu:.1f} s), "
            f"primary P@5% {value:.3f}, cleanlab NM on the same probabilities {same_probs:.3f}")
        records += [target("own_outputs_analyze_seconds", wall, "s", "<= 60",
                           f"{sizes.own_outputs_n} x {sizes.own_outputs_dim} outputs file, every default{regime}"
                           + threads),
                    info("own_outputs_analyze_cpu_seconds", cpu, "s", "the analysis's CPU seconds"),
                    target("own_outputs_primary_minus_margin", value - same_probs, "", ">= -0.01",
                           f"primary {value:.3f} vs cleanlab NM on the given probabilities {same_probs:.3f}")]
        if keep_run is not None and sizes.scale_from_own_outputs:
            shutil.rmtree(keep_run / OUTPUTS_RUN, ignore_errors=True)
            kept = Path(shutil.copytree(out, keep_run / OUTPUTS_RUN))
            (keep_run / ANALYZE_FACTS).write_text(json.dumps({
                "wall_seconds": wall, "rows": sizes.own_outputs_n, "dim": sizes.own_outputs_dim,
                "threads": sizes.child_threads}))
    return records, kept


def run_kfold(sizes: Sizes, log: Log) -> list[Record]:
    """The folder of `run` analyzed with K full retrains for cleanlab's out-of-fold probabilities: the primary
    detector's precision against cleanlab's normalized margin, both from that run (a precision target; the
    wall time is information)."""
    log("[8, K full retrains] your own data: the image folder with cleanlab's out-of-fold probabilities from K "
        "full retrains")
    primary, margin, walls = [], [], []
    env = {**_env(), **thread_env(sizes.child_threads)}
    threads = threads_note(sizes.child_threads)
    with tempfile.TemporaryDirectory(prefix="gradsift-bench-kfold-") as tmp_name:
        tmp = Path(tmp_name)
        for seed in range(sizes.own_seeds):
            folder = tmp / f"folder-{seed}"
            wrong = make_digit_folder(folder, seed, side=sizes.own_side, limit=sizes.own_images)
            out = tmp / f"kfold-{seed}"
            walls.append(_wall([*cli_command(), "analyze", "--dataset", str(folder), "--out", str(out),
                                "--seed", str(seed), "--oof", "full", "--no-retrain", "--embed", "pca",
                                "--influence", "exact"], env, log_path=tmp / f"kfold-{seed}.log"))
            _folder_truth(out, wrong)
            value, precision = _scores(out)
            primary.append(value)
            margin.append(precision["normalized_margin"])
            log(f"    seed {seed}: with K full retrains for cleanlab {walls[-1]:.1f} s; P@5% primary "
                f"{primary[-1]:.3f}, normalized margin {margin[-1]:.3f}")
    return [target("own_folder_primary_minus_kfold_margin", float(np.mean(primary) - np.mean(margin)), "", ">= 0",
                   f"primary {np.mean(primary):.3f} vs cleanlab NM (K full retrains) {np.mean(margin):.3f}, mean over "
                   f"{len(primary)} seeds, both from the `--oof full` run"),
            info("own_folder_kfold_margin_precision", float(np.mean(margin)), ""),
            info("own_folder_kfold_analyze_seconds", max(walls), "s",
                 f"max over seeds: an analysis with K full retrains for cleanlab's probabilities{threads} (compare "
                 "own_folder_analyze_seconds, gradsift's defaults)")]
