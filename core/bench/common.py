"""What every benchmark shares: sizes, result records, timers, memory probes, synthetic data.

A benchmark is a module with `run(sizes: Sizes, log: Log) -> list[Record]`. Every figure
that has a target is a ratio of two things measured in the same process, back to back
(interleaved and best-of-k where they are cheap enough), because the machines these run
on are shared and an absolute time from another run means little. Absolute times are
reported too, as information.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}


@dataclass
class Record:
    """One reported figure. `target` is a comparison such as ">= 30" (None: information only)."""

    name: str
    value: float | None
    unit: str
    target: str | None = None
    met: bool | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        value = None if self.value is None or not math.isfinite(self.value) else float(self.value)
        return {"name": self.name, "value": value, "unit": self.unit, "target": self.target, "met": self.met,
                "note": self.note}


def target(name: str, value: float, unit: str, comparison: str, note: str = "") -> Record:
    """A figure with a target: comparison is "<op> <bound>", e.g. ">= 30"; `met` is evaluated here."""
    op, bound = comparison.split()
    met = bool(_OPERATORS[op](value, float(bound))) if math.isfinite(value) else False
    return Record(name, float(value), unit, comparison, met, note)


def info(name: str, value: float, unit: str, note: str = "") -> Record:
    """A figure reported for information, without a target."""
    return Record(name, float(value), unit, None, None, note)


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of every benchmark; `FULL`, `QUICK`, and tiny ones in tests."""

    label: str = "full"
    # 1-2. gradient stage and norms
    grad_n: int = 50_000
    feat_dim: int = 512
    grad_classes: tuple[int, ...] = (10, 100)
    loop_n: int = 500
    """Samples the batch-1 autograd loop is timed on (extrapolated per sample to grad_n)."""
    vmap_n: int = 10_000
    """Samples torch.func vmap is timed on (extrapolated per sample to grad_n)."""
    forward_model: str = "resnet18"
    forward_n: int = 256
    """Images the backbone forward pass is timed on (extrapolated per sample to grad_n)."""
    repeats: int = 5
    """Interleaved repeats of every cheap timing (the best one counts)."""
    # 3. memory
    mem_n: int = 50_000
    mem_classes: int = 100
    mem_limit_mb: float = 2048.0
    # 4. detectors vs influence baselines
    infl_n: int = 50_000
    infl_classes: int = 10
    lissa_iterations: int = 1000
    self_lissa_targets: int = 32
    self_lissa_iterations: int = 3
    # 5. projection quality
    proj_n: int = 50_000
    proj_n_wide: int = 20_000
    """Samples for heads whose raw gradients are wider than 4,096."""
    proj_heads: tuple[tuple[int, int], ...] = ((10, 512), (10, 256), (100, 32), (100, 512))
    """(classes, feature dim) of the synthetic heads measured."""
    proj_dims: tuple[int, ...] = (16, 64, 256, 1024, 2048)
    """Projection widths tried (those below a data set's gradient width), plus the raw gradients."""
    proj_seeds: int = 3
    # 6. end to end
    e2e_dataset: str = "digits"
    e2e_args: tuple[str, ...] = ()
    child_threads: int | None = None
    """Threads of torch, OpenMP and BLAS in every `gradsift analyze` child process of sections 6, 8, 9 and 11 (None:
    torch's default, as a user's first run has them). --quick: 1, because on a loaded 2-core machine 2-thread
    regions stall (a digits folder trained 140 s at load 5, 3–6 s quiet) and the quick run must stay short; every
    time it reports then says so."""
    umap_workers: tuple[str, ...] = ("first", "second", "uncached")
    """UMAP cold-start processes, in order: first, second (numba cache on), uncached (cache off)."""
    umap_fresh_cache: bool = True
    """Give the UMAP workers and the analyze run a new, empty NUMBA_CACHE_DIR (else numba's default, as found)."""
    umap_n: int = 1000
    iforest_cold_start: bool = True
    """Time the Isolation Forest kernel's compile and cache load in two fresh processes."""
    help_repeats: int = 3
    # 7. retrain latency
    probe_n: int = 50_000
    probe_classes: int = 10
    probe_reference: bool = True
    """Also time the previous train_linear_probe (autograd closure, uncentred), for before/after."""
    retrain_threads: int | None = None
    """Torch threads of the probe retrain (None: torch's default, as the dashboard has them). --quick: 1, because
    the second core runs the background lane (`second_core`) meanwhile."""
    # 8. your own data
    own_seeds: int = 3
    own_images: int = 1797
    """Digits written to the folder (all of scikit-learn's 1,797 at full size)."""
    own_side: int = 32
    own_outputs_n: int = 40_000
    own_outputs_dim: int = 256
    own_outputs_full_regime: bool = False
    """Scale `baselines.max_gradient_values` by own_outputs_n / FULL's 40,000 rows, so a smaller file skips the
    influence baselines as the full one does (--quick: at 12,000 rows they would take 23 s of a 60 s target that
    the 40,000-row file never spends); the note says so."""
    # 9. scale
    scale_n: int = 1_000_000
    scale_dim: int = 512
    scale_from_own_outputs: bool = False
    """Measure the scale targets on section 8's outputs run (its wall and per-stage peak RSS) instead of
    analyzing a file of `scale_n` rows: --quick, where both bounds are a smoke check of the path anyway."""
    scale_render: bool = True
    """Also render every dashboard page once on the run (AppTest, a child process) and size the map's JSON."""
    # 10. review loop
    review_learn_datasets: tuple[str, ...] = ("digits", "mnist5k")
    """The target's cells: pair-flip noise (`review_learn_noise` at `review_learn_rate`), where the static ranking
    is far below the ceiling and a corrected label can teach the re-ranking (docs/review-loop.md)."""
    review_learn_noise: str = "pairflip"
    review_learn_rate: float = 0.2
    review_learn_seeds: int = 9
    review_learn_checkpoints: tuple[int, ...] = (100, 200, 300)
    """Reviewed samples before each measured batch of the target: where pair-flip leaves room (static 0.26–0.94
    against a ceiling of 0.92–1 in the 9-seed measurement), not 50 (static within 0.05 of 1)."""
    review_datasets: tuple[str, ...] = ("digits", "mnist5k")
    """The symmetric-noise cells, reported as figures (the static ranking is within 0.03 of the ceiling in 11 of
    their 12 shallow cells: little room to learn), and the cells of the estimate and conflict targets."""
    review_noise_rates: tuple[float, ...] = (0.1, 0.2)
    review_seeds: int = 9
    """Seeds per (dataset, noise rate): the gain at 50–200 reviewed is about 0.01, which 3 seeds cannot tell from 0."""
    review_checkpoints: tuple[int, ...] = (50, 100, 200, 300, 400)
    """Symmetric cells: reviewed samples before each measured batch (the issue's 50, 100, 200, and two deeper)."""
    review_batch: int = 50
    review_batches: int = 5
    """Batches of the loop run as a person runs it (re-ranking after each)."""
    review_settings: tuple[tuple[str, object], ...] = ()
    """Extra RunConfig settings of the analyzed runs (core.api.config_from_settings names)."""
    # 11. text
    text_csv_rows: int = 400
    text_seeds: int = 3
    text_variants: bool = True
    """Also time the CSV again with its embeddings cached, and on one thread, and fit the bag-of-words baseline
    (figures, not targets)."""
    text_args: tuple[str, ...] = ()
    """Extra `gradsift analyze` options of the text section (none: every default)."""
    # how the sections share the machine
    second_core: bool = False
    """Run the registry's `second_core` sections (no target of theirs is a time: precision and quality targets,
    a memory bound, times for information) in one background process on one thread, beside the timed sections
    (core.bench.run.lanes). --quick: on a 2-core machine each lane then has a core of its own."""


