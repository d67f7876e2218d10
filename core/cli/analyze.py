"""`gradsift analyze` (every config field is an option) and `gradsift demo`."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from core.cli.app import (
    DEFAULT_RUNS_DIR,
    AddressOption,
    ConsoleReporter,
    PortOption,
    app,
    console,
    friendly,
)
from core.cli.options import config_command, config_options
from core.config import RunConfig
from core.errors import ConfigError

AUTO = "auto"
"""`--budget auto`: flag the suggested budget (FlagConfig.budget None)."""


def _analyze_options():
    options = config_options()
    budget = next(i for i, option in enumerate(options) if option.path == "flag.budget")
    options[budget] = dataclasses.replace(options[budget], annotation=str, default=AUTO,
                                          help="Fraction k of training samples flagged (exactly round(k * n), halves "
                                               "up), or `auto` (the default, by measurement): the suggested budget, the "
                                               "estimated noise rate (docs/budget.md). Changing it on a finished run "
                                               "re-flags and retrains only.")
    return options


def _budget_value(values: dict[str, Any]) -> None:
    """`--budget auto` is flag.budget None (the suggested budget); any other value is the fraction."""
    budget = str(values["flag_budget"]).strip()
    if budget.lower() == AUTO:
        values["flag_budget"] = None
        return
    try:
        values["flag_budget"] = float(budget)
    except ValueError:
        raise ConfigError(f"flag.budget: --budget must be a fraction in (0, 1) or 'auto', got {budget!r}") from None


def default_out(dataset: str) -> Path:
    """runs/<name> for a registered dataset, runs/<file stem> for a path, runs/hf-<name>-<config>-<split> for
    a Hugging Face dataset (characters a folder name should not hold become '-')."""
    if dataset.startswith("hf:"):
        return DEFAULT_RUNS_DIR / re.sub(r"[^\w.]+", "-", f"hf-{dataset[3:]}").strip("-")
    name = Path(dataset).stem if os.path.sep in dataset or "." in dataset else dataset
    return DEFAULT_RUNS_DIR / name


@app.command()
@friendly
@config_command(_analyze_options(), adjust=_budget_value)
def analyze(
    config: RunConfig,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory (default runs/<dataset>).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run made with another config (old files are moved to replaced-*/).")] = False,
    no_retrain: Annotated[bool, typer.Option("--no-retrain", help="Skip the retrain stage (test accuracy without the flagged samples).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="Run gradients and scoring on the Dask cluster at this scheduler address (tcp://host:8786); the run directory must be on a filesystem its workers share. Results do not change.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Run gradients and scoring on a local Dask cluster of this many single-threaded worker processes. Results do not change.")] = None,
) -> None:
    """Train, compute per-sample gradients, score them with outlier detectors, and write a run directory."""
    from core.cli.runs import print_info
    from core.pipeline.dask_cluster import open_client
    from core.pipeline.runner import analyze as run_analysis

    run_dir = out_dir or default_out(config.data.dataset)
    console.print(f"analyzing [bold]{config.data.dataset}[/] into {run_dir}")
    with open_client(scheduler, workers) as client:
        run = run_analysis(config, run_dir, overwrite=overwrite, reporter=ConsoleReporter(),
                           retrain_after=not no_retrain, client=client)
    print_info(run.path)


@app.command()
@friendly
def demo(
    runs_dir: Annotated[Path, typer.Option(help="Where the demo run is stored.")] = DEFAULT_RUNS_DIR,
    address: AddressOption = "127.0.0.1",
    port: PortOption = 8501,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="Only analyze; don't start the dashboard.")] = False,
) -> None:
    """Analyze the embedded digits dataset (cached after the first time) and open the dashboard."""
    from core.cli.dashboard import launch_dashboard
    from core.cli.runs import print_info
    from core.pipeline.runner import analyze as run_analysis

    run = run_analysis(RunConfig(), runs_dir / "digits", reporter=ConsoleReporter())
    print_info(run.path)
    if not no_dashboard:
        launch_dashboard(runs_dir, address, port)
