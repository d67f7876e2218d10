"""What a run is: one dataclass per concern, validated on construction.

The same `RunConfig` object flows unchanged from the CLI through the pipeline into
the run directory's `manifest.json`, and from there to the dashboard. Every field is
declared once with `setting(default, help)`: the help text written there is the one the
CLI shows (core.cli.options builds the options from these fields), and names that pick
a registered thing (a model, a detector, ...) are validated against that family's
registry, so allowed values are never copied here.

Every field that can change a result is part of `RunConfig.fingerprint()`, so a run
directory written under one configuration is never silently reused for another.
Settings that only decide *how* the work is executed are marked `fingerprint=False`:
`gradients.chunk_size` (rows per chunk bounds memory; a chunk's numbers are the same
whatever the chunk size, except torch.func's float rounding when a batch size changes
which BLAS kernel runs, at the 1e-7 level, below every score's resolution).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config_checks import check_at_least as _check_at_least
from core.config_checks import check_fraction as _check_fraction
from core.detect.registry import DETECTORS
from core.errors import ConfigError
from core.estimate.registry import LABEL_SUGGESTERS, NOISE_ESTIMATORS
from core.evaluate.registry import EMBEDDERS
from core.gradients.registry import GRADIENT_MODES, PROJECTIONS
from core.influence.registry import (
    INFLUENCE_METHODS,
    LABEL_QUALITY_METHODS,
    OOF_METHODS,
)
from core.models.registry import MODELS, OPTIMIZERS
from core.pipeline.registry import RETRAIN_MODES
from core.tasks.registry import TASKS


def setting(default: Any, help: str, *, fingerprint: bool = True) -> Any:
    """A config field with its help text (shown by the CLI) and whether it enters the fingerprint."""
    return field(default=default, metadata={"help": help, "fingerprint": fingerprint})


def help_of(section: type, name: str) -> str:
    """The help text of field `name` of a config section class."""
    return next(f.metadata["help"] for f in dataclasses.fields(section) if f.name == name)


@dataclass
class DataConfig:
    """Which data to analyze and how the evaluation split and injected noise are made."""

    dataset: str = setting("digits", "Dataset name (see `gradsift datasets`) or a path: image folder, "
                                     ".csv/.parquet manifest, .npz.")
    data_dir: str | None = setting(None, "Directory with downloaded files for sources that need them "
                                         "(cifar10n, cifar100n).")
    label_set: str | None = setting(None, "Label set of a multi-label-set source (CIFAR-N: aggregate, "
                                          "random1..3, worst, noisy100).")
    task: str | None = setting(None, "Task kind: classification, multilabel or regression (default: inferred "
                                     "from the input: a label, labels or target column, Y or a float y); "
                                     "docs/tasks.md.")
    noise: str | None = setting(None, "Injected label-noise model: symmetric, pairflip, human (classes), tags (tag "
                                      "sets), targets (numbers) (default: the source's own, else the task's); "
                                      "checked when the data loads.")
    noise_rate: float | None = setting(None, "Fraction of training labels to corrupt (default: the source's "
                                             "own; 0 for user data).")
    test_fraction: float = setting(0.2, "Share of samples carved out (stratified, seeded) as the test split "
                                        "when the source has none.")
    image_size: int | None = setting(None, "Side length every image is resized to (default: keep; mixed sizes: "
                                           "the most common one).")
    test_labels_verified: bool | None = setting(None, "Whether the test labels were checked by people (default: "
                                                      "what the source says; a test split carved from the "
                                                      "given labels is unverified).")
    encoder: str | None = setting(None, "Text datasets: a local Hugging Face encoder folder (config.json, weights, "
                                        "tokenizer) whose mean-pooled embeddings are the inputs (default: the "
                                        "packaged all-MiniLM-L6-v2); its content hash enters the fingerprint.")
    text_max_length: int | None = setting(None, "Text datasets: tokens per text; longer texts are truncated "
                                                "(default and upper bound: the encoder's maximum, 256 for "
                                                "all-MiniLM-L6-v2).")
    label_column: str | None = setting(None, "Hugging Face datasets: the label column when several could be.")
    input_column: str | None = setting(None, "Hugging Face datasets: the input column when several could be.")

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ConfigError("data.dataset must name a dataset or a path")
        _check_fraction("data.test_fraction", self.test_fraction)
        if self.task is not None:
            TASKS.check(self.task, "data.task")
        if self.noise_rate is not None:
            _check_fraction("data.noise_rate", self.noise_rate, low_open=False)
        if self.image_size is not None and self.image_size < 4:
            raise ConfigError(f"data.image_size must be >= 4 pixels, got {self.image_size}")
        if self.text_max_length is not None and self.text_max_length < 2:
            raise ConfigError(f"data.text_max_length must be >= 2 tokens, got {self.text_max_length}")
        if "" in (self.label_column, self.input_column) or (self.label_column or 0) == self.input_column:
            raise ConfigError("data.label_column and data.input_column must name two different columns")


@dataclass
class TrainConfig:
    """The ERM recipe; retraining after pruning reuses it unchanged."""

    model: str = setting("auto", "Model name (see `gradsift models`); auto picks the dataset's default.")
    epochs: int = setting(40, "Maximum training epochs (early stopping may end sooner).")
    batch_size: int = setting(64, "Training batch size.")
    lr: float = setting(1e-3, "Learning rate.")
    weight_decay: float = setting(1e-4, "L2 weight decay of the optimizer (and of the linear-probe refit).")
    optimizer: str = setting("adam", "Optimizer: adam or sgd.")
    momentum: float = setting(0.9, "SGD momentum (the paper's CIFAR recipe: 0.9); unused by adam.")
    min_steps: int = setting(1000, "Train for at least this many optimizer steps: a small dataset gets more "
                                   "epochs than --epochs (and a patience of a tenth of them).")
    val_fraction: float = setting(0.1, "Share of the training samples in the seeded, stratified validation split "
                                       "(early stopping; the influence baselines' v); 0 disables early stopping.")
    patience: int = setting(5, "Epochs without validation-loss improvement before stopping.")
    refit: bool = setting(True, "After early stopping has chosen the epoch count, retrain on every training "
                                "sample (validation split included) for that many epochs, so every analyzed "
                                "gradient is in-sample (docs/gradient-modes.md).")
    pretrained: bool = setting(True, "Start ResNet backbones from torchvision's ImageNet weights (downloaded once "
                                     "into torch's cache); --no-pretrained starts from random weights.")
    weights: str | None = setting(None, "A local state-dict file for the backbone (e.g. torchvision's ResNet-18 "
                                        ".pth); its SHA-256 enters the run's fingerprint.")
    probe_max_iter: int = setting(200, "L-BFGS iterations of the linear-probe head refit (probe retraining).")
    probe_max_rows: int = setting(100_000, "Last-layer refits (the probe's L2 choice, out-of-fold heads, probe "
                                           "retraining) fit on at most this many rows, a seeded subsample; every "
                                           "row up to it. A 10-class head on 512 features fits 100,000 rows in ~5 s.")
    lora_rank: int = setting(4, "text_lora: rank of the LoRA adapters on the encoder's attention (the paper's "
                                "Figure 3: 4).")
    lora_alpha: float = setting(16.0, "text_lora: LoRA scaling alpha (the update is scaled by alpha / rank).")
    huber_delta: float = setting(1.345, "Regression: the fit minimizes the Huber loss of the standardized target with "
                                        "this threshold, so a few wild targets cannot drag it (docs/tasks.md, "
                                        "measured); 0 fits the squared error. The analyzed gradient is the squared "
                                        "error's.")
    device: str = setting("auto", "auto (cuda, then mps, then cpu), or a torch device: cpu, cuda, mps.")

    def __post_init__(self) -> None:
        if self.model != "auto":
            MODELS.check(self.model, "train.model")
        OPTIMIZERS.check(self.optimizer, "train.optimizer")
        _check_at_least("train.epochs", self.epochs, 1)
        _check_at_least("train.batch_size", self.batch_size, 1)
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        _check_at_least("train.weight_decay", self.weight_decay, 0)
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"train.momentum must be in [0, 1), got {self.momentum}")
        if not 0 <= self.val_fraction < 0.5:
            raise ConfigError(f"train.val_fraction must be in [0, 0.5), got {self.val_fraction}")
        _check_at_least("train.patience", self.patience, 1)
        _check_at_least("train.min_steps", self.min_steps, 0)
        _check_at_least("train.probe_max_iter", self.probe_max_iter, 1)
        _check_at_least("train.probe_max_rows", self.probe_max_rows, 2)
        _check_at_least("train.lora_rank", self.lora_rank, 1)
        _check_at_least("train.huber_delta", self.huber_delta, 0)
        if not self.lora_alpha > 0:
            raise ConfigError(f"train.lora_alpha must be > 0, got {self.lora_alpha}")


@dataclass
class GradientConfig:
    """Which per-sample gradients are computed, from which model, and how they are compressed."""

    mode: str = setting("in_sample", "Which model's gradients: in_sample (the one early-stopped model) or "
                                     "cross_fit (K folds, out-of-sample gradients); docs/gradient-modes.md.")
    folds: int = setting(5, "Folds for cross-fitted gradients.")
    layers: str = setting("last", "last (closed form), all (every parameter, torch.func), or comma-separated "
                                  "parameter-name prefixes.")
    include_bias: bool = setting(True, "Include the last layer's bias gradient p - e_y (the reference code "
                                       "uses the weight only).")
    projection: str = setting("auto", "auto (project only when wider than projection_dim: sparse JL, or "
                                      "kronecker for last layers wider than 8,192), none, sparse (sparse JL) or "
                                      "kronecker (last layer; never forms a row).")
    projection_dim: int = setting(1024, "Width gradients are projected to when wider: the smallest width "
                                        "within 0.005 AUROC of the best (docs/benchmarks.md).")
    chunk_size: int = setting(1024, "Samples per chunk when computing and projecting gradients: bounds memory.",
                              fingerprint=False)

    def __post_init__(self) -> None:
        GRADIENT_MODES.check(self.mode, "gradients.mode")
        _check_at_least("gradients.folds", self.folds, 2)
        if self.projection != "auto":
            PROJECTIONS.check(self.projection, "gradients.projection")
        _check_at_least("gradients.projection_dim", self.projection_dim, 2)
        _check_at_least("gradients.chunk_size", self.chunk_size, 1)


@dataclass
class DetectConfig:
    """Outlier detectors run on the gradients: every one scores every sample (the flagging decision is `FlagConfig`)."""

    detectors: tuple[str, ...] = setting(("l2", "iforest", "l1", "residual"),
                                         "Detector(s) to run (see `gradsift detectors`). The primary, unless "
                                         "--primary names one: the task's own (l2; residual for regression) when "
                                         "run, else the first. Both lead by measurement (docs/detectors.md, "
                                         "docs/tasks.md).")
    iforest_trees: int = setting(100, "Trees of the Isolation Forest.")
    lof_neighbors: int = setting(20, "Neighbours of the Local Outlier Factor detector (capped at n - 1).")
    ocsvm_nu: float = setting(0.05, "nu of the one-class SVM detector: an upper bound on the outlier share.")
    max_fit_samples: int = setting(50_000, "Fitted detectors fit on at most this many rows per fold group "
                                           "(a seeded subsample above it); every row up to it.")

    def __post_init__(self) -> None:
        self.detectors = tuple(dict.fromkeys(self.detectors))
        if not self.detectors:
            raise ConfigError("detect.detectors must name at least one detector")
        for name in self.detectors:
            DETECTORS.check(name, "detect.detectors")
        _check_at_least("detect.iforest_trees", self.iforest_trees, 1)
        _check_at_least("detect.lof_neighbors", self.lof_neighbors, 1)
        _check_fraction("detect.ocsvm_nu", self.ocsvm_nu, high_open=False)
        _check_at_least("detect.max_fit_samples", self.max_fit_samples, 2)


@dataclass
class FlagConfig:
    """The flagging decision taken on top of a finished analysis: whose ranking, down to which budget.

    Only the samples and retrain stages read it, so changing it re-flags and retrains without
    recomputing the model, gradients or map (core.pipeline.registry). Resolved against the run
    into a `core.detect.flagging.Flagging` (the suggested budget when `budget` is None, the count).
    """

    primary: str | None = setting(None, "Detector whose ranking is flagged (is_flagged); one of the detectors run. "
                                        "None: the task's own when run (l2; residual for regression), else the "
                                        "first detector run.")
    budget: float | None = setting(None, "Fraction k of training samples flagged (exactly round(k * n), halves up); "
                                         "None (`--budget auto`, the default by measurement, docs/budget.md): the "
                                         "suggested budget, the estimated noise rate, stored in the manifest's "
                                         "`flagging`.")

    def __post_init__(self) -> None:
        if self.budget is not None:
            _check_fraction("flag.budget", self.budget)


INFLUENCE_DEFAULTS = ("exact", "fisher", "lissa", "datainf", "tracing", "self_exact", "self_datainf")
"""self_lissa is left out by default: it runs one LiSSA solve per training sample (minutes on
digits on a 2-core CPU); self_exact computes the same quantity exactly for last layers this small."""
LABEL_QUALITY_DEFAULTS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy", "cleanlab_multilabel",
                          "cleanlab_regression")


@dataclass
class BaselineConfig:
    """Influence-function and label-quality scores computed next to the detectors, for comparison."""

    enabled: bool = setting(True, "Also compute influence and label-quality baseline scores.")
    influence: tuple[str, ...] = setting(INFLUENCE_DEFAULTS, "Influence methods, on the analyzed model's "
                                                             "last-layer gradients.")
    label_quality: tuple[str, ...] = setting(LABEL_QUALITY_DEFAULTS, "cleanlab scores on out-of-fold outputs, by task.")
    folds: int = setting(5, "Folds for the out-of-fold probabilities cleanlab needs (reused from cross-fitted "
                            "gradients).")
    oof: str = setting("head", "Out-of-fold probabilities from: head (refit the last layer on the stored features "
                               "in K folds, seconds) or full (retrain the whole model K times); docs/reproduce.md.")
    lissa_iterations: int = setting(1000, "LiSSA iterations (lissa, self_lissa).")
    damping: float = setting(0.01, "Damping added to the Hessian as a fraction of its top eigenvalue, the same "
                                   "for exact, self_exact, lissa and self_lissa (compared on equal terms).")
    datainf_lambda_factor: float = setting(0.1, "DataInf's lambda_l = factor x mean squared gradient norm / "
                                                "width (DataInf's default 0.1).")
    max_gradient_values: int = setting(50_000_000, "Influence baselines are skipped (with a note) when "
                                                   "n_train x gradient width exceeds this.")
    dense_hessian_max_width: int = setting(4096, "Widest last layer for which exact / self_exact build the "
                                                 "dense Hessian; wider layers skip them.")

    def __post_init__(self) -> None:
        self.influence = tuple(dict.fromkeys(self.influence))
        self.label_quality = tuple(dict.fromkeys(self.label_quality))
        for name in self.influence:
            INFLUENCE_METHODS.check(name, "baselines.influence")
        for name in self.label_quality:
            LABEL_QUALITY_METHODS.check(name, "baselines.label_quality")
        OOF_METHODS.check(self.oof, "baselines.oof")
        _check_at_least("baselines.folds", self.folds, 2)
        _check_at_least("baselines.lissa_iterations", self.lissa_iterations, 1)
        _check_at_least("baselines.damping", self.damping, 0)
        if not self.datainf_lambda_factor > 0:
            raise ConfigError(f"baselines.datainf_lambda_factor must be > 0, got {self.datainf_lambda_factor}")
        _check_at_least("baselines.max_gradient_values", self.max_gradient_values, 1)
        _check_at_least("baselines.dense_hessian_max_width", self.dense_hessian_max_width, 1)


@dataclass
class SuggestConfig:
    """What gradsift suggests: a budget (the estimated share of wrong labels, with an interval) and a label for
    every sample (docs/budget.md)."""

    noise_estimator: str = setting("counterfactual", "Noise-rate estimator behind the suggested budget (see "
                                                     "docs/budget.md; the default by measurement).")
    bootstrap: int = setting(200, "Bootstrap resamples of the training samples for every estimator's interval.")
    level: float = setting(0.95, "Coverage level of the noise-rate intervals' bootstrap.")
    model_error: float = setting(0.015, "Added to each side of the bootstrap interval: the model's own error (labels "
                                      "it followed, clean samples it misclassifies) that resampling the rows "
                                      "cannot see; measured on the benchmark grid (docs/budget.md).")
    max_rows: int = setting(20_000, "Estimators and their bootstrap run on at most this many rows (a seeded "
                                    "subsample: a wider, never a narrower, interval).")
    label_suggester: str = setting("counterfactual", "Where the suggested label comes from: counterfactual (the "
                                                     "class whose label gives the smallest in-sample gradient; the "
                                                     "default by measurement) or out_of_fold (the out-of-fold "
                                                     "probabilities' top class).")

    def __post_init__(self) -> None:
        NOISE_ESTIMATORS.check(self.noise_estimator, "suggest.noise_estimator")
        LABEL_SUGGESTERS.check(self.label_suggester, "suggest.label_suggester")
        _check_at_least("suggest.bootstrap", self.bootstrap, 10)
        _check_fraction("suggest.level", self.level)
        _check_fraction("suggest.model_error", self.model_error, low_open=False)
        _check_at_least("suggest.max_rows", self.max_rows, 10)


@dataclass
class EmbedConfig:
    """The 2-D map of gradient space shown by the dashboard."""

    method: str = setting("umap", "2-D map of gradient space: umap or pca.")
    n_neighbors: int = setting(15, "UMAP neighbours.")
    min_dist: float = setting(0.1, "UMAP minimum distance between mapped points.")
    max_width: int = setting(1024, "Widest gradient rows the map reads as they are; wider stored gradients are "
                                   "sparse-projected to this width first.")
    pca_dims: int = setting(50, "Principal components the map's input is reduced to first (0 keeps every "
                                "column).")
    fit_rows: int = setting(20_000, "The map is fitted on at most this many rows (a seeded subsample); the "
                                    "others are placed on it with the fitted model's transform.")

    def __post_init__(self) -> None:
        EMBEDDERS.check(self.method, "embed.method")
        _check_at_least("embed.n_neighbors", self.n_neighbors, 2)
        _check_at_least("embed.min_dist", self.min_dist, 0)
        _check_at_least("embed.max_width", self.max_width, 2)
        _check_at_least("embed.pca_dims", self.pca_dims, 0)
        _check_at_least("embed.fit_rows", self.fit_rows, 4)


@dataclass
class RetrainConfig:
    """How the analysis's last stage proves the clean-up: retraining without the primary detector's flags."""

    mode: str = setting("probe", "Retraining mode of the analysis's retrain stage: probe (refit the last layer "
                                 "on cached features, seconds) or full (retrain the model).")
    seeds: int | None = setting(None, "Seeds per retraining, each paired with its own k = 0 baseline "
                                      "(default: 5 in probe mode, 3 in full mode).")

    def __post_init__(self) -> None:
        RETRAIN_MODES.check(self.mode, "retrain.mode")
        if self.seeds is not None:
            _check_at_least("retrain.seeds", self.seeds, 1)

    def seed_count(self) -> int:
        return self.seeds if self.seeds is not None else DEFAULT_SEEDS[self.mode]


DEFAULT_SEEDS = {"probe": 5, "full": 3}
"""Seeds per retraining when none are given: bootstrap resamples are cheap in probe mode."""


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "train": TrainConfig,
    "gradients": GradientConfig,
    "detect": DetectConfig,
    "flag": FlagConfig,
    "baselines": BaselineConfig,
    "suggest": SuggestConfig,
    "embed": EmbedConfig,
    "retrain": RetrainConfig,
}
"""Config section name → its dataclass, in manifest order."""


@dataclass
class RunConfig:
    """Everything that determines a run's results."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    gradients: GradientConfig = field(default_factory=GradientConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    flag: FlagConfig = field(default_factory=FlagConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    suggest: SuggestConfig = field(default_factory=SuggestConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    seed: int = setting(0, "Seed for splits, noise, training, detectors and the map.")

    def __post_init__(self) -> None:
        """A named primary detector must be run; None is resolved with the task (core.detect.flagging.primary_of)."""
        if self.flag.primary is not None and self.flag.primary not in self.detect.detectors:
            raise ConfigError(f"flag.primary {self.flag.primary!r} must be one of the detectors run: "
                              f"{', '.join(self.detect.detectors)}")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for name in SECTIONS:
            out[name] = {key: list(value) if isinstance(value, tuple) else value for key, value in out[name].items()}
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Rebuild a config from `to_dict` output; unknown keys are an error, not ignored."""
        unknown = set(raw) - set(SECTIONS) - {"seed"}
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {"seed": int(raw.get("seed", 0))}
        for name, klass in SECTIONS.items():
            values = dict(raw.get(name, {}))
            allowed = {f.name for f in dataclasses.fields(klass)}
            extra = set(values) - allowed
            if extra:
                raise ConfigError(f"unknown field(s) in config section {name!r}: {', '.join(sorted(extra))}")
            for key, value in values.items():
                if isinstance(value, list):
                    values[key] = tuple(value)
            kwargs[name] = klass(**values)
        return cls(**kwargs)

    def fingerprint(self, *keys: str) -> str:
        """Stable hash of every result-affecting field, of the whole config or of the named keys (plus the seed).

        A key is a section ("train") or one field of it ("baselines.folds"): each stage of the pipeline
        hashes only what it reads (core.pipeline.registry). A `train.weights` file and a `data.encoder`
        folder enter by their SHA-256, not their path."""
        chosen: dict[str, dict[str, Any]] = {}
        for key in keys or tuple(SECTIONS):
            name, _, only = key.partition(".")
            if name not in SECTIONS:
                raise ConfigError(f"unknown config section {name!r} in fingerprint key {key!r}")
            section = getattr(self, name)
            chosen.setdefault(name, {}).update(
                {f.name: _jsonable(getattr(section, f.name)) for f in dataclasses.fields(section)
                 if f.metadata.get("fingerprint", True) and (not only or f.name == only)})
        if chosen.get("train", {}).get("weights"):
            from core.models.weights import file_sha256

            if not Path(self.train.weights).expanduser().is_file():
                raise ConfigError(f"train.weights: {self.train.weights} is not a file")
            chosen["train"]["weights_sha256"] = file_sha256(Path(self.train.weights).expanduser())
        if chosen.get("data", {}).get("encoder"):
            from core.models.encoder import encoder_sha256, resolve_encoder_dir

            chosen["data"]["encoder"] = encoder_sha256(resolve_encoder_dir(self.data.encoder))
        chosen["seed"] = self.seed
        blob = json.dumps(chosen, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
