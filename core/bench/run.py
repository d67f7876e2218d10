"""`gradsift bench`: every benchmark in one run, a table of figures against their targets, and JSON.

Sections, in order (each module's docstring says exactly what it measures):

1-2 gradients   `core.bench.gradient_stage`: closed form vs torch.func vs batch-1 loop; stage vs forward; norms
3   memory      `core.bench.memory`: peak RSS of a CIFAR-100-shaped analysis in a child process
4   influence   `core.bench.detectors_vs_influence`: OGA vs LiSSA, DataInf, tracing, self-LiSSA, cleanlab
6   end_to_end  `core.bench.end_to_end`: `gradsift analyze --dataset digits` per stage; UMAP cold start; --help
5   projection  `core.bench.projection_quality`: iForest on raw vs projected gradients (uses 6's run)
7   retrain     `core.bench.retrain_latency`: linear-probe retrain latency, before/after
8   own_data    `core.bench.own_data`: an image folder and an outputs file, every default, vs cleanlab
9   scale       `core.bench.scale`: a 1,000,000 x 512 outputs file end to end; dashboard first render
10  review_loop `core.bench.review_loop`: re-ranking with the reviewer's decisions vs the static ranking;
                the estimate of the errors left; conflicting near-duplicates
11  text        `core.bench.text`: a 400-row intent CSV with every default; intents precision vs cleanlab

Every target is a ratio measured inside this one run, or a bound on this run's own
resource use; absolute times are printed for information only. `--quick` uses `QUICK`
sizes: every target, some at a smaller size, everything on one thread, in two lanes: the sections
whose targets are times run here while the registry's `second_core` ones (precision and quality
targets, the memory bound, untargeted times) run in one background process (`lanes`), so on a quiet
2-core machine each lane has a core of its own and the whole takes about 3.5 minutes (estimated from
each lane's CPU seconds; docs/benchmarks.md, "Quick and full"); tests inject tiny `Sizes`. Each section's wall and CPU
seconds (its process and that process's finished children) are printed: on a shared machine the CPU
seconds tell what the section costs when the load is gone.

    gradsift bench [--quick] [--json FILE] [--only gradients --only memory]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from core.bench.common import FULL, QUICK, Log, Record, Sizes, load_average
from core.bench.registry import BENCH_SECTIONS

SECTIONS = tuple(name for name in BENCH_SECTIONS.names() if not BENCH_SECTIONS.entry(name).meta.get("part_of"))
"""What `--only` accepts; a section's parts (registry meta `part_of`) run with it."""


def _section(name: str, sizes: Sizes, log: Log, workdir: Path, kept: dict[str, Path | None]) -> list[Record]:
    """Run one section; a `keeps_run` section's run is kept under workdir/name, for the sections that read it."""
    entry = BENCH_SECTIONS.entry(name)
    reads = entry.meta.get("uses_run")
    kwargs = {"run_dir": kept.get(reads)} if reads else {}
    if entry.meta.get("keeps_run"):
        records, kept[name] = entry.load()(sizes, log, keep_run=workdir / name, **kwargs)
        return records
    return entry.load()(sizes, log, **kwargs)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have been waited for."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _timed_section(name: str, sizes: Sizes, log: Log, workdir: Path, kept: dict[str, Path | None],
                   where: str = "") -> list[Record]:
    """`_section`, its wall and CPU seconds logged; a section that raises becomes a failed record
    (`<section>_failed`, met False), so one broken section does not hide the others' figures."""
    started, started_cpu = time.perf_counter(), cpu_seconds()
    try:
        records = _section(name, sizes, log, workdir, kept)
    except Exception as exc:
        log(f"  {name} FAILED: {type(exc).__name__}: {exc}")
        records = [Record(f"{name}_failed", None, "", "completes", False, f"{type(exc).__name__}: {exc}")]
    log(f"  ({name}: {time.perf_counter() - started:.0f} s, CPU {cpu_seconds() - started_cpu:.0f} s{where}, "
        f"load average {load_average():.2f})")
    return records


def lanes(chosen: list[str], sizes: Sizes) -> tuple[list[str], list[str]]:
    """(sections run in this process, sections run in a background process on the second core).

    With `sizes.second_core` the registry's `second_core` sections (no target of theirs is a time) go to the
    second lane, the timed ones stay here; a section and the one whose run it reads share a lane. With one
    lane empty everything runs here.
    """
    second = [name for name in chosen if sizes.second_core and BENCH_SECTIONS.entry(name).meta.get("second_core")]
    first = [name for name in chosen if name not in second]
    if not first or not second:
        return list(chosen), []
    for lane in (first, second):
        for name in lane:
            reads = BENCH_SECTIONS.entry(name).meta.get("uses_run")
            if reads in chosen and reads not in lane:
                raise ValueError(f"bench section {name} reads {reads}'s run: both must share a lane")
    return first, second


def run_second_lane(names: list[str], sizes: Sizes, workdir: Path) -> list[tuple[str, list[Record], list[str]]]:
    """Runs in the background process: each section in order, torch, BLAS and OpenMP on one thread (its
    `gradsift analyze` children on `child_threads`); returns (name, records, log lines) per section."""
    from core.bench.common import thread_limit

    kept: dict[str, Path | None] = {}
    results = []
    with thread_limit(1):
        for name in names:
            log = Log(echo=False)
            records = _timed_section(name, sizes, log, workdir, kept, where=" on the second core")
            results.append((name, records, log.lines))
    return results


