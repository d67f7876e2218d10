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
sizes: every target, some at a smaller size, in about 6 minutes of CPU on one core (8.4 min
at load 2–4 on the shared 2-core machine; docs/benchmarks.md, "Quick and full"); tests inject tiny `Sizes`. Each
section's wall and CPU
seconds (this process and its finished children) are printed: on a shared machine the CPU
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

SECTIONS = tuple(BENCH_SECTIONS.names())


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
    chosen = list(SECTIONS) if only is None else [name for name in SECTIONS if name in set(only)]
    for name in only or ():
        BENCH_SECTIONS.check(name, "--only", error=ValueError)
    log = Log(echo)
    started, started_cpu = time.perf_counter(), cpu_seconds()
    log(f"gradsift bench ({sizes.label} sizes): {os.cpu_count()} CPUs ({platform.machine()}), torch "
        f"{torch.__version__} with {torch.get_num_threads()} threads, Python {platform.python_version()}, "
        f"load average {load_average():.2f}")
    records: list[Record] = []
    state: dict = {}
    workdir = Path(tempfile.mkdtemp(prefix="gradsift-bench-"))
    try:
        for name in chosen:
            section_started, section_cpu = time.perf_counter(), cpu_seconds()
            try:
                records += _section(name, sizes, log, workdir, state)
            except Exception as exc:  # one broken section must not hide the others' figures
                log(f"  {name} FAILED: {type(exc).__name__}: {exc}")
                records.append(Record(f"{name}_failed", None, "", "completes", False, f"{type(exc).__name__}: {exc}"))
            log(f"  ({name}: {time.perf_counter() - section_started:.0f} s, CPU {cpu_seconds() - section_cpu:.0f} s, "
                f"load average {load_average():.2f})")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
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
                        help="every target, reduced sizes (about 6 minutes on a quiet 2-core machine)")
    parser.add_argument("--json", type=Path, default=None, help="write the records to this JSON file")
    parser.add_argument("--only", default=None, help=f"comma-separated sections: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    only = [part.strip() for part in args.only.split(",")] if args.only else None
    records = bench(args.quick, args.json, only=only)
    return 0 if all(record.met is not False for record in records) else 1


if __name__ == "__main__":
    sys.exit(main())
