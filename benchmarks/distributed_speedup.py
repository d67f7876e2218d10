"""Speed-up of the gradient and scoring stages on a local Dask cluster: 1 vs 2 (vs N) worker processes.

Trains once, then reruns only the distributed stages (gradients, scores; the cheap client-side
stages after them come along) of the same run on each executor, interleaved, best of
`--repeats`, and checks that every executor produced the same flagged set and scores:

- in-process: no cluster (torch uses this process's default thread count)
- k workers: `LocalCluster(n_workers=k, threads_per_worker=1, processes=True)`

Data (`--data`):
- `mnist5k` (default): 4,000 real 28x28 training digits, the small CNN, `--layers all`
  (105,866 parameters per gradient, sparse-projected to 2,048), i.e. torch.func work.
- `synthetic`: a generated 50,000-sample, 64-feature, 10-class tabular .npz with 10% label noise,
  the MLP, `--layers all` (8,970 parameters, projected to 2,048): more rows, cheaper rows.

Stage seconds come from the run's manifest; the cluster's start-up and the first task on a
worker (importing torch, loading the model) are reported separately, as "cold".

Usage: python benchmarks/distributed_speedup.py [--data mnist5k|synthetic] [--workers 1 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from core.bench.common import load_average, synthetic_features
from core.config import (
    BaselineConfig,
    DataConfig,
    EmbedConfig,
    GradientConfig,
    RunConfig,
    TrainConfig,
)
from core.pipeline.dask_cluster import open_client
from core.pipeline.runner import STAGES, Reporter, analyze
from core.run import schema
from core.run.rundir import RunDir

TIMED_STAGES = ("gradients", "scores")
STAGE_AFTER = STAGES[STAGES.index(TIMED_STAGES[-1]) + 1]
RERUN_FROM = "gradients"


def synthetic_npz(path: Path, n: int = 50_000, dim: int = 64, n_classes: int = 10, seed: int = 0) -> Path:
    """A seeded tabular .npz (X, y, y_true, X_test, y_test) with 10% symmetric label noise."""
    if path.exists():
        return path
    data = synthetic_features(n, dim, n_classes, seed=seed, noise_rate=0.1, n_val=5_000, separation=0.6)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=data.features, y=data.given, y_true=data.true, X_test=data.val_features,
             y_test=data.val_labels)
    return path


def bench_config(data: str, out: Path, layers: str) -> RunConfig:
    dataset = "mnist5k" if data == "mnist5k" else str(synthetic_npz(out / "synthetic50k.npz"))
    return RunConfig(data=DataConfig(dataset=dataset), train=TrainConfig(epochs=3),
                     gradients=GradientConfig(layers=layers), baselines=BaselineConfig(enabled=False),
                     embed=EmbedConfig(method="pca"))


def _process_cpu_seconds() -> float:
    """User + system CPU seconds of the calling process, all threads (runs on workers too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuClock(Reporter):
    """CPU seconds the client and each worker spend between the start of the first timed stage and the
    start of the stage after the last one: what the stages cost on idle cores, whatever the load."""

    def __init__(self, client) -> None:
        self.client = client
        self.marks: dict[str, tuple[float, dict[str, float]]] = {}

    def stage(self, name: str, index: int, total: int, skipped: bool) -> None:
        if name in (TIMED_STAGES[0], STAGE_AFTER):
            workers = self.client.run(_process_cpu_seconds) if self.client is not None else {}
            self.marks[name] = (_process_cpu_seconds(), workers)

    def critical_path(self) -> tuple[float, float]:
        """(client CPU seconds, busiest worker's CPU seconds) over the timed stages."""
        client_start, workers_start = self.marks[TIMED_STAGES[0]]
        client_stop, workers_stop = self.marks[STAGE_AFTER]
        busiest = max((workers_stop[w] - workers_start[w] for w in workers_stop), default=0.0)
        return client_stop - client_start, busiest


def rerun(config: RunConfig, run_dir: Path, client) -> tuple[dict[str, float], CpuClock]:
    """Forget the stages from `RERUN_FROM` on and analyze again; seconds of each timed stage, and CPU."""
    run = RunDir(run_dir)
    manifest = run.read_manifest()
    stages = list(manifest["stages"])
    for name in stages[stages.index(RERUN_FROM):] if RERUN_FROM in stages else []:
        del manifest["stages"][name]
    run.write_manifest(manifest)
    clock = CpuClock(client)
    analyze(config, run_dir, retrain_after=False, client=client, reporter=clock)
    done = run.read_manifest()["stages"]
    return {name: done[name]["seconds"] for name in TIMED_STAGES}, clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("mnist5k", "synthetic"), default="mnist5k")
    parser.add_argument("--layers", default="all", help="GradientConfig.layers: all, last, or prefixes.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-distributed"))
    args = parser.parse_args()

    config = bench_config(args.data, args.out, args.layers)
    base = args.out / f"{args.data}-{args.layers}-base"
    started = time.perf_counter()
    analyze(config, base, retrain_after=False)
    print(f"base run (data, training, first gradients) {time.perf_counter() - started:.1f} s: {base}")
    manifest = RunDir(base).read_manifest()
    print(f"{manifest['dataset']['n_train']} training samples, gradient width {manifest['gradients']['width']}"
          f" -> {manifest['gradients']['stored_width']} stored; load average {load_average():.2f}")

    executors = ["in-process", *(f"{k} worker{'s' if k > 1 else ''}" for k in args.workers)]
    dirs = {}
    for name in executors:
        dirs[name] = args.out / f"{args.data}-{args.layers}-{name.replace(' ', '-')}"
        shutil.rmtree(dirs[name], ignore_errors=True)
        shutil.copytree(base, dirs[name])

    best = {name: {stage: float("inf") for stage in TIMED_STAGES} for name in executors}
    best_cpu = {name: (float("inf"), 0.0, 0.0) for name in executors}
    with ExitStack() as stack:
        clients = {"in-process": None}
        for k, name in zip(args.workers, executors[1:]):
            started = time.perf_counter()
            clients[name] = stack.enter_context(open_client(workers=k))
            up = time.perf_counter() - started
            cold, _ = rerun(config, dirs[name], clients[name])
            print(f"{name}: cluster up in {up:.1f} s; cold first run gradients {cold['gradients']:.2f} s, "
                  f"scores {cold['scores']:.2f} s")
        for repeat in range(args.repeats):
            for name in executors:
                seconds, clock = rerun(config, dirs[name], clients[name])
                for stage, value in seconds.items():
                    best[name][stage] = min(best[name][stage], value)
                client_cpu, worker_cpu = clock.critical_path()
                if client_cpu + worker_cpu < best_cpu[name][0]:
                    best_cpu[name] = (client_cpu + worker_cpu, client_cpu, worker_cpu)
            print(f"repeat {repeat + 1}/{args.repeats} done; load average {load_average():.2f}")

    reference = RunDir(dirs["in-process"]).read_samples()
    score_columns = [c for c in reference.columns if c.startswith("score_")]
    for name in executors[1:]:
        samples = RunDir(dirs[name]).read_samples()
        same_flags = bool(np.array_equal(samples[schema.IS_FLAGGED], reference[schema.IS_FLAGGED]))
        worst = max(float(np.max(np.abs(samples[c] - reference[c]) / (np.abs(reference[c]) + 1e-12)))
                    for c in score_columns)
        print(f"{name}: same flagged set as in-process: {same_flags}; largest relative score difference {worst:.2e}")

    one = next((name for name in executors if name.startswith("1 worker")), None)
    print(f"\nbest of {args.repeats}, {args.data}, --layers {args.layers}; "
          f"load average at the end {load_average():.2f}")
    print("wall seconds of the stages (manifest); CPU critical path = client CPU + busiest worker's CPU")
    print(f"{'executor':12} {'gradients':>10} {'scores':>8} {'total':>8} {'wall speed-up':>14} "
          f"{'client CPU':>11} {'worker CPU':>11} {'CPU speed-up':>13}")
    for name in executors:
        total = sum(best[name].values())
        wall_ratio = "" if one is None else f"{sum(best[one].values()) / total:.2f}x"
        critical, client_cpu, worker_cpu = best_cpu[name]
        cpu_ratio = "" if one is None or name == "in-process" else f"{best_cpu[one][0] / critical:.2f}x"
        cpu_cells = (f"{client_cpu:11.2f} {worker_cpu:11.2f}" if name != "in-process"
                     else f"{client_cpu:11.2f} {'-':>11}")
        print(f"{name:12} {best[name]['gradients']:10.2f} {best[name]['scores']:8.2f} {total:8.2f} {wall_ratio:>14} "
              f"{cpu_cells} {cpu_ratio:>13}")

if __name__ == "__main__":
    main()
