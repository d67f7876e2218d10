"""The paper's Figure 3 protocol, data selection on text: flip 20% of the training labels, keep the 70% most
beneficial samples by each method, retrain, and compare test accuracy (`gradsift reproduce data-selection`).

Per seed: the task's training texts (GLUE train.tsv, core.data.glue; or any text manifest) get
`flip_rate` of their labels flipped (symmetric noise, seeded; the file's labels are the truth), one
run is analyzed (core.pipeline.runner.analyze: the configured encoder, the text probe by default),
and for every method the top `1 − keep_fraction` of the training samples by its harm score are
removed and the model is retrained on the rest with the same recipe (core.pipeline.retrain, `full`
mode: the probe's L-BFGS refit, its L2 strength chosen again on the kept validation rows). The test
split is GLUE's dev.tsv (GLUE's test labels are hidden); nothing that decides what to remove sees it.

Methods: OGA (iforest, l1, l2 on the closed-form last-layer gradients), self-influence (self_exact:
g_jᵀ H⁻¹ g_j with the exact last-layer Hessian, the quantity Self-LiSSA approximates; self_datainf),
cleanlab's label-quality scores on out-of-fold probabilities, and a seeded random 70%, next to
training on everything (`all`). Accuracy is reported per method as mean and 95% t-interval over
seeds (core.evaluate.intervals). The paper used RoBERTa-large + LoRA on full GLUE (a GPU job);
here the default is the frozen all-MiniLM-L6-v2 probe, which a CPU runs on subsamples
(`max_train`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import (
    BaselineConfig,
    DataConfig,
    DetectConfig,
    EmbedConfig,
    FlagConfig,
    GradientConfig,
    RunConfig,
    TrainConfig,
)
from core.detect.flagging import flag
from core.errors import ConfigError
from core.evaluate.intervals import t_interval
from core.pipeline.artifacts import load_run_dataset
from core.pipeline.retrain import retrain
from core.pipeline.runner import Reporter, analyze
from core.protocols.figures import panels, save
from core.run import schema
from core.run.io import atomic_write
from core.run.reviews import ReviewEdits

OGA = ("iforest", "l1", "l2")
SELF_INFLUENCE = ("self_exact", "self_datainf")
LABEL_QUALITY = ("normalized_margin", "self_confidence", "confidence_weighted_entropy")
RANDOM, ALL = "random", "all"
METHODS = (*OGA, *SELF_INFLUENCE, *LABEL_QUALITY, RANDOM)
RANDOM_STREAM = 31
ROW_COLUMNS = ("task", "seed", "method", "n_train", "n_kept", "n_flipped", "flipped_removed", "test_accuracy")

ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class DataSelectionConfig:
    """One Figure 3 experiment: which data, how much is flipped and kept, which model, which methods."""

    task: str
    """A GLUE task (sst2, qnli, qqp, mrpc) or a name for the text manifest in `manifest`."""
    data_dir: str | None = None
    manifest: str | None = None
    """A text manifest (text, label, optional split) used instead of GLUE files."""
    flip_rate: float = 0.2
    keep_fraction: float = 0.7
    seeds: int = 3
    model: str = "text_probe"
    encoder: str | None = None
    text_max_length: int | None = None
    max_train: int | None = None
    """At most this many training rows (seeded subsample; GLUE files only); None = all."""
    max_test: int | None = None
    methods: tuple[str, ...] = METHODS
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if (self.data_dir is None) == (self.manifest is None):
            raise ConfigError("give exactly one of --data-dir (GLUE TSV files) or --manifest (a text manifest)")
        if not 0 < self.flip_rate < 1 or not 0 < self.keep_fraction < 1:
            raise ConfigError(f"flip rate and keep fraction must be in (0, 1), got {self.flip_rate}, "
                              f"{self.keep_fraction}")
        if self.seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {self.seeds}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(
                f"unknown data-selection method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}"
            )


def run_config(cfg: DataSelectionConfig, manifest: Path, seed: int) -> RunConfig:
    """The analysis of one seed: the flipped manifest, the configured model and every scoring method."""
    return RunConfig(
        data=DataConfig(dataset=str(manifest), noise="symmetric", noise_rate=cfg.flip_rate, encoder=cfg.encoder,
                        text_max_length=cfg.text_max_length, test_labels_verified=cfg.data_dir is not None or None),
        train=TrainConfig(**{**cfg.train.__dict__, "model": cfg.model}),
        gradients=GradientConfig(mode="in_sample"),
        detect=DetectConfig(detectors=OGA), flag=FlagConfig(primary="iforest", budget=1 - cfg.keep_fraction),
        baselines=BaselineConfig(influence=tuple(m for m in cfg.methods if m in SELF_INFLUENCE),
                                 label_quality=LABEL_QUALITY, max_gradient_values=400_000_000),
        embed=EmbedConfig(method="pca"),
        seed=seed,
    )


def _copied_manifest(source: Path, out: Path) -> dict:
    """The manifest's texts, labels and split as the protocol's truth (its `true_label` when it has one, else
    `label`): the protocol flips labels itself, so the copy carries no `true_label`."""
    if source.suffix.lower() == ".csv":
        table = pd.read_csv(source, dtype=str, keep_default_na=False)
    else:
        table = pd.read_parquet(source)
    for column in ("text", "label"):
        if column not in table.columns:
            raise ConfigError(f"--manifest {source}: needs a {column!r} column (a text manifest)")
    truth = "true_label" if "true_label" in table.columns else "label"
    copy = pd.DataFrame({"text": table["text"], "label": table[truth]})
    if "split" in table.columns:
        copy["split"] = table["split"]
    atomic_write(out, lambda handle: handle.write(copy.to_csv(index=False).encode()))
    return {"task": "manifest", "manifest": str(source), "labels_from": truth}


def _manifest(cfg: DataSelectionConfig, out_dir: Path, seed: int) -> tuple[Path, dict]:
    if cfg.manifest is not None:
        path = out_dir / f"{cfg.task}-manifest.csv"
        return path, _copied_manifest(Path(cfg.manifest), path)
    from core.data.glue import write_glue_manifest

    path = out_dir / f"{cfg.task}-manifest-seed{seed}.csv"
    facts = write_glue_manifest(cfg.data_dir, cfg.task, path, max_train=cfg.max_train, max_test=cfg.max_test,
                                seed=seed)
    return path, facts


def data_selection(cfg: DataSelectionConfig, out_dir: Path, reporter: Reporter | None = None,
                   progress: ProgressFn | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """One row per (seed, method) (columns ROW_COLUMNS, accuracy in [0, 1]) and each seed's facts."""
    rows, facts = [], []
    say = progress or (lambda text: None)
    for seed in range(cfg.seeds):
        manifest, seed_facts = _manifest(cfg, out_dir, seed)
        say(f"seed {seed}: analyzing {manifest.name}")
        run = analyze(run_config(cfg, manifest, seed), out_dir / f"{cfg.task}-{cfg.model}-seed{seed}",
                      reporter=reporter, retrain_after=False)
        samples = run.read_samples()
        n = len(samples)
        noisy = samples[schema.IS_NOISY].to_numpy(dtype=bool)
        n_remove = n - int(round(cfg.keep_fraction * n))
        budget = n_remove / n
        seed_facts = {**seed_facts, "seed": seed, "run": str(run.path), "n_train": n, "n_flipped": int(noisy.sum()),
                      "encoder": run.read_manifest()["dataset"].get("encoder", {}).get("name")}
        facts.append(seed_facts)
        dataset = load_run_dataset(run, run.read_manifest(), run.config())
        base = retrain(run, "l2", 0.0, mode="full", seed=seed, reporter=reporter, dataset=dataset)
        rows.append(_row(cfg, seed, ALL, n, n, noisy, np.zeros(n, bool), base["test_accuracy"]))
        for method in cfg.methods:
            say(f"seed {seed}: keeping {cfg.keep_fraction:.0%} by {method}")
            if method == RANDOM:
                removed = np.sort(np.random.default_rng([seed, RANDOM_STREAM]).choice(n, n_remove, replace=False))
                result = retrain(run, "l2", 0.0, mode="full", seed=seed, reporter=reporter, dataset=dataset,
                                 reviews=ReviewEdits(removed=set(removed.tolist())))
                mask = np.zeros(n, bool)
                mask[removed] = True
            else:
                result = retrain(run, method, budget, mode="full", seed=seed, reporter=reporter, dataset=dataset)
                mask = flag(samples[schema.score_column(method)].to_numpy(), budget)
            rows.append(_row(cfg, seed, method, n, n - int(mask.sum()), noisy, mask, result["test_accuracy"]))
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS)), facts


