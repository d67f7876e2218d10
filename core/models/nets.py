"""Model builders (registered by name in core.models.registry).

Every model is a `FeatureModel`: a backbone that maps inputs to a feature vector h
(n, feature_dim) and a final `nn.Linear` head that maps h to logits. That split is
what makes the last-layer gradient available in closed form, and what lets a
linear probe retrain only the head on cached features.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from core.errors import ConfigError
from core.models.registry import MODELS


class FeatureModel(nn.Module):
    """backbone(x) -> h of shape (n, feature_dim); head(h) -> logits of shape (n, n_classes)."""

    forward_batch = 1024
    """Samples per gradient-free forward pass (features, probabilities); a transformer sets fewer."""

    def __init__(self, backbone: nn.Module, feature_dim: int, n_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, n_classes)
        self.feature_dim = feature_dim
        self.n_classes = n_classes
        # Input standardization lives in the model (as buffers), so the checkpoint, the
        # gradient code and retraining all see the same inputs without a side channel.
        self.register_buffer("input_mean", torch.zeros(()))
        self.register_buffer("input_std", torch.ones(()))

    def set_input_stats(self, x: torch.Tensor) -> None:
        """Standardize per channel (images, (n, C, H, W)) or per feature (tabular, (n, d))."""
        dims = (0, 2, 3) if x.ndim == 4 else (0,)
        mean = x.mean(dim=dims, keepdim=True)
        std = x.std(dim=dims, keepdim=True).clamp_min(1e-6)
        self.input_mean = mean.to(self.input_mean.device)
        self.input_std = std.to(self.input_std.device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone((x - self.input_mean) / self.input_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _flat_dim(input_shape: tuple[int, ...]) -> int:
    size = 1
    for side in input_shape:
        size *= side
    return size


def build_logreg(input_shape: tuple[int, ...], n_classes: int, weights: dict | None) -> FeatureModel:
    return FeatureModel(nn.Flatten(), _flat_dim(input_shape), n_classes)


def build_mlp(input_shape: tuple[int, ...], n_classes: int, weights: dict | None) -> FeatureModel:
    hidden = 64
    backbone = nn.Sequential(
        nn.Flatten(),
        nn.Linear(_flat_dim(input_shape), hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
    )
    return FeatureModel(backbone, hidden, n_classes)


def build_cnn(input_shape: tuple[int, ...], n_classes: int, weights: dict | None) -> FeatureModel:
    channels, height, width = input_shape
    pool_twice = min(height, width) >= 16
    layers: list[nn.Module] = [
        nn.Conv2d(channels, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2) if pool_twice else nn.Identity(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    ]
    reduced = (height // 4, width // 4) if pool_twice else (height // 2, width // 2)
    hidden = 64
    layers += [nn.Linear(32 * reduced[0] * reduced[1], hidden), nn.ReLU()]
    return FeatureModel(nn.Sequential(*layers), hidden, n_classes)


def build_cnn_pool(input_shape: tuple[int, ...], n_classes: int, weights: dict | None) -> FeatureModel:
    """A small CNN of four conv blocks with a global max pool over positions before its 64-unit layer.

    A tag says what is shown anywhere in the image, so each feature is the strongest response at any position:
    a digit on the left or the right of an mnist_pairs image lights the same feature, where the small CNN's
    flattened map learns each position apart; the third pooling lets the last block see a whole 28-px digit.
    Test exact-set accuracy on mnist_pairs, seeds 0–2: 0.82, 0.81, 0.78 against the small CNN's 0.69–0.70
    (docs/tasks.md). The default for small or grayscale multi-label images (core.models.choice)."""
    channels, height, width = input_shape
    side = min(height, width)
    backbone = nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2) if side >= 16 else nn.Identity(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2) if side >= 24 else nn.Identity(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        nn.Linear(64, 64), nn.ReLU(),
    )
    return FeatureModel(backbone, 64, n_classes)


def _resnet(depth: int):
    def build(input_shape: tuple[int, ...], n_classes: int, weights: dict | None) -> FeatureModel:
        from torchvision import models as tv_models

        net = {18: tv_models.resnet18, 34: tv_models.resnet34}[depth](weights=None)
        if weights is not None:
            net.load_state_dict(weights)
        channels, height, _ = input_shape
        if height <= 64:
            # CIFAR-style stem: 3x3 conv, no max-pool, so 32x32 inputs keep spatial detail.
            net.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
            net.maxpool = nn.Identity()
        elif channels != 3:
            net.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
        feature_dim = net.fc.in_features
        net.fc = nn.Identity()
        return FeatureModel(net, feature_dim, n_classes)

    return build


build_resnet18 = _resnet(18)
build_resnet34 = _resnet(34)


class FrozenBackbone(nn.Module):
    """A backbone whose weights never train and whose BatchNorm statistics never move."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        for parameter in self.inner.parameters():
            parameter.requires_grad_(False)
        self.inner.eval()

    def train(self, mode: bool = True) -> FrozenBackbone:
        super().train(mode)
        self.inner.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def build_probe_resnet18(input_shape: tuple[int, ...], n_classes: int, weights: dict | None) -> FeatureModel:
    from torchvision import models as tv_models

    net = tv_models.resnet18(weights=None)
    if weights is not None:
        net.load_state_dict(weights)
    else:
        warnings.warn("linear probe on a randomly initialized, frozen ResNet-18: random features only",
                      stacklevel=2)
    if input_shape[0] != 3:
        net.conv1 = nn.Conv2d(input_shape[0], 64, 7, 2, 3, bias=False)
    feature_dim = net.fc.in_features
    net.fc = nn.Identity()
    return FeatureModel(FrozenBackbone(net), feature_dim, n_classes)


def build_model(name: str, input_shape: tuple[int, ...], n_classes: int, kind: str,
                weights: dict | None = None) -> FeatureModel:
    """Build a registered model; unknown names and kind mismatches are ConfigErrors listing the options."""
    check_model(name, kind)
    if MODELS.entry(name).meta.get("solver") == "given":
        raise ConfigError(f"model {name!r} has no network to build: its outputs were handed in")
    return MODELS.get(name)(tuple(input_shape), n_classes, weights)


def check_model(name: str, kind: str) -> None:
    """A ConfigError unless `name` is a registered model that accepts `kind` data (listing those that do)."""
    entry = MODELS.entry(name)
    if kind not in entry.meta["kinds"]:
        fitting = MODELS.where(kinds=lambda kinds: kind in kinds)
        raise ConfigError(f"model {name!r} does not accept {kind} data; use one of: {', '.join(fitting)}")


def select_device(requested: str = "auto") -> torch.device:
    """cuda, then mps, then cpu when 'auto'; otherwise the named device."""
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
