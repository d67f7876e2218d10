"""Pretrained backbone weights: a local state-dict file (`--weights PATH`) or torchvision's weights API.

torchvision's API downloads the ImageNet weights once into torch's hub cache
(`~/.cache/torch/hub/checkpoints`, or $TORCH_HOME) and reads them from there afterwards. Where
that is impossible (offline, no cache), `backbone_weights` says why instead of raising, and the
model choice (core.models.choice) falls back to a model that trains in reasonable time. Every
state dict is loaded with `weights_only=True` (no pickle). A local file's SHA-256 enters the run's
fingerprint (core.config), so two runs with different weights never share a directory. torch is
imported only when weights are loaded (core.config hashes files through this module).
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.errors import ConfigError

DOWNLOAD_TIMEOUT_SECONDS = 20
"""How long a weights download may wait on the network before it counts as unavailable."""
TORCHVISION_WEIGHTS = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights"}
"""Backbone architecture → the torchvision weights enum whose DEFAULT (ImageNet) entry is used."""


@dataclass(frozen=True)
class BackboneWeights:
    """A backbone's state dict (None when none could be had) and one line saying which weights these are."""

    state: dict | None
    description: str


@lru_cache(maxsize=4)
def _cached_torchvision_weights(arch: str) -> BackboneWeights:
    return _download_or_cache(arch)


@lru_cache(maxsize=32)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a weights file (cached by path, size and modification time)."""
    stat = Path(path).stat()
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


def load_state_file(path: str | os.PathLike) -> dict:
    """A state dict from a local file, loaded with weights_only=True; a ConfigError naming the file otherwise."""
    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"--weights {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or pickled-code file
        raise ConfigError(f"--weights {path}: not a readable state dict ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"--weights {path}: expected a state dict (parameter name -> tensor)")
    return state


def torchvision_weights(arch: str) -> BackboneWeights:
    """ImageNet weights of `arch` through torchvision's API (hub cache, else a download), or why not;
    read once per process."""
    return _cached_torchvision_weights(arch)


def _download_or_cache(arch: str) -> BackboneWeights:
    import torch
    from torchvision import models as tv_models

    weights = getattr(tv_models, TORCHVISION_WEIGHTS[arch]).DEFAULT
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)
    try:
        state = weights.get_state_dict(progress=False, check_hash=False)
    except Exception as exc:  # offline, proxy, refused, damaged cache: all mean "not available here"
        return BackboneWeights(None, f"pretrained {weights} unavailable ({type(exc).__name__}: {exc}); "
                                     f"none in {Path(torch.hub.get_dir()) / 'checkpoints'}")
    finally:
        socket.setdefaulttimeout(previous)
    return BackboneWeights(state, f"pretrained {weights} (torchvision; cached in "
                                  f"{Path(torch.hub.get_dir()) / 'checkpoints'})")


def backbone_weights(arch: str, pretrained: bool, weights_path: str | None) -> BackboneWeights:
    """The weights a backbone of `arch` starts from: the `weights_path` file, else torchvision's ImageNet
    weights when `pretrained`, else none (random initialization)."""
    if weights_path:
        state = load_state_file(weights_path)
        return BackboneWeights(state, f"local file {weights_path} (sha256 {file_sha256(weights_path)[:12]})")
    if not pretrained:
        return BackboneWeights(None, "none (--no-pretrained): random initialization")
    return torchvision_weights(arch)
