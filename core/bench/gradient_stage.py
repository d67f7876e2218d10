"""Benchmarks 1 and 2: the per-sample gradient stage, and norm detectors without gradients.

1. Last-layer gradients of N samples with D-dim features and C classes, from given
   features (what the pipeline's train stage stores in features.npy), so every contender
   does exactly the head's work:
   - closed form: `head_factors` (the head on the features → r = p − e_y, h, loss) and
     `closed_form_norms`. Every gradient is then known exactly (kron(r, [h, 1])) and the
     norm detectors have their scores;
   - the pipeline's stage: features.npy read back (from the page cache), the same, plus the
     projection `--projection auto` picks for this width (sparse JL, or Kronecker above
     8,192) of every gradient to `GradientConfig().projection_dim` (`write_factor_rows`,
     chunk by chunk, into memory; the pipeline writes the same rows to a memory-mapped .npy);
   - closed form, materialized: the factors, then every gradient row kron(r, [h, 1]) built
     chunk by chunk (`iter_closed_form_chunks`), the exact output of the two below;
   - `func_gradients` (torch.func vmap over a model whose backbone is the identity), timed
     on `vmap_n` samples;
   - `loop_gradients` (batch-1 autograd over the same model, what the reference code
     does), timed on `loop_n`.
   vmap and the loop are extrapolated per sample to N. Rows are checked equal (allclose).
   All five are timed interleaved, best of `repeats`, with torch and BLAS on one thread
   (`THREADS`). The pipeline's stage is then compared with the forward pass that produces h:
   a ResNet-18 (CIFAR stem, 512-d features, random weights) on 32×32 images through
   `core.models.training.extract_features` (one batch of `forward_n`), timed on `forward_n` images and
   extrapolated per sample to N. That forward runs once, in the train stage; the gradient
   stage reads its features, so the target ratio is gradient stage / forward.
2. L1/L2 norms from the factors (`closed_form_norms`, O(N(C+D))) against the same norms
   from materialized gradients (built chunk by chunk, and for small C·D from a matrix
   that already exists), asserted equal with np.allclose.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from core.bench.common import (
    Log,
    Record,
    Sizes,
    best_of,
    fmt_seconds,
    head_model,
    info,
    target,
    thread_limit,
)
from core.config import GradientConfig
from core.gradients.func import func_gradients, loop_gradients
from core.gradients.last_layer import (
    LAST_LAYER,
    closed_form_gradients,
    closed_form_norms,
    flat_head_to_kron,
    head_factors,
    iter_closed_form_chunks,
)
from core.gradients.projection import make_projector
from core.gradients.rows import write_factor_rows

MATRIX_LIMIT_BYTES = 1.5e9
"""Largest gradient matrix the norm benchmark materializes whole (C=10 at N=50,000 is 1.0 GB)."""


def _features(n: int, dim: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = np.maximum(rng.standard_normal((n, dim), dtype=np.float32), 0.0)
    return features, rng.integers(0, n_classes, n)


def forward_seconds_per_sample(sizes: Sizes, log: Log) -> tuple[float, int]:
    """Seconds per image of the backbone forward that produces h (best of 2), and its feature dim."""
    from core.models.nets import build_model
    from core.models.training import extract_features

    model = build_model(sizes.forward_model, (3, 32, 32), 10, "image").eval()
    images = np.random.default_rng(0).integers(0, 256, (sizes.forward_n, 3, 32, 32), dtype=np.uint8)
    extract_features(model, images[:8])  # warm-up: first-call allocations
    best, results = best_of({"forward": lambda: extract_features(model, images)}, 2)
    per_sample = best["forward"] / sizes.forward_n
    log(f"  forward pass: {sizes.forward_model} (CIFAR stem, random weights) on {sizes.forward_n} 32x32 images, "
        f"{fmt_seconds(per_sample)}/image -> {fmt_seconds(per_sample * sizes.grad_n)} for N={sizes.grad_n:,} "
        f"(extrapolated per sample)")
    return per_sample, int(results["forward"].shape[1])


def _consume(chunks) -> int:
    rows = 0
    for _, chunk in chunks:
        rows += len(chunk)
    return rows


def gradient_records(n_classes: int, sizes: Sizes, log: Log, forward_per_sample: float) -> list[Record]:
    with tempfile.TemporaryDirectory() as scratch:
        return _gradient_records(n_classes, sizes, log, forward_per_sample, Path(scratch) / "features.npy")


def _gradient_records(n_classes: int, sizes: Sizes, log: Log, forward_per_sample: float,
                      features_file: Path) -> list[Record]:
    n, dim = sizes.grad_n, sizes.feat_dim
    features, labels = _features(n, dim, n_classes, seed=n_classes)
    np.save(features_file, features)
    model = head_model(dim, n_classes, seed=0)
    grad_cfg = GradientConfig()
    width = n_classes * (dim + 1)
    projector = make_projector(grad_cfg.projection, n, width, n_classes=n_classes, feat_dim=dim,
                               out_dim=grad_cfg.projection_dim, seed=0)
    log(f"  C={n_classes}: N={n:,}, D={dim}, gradient width C(D+1)={width:,}, projection: "
        + (repr(projector) if projector is not None else "none (narrow enough)"))

    def factored(stored: np.ndarray = features):
        factors = head_factors(model.head, stored, labels)
        closed_form_norms(factors)
        return factors

    def stage() -> int:
        factors = factored(np.load(features_file))
        if projector is None:
            return _consume(iter_closed_form_chunks(factors, True, grad_cfg.chunk_size))
        out = np.empty((n, projector.out_dim), np.float32)
        write_factor_rows(factors, np.arange(n), projector, out, True, grad_cfg.chunk_size)
        return len(out)

    def materialized() -> int:
        factors = head_factors(model.head, features, labels)
        return _consume(iter_closed_form_chunks(factors, True, grad_cfg.chunk_size))

    vmap_n, loop_n = min(sizes.vmap_n, n), min(sizes.loop_n, n)

    def vmap() -> int:
        return _consume(func_gradients(model, features[:vmap_n], labels[:vmap_n], param_names=list(LAST_LAYER)))

    def loop() -> np.ndarray:
        return loop_gradients(model, features[:loop_n], labels[:loop_n], list(LAST_LAYER))

    # Warm-up: first calls pay allocations and torch.func tracing.
    head_factors(model.head, features[:64], labels[:64])
    _consume(func_gradients(model, features[:64], labels[:64], param_names=list(LAST_LAYER)))
    loop_gradients(model, features[:8], labels[:8], list(LAST_LAYER))
    best, results = best_of({"factored": factored, "stage": stage, "materialized": materialized, "vmap": vmap,
                             "loop": loop}, sizes.repeats)
    vmap_total, loop_total = best["vmap"] / vmap_n * n, best["loop"] / loop_n * n

    reference = closed_form_gradients(head_factors(model.head, features[:loop_n], labels[:loop_n]))
    assert np.allclose(flat_head_to_kron(results["loop"], n_classes, dim), reference, rtol=1e-4, atol=1e-6), \
        "closed-form gradients differ from the batch-1 autograd loop"
    _, vmap_rows = next(func_gradients(model, features[:loop_n], labels[:loop_n], param_names=list(LAST_LAYER)))
    assert np.allclose(flat_head_to_kron(vmap_rows, n_classes, dim), reference[:len(vmap_rows)], rtol=1e-4,
                       atol=1e-6), \
        "closed-form gradients differ from torch.func vmap"

    forward_total = forward_per_sample * n
    stage_ratio = best["stage"] / forward_total
    projected = f"+ projection to {projector.out_dim}" if projector is not None else "+ rows"
    log(f"    closed form (factors + norms): {fmt_seconds(best['factored'])} | {projected} (pipeline stage): "
        f"{fmt_seconds(best['stage'])} | every row materialized: {fmt_seconds(best['materialized'])} | "
        f"vmap: {fmt_seconds(vmap_total)} (timed on {vmap_n:,}, extrapolated) | "
        f"batch-1 loop: {fmt_seconds(loop_total)} (timed on {loop_n:,}, extrapolated)")
    log(f"    vs the loop: closed form {loop_total / best['factored']:.1f}x, pipeline stage "
        f"{loop_total / best['stage']:.1f}x, materialized {loop_total / best['materialized']:.1f}x, vmap "
        f"{loop_total / vmap_total:.2f}x; gradient stage / forward = {stage_ratio:.4f}")
    c = f"C{n_classes}"
    extrapolated = f"loop timed on {loop_n} samples, extrapolated per sample to N={n}"
    return [
        target(f"gradients_{c}_closed_form_vs_loop", loop_total / best["factored"], "x", ">= 30",
               note="closed form = head_factors + closed_form_norms: every gradient, exactly, as (r, h); "
                    + extrapolated),
        info(f"gradients_{c}_stage_vs_loop", loop_total / best["stage"], "x",
             note=f"features.npy read + closed form {projected}: the pipeline's gradient stage"),
        info(f"gradients_{c}_materialized_vs_loop", loop_total / best["materialized"], "x",
             note="every row kron(r,[h,1]) built, the loop's exact output"),
        info(f"gradients_{c}_vmap_vs_loop", loop_total / vmap_total, "x",
             note=f"vmap timed on {vmap_n} samples, extrapolated"),
        target(f"gradients_{c}_stage_over_forward", stage_ratio, "x", "<= 1.1",
               note="gradient stage (reads the train stage's features) / the backbone forward that produced "
                    "them; forward = ResNet-18, extrapolated"),
        info(f"gradients_{c}_closed_form_seconds", best["factored"], "s", note=f"N={n}"),
        info(f"gradients_{c}_stage_seconds", best["stage"], "s", note=f"N={n}"),
        info(f"gradients_{c}_loop_seconds", loop_total, "s", note=extrapolated),
        info(f"gradients_{c}_forward_seconds", forward_total, "s", note="ResNet-18 forward, extrapolated"),
    ]


def norm_records(n_classes: int, sizes: Sizes, log: Log) -> list[Record]:
    n, dim = sizes.grad_n, sizes.feat_dim
    features, labels = _features(n, dim, n_classes, seed=100 + n_classes)
    factors = head_factors(head_model(dim, n_classes, seed=1).head, features, labels)
    chunk_size = GradientConfig().chunk_size

    def from_chunks() -> tuple[np.ndarray, np.ndarray]:
        l1, l2 = np.empty(n), np.empty(n)
        for start, chunk in iter_closed_form_chunks(factors, True, chunk_size):
            l1[start:start + len(chunk)] = np.abs(chunk).sum(axis=1)
            l2[start:start + len(chunk)] = np.linalg.norm(chunk, axis=1)
        return l1, l2

    best, results = best_of({"closed": lambda: closed_form_norms(factors), "chunks": from_chunks}, sizes.repeats)
    for closed, other in zip(results["closed"], results["chunks"]):
        assert np.allclose(closed, other, rtol=1e-5), "closed-form norms differ from materialized gradients"
    c = f"C{n_classes}"
    records = [info(f"norms_{c}_closed_vs_materialize_and_norm", best["chunks"] / best["closed"], "x",
                    note="closed_form_norms vs building every gradient chunk then its L1/L2; np.allclose asserted")]
    line = (f"    norms C={n_classes}: closed form {fmt_seconds(best['closed'])}, materialize+norm "
            f"{fmt_seconds(best['chunks'])} ({best['chunks'] / best['closed']:.1f}x)")
    width = n_classes * (dim + 1)
    if n * width * 4 <= MATRIX_LIMIT_BYTES:
        matrix = closed_form_gradients(factors)
        matrix_best, matrix_results = best_of(
            {"matrix": lambda: (np.abs(matrix).sum(axis=1), np.linalg.norm(matrix, axis=1)),
             "closed": lambda: closed_form_norms(factors)}, sizes.repeats)
        for closed, other in zip(matrix_results["closed"], matrix_results["matrix"]):
            assert np.allclose(closed, other, rtol=1e-5), "closed-form norms differ from the gradient matrix"
        ratio = matrix_best["matrix"] / matrix_best["closed"]
        records.append(info(f"norms_{c}_closed_vs_existing_matrix", ratio, "x",
                            note=f"norms of an already materialized ({n}, {width}) float32 matrix; allclose asserted"))
        line += (f"; on an existing {n * width * 4 / 1e9:.2f} GB matrix {fmt_seconds(matrix_best['matrix'])} "
                 f"({ratio:.1f}x)")
        del matrix
    log(line)
    return records


THREADS = 1
"""Threads for torch and BLAS in this benchmark: the batch-1 loop cannot use a second core, so every
contender gets one; and on a shared 2-core machine 2-thread OpenMP regions stall whenever another
process holds a core (batched ops swung 5x between runs), which would tilt the ratios against the
batched contenders for reasons that have nothing to do with them."""


def run(sizes: Sizes, log: Log) -> list[Record]:
    log(f"[1-2] gradient stage and norms (torch and BLAS limited to {THREADS} thread: per-core figures)")
    records: list[Record] = []
    with thread_limit(THREADS):
        forward_per_sample, forward_dim = forward_seconds_per_sample(sizes, log)
        if forward_dim != sizes.feat_dim:
            log(f"  note: {sizes.forward_model} gives {forward_dim}-d features; gradients use D={sizes.feat_dim}")
        for n_classes in sizes.grad_classes:
            records += gradient_records(n_classes, sizes, log, forward_per_sample)
            records += norm_records(n_classes, sizes, log)
    return records
