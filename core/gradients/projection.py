"""Seeded random projections that compress wide per-sample gradients chunk by chunk.

Workflow: (1) build a `Projector` once per run (`make_projector`, from
`GradientConfig.projection`), its random matrix fixed by the seed and independent of
the data; (2) feed it gradient chunks (b, in_dim) → (b, out_dim) float32 as they are
computed, so the full (n, in_dim) gradient matrix never has to exist. Projecting all
rows at once or chunk by chunk gives the same numbers. By the Johnson–Lindenstrauss
lemma, pairwise distances (and norms) are preserved up to a factor 1 ± eps with
out_dim ≳ log(n) / eps² (`jl_dim`), which is what distance- and tree-based detectors
(Isolation Forest) need.

Projectors (registry `PROJECTORS`, name → builder):

- `SparseJLProjector` ("sparse"): any gradient. Achlioptas/Li sparse sign matrix of
  density 1/sqrt(in_dim) (scikit-learn's `SparseRandomProjection`).
- `KroneckerProjector` ("kronecker"): last-layer gradients kron(r, h̃) only (layout in
  `core.gradients.last_layer`). The matrix is kron(R1, R2) with R1 (C, k1) and R2 (D̃, k2), so
  kron(r, h̃) ↦ kron(R1ᵀr, R2ᵀh̃): `project_factors` never forms the (b, C·D̃) outer
  product (the Captum TracInCPFastRandProj trick).
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod

import numpy as np
from sklearn.exceptions import DataDimensionalityWarning
from sklearn.random_projection import (
    SparseRandomProjection,
    johnson_lindenstrauss_min_dim,
)

from core.errors import ConfigError
from core.gradients.registry import PROJECTIONS


def jl_dim(n_samples: int, eps: float = 0.1) -> int:
    """Smallest out_dim for which JL guarantees 1 ± eps distortion of all pairwise distances among n_samples."""
    return int(johnson_lindenstrauss_min_dim(n_samples, eps=eps))


def _check_chunk(chunk: np.ndarray, in_dim: int) -> np.ndarray:
    chunk = np.asarray(chunk, dtype=np.float32)
    if chunk.ndim != 2 or chunk.shape[1] != in_dim:
        raise ValueError(f"expected a (b, {in_dim}) chunk, got shape {chunk.shape}")
    return chunk


class Projector(ABC):
    """A fixed linear map R^in_dim → R^out_dim applied row-wise to chunks of gradients."""

    in_dim: int
    out_dim: int

    @abstractmethod
    def project(self, chunk: np.ndarray) -> np.ndarray:
        """(b, in_dim) → (b, out_dim) float32; rows are projected independently."""

    @abstractmethod
    def matrix(self) -> np.ndarray:
        """The dense (in_dim, out_dim) float32 matrix M with project(x) = x @ M. For tests and small dims."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(in_dim={self.in_dim}, out_dim={self.out_dim})"


class SparseJLProjector(Projector):
    """Sparse random projection (Achlioptas 2003; Li et al. 2006), density 1/sqrt(in_dim).

    Entries are 0 or ±1/sqrt(density · out_dim), so E‖project(x)‖² = ‖x‖². The matrix
    is drawn by scikit-learn's `SparseRandomProjection(n_components=out_dim,
    random_state=seed)` fitted on a (1, in_dim) dummy (fitting looks only at the
    shape), so the same (in_dim, out_dim, seed) always gives the same matrix, and it is
    stored sparse: about out_dim · sqrt(in_dim) non-zeros.
    """

    def __init__(self, in_dim: int, out_dim: int, seed: int = 0) -> None:
        if in_dim < 1 or out_dim < 1:
            raise ValueError(f"in_dim and out_dim must be >= 1, got {in_dim} and {out_dim}")
        self.in_dim, self.out_dim, self.seed = int(in_dim), int(out_dim), int(seed)
        self.transformer_ = SparseRandomProjection(n_components=self.out_dim, random_state=self.seed)
        with warnings.catch_warnings():
            # out_dim > in_dim is allowed (a caller's explicit choice); sklearn would warn about it.
            warnings.simplefilter("ignore", DataDimensionalityWarning)
            self.transformer_.fit(np.zeros((1, self.in_dim), np.float32))

    def project(self, chunk: np.ndarray) -> np.ndarray:
        chunk = _check_chunk(chunk, self.in_dim)
        return np.asarray(self.transformer_.transform(chunk), dtype=np.float32)

    def matrix(self) -> np.ndarray:
        return self.transformer_.components_.T.toarray().astype(np.float32)


