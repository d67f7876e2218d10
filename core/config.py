"""What a run is: one dataclass per concern, validated on construction.

The same `RunConfig` object flows unchanged from the CLI through the pipeline into
the run directory's `manifest.json`, and from there to the dashboard. Every field
that changes a result is part of `RunConfig.fingerprint()`, so a run directory
written under one configuration is never silently reused for another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError


def _check_fraction(name: str, value: float, *, low_open: bool = True, high_open: bool = True) -> None:
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value < 1 if high_open else value <= 1
    if not (low_ok and high_ok):
        lo = "(0" if low_open else "[0"
        hi = "1)" if high_open else "1]"
        raise ConfigError(f"{name} must be in {lo}, {hi}, got {value!r}")


@dataclass
class DataConfig:
    """Which data to analyze and how the evaluation split and injected noise are made."""

    dataset: str = "digits"
    """Registered dataset name (`gradsift datasets`) or a path: image folder, .csv/.parquet manifest, .npz."""
    data_dir: str | None = None
    """Directory holding downloaded files for sources that need them (cifar10n, cifar100n)."""
    label_set: str | None = None
    """Which label set a multi-label-set source uses (CIFAR-N: aggregate, random1..3, worst, noisy100)."""
    noise: str | None = None
    """Injected label noise model (symmetric, pairflip, human); None = the source's default."""
    noise_rate: float | None = None
    """Fraction of training labels to corrupt; None = the source's default (0 for user data)."""
    test_fraction: float = 0.2
    """Share of samples carved out (stratified, seeded) as the test split when the source has none."""
    image_size: int | None = None
    """Side length every image is resized to; None keeps the size (mixed sizes: the most common one)."""

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ConfigError("data.dataset must name a dataset or a path")
        _check_fraction("data.test_fraction", self.test_fraction)
        if self.noise_rate is not None:
            _check_fraction("data.noise_rate", self.noise_rate, low_open=False)
        if self.image_size is not None and self.image_size < 4:
            raise ConfigError(f"data.image_size must be >= 4 pixels, got {self.image_size}")


@dataclass
class TrainConfig:
    """The ERM recipe; retraining after pruning reuses it unchanged."""

    model: str = "auto"
    """Registered model name (`gradsift models`); auto = the dataset's default."""
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adam"
    """adam or sgd (sgd uses momentum 0.9, as in the paper's CIFAR recipe)."""
    val_fraction: float = 0.1
    """Share of the training samples held out for early stopping (0 disables early stopping)."""
    patience: int = 5
    """Epochs without validation-loss improvement before stopping."""
    pretrained: bool = True
    """Use pretrained backbone weights when they are already on this machine (ResNets)."""
    device: str = "auto"
    """auto (cuda, then mps, then cpu), or an explicit torch device string."""

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"train.epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"train.weight_decay must be >= 0, got {self.weight_decay}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"train.optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if not 0 <= self.val_fraction < 0.5:
            raise ConfigError(f"train.val_fraction must be in [0, 0.5), got {self.val_fraction}")
        if self.patience < 1:
            raise ConfigError(f"train.patience must be >= 1, got {self.patience}")


GRADIENT_MODES = ("cross_fit", "in_sample")


@dataclass
class GradientConfig:
    """Which per-sample gradients are computed, from which model, and how they are compressed."""

    mode: str = "in_sample"
    """in_sample: from the one model trained (with early stopping) on everything, the paper's
    setting and the best on digits (docs/gradient-modes.md); cross_fit: each sample's gradient
    comes from a model trained on the other folds."""
    folds: int = 5
    layers: str = "last"
    """last (closed form), all (every parameter, torch.func), or comma-separated parameter-name prefixes."""
    include_bias: bool = True
    """Include the last layer's bias gradient (p - e_y); the reference code uses the weight only."""
    projection: str = "auto"
    """auto (project only when wider than projection_dim), none, sparse (sparse JL) or kronecker (last layer)."""
    projection_dim: int = 1024
    """Output width when projecting; 1024 is the smallest width within 0.005 AUROC of the best in
    docs/benchmarks.md (projection quality)."""
    chunk_size: int = 1024
    """Samples per chunk when computing and projecting gradients: bounds memory."""

    def __post_init__(self) -> None:
        if self.mode not in GRADIENT_MODES:
            raise ConfigError(f"gradients.mode must be one of {', '.join(GRADIENT_MODES)}; got {self.mode!r}")
        if self.folds < 2:
            raise ConfigError(f"gradients.folds must be >= 2, got {self.folds}")
        if self.projection not in ("auto", "none", "sparse", "kronecker"):
            raise ConfigError(
                f"gradients.projection must be auto, none, sparse or kronecker; got {self.projection!r}"
            )
        if self.projection_dim < 2:
            raise ConfigError(f"gradients.projection_dim must be >= 2, got {self.projection_dim}")
        if self.chunk_size < 1:
            raise ConfigError(f"gradients.chunk_size must be >= 1, got {self.chunk_size}")


