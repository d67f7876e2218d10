"""Benchmark 6: `gradsift analyze` end to end, per stage, and what a new process pays before working.

- `gradsift --help`: wall time of the command (best of `help_repeats`).
- `python -c "import core.pipeline.runner"`: the import cost every analysis pays (torch, sklearn, pandas).
- UMAP's cold start, in separate processes run one after the other (`umap_workers`):
  "first", "second" (both with the numba caching core.evaluate.embedding turns on) and
  "uncached" (a process with that caching switched off: what every process paid
  before). With `umap_fresh_cache` they share a new, empty NUMBA_CACHE_DIR, so "first" is
  a machine's very first process (every numba function compiled, pynndescent's own
  cached ones included); otherwise they use numba's default cache location as found.
  Each worker embeds the same (umap_n, 64) matrix twice with `embed_2d`: JIT = first
  call − second call. The maps of all workers must be bit-identical (asserted).
- The Isolation Forest scoring kernel's cold start (core.detect.isolation_forest): two processes
  one after the other with a new, empty NUMBA_CACHE_DIR score the same (5,000, 1,024) matrix
  twice; compile = first call − second call (the first process compiles, the second loads
  the cached machine code). Scores must be identical across processes (asserted).
- `gradsift analyze --dataset <e2e_dataset> <e2e_args>` in a subprocess, after the
  workers and with their numba cache (so UMAP is warm, as on every run after a machine's
  first): wall time, each stage's seconds from the run's manifest.json, and the rest
  (interpreter start, imports, dataset load, report) = wall − Σ stages. With `child_threads`
  (--quick: 1) the child runs torch, OpenMP and BLAS on that many threads: on a loaded 2-core
  machine 2-thread regions stall (its training took 167 s at load 5, against 3 s quiet).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.bench.common import Log, Record, Sizes, info

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, **extra)


def cli_command() -> list[str]:
    """The `gradsift` console script, or the same entry point through this interpreter."""
    script = shutil.which("gradsift")
    return [script] if script else [sys.executable, "-c", "from core.cli.main import app; app()"]


def _wall(command: list[str], env: dict[str, str], log_path: Path | None = None) -> float:
    started = time.perf_counter()
    if log_path is None:
        completed = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        detail = completed.stderr
    else:
        with open(log_path, "w") as handle:
            completed = subprocess.run(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
        detail = log_path.read_text()
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}):\n{detail[-4000:]}")
    return seconds


def wall_and_cpu(command: list[str], env: dict[str, str], log_path: Path | None = None) -> tuple[float, float]:
    """(wall seconds, the child's CPU seconds) of `_wall`: for a one-thread child on a loaded machine the CPU
    seconds are about its quiet wall time (this process must have no other child finishing meanwhile)."""
    before = os.times()
    wall = _wall(command, env, log_path)
    after = os.times()
    return wall, (after.children_user + after.children_system) - (before.children_user + before.children_system)


# --------------------------------------------------------------------------- UMAP worker


def umap_worker(mode: str, n: int) -> dict:
    """Runs in a child: import, then embed the same matrix twice; mode 'uncached' turns numba caching off."""
    started = time.perf_counter()
    import numpy as np

    from core.config import EmbedConfig
    from core.evaluate import embedding

    imported_core = time.perf_counter()
    importlib.import_module("umap")  # timed on its own; embed_2d imports it lazily
    imported_umap = time.perf_counter()
    if mode == "uncached":
        embedding._cache_numba_functions = lambda: 0
    vectors = np.random.default_rng(0).standard_normal((n, 64)).astype(np.float32)
    first_started = time.perf_counter()
    coords = embedding.embed_2d(vectors, EmbedConfig(), seed=0)
    second_started = time.perf_counter()
    again = embedding.embed_2d(vectors, EmbedConfig(), seed=0)
    done = time.perf_counter()
    return {"mode": mode, "import_core": imported_core - started, "import_umap": imported_umap - imported_core,
            "first": second_started - first_started, "second": done - second_started,
            "coords_sha": hashlib.sha256(coords.tobytes()).hexdigest(),
            "repeat_identical": bool(np.array_equal(coords, again))}


def iforest_worker() -> dict:
    """Runs in a child: fit once, score twice through the compiled kernel; numba import timed apart."""
    import numpy as np

    from core.detect.isolation_forest import FastIsolationForest

    X = np.random.default_rng(0).standard_normal((5000, 1024)).astype(np.float32)
    forest = FastIsolationForest(n_estimators=100, random_state=0).fit(X)
    started = time.perf_counter()
    import numba  # noqa: F401  (timed on its own: umap imports it anyway)

    imported = time.perf_counter()
    first = forest.score_samples(X)
    first_done = time.perf_counter()
    second = forest.score_samples(X)
    second_done = time.perf_counter()
    assert np.array_equal(first, second)
    return {"import_numba": imported - started, "first": first_done - imported, "second": second_done - first_done,
            "scores_sha": hashlib.sha256(first.tobytes()).hexdigest()}


def iforest_records(log: Log, tmp: Path) -> list[Record]:
    cache_dir = tmp / "numba-cache-iforest"
    cache_dir.mkdir()
    results = []
    for index in range(2):
        result_path = tmp / f"iforest-{index}.json"
        _wall([sys.executable, "-m", "core.bench.end_to_end", "--iforest-worker", "--result", str(result_path)],
              _cache_env(cache_dir))
        results.append(json.loads(result_path.read_text()))
    assert len({result["scores_sha"] for result in results}) == 1, "iForest scores differ between processes"
    records = []
    for label, result in zip(("first", "second"), results):
        compile_seconds = result["first"] - result["second"]
        log(f"    iForest kernel, {label} process (fresh cache dir): import numba {result['import_numba']:.2f} s | "
            f"first score {result['first']:.2f} s, second {result['second']:.2f} s -> compile/load "
            f"{compile_seconds:.2f} s")
        records.append(info(f"iforest_kernel_{label}_process_compile", compile_seconds, "s",
                            note="first score_samples - second, (5000, 1024), fresh NUMBA_CACHE_DIR"))
    return records


def thread_env(threads: int | None) -> dict[str, str]:
    """Environment that holds torch, OpenMP and BLAS to `threads` threads in a child process (None: nothing)."""
    if threads is None:
        return {}
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def threads_note(threads: int | None) -> str:
    """' (on 1 thread)' for a figure's note when a child ran on fewer threads than torch's default, else ''."""
    return "" if threads is None else f" (on {threads} thread{'s' if threads > 1 else ''}: child_threads)"


def _cache_env(cache_dir: Path | None) -> dict[str, str]:
    return _env(NUMBA_CACHE_DIR=str(cache_dir)) if cache_dir is not None else _env()


def _run_worker(kind: str, n: int, cache_dir: Path | None, tmp: Path) -> dict:
    mode = "uncached" if kind == "uncached" else "cached"
    result_path = tmp / f"umap-{kind}.json"
    command = [sys.executable, "-m", "core.bench.end_to_end", "--umap-worker", mode, "--n", str(n),
               "--result", str(result_path)]
    wall = _wall(command, _cache_env(cache_dir))
    result = json.loads(result_path.read_text())
    result["wall"] = wall
    return result


def umap_records(sizes: Sizes, log: Log, cache_dir: Path | None, tmp: Path) -> list[Record]:
    if not sizes.umap_workers:
        return []
    results = {kind: _run_worker(kind, sizes.umap_n, cache_dir, tmp) for kind in sizes.umap_workers}
    hashes = {result["coords_sha"] for result in results.values()}
    assert len(hashes) == 1 and all(r["repeat_identical"] for r in results.values()), \
        "UMAP maps differ between processes / cache states"
    labels = {"first": "first process (empty numba cache)" if cache_dir is not None
              else "first process (numba cache as found)",
              "second": "second process (cache kept)", "uncached": "later process, caching off (before)"}
    records = []
    for kind, result in results.items():
        jit = result["first"] - result["second"]
        log(f"    UMAP {labels[kind]:<38} wall {result['wall']:6.2f} s | import umap {result['import_umap']:5.2f} s | "
            f"first embed {result['first']:6.2f} s, second {result['second']:5.2f} s -> JIT {jit:6.2f} s")
        records.append(info(f"umap_{kind}_process_jit", jit, "s",
                            note=f"{labels[kind]}: first embed_2d - second, ({sizes.umap_n}, 64) input"))
        records.append(info(f"umap_{kind}_process_wall", result["wall"], "s", note=labels[kind]))
    log(f"    UMAP maps bit-identical across {len(results)} processes: True")
    if "second" in results and "uncached" in results:
        saved = ((results["uncached"]["first"] - results["uncached"]["second"])
                 - (results["second"]["first"] - results["second"]["second"]))
        records.append(info("umap_jit_saved_per_process", saved, "s",
                            note="JIT of a process without the cache - JIT of a second process with it"))
    if "second" in results:
        records.append(info("umap_import", results["second"]["import_umap"], "s", note="`import umap`, warm"))
    return records


# --------------------------------------------------------------------------- analyze


def analyze_records(sizes: Sizes, log: Log, cache_dir: Path | None, out_dir: Path) -> tuple[list[Record], Path]:
    command = [*cli_command(), "analyze", "--dataset", sizes.e2e_dataset, "--out", str(out_dir), *sizes.e2e_args]
    wall = _wall(command, {**_cache_env(cache_dir), **thread_env(sizes.child_threads)},
                 log_path=out_dir.parent / "analyze.log")
    manifest = json.loads((out_dir / "manifest.json").read_text())
    stages = {name: float(record["seconds"]) for name, record in manifest.get("stages", {}).items()}
    rest = wall - sum(stages.values())
    shown = " ".join(sizes.e2e_args) + threads_note(sizes.child_threads)
    log(f"    gradsift analyze --dataset {sizes.e2e_dataset} {shown}: {wall:.1f} s wall")
    records = [info("e2e_analyze_wall", wall, "s", note=f"gradsift analyze --dataset {sizes.e2e_dataset} {shown}")]
    for name, seconds in stages.items():
        log(f"      {name:<10} {seconds:7.2f} s  {seconds / wall:6.1%}")
        records.append(info(f"e2e_stage_{name}", seconds, "s", note="from manifest.json"))
    log(f"      {'(rest)':<10} {rest:7.2f} s  {rest / wall:6.1%}  interpreter start, imports, dataset load, report")
    records.append(info("e2e_outside_stages", rest, "s", note="wall - sum of stages: start, imports, load, report"))
    return records, out_dir


def run(sizes: Sizes, log: Log, keep_run: Path | None = None) -> tuple[list[Record], Path | None]:
    """Records, and the analyzed run directory (copied to keep_run/<e2e_dataset> if given, else deleted: None)."""
    log(f"[6] end to end: gradsift analyze --dataset {sizes.e2e_dataset}, cold starts")
    records: list[Record] = []
    if sizes.help_repeats > 0:
        help_wall = min(_wall([*cli_command(), "--help"], _env()) for _ in range(sizes.help_repeats))
        import_wall = _wall([sys.executable, "-c", "import core.pipeline.runner"], _env())
        bare_wall = _wall([sys.executable, "-c", "pass"], _env())
        log(f"    gradsift --help {help_wall:.2f} s | python -c 'import core.pipeline.runner' {import_wall:.2f} s "
            f"(bare interpreter {bare_wall:.2f} s)")
        records += [info("cli_help_wall", help_wall, "s", note=f"best of {sizes.help_repeats}"),
                    info("import_pipeline_wall", import_wall, "s", note="python -c 'import core.pipeline.runner'")]
    with tempfile.TemporaryDirectory(prefix="gradsift-bench-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        cache_dir = tmp / "numba-cache" if sizes.umap_fresh_cache else None
        if cache_dir is not None:
            cache_dir.mkdir()
        records += umap_records(sizes, log, cache_dir, tmp)
        if sizes.iforest_cold_start:
            records += iforest_records(log, tmp)
        analyze, run_dir = analyze_records(sizes, log, cache_dir, tmp / "run")
        records += analyze
        kept = None
        if keep_run is not None:
            shutil.rmtree(keep_run / sizes.e2e_dataset, ignore_errors=True)
            kept = Path(shutil.copytree(run_dir, keep_run / sizes.e2e_dataset))
    return records, kept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--umap-worker", choices=("cached", "uncached"), help=argparse.SUPPRESS)
    parser.add_argument("--iforest-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.umap_worker:
        args.result.write_text(json.dumps(umap_worker(args.umap_worker, args.n)))
        return
    if args.iforest_worker:
        args.result.write_text(json.dumps(iforest_worker()))
        return
    from core.bench.common import FULL

    records, _ = run(FULL, Log())
    for record in records:
        print(record.to_json())


if __name__ == "__main__":
    main()