def kronecker_dims(n_classes: int, width_per_class: int, out_dim: int) -> tuple[int, int]:
    """(k1, k2) with k1 ≤ C, k2 ≤ D̃ and k1·k2 ≤ out_dim, close to out_dim.

    k1 = min(C, round(sqrt(out_dim))): the residual factor is kept whole when there are
    few classes (C ≤ ~sqrt(out_dim), e.g. 10 classes at out_dim 2048 → k1 = 10, k2 = 204)
    and split evenly otherwise (100 classes → 45 × 45). k2 = out_dim // k1 capped at D̃,
    and if that cap binds, k1 grows back to out_dim // k2 (capped at C).
    """
    k1 = min(n_classes, max(1, round(math.sqrt(out_dim))))
    k2 = min(width_per_class, max(1, out_dim // k1))
    k1 = min(n_classes, max(1, out_dim // k2))
    return k1, k2


class KroneckerProjector(Projector):
    """kron(R1, R2) for last-layer gradients kron(r, h̃) of width C·D̃ (D̃ = D+1 with the bias).

    R1 (C, k1) and R2 (D̃, k2) are i.i.d. N(0, 1/k) Gaussian (E‖R1ᵀr‖² = ‖r‖²), drawn
    from two independent streams of `seed`; a factor with k equal to its full
    dimension is the identity instead (a square random matrix would add distortion
    and compress nothing). out_dim = k1·k2 (`kronecker_dims`), which may be slightly
    below the requested dimension. Distance distortion is somewhat larger than for an
    unstructured projection of the same out_dim, in exchange for never materializing
    the gradient.
    """

    def __init__(self, n_classes: int, feat_dim: int, out_dim: int, seed: int = 0,
                 include_bias: bool = True) -> None:
        if n_classes < 1 or feat_dim < 1 or out_dim < 1:
            raise ValueError(f"n_classes, feat_dim and out_dim must be >= 1, got {n_classes}, {feat_dim}, {out_dim}")
        self.n_classes, self.feat_dim, self.include_bias, self.seed = int(n_classes), int(feat_dim), include_bias, seed
        self.width_per_class = self.feat_dim + int(include_bias)
        self.in_dim = self.n_classes * self.width_per_class
        self.k1, self.k2 = kronecker_dims(self.n_classes, self.width_per_class, int(out_dim))
        self.out_dim = self.k1 * self.k2
        rng1, rng2 = (np.random.default_rng(child) for child in np.random.SeedSequence(int(seed)).spawn(2))
        self.r1_ = self._factor(rng1, self.n_classes, self.k1)
        self.r2_ = self._factor(rng2, self.width_per_class, self.k2)

    @staticmethod
    def _factor(rng: np.random.Generator, dim: int, k: int) -> np.ndarray:
        if k == dim:
            return np.eye(dim, dtype=np.float32)
        return (rng.standard_normal((dim, k)) / math.sqrt(k)).astype(np.float32)

    def project_factors(self, residual: np.ndarray, features: np.ndarray) -> np.ndarray:
        """(b, C) residuals and (b, D) features → (b, k1·k2) float32 = kron(R1ᵀr, R2ᵀh̃), in O(b(C·k1 + D̃·k2 + k1·k2)).

        features may be (b, D) — the ones column is appended when include_bias — or
        already augmented (b, D+1).
        """
        residual = np.asarray(residual, dtype=np.float32)
        features = np.asarray(features, dtype=np.float32)
        if self.include_bias and features.ndim == 2 and features.shape[1] == self.feat_dim:
            features = np.concatenate([features, np.ones((len(features), 1), np.float32)], axis=1)
        if residual.shape[1:] != (self.n_classes,) or features.shape[1:] != (self.width_per_class,) \
                or len(residual) != len(features):
            raise ValueError(f"expected residual (b, {self.n_classes}) and features (b, {self.feat_dim}"
                             f"{' or ' + str(self.width_per_class) if self.include_bias else ''}), "
                             f"got {residual.shape} and {features.shape}")
        left = residual @ self.r1_
        right = features @ self.r2_
        return (left[:, :, None] * right[:, None, :]).reshape(len(residual), self.out_dim)

    def project(self, chunk: np.ndarray) -> np.ndarray:
        """Materialized reference: (b, C·D̃) rows kron(r, h̃) → (b, k1·k2), einsum 'bcd,ck,dl->bkl'."""
        chunk = _check_chunk(chunk, self.in_dim).reshape(-1, self.n_classes, self.width_per_class)
        right = chunk @ self.r2_
        out = np.einsum("bcl,ck->bkl", right, self.r1_)
        return out.reshape(len(chunk), self.out_dim).astype(np.float32, copy=False)

    def matrix(self) -> np.ndarray:
        return np.kron(self.r1_, self.r2_)


def build_sparse(width: int, out_dim: int, seed: int, **_: object) -> Projector:
    return SparseJLProjector(width, min(out_dim, width), seed)


def build_kronecker(width: int, out_dim: int, seed: int, *, n_classes: int | None, feat_dim: int | None,
                     include_bias: bool, **_: object) -> Projector:
    if n_classes is None or feat_dim is None:
        raise ConfigError("gradients.projection='kronecker' projects last-layer gradients only; "
                          "use gradients.layers='last' or projection 'sparse' / 'auto'")
    projector = KroneckerProjector(n_classes, feat_dim, out_dim, seed, include_bias)
    if projector.in_dim != width:
        raise ValueError(f"width {width} != n_classes · (feat_dim + bias) = {projector.in_dim}")
    return projector


SPARSE_MAX_WIDTH = 8192
"""Widest last-layer gradient 'auto' projects with sparse JL (a 1,024-row chunk of it is 32 MB)."""


def resolve_projection(kind: str, width: int, out_dim: int, *, last_layer: bool) -> str:
    """The projection `kind` means for a gradient of this width: 'none', 'sparse' or 'kronecker'.

    'auto' is 'none' when width ≤ out_dim (nothing to compress), else 'sparse', except for
    last-layer gradients wider than `SPARSE_MAX_WIDTH`, which get 'kronecker'. Measured
    (docs/benchmarks.md, section 5): sparse JL gave iForest a higher precision at 5% than the
    Kronecker projection at every head shape (10×512: 1.000 vs 0.976; 10×256: 0.996 vs 0.940;
    100×512: 0.996 vs 0.984, at 1,024 dims) and a 2–6× smaller 99th-percentile norm error,
    but it materializes each chunk's rows, so its cost grows with the width (13–33× the
    Kronecker time at 100×512); Kronecker never forms a row.
    """
    if kind != "auto":
        PROJECTIONS.check(kind, "gradients.projection")
        return kind
    if width <= out_dim:
        return "none"
    return "kronecker" if last_layer and width > SPARSE_MAX_WIDTH else "sparse"


def make_projector(kind: str, n_samples: int, width: int, *, n_classes: int | None = None,
                   feat_dim: int | None = None, include_bias: bool = True, out_dim: int,
                   seed: int) -> Projector | None:
    """Build the projector `GradientConfig.projection` asks for, or None for no projection.

    width: length of one gradient row. Pass n_classes and feat_dim for last-layer
    gradients (kron layout); leave them None for any other gradient. "none" → None;
    "auto" → see `resolve_projection`; "sparse" / "kronecker" are honored even when
    width ≤ out_dim, but never project *up*: sparse uses min(out_dim, width) and
    Kronecker's k1 ≤ C, k2 ≤ D̃. "kronecker" without n_classes / feat_dim is a
    ConfigError. n_samples is only validated: the matrix does not depend on the data
    (compare out_dim with `jl_dim(n_samples)` to judge the expected distortion).
    """
    if n_samples < 0 or width < 1 or out_dim < 1:
        raise ValueError(f"need n_samples >= 0, width >= 1, out_dim >= 1; got {n_samples}, {width}, {out_dim}")
    last_layer = n_classes is not None and feat_dim is not None
    resolved = resolve_projection(kind, width, out_dim, last_layer=last_layer)
    if resolved == "none":
        return None
    return PROJECTIONS.get(resolved)(width, out_dim, seed, n_classes=n_classes, feat_dim=feat_dim,
                                include_bias=include_bias)
