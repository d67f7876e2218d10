"""What is registered (`gradsift datasets`, `models`, `detectors`) and `gradsift bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from core.cli.app import app, out


@app.command()
def datasets() -> None:
    """List the registered datasets, the dataset prefixes and the path formats."""
    from core.data.registry import DATASETS, PATH_FORMATS, PREFIXES

    for name in DATASETS:
        out.print(f"[bold]{name:12}[/] {DATASETS.help(name)}", highlight=False)
    for name in PREFIXES:
        out.print(f"[bold]{name + '...':12}[/] {PREFIXES.help(name)}", highlight=False)
    for name in PATH_FORMATS:
        out.print(f"[bold]PATH {name:7}[/] {PATH_FORMATS.help(name)}", highlight=False)


@app.command()
def models() -> None:
    """List the registered models."""
    from core.models.registry import MODELS

    for name in MODELS:
        entry = MODELS.entry(name)
        out.print(f"[bold]{name:14}[/] {entry.help} ({', '.join(entry.meta['kinds'])})", highlight=False)


@app.command()
def detectors() -> None:
    """List the registered outlier detectors (scores: higher = more outlying)."""
    from core.detect.registry import DETECTORS

    for name in DETECTORS:
        out.print(f"[bold]{name:8}[/] {DETECTORS.help(name)}", highlight=False)


@app.command()
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Reduced sizes, every target, one thread in two lanes (docs/benchmarks.md).")] = False,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write {name, value, unit, target, met} records here.")] = None,
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Run only these sections; repeat the option.")] = None,
) -> None:
    """Benchmarks that print speed and memory ratios measured in one run (docs/benchmarks.md)."""
    from core.bench.run import bench as run_bench

    run_bench(quick=quick, json_path=json_path, only=only)