def _start_second_lane(names: list[str], sizes: Sizes, workdir: Path, log: Log):
    """(executor, future) of `run_second_lane` in a spawned process (a fork after torch started its thread
    pools can hang)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    log(f"  on the second core, in a background process (one thread; its lines follow when it ends): "
        f"{', '.join(names)}")
    executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    workdir.mkdir(parents=True, exist_ok=True)
    return executor, executor.submit(run_second_lane, names, sizes, workdir)


def _join_second_lane(executor, future, names: list[str], log: Log) -> dict[str, list[Record]]:
    """The background lane's records per section, its log lines printed; every section of a lane whose process
    died is a failed record."""
    try:
        results = future.result()
    except Exception as exc:  # the process itself died (killed, out of memory): its sections have no figures
        results = [(name, [Record(f"{name}_failed", None, "", "completes", False,
                                  f"second-core process: {type(exc).__name__}: {exc}")],
                    [f"  {name} FAILED in the second-core process: {type(exc).__name__}: {exc}"]) for name in names]
    finally:
        executor.shutdown(wait=True)
    by_name = {}
    for name, records, lines in results:
        for line in lines:
            log(line)
        by_name[name] = records
    return by_name


def _format_value(record: Record) -> str:
    if record.value is None:
        return "n/a"
    value = record.value
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.4g}"


def summary_table(records: list[Record], only_targets: bool = True):
    from rich.table import Table

    table = Table(title="gradsift bench: targets" if only_targets else "gradsift bench: all figures")
    for column in ("name", "value", "unit", "target", "met"):
        table.add_column(column, justify="right" if column in ("value", "met") else "left")
    for record in records:
        if only_targets and record.target is None:
            continue
        met = "—" if record.met is None else ("[green]yes[/]" if record.met else "[bold red]NO[/]")
        table.add_row(record.name, _format_value(record), record.unit, record.target or "", met)
    return table


def write_json(records: list[Record], path: Path) -> None:
    """A JSON list of {name, value, unit, target, met}, one per figure."""
    payload = [{key: value for key, value in record.to_json().items() if key != "note"} for record in records]
    from core.run.io import atomic_write

    atomic_write(Path(path), lambda handle: handle.write((json.dumps(payload, indent=2) + "\n").encode()))


def bench(quick: bool = False, json_path: Path | None = None, *, sizes: Sizes | None = None,
          only: Iterable[str] | None = None, echo: bool = True) -> list[Record]:
    """Run the benchmarks, print progress and a table of targets, write `json_path`; returns the records.

    quick: the reduced `QUICK` sizes (ignored when `sizes` is given). only: a subset of
    `SECTIONS`. A section that raises is reported as a failed record
    (`<section>_failed`, met False) and the others still run.
    """
    import torch

    sizes = sizes or (QUICK if quick else FULL)
    for name in only or ():
        if name not in SECTIONS:  # a part (own_data_kfold) runs with its section, not alone
            raise ValueError(f"--only: unknown benchmark section {name!r}; valid sections: {', '.join(SECTIONS)}")
    chosen = [name for name in BENCH_SECTIONS.names()
              if only is None or name in set(only) or BENCH_SECTIONS.entry(name).meta.get("part_of") in set(only)]
    first, second = lanes(chosen, sizes)
    log = Log(echo)
    started, started_cpu = time.perf_counter(), cpu_seconds()
    log(f"gradsift bench ({sizes.label} sizes): {os.cpu_count()} CPUs ({platform.machine()}), torch "
        f"{torch.__version__} with {torch.get_num_threads()} threads, Python {platform.python_version()}, "
        f"load average {load_average():.2f}")
    by_name: dict[str, list[Record]] = {}
    state: dict = {}
    workdir = Path(tempfile.mkdtemp(prefix="gradsift-bench-"))
    try:
        background = _start_second_lane(second, sizes, workdir / "second-core", log) if second else None
        try:
            for name in first:
                by_name[name] = _timed_section(name, sizes, log, workdir, state)
        finally:
            if background is not None:
                by_name.update(_join_second_lane(*background, second, log))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    records = [record for name in chosen for record in by_name.get(name, [])]
    log(f"total {time.perf_counter() - started:.0f} s, CPU {cpu_seconds() - started_cpu:.0f} s")
    if echo:
        from rich.console import Console

        Console().print(summary_table(records))
    if json_path is not None:
        write_json(records, Path(json_path))
        log(f"wrote {len(records)} records to {json_path}")
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run gradsift's benchmarks (ratios measured in one run).")
    parser.add_argument("--quick", action="store_true",
                        help="every target, reduced sizes, one thread in two lanes (docs/benchmarks.md)")
    parser.add_argument("--json", type=Path, default=None, help="write the records to this JSON file")
    parser.add_argument("--only", default=None, help=f"comma-separated sections: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    only = [part.strip() for part in args.only.split(",")] if args.only else None
    records = bench(args.quick, args.json, only=only)
    return 0 if all(record.met is not False for record in records) else 1


if __name__ == "__main__":
    sys.exit(main())