@dataclass
class DetectConfig:
    """Outlier detectors run on the gradients and the budget that turns scores into flags."""

    detectors: tuple[str, ...] = ("iforest", "l1", "l2")
    primary: str = "iforest"
    """Detector whose flags fill `is_flagged`; must be one of `detectors`."""
    budget: float = 0.05
    """Fraction k of training samples flagged (exactly round(k * n))."""
    iforest_trees: int = 100

    def __post_init__(self) -> None:
        self.detectors = tuple(dict.fromkeys(self.detectors))
        if not self.detectors:
            raise ConfigError("detect.detectors must name at least one detector")
        if self.primary not in self.detectors:
            raise ConfigError(
                f"detect.primary {self.primary!r} must be one of the detectors run: {', '.join(self.detectors)}"
            )
        _check_fraction("detect.budget", self.budget)
        if self.iforest_trees < 1:
            raise ConfigError(f"detect.iforest_trees must be >= 1, got {self.iforest_trees}")


INFLUENCE_DEFAULTS = ("exact", "fisher", "lissa", "datainf", "tracing", "self_exact", "self_datainf")
"""self_lissa is left out by default: it runs one LiSSA solve per training sample (minutes on
digits on a 2-core CPU); self_exact computes the same quantity exactly for last layers this small."""
LABEL_QUALITY_DEFAULTS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


@dataclass
class BaselineConfig:
    """Influence-function and label-quality scores computed next to the detectors, for comparison."""

    enabled: bool = True
    influence: tuple[str, ...] = INFLUENCE_DEFAULTS
    """Influence methods (core.influence.methods), on the analyzed model's last-layer gradients."""
    label_quality: tuple[str, ...] = LABEL_QUALITY_DEFAULTS
    """cleanlab label-quality methods, on out-of-fold predicted probabilities."""
    folds: int = 5
    """Folds for the out-of-fold probabilities cleanlab needs (reused from cross_fit gradients)."""
    max_gradient_values: int = 50_000_000
    """Influence baselines are skipped (with a note) when n_train x width exceeds this."""

    def __post_init__(self) -> None:
        self.influence = tuple(dict.fromkeys(self.influence))
        self.label_quality = tuple(dict.fromkeys(self.label_quality))
        if self.folds < 2:
            raise ConfigError(f"baselines.folds must be >= 2, got {self.folds}")


@dataclass
class EmbedConfig:
    """The 2-D map of gradient space shown by the dashboard."""

    method: str = "umap"
    """umap or pca."""
    n_neighbors: int = 15
    min_dist: float = 0.1

    def __post_init__(self) -> None:
        if self.method not in ("umap", "pca"):
            raise ConfigError(f"embed.method must be 'umap' or 'pca', got {self.method!r}")
        if self.n_neighbors < 2:
            raise ConfigError(f"embed.n_neighbors must be >= 2, got {self.n_neighbors}")


@dataclass
class RunConfig:
    """Everything that determines a run's results."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    gradients: GradientConfig = field(default_factory=GradientConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["detect"]["detectors"] = list(self.detect.detectors)
        out["baselines"]["influence"] = list(self.baselines.influence)
        out["baselines"]["label_quality"] = list(self.baselines.label_quality)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Rebuild a config from `to_dict` output; unknown keys are an error, not ignored."""
        sections = {"data": DataConfig, "train": TrainConfig, "gradients": GradientConfig,
                    "detect": DetectConfig, "baselines": BaselineConfig, "embed": EmbedConfig}
        unknown = set(raw) - set(sections) - {"seed"}
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {"seed": int(raw.get("seed", 0))}
        for name, klass in sections.items():
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

    def fingerprint(self, *sections: str) -> str:
        """Stable hash of the whole config, or of the named sections (plus the seed)."""
        full = self.to_dict()
        chosen = {k: full[k] for k in sections} if sections else full
        chosen["seed"] = self.seed
        blob = json.dumps(chosen, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