def _row(cfg: DataSelectionConfig, seed: int, method: str, n: int, kept: int, noisy: np.ndarray, removed: np.ndarray,
         accuracy: float) -> dict:
    return {"task": cfg.task, "seed": seed, "method": method, "n_train": n, "n_kept": kept,
            "n_flipped": int(noisy.sum()), "flipped_removed": int((noisy & removed).sum()),
            "test_accuracy": float(accuracy)}


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (task, method): mean test accuracy and its 95% t-interval over seeds, the share of the flipped
    labels removed, and the paired change against `all` (same seed)."""
    out = []
    for (task, method), part in rows.groupby(["task", "method"], sort=False):
        mean, low, high = t_interval(part.test_accuracy, bounds=(0.0, 1.0))
        base = rows[(rows.task == task) & (rows.method == ALL)].set_index("seed").test_accuracy
        delta, delta_low, delta_high = t_interval(part.set_index("seed").test_accuracy - base.loc[part.seed].values)
        flipped = part.flipped_removed.sum() / max(part.n_flipped.sum(), 1)
        out.append({"task": task, "method": method, "seeds": len(part), "accuracy_mean": mean, "accuracy_low": low,
                    "accuracy_high": high, "delta_mean": delta, "delta_low": delta_low, "delta_high": delta_high,
                    "flipped_removed_share": float(flipped)})
    return pd.DataFrame(out)


def plot_summary(summary: pd.DataFrame, path: Path, keep_fraction: float) -> None:
    tasks = list(dict.fromkeys(summary.task))
    fig, axes = panels(len(tasks), 6, 4)
    for ax, task in zip(axes, tasks):
        part = summary[summary.task == task]
        x = np.arange(len(part))
        error = np.vstack([part.accuracy_mean - part.accuracy_low, part.accuracy_high - part.accuracy_mean])
        ax.bar(x, 100 * part.accuracy_mean, yerr=100 * np.nan_to_num(error), color="#c2410c", alpha=0.85)
        ax.set_xticks(x, part.method, rotation=60, ha="right")
        ax.set_ylabel(f"test accuracy (%), mean and 95% CI, {int(part.seeds.max())} seeds")
        low = 100 * np.nanmin(part.accuracy_low.fillna(part.accuracy_mean))
        ax.set_ylim(max(0, low - 5), 100)
        ax.set_title(f"{task}: keep {keep_fraction:.0%} by each method")
    save(fig, path)
