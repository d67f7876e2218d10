"""Benchmark 3: peak memory of a CIFAR-100-shaped last-layer analysis, end to end, in a child process.

N = 50,000 samples, C = 100 classes, D = 512 features (+1 for the bias): the full gradient
matrix would be N·C·(D+1) = 2.6 billion values, 10.3 GB in float32 — and 20.5 GB as the
float64 weight-only matrix the reference code holds. The child runs the pipeline's
steps with the real core functions, streaming in `GradientConfig().chunk_size` chunks:

1. inputs     synthetic penultimate features (N, D) float32, saved as features.npy: what
              the train stage's forward pass leaves behind
2. factors    features.npy read back, `head_factors` (the head on them), as the pipeline's
              in-sample gradient stage does
3. projection `make_projector("auto", ...)` (Kronecker at this width), chunk by chunk
              into `core.run.rundir.AtomicNpyWriter` (a memory-mapped .npy), then commit
4. iforest    `outlier_scores("iforest", ...)` on the projected matrix, read back the way
              `core.pipeline.runner._stage_scores` does (`gradient_block` of the memory map)
5. norms      `closed_form_norms`
6. parquet    `core.run.rundir.write_parquet` of the three score columns

Peak RSS is the child's VmHWM, read inside after every step. It counts resident
file-backed pages too (the .npy's memory map, torch's shared libraries), so it is an
upper bound on what the analysis holds. The child's `ru_maxrss` (from `os.wait4`) is
printed as well but not used: Linux carries the forking parent's RSS at fork time into
it, and the parent here is the benchmark process itself.

Run alone: `python -m core.bench.memory [--n 50000 --classes 100 --dim 512]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.bench.common import Log, Record, Sizes, info, proc_status, target

REPO_ROOT = Path(__file__).resolve().parents[2]


def worker(n: int, n_classes: int, dim: int, out_dir: Path, seed: int = 0) -> dict:
    """The analysis itself (runs in the child); returns per-step seconds and memory in MB."""
    steps: list[dict] = []
    clock = time.perf_counter()

    def mark(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        memory = {key: round(value, 1) for key, value in proc_status().items()}
        steps.append({"step": step, "seconds": round(now - clock, 3), **memory})
        clock = now

    import numpy as np
    import pandas as pd

    from core.bench.common import head_model
    from core.config import GradientConfig
    from core.detect.estimators import outlier_scores
    from core.gradients.last_layer import closed_form_norms, head_factors
    from core.gradients.projection import make_projector
    from core.gradients.rows import write_factor_rows
    from core.pipeline.stages.scores import gradient_block
    from core.run.io import AtomicNpyWriter, write_parquet

    grad_cfg = GradientConfig()
    mark("imports")

    rng = np.random.default_rng(seed)
    features = np.empty((n, dim), np.float32)
    for start in range(0, n, 8192):
        block = rng.standard_normal((min(8192, n - start), dim), dtype=np.float32)
        features[start:start + len(block)] = np.maximum(block, 0.0)
    labels = rng.integers(0, n_classes, n)
    np.save(out_dir / "features.npy", features)
    del features
    mark("inputs")

    factors = head_factors(head_model(dim, n_classes, seed).head, np.load(out_dir / "features.npy"), labels)
    mark("factors")

    width = factors.width(grad_cfg.include_bias)
    projector = make_projector(grad_cfg.projection, n, width, n_classes=n_classes, feat_dim=dim,
                               include_bias=grad_cfg.include_bias, out_dim=grad_cfg.projection_dim, seed=seed)
    if projector is None:
        raise SystemExit(f"width {width} <= projection_dim {grad_cfg.projection_dim}: nothing to project")
    gradients_path = out_dir / "gradients.npy"
    writer = AtomicNpyWriter(gradients_path, (n, projector.out_dim))
    write_factor_rows(factors, np.arange(n), projector, writer.array, grad_cfg.include_bias, grad_cfg.chunk_size)
    writer.commit()
    mark("projection")

    gradients = np.load(gradients_path, mmap_mode="r")
    rows = np.arange(n)
    iforest = outlier_scores("iforest", gradient_block(gradients, rows), seed)
    del gradients
    mark("iforest")

    grad_l1, grad_l2 = closed_form_norms(factors, grad_cfg.include_bias)
    mark("norms")

    write_parquet(out_dir / "scores.parquet",
                  pd.DataFrame({"score_iforest": iforest, "grad_l1": grad_l1, "grad_l2": grad_l2}))
    mark("parquet")
    return {"n": n, "n_classes": n_classes, "dim": dim, "width": width, "projected_width": projector.out_dim,
            "projector": repr(projector), "steps": steps, "peak_mb": proc_status().get("VmHWM", float("nan"))}


def measure(n: int, n_classes: int, dim: int) -> dict:
    """Run `worker` in a child process; adds the parent's view of the child's peak RSS (ru_maxrss)."""
    with tempfile.TemporaryDirectory(prefix="gradsift-bench-mem-") as tmp:
        result_path = Path(tmp) / "result.json"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
        command = [sys.executable, "-m", "core.bench.memory", "--worker", "--n", str(n), "--classes", str(n_classes),
                   "--dim", str(dim), "--out", tmp, "--result", str(result_path)]
        with open(Path(tmp) / "stderr.txt", "w+") as stderr:
            started = time.perf_counter()
            child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - started
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode != 0:
                stderr.seek(0)
                raise RuntimeError(f"memory worker failed ({child.returncode}):\n{stderr.read()[-4000:]}")
        result = json.loads(result_path.read_text())
    result["ru_maxrss_mb"] = usage.ru_maxrss / 1024.0  # kilobytes on Linux
    result["wall_seconds"] = wall
    return result


def run(sizes: Sizes, log: Log) -> list[Record]:
    n, n_classes, dim = sizes.mem_n, sizes.mem_classes, sizes.feat_dim
    log(f"[3] memory: N={n:,} x C={n_classes} x (D+1)={dim + 1} analysis in a child process")
    result = measure(n, n_classes, dim)
    for step in result["steps"]:
        log(f"    {step['step']:<10} {step['seconds']:7.2f} s   peak so far {step.get('VmHWM', float('nan')):7.0f} MB"
            f"   now {step.get('VmRSS', float('nan')):7.0f} MB (anon {step.get('RssAnon', float('nan')):.0f}, "
            f"file-backed {step.get('RssFile', float('nan')):.0f})")
    peak = result["peak_mb"]
    reference_gb = n * n_classes * dim * 8 / 1e9
    raw_gb = n * n_classes * (dim + 1) * 4 / 1e9
    baseline = result["steps"][0].get("VmHWM", float("nan"))
    log(f"    peak RSS (VmHWM) {peak:.0f} MB (ru_maxrss {result['ru_maxrss_mb']:.0f}: includes the parent's RSS at "
        f"fork); {result['projector']}; the reference's float64 matrix: {reference_gb:.1f} GB, float32 with bias: "
        f"{raw_gb:.1f} GB; imports alone: {baseline:.0f} MB; wall {result['wall_seconds']:.1f} s")
    return [
        target("memory_peak_rss_cifar100_shape", peak, "MB", f"<= {sizes.mem_limit_mb:g}",
               note=f"N={n}, C={n_classes}, D={dim}: factors -> Kronecker projection -> iForest -> norms -> parquet"),
        info("memory_reference_matrix_over_peak", reference_gb * 1e3 / peak, "x",
             note=f"the reference code's {reference_gb:.1f} GB float64 gradient matrix / our peak RSS"),
        info("memory_imports_rss", baseline, "MB", note="RSS after importing torch, sklearn and core"),
        info("memory_analysis_seconds", sum(step["seconds"] for step in result["steps"][1:]), "s"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.result.write_text(json.dumps(worker(args.n, args.classes, args.dim, args.out)))
        return
    from core.bench.common import FULL, scaled

    for record in run(scaled(FULL, mem_n=args.n, mem_classes=args.classes, feat_dim=args.dim), Log()):
        print(record.to_json())


if __name__ == "__main__":
    main()