FULL = Sizes()
QUICK = Sizes(  # smaller N where a ratio does not depend on it; the memory and influence targets keep full N
    label="quick", grad_n=10_000, loop_n=200, vmap_n=2_000, forward_n=32, repeats=2,
    infl_n=50_000, lissa_iterations=100, self_lissa_targets=16, self_lissa_iterations=2,
    proj_n=5_000, proj_heads=((10, 512), (100, 32)), proj_dims=(64, 256, 1024), proj_seeds=1,
    # end_to_end's run is the review loop's first pair-flip run (read there, not analyzed twice)
    e2e_args=("--noise", "pairflip", "--noise-rate", "0.2", "--no-retrain", "--embed", "pca"),
    child_threads=1, umap_workers=(), umap_fresh_cache=False, iforest_cold_start=False, help_repeats=2,
    probe_n=50_000, probe_reference=False, retrain_threads=1, own_seeds=1, own_outputs_n=12_000,
    own_outputs_full_regime=True,
    scale_n=20_000, scale_from_own_outputs=True, scale_render=False,
    review_learn_datasets=("digits",), review_learn_seeds=4, review_datasets=("digits",), review_noise_rates=(0.2,),
    review_seeds=1, review_checkpoints=(50, 100, 200), review_batches=2, text_seeds=0, text_variants=False,
    second_core=True,
)
"""Every target, everything on one thread, in two lanes of about 3.5 minutes of CPU each: about 3.5 minutes of
wall on a quiet 2-core machine, estimated (docs/benchmarks.md, "Quick and full"). The outputs file has 12,000
rows, not 10,000: above 10,000 rows UMAP runs 200 epochs, not 500, as at the full 40,000, and
`own_outputs_full_regime` skips the influence baselines as the full size does. The review loop's target takes 4
pair-flip seeds: with 3, what the decisions add (+0.05 to +0.11 per run) left an interval touching 0."""


def scaled(sizes: Sizes, **changes: Any) -> Sizes:
    return dataclasses.replace(sizes, **changes)


class Log:
    """Prints benchmark progress lines (and keeps them, for tests)."""

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        self.lines.append(text)
        if self.echo:
            print(text, flush=True)


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def best_of(fns: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Interleaved best-of-`repeats` seconds of each function, and each one's last result.

    Interleaving (A B C A B C ...) exposes every contender to the same background load;
    the minimum is the least-disturbed run.
    """
    best = {name: math.inf for name in fns}
    results: dict[str, Any] = {}
    for _ in range(max(repeats, 1)):
        for name, fn in fns.items():
            seconds, results[name] = timed(fn)
            best[name] = min(best[name], seconds)
    return best, results


@contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Run torch and every BLAS / OpenMP pool with `threads` threads (None: leave them as they are)."""
    if threads is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


# --------------------------------------------------------------------------- memory


def proc_status() -> dict[str, float]:
    """VmHWM (peak RSS), VmRSS, RssAnon, RssFile of this process in MB (empty off Linux)."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[key] = float(rest.split()[0]) / 1024.0
    except OSError:
        pass
    return out


# --------------------------------------------------------------------------- synthetic data


@dataclass
class Synthetic:
    """Features shaped like a backbone's penultimate layer, with injected symmetric label noise."""

    features: np.ndarray
    """(n, D) float32, non-negative (ReLU-like), class-dependent."""
    given: np.ndarray
    """(n,) int64 labels after noise."""
    true: np.ndarray
    """(n,) int64 clean labels."""
    val_features: np.ndarray
    val_labels: np.ndarray

    @property
    def is_noisy(self) -> np.ndarray:
        return self.given != self.true


def synthetic_features(n: int, dim: int, n_classes: int, seed: int = 0, noise_rate: float = 0.1,
                       n_val: int = 2000, separation: float = 0.3) -> Synthetic:
    """Seeded ReLU(class mean + Gaussian) features; `noise_rate` of the labels moved to another class."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_classes, dim)).astype(np.float32) * separation
    true = rng.integers(0, n_classes, n + n_val)
    features = np.empty((n + n_val, dim), np.float32)
    for start in range(0, n + n_val, 8192):
        rows = slice(start, start + 8192)
        block = rng.standard_normal((len(true[rows]), dim), dtype=np.float32)
        block += means[true[rows]]
        features[rows] = np.maximum(block, 0.0)
    flip = rng.random(n) < noise_rate
    given = true[:n].copy()
    given[flip] = (given[flip] + rng.integers(1, n_classes, int(flip.sum()))) % n_classes
    return Synthetic(features=features[:n], given=given.astype(np.int64), true=true[:n].astype(np.int64),
                     val_features=features[n:], val_labels=true[n:].astype(np.int64))


def head_model(dim: int, n_classes: int, seed: int = 0):
    """A FeatureModel with an identity backbone on (n, dim) features: the head on given features."""
    import torch
    from torch import nn

    from core.models.nets import FeatureModel

    torch.manual_seed(seed)
    return FeatureModel(nn.Identity(), dim, n_classes).eval()


def fmt_seconds(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} days"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.1f} h"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
